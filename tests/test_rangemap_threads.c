// SPDX-License-Identifier: MIT
/*
 * The concurrency contract of include/viommu/rangemap.h: calls taking a const
 * map may run concurrently. Readers in several threads look up, step and
 * iterate one shared map and check every result exactly; under TSan this also
 * proves the read paths write nothing (no hidden hint or cache).
 */
#include <pthread.h>
#include <viommu/rangemap.h>

#include "test.h"

#define ENTRIES 50000u
#define THREADS 3

/* Entry i is [i * 0x1000, i * 0x1000 + 0x7ff] -> i * 3. */
static const struct viommu_rangemap *shared;

struct reader {
	uint64_t seed;
	unsigned long bad;
};

static void *read_loop(void *arg)
{
	struct reader *r = arg;
	struct t_rng rng;
	struct viommu_range_entry e;

	t_rng_init(&rng, r->seed);
	for (unsigned k = 0; k < 100000; k++) {
		uint64_t i = t_rng_below(&rng, ENTRIES), off = t_rng_below(&rng, 0x1000);
		uint64_t addr = i * 0x1000 + off;
		bool hit = viommu_rangemap_find(shared, addr, &e);
		if (hit != (off < 0x800) || (hit && (e.first != i * 0x1000 || e.value != i * 3)))
			r->bad++;
		if (viommu_rangemap_next(shared, addr, &e) != (i + 1 < ENTRIES) ||
		    (i + 1 < ENTRIES && e.first != (i + 1) * 0x1000))
			r->bad++;
		if (k % 1000 == 0) {
			struct viommu_rangemap_iter it;
			uint64_t want = off < 0x800 ? i : i + 1; /* a hole starts at the next one */
			unsigned n = 0;
			viommu_rangemap_for_each(&it, shared, addr, addr + 0x10000) {
				r->bad += it.entry.value != 3 * want++;
				n++;
			}
			/* [addr, addr + 0x10000] meets 16 or 17 entries unless it runs off the end. */
			r->bad += i + 17 < ENTRIES && (n < 16 || n > 17);
		}
	}
	return NULL;
}

int main(void)
{
	struct viommu_rangemap *m = viommu_rangemap_new();
	pthread_t th[THREADS];
	struct reader rd[THREADS];
	uint64_t seed = t_seed("rangemap_threads", 0x7157);

	for (uint64_t i = 0; i < ENTRIES; i++)
		T_EQ(viommu_rangemap_insert(m, i * 0x1000, i * 0x1000 + 0x7ff, i * 3), 0);
	shared = m;
	for (int t = 0; t < THREADS; t++) {
		rd[t] = (struct reader){ seed + (uint64_t)t, 0 };
		T_EQ(pthread_create(&th[t], NULL, read_loop, &rd[t]), 0);
	}
	for (int t = 0; t < THREADS; t++) {
		T_EQ(pthread_join(th[t], NULL), 0);
		T_EQ(rd[t].bad, 0);
	}
	viommu_rangemap_free(m);
	return t_done();
}

// SPDX-License-Identifier: MIT
/*
 * Lookup statistics from many threads are exact. Lookups count into one of
 * the cache's 64 statistics stripes, picked per thread, so beyond 64
 * threads several share one. Two waves of 80 threads, all alive at once,
 * each making a fixed number of hits and misses over two caches: after each
 * wave hits and misses are exactly the sums, per cache and in total.
 * Nothing depends on scheduling.
 */
#include <pthread.h>
#include <viommu/iotlb.h>

#include "test.h"

#define NTHREADS 80
#define HITS 700
#define MISSES 300

static struct viommu_iotlb *cache[2];
static pthread_barrier_t start;
static unsigned long bad;

static void *looker(void *arg)
{
	struct viommu_iotlb_entry e;
	unsigned id = (unsigned)(uintptr_t)arg;

	pthread_barrier_wait(&start);	/* all NTHREADS alive at once: some share the last stripe */
	for (unsigned i = 0; i < HITS + MISSES; i++) {
		struct viommu_iotlb *c = cache[(i + id) & 1];
		bool want = i < HITS;
		uint64_t iova = want ? (uint64_t)(i % 16) << 12 : UINT64_C(0x100000) + ((uint64_t)i << 12);

		if (viommu_iotlb_lookup(c, 1, 1, iova, &e) != want)
			__atomic_add_fetch(&bad, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

static void wave(unsigned n)
{
	pthread_t t[NTHREADS];

	T_EQ(pthread_barrier_init(&start, NULL, NTHREADS), 0);
	for (unsigned i = 0; i < NTHREADS; i++)
		T_EQ(pthread_create(&t[i], NULL, looker, (void *)(uintptr_t)(i + n * NTHREADS)), 0);
	for (unsigned i = 0; i < NTHREADS; i++)
		T_EQ(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&start);
}

int main(void)
{
	struct viommu_iotlb_stats st[2];

	for (unsigned k = 0; k < 2; k++) {
		cache[k] = viommu_iotlb_new(NULL);
		T_OK(cache[k]);
		for (uint64_t i = 0; i < 16; i++) {
			struct viommu_iotlb_entry e = { .source = 1, .domain = 1, .iova = i << 12, .output = i << 20,
							.order = 12, .perm = VIOMMU_PERM_READ };
			T_EQ(viommu_iotlb_insert(cache[k], &e), 0);
		}
	}
	for (unsigned n = 1; n <= 2; n++) {
		wave(n);
		uint64_t hits = 0, misses = 0;
		for (unsigned k = 0; k < 2; k++) {
			st[k] = (struct viommu_iotlb_stats){ .sz = sizeof(st[k]) };
			T_EQ(viommu_iotlb_get_stats(cache[k], &st[k]), 0);
			hits += st[k].hits;
			misses += st[k].misses;
		}
		T_EQ(hits, (uint64_t)n * NTHREADS * HITS);
		T_EQ(misses, (uint64_t)n * NTHREADS * MISSES);
		/* each thread alternates caches: each cache saw exactly half */
		T_EQ(st[0].hits + st[0].misses, (uint64_t)n * NTHREADS * (HITS + MISSES) / 2);
	}
	T_EQ(bad, 0);
	viommu_iotlb_free(cache[0]);
	viommu_iotlb_free(cache[1]);
	return t_done();
}

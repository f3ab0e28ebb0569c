// SPDX-License-Identifier: MIT
/*
 * Device IOTLB out of memory: the cache and its range maps are compiled here
 * with an allocator that fails on demand, and with 4-slot range-map nodes so
 * that one insert needs several allocations in each of the two copies.
 * Failing each allocation of an update in turn must give either success or
 * -ENOMEM with the documented state: the new entry not cached, the entries
 * it overlapped (and the one retired for room) gone, everything else as it
 * was, and the two copies, the entry count and the retirement FIFO equal.
 * A miss whose pending record cannot be allocated is reported untracked.
 * (The definitions here take precedence over the library archive's copies,
 * which are never linked.)
 */
#include <stdlib.h>

#include "test.h"

#include "alloc_budget.h"
#include "../src/util/rangemap.c"
#include "../src/devtlb/devtlb.c"
#include "alloc_budget_end.h"

/* The structure's own invariants: two equal copies, count, FIFO. */
static void check_consistent(struct viommu_devtlb *t)
{
	struct viommu_rangemap_iter a, b;
	bool oa = viommu_rangemap_iter_start(&a, t->map[0], 0, UINT64_MAX);
	bool ob = viommu_rangemap_iter_start(&b, t->map[1], 0, UINT64_MAX);
	uint32_t n = 0, fifo = 0;

	while (oa && ob) {
		T_OK(a.entry.first == b.entry.first && a.entry.last == b.entry.last && a.entry.value == b.entry.value);
		n++;
		oa = viommu_rangemap_iter_next(&a);
		ob = viommu_rangemap_iter_next(&b);
	}
	T_OK(!oa && !ob);
	T_EQ(n, t->count);
	for (struct dt_entry *e = t->oldest; e; e = e->newer) {
		struct viommu_range_entry re;

		T_OK(viommu_rangemap_find(t->map[0], e->first, &re) && ent_of(re.value) == e);
		fifo++;
	}
	T_EQ(fifo, n);
	T_EQ(vi_rangemap_check(t->map[0]), 0);
	T_EQ(vi_rangemap_check(t->map[1]), 0);
}

/* 24 single-page entries at 2 * i pages; capacity 24, so a new one retires page 0. */
static struct viommu_devtlb *fill_cache(void)
{
	struct viommu_devtlb_opts o = { .sz = sizeof(o), .capacity = 24 };
	struct viommu_devtlb *t = viommu_devtlb_new(&o);

	for (uint64_t i = 0; i < 24; i++)
		T_EQ(viommu_devtlb_update(t, i << 13, (i << 13) | 0xfff, 0x100000 + (i << 12), VIOMMU_PERM_RW), 0);
	return t;
}

static bool cached(struct viommu_devtlb *t, uint64_t iova)
{
	struct viommu_devtlb_seg s;

	alloc_budget = -1;
	return viommu_devtlb_translate(t, iova, 1, 0, &s, 1, NULL) == 1;
}

int main(void)
{
	unsigned fails = 0, successes = 0;

	/* an update overlapping entries 5 and 6 (pages 10 and 12) into a full cache */
	for (long budget = 0; budget < 64; budget++) {
		struct viommu_devtlb *t = fill_cache();
		int r;

		alloc_budget = budget;
		r = viommu_devtlb_update(t, 10 << 12, (12 << 12) | 0xfff, 0x900000, VIOMMU_PERM_READ);
		alloc_budget = -1;
		T_OK(r == 0 || r == -ENOMEM);
		check_consistent(t);
		if (r == 0) {
			successes++;
			T_OK(cached(t, 11 << 12));
			T_EQ(t->count, 23);	/* 24 - 2 overlapped + 1; nothing retired */
		} else {
			fails++;
			T_EQ(errno, ENOMEM);
			T_OK(!cached(t, 11 << 12));
			if (budget > 0) {
				/* the entry was allocated: the overlapped entries went */
				T_OK(!cached(t, 10 << 12) && !cached(t, 12 << 12));
				T_EQ(t->count, 22);
			} else {
				T_EQ(t->count, 24);	/* refused before anything changed */
			}
			T_OK(cached(t, 0) && cached(t, 14 << 12));
		}
		viommu_devtlb_free(t);
		if (r == 0 && budget > 8)
			break;
	}
	/* an update that overlaps nothing retires the oldest (page 0) */
	for (long budget = 1; budget < 64; budget++) {
		struct viommu_devtlb *t = fill_cache();
		int r;

		alloc_budget = budget;
		r = viommu_devtlb_update(t, 1 << 12, (1 << 12) | 0xfff, 0x900000, VIOMMU_PERM_READ);
		alloc_budget = -1;
		check_consistent(t);
		T_OK(!cached(t, 0));
		T_EQ(t->count, r == 0 ? 24 : 23);
		T_EQ(cached(t, 1 << 12), r == 0);
		viommu_devtlb_free(t);
		if (r == 0)
			break;
		fails++;
	}
	/*
	 * An insert into full range-map leaves, overlapping nothing, in a
	 * cache with room: the copies need new nodes, the first copy and then
	 * the second (whose failure takes the entry out of the first again).
	 */
	unsigned deep_fails = 0;
	for (long budget = 0; budget < 64; budget++) {
		struct viommu_devtlb_opts o = { .sz = sizeof(o), .capacity = 1024 };
		struct viommu_devtlb *t = viommu_devtlb_new(&o);
		int r;

		for (uint64_t i = 0; i < 64; i++)
			T_EQ(viommu_devtlb_update(t, i << 13, (i << 13) | 0xfff, 0x100000 + (i << 12), VIOMMU_PERM_RW), 0);
		alloc_budget = budget;
		r = viommu_devtlb_update(t, 1 << 12, (1 << 12) | 0xfff, 0x900000, VIOMMU_PERM_READ);
		alloc_budget = -1;
		check_consistent(t);
		T_EQ(t->count, r == 0 ? 65 : 64);
		T_EQ(cached(t, 1 << 12), r == 0);
		T_OK(cached(t, 0) && cached(t, 2 << 13) && cached(t, 63 << 13));
		viommu_devtlb_free(t);
		if (r == 0)
			break;
		T_EQ(r, -ENOMEM);
		deep_fails++;
	}
	printf("%u + %u updates failed with -ENOMEM, %u succeeded\n", fails, deep_fails, successes);
	T_OK(deep_fails >= 5);

	/* a miss with no memory for its pending record: reported, not tracked */
	{
		struct viommu_devtlb *t = fill_cache();
		struct viommu_devtlb_seg s;
		struct viommu_devtlb_miss m;

		alloc_budget = 0;
		T_EQ(viommu_devtlb_translate(t, 1 << 12, 1, VIOMMU_PERM_READ, &s, 1, &m), -EAGAIN);
		T_OK(m.report);
		T_EQ(viommu_devtlb_translate(t, 1 << 12, 1, VIOMMU_PERM_READ, &s, 1, &m), -EAGAIN);
		T_OK(m.report);		/* untracked, so reported again */
		alloc_budget = -1;
		T_EQ(viommu_rangemap_count(t->pending), 0);
		viommu_devtlb_free(t);
	}
	/* the constructor under every failure */
	for (long budget = 0; budget < 8; budget++) {
		struct viommu_devtlb *t;

		alloc_budget = budget;
		t = viommu_devtlb_new(NULL);
		alloc_budget = -1;
		T_OK(t || errno == ENOMEM);
		viommu_devtlb_free(t);
	}
	return t_done();
}

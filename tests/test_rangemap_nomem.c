// SPDX-License-Identifier: MIT
/*
 * Out of memory: the map is compiled here with an allocator that fails on
 * demand and with 4-slot nodes, so one insert can need a new leaf, several
 * new inner nodes and a new root. Failing each of those allocations in turn
 * must give -ENOMEM (errno ENOMEM) and leave the map exactly as it was;
 * removal must never allocate. (The definitions here take precedence over the
 * library archive's copy, which is never linked.)
 */
#include <stdlib.h>

#include "test.h"

static long alloc_budget = -1; /* < 0: unlimited */
static unsigned long alloc_calls;

static void *t_malloc(size_t n)
{
	alloc_calls++;
	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	return malloc(n);
}

static void *t_calloc(size_t k, size_t n)
{
	alloc_calls++;
	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	return calloc(k, n);
}

#define VI_RM_LEAF_CAP 4
#define VI_RM_INNER_CAP 4
#define VI_RM_CHUNK_MAX 4
#define VI_RM_SWEEP_EVERY 1
#define malloc(n) t_malloc(n)
#define calloc(k, n) t_calloc(k, n)
#include "../src/util/rangemap.c"
#undef malloc
#undef calloc

static const char *dump(const struct viommu_rangemap *m)
{
	static char buf[1 << 16];
	struct viommu_rangemap_iter it;
	size_t off = 0;

	buf[0] = 0;
	viommu_rangemap_for_each(&it, m, 0, UINT64_MAX)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%" PRIx64 "-%" PRIx64 "=%" PRIx64 " ",
					it.entry.first, it.entry.last, it.entry.value);
	return buf;
}

int main(void)
{
	static char before[1 << 16];
	struct viommu_rangemap *m;
	size_t bytes;

	alloc_budget = 0;
	errno = 0;
	T_OK(viommu_rangemap_new() == NULL);
	T_EQ(errno, ENOMEM);
	alloc_budget = -1;
	m = viommu_rangemap_new();
	T_OK(m != NULL);

	/* The first entry needs a leaf. */
	alloc_budget = 0;
	T_EQ(viommu_rangemap_insert(m, 0, 0, 1), -ENOMEM);
	T_EQ(viommu_rangemap_count(m), 0);
	T_EQ(vi_rangemap_check(m), 0);
	alloc_budget = -1;

	/*
	 * 256 = 4^4 entries 0, 2, 4, ... in ascending order pack every node full
	 * (right-spine appends), so the first insert into the middle splits a
	 * leaf, three inner nodes and the root. For a series of new odd keys,
	 * fail the k-th allocation of the insert for every k it needs, then let
	 * it succeed.
	 */
	for (uint64_t i = 0; i < 256; i++)
		T_EQ(viommu_rangemap_insert(m, 2 * i, 2 * i, i), 0);
	T_EQ(vi_rangemap_check(m), 0);
	unsigned long max_needed = 0, refusals = 0;
	for (uint64_t key = 1; key < 512; key += 6) {
		strcpy(before, dump(m));
		bytes = viommu_rangemap_bytes(m);
		/* The leaf's slot costs an allocation only when the pool's last chunk is full. */
		unsigned long chunk_needed = m->chunk_tail->used == m->chunk_tail->cap;
		for (long k = 0;; k++) {
			unsigned long calls0 = alloc_calls;
			alloc_budget = k;
			errno = 0;
			int rc = viommu_rangemap_insert(m, key, key, key);
			alloc_budget = -1;
			if (rc == 0) {
				/* Three inner nodes, a new root and maybe the leaf's chunk. */
				if (key == 1)
					T_EQ(alloc_calls - calls0, 4 + chunk_needed);
				if (alloc_calls - calls0 > max_needed)
					max_needed = alloc_calls - calls0;
				break;
			}
			refusals++;
			T_EQ(rc, -ENOMEM);
			T_EQ(errno, ENOMEM);
			T_STREQ(dump(m), before);
			T_EQ(viommu_rangemap_bytes(m), bytes);
			T_EQ(vi_rangemap_check(m), 0);
			if (k > 32)
				T_FATAL("insert of %" PRIu64 " never succeeds", key);
		}
		T_EQ(vi_rangemap_check(m), 0);
	}
	printf("allocations for one insert: up to %lu; refused inserts %lu, tree height %u\n", max_needed, refusals,
	       vi_rangemap_height(m));
	/* Later cascades go through the taller tree the first ones built. */
	T_OK(max_needed >= 5);

	/* Removal never allocates: with allocation forbidden, remove everything. */
	alloc_budget = 0;
	unsigned long calls0 = alloc_calls;
	/* In [100, 300]: the even keys 100..300 (101) and the odd keys 103, 109, ..., 295 (33). */
	T_EQ(viommu_rangemap_remove(m, 0, 0, NULL), 0);
	T_EQ(viommu_rangemap_remove_inside(m, 100, 300, NULL, NULL), 101 + 33);
	/* 256 even + 86 odd (1, 7, ..., 511) - 1 - 134. */
	T_EQ(viommu_rangemap_remove_inside(m, 0, UINT64_MAX, NULL, NULL), 256 + 86 - 1 - 134);
	T_EQ(alloc_calls, calls0);
	T_EQ(viommu_rangemap_count(m), 0);
	T_EQ(vi_rangemap_check(m), 0);
	alloc_budget = -1;
	viommu_rangemap_free(m);
	return t_done();
}

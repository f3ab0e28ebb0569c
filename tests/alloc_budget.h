/* SPDX-License-Identifier: MIT */
/*
 * An allocator that fails after a budget, for tests that compile library
 * sources into themselves: include this, then the .c files (their malloc,
 * calloc and realloc become the budgeted ones), then alloc_budget_end.h.
 * Set alloc_budget to the number of allocations
 * that may still succeed (< 0: unlimited); every refusal is counted. The
 * range map is built with 4-slot nodes and one-leaf pool chunks so inserts
 * need new nodes often.
 */
#ifndef VIOMMU_TEST_ALLOC_BUDGET_H
#define VIOMMU_TEST_ALLOC_BUDGET_H
#include <stdlib.h>

static long alloc_budget = -1; /* < 0: unlimited */
static unsigned long failures;

static int take(void)
{
	if (alloc_budget == 0) {
		failures++;
		return 0;
	}
	if (alloc_budget > 0)
		alloc_budget--;
	return 1;
}

static inline void *t_malloc(size_t n) { return take() ? malloc(n) : NULL; }
static inline void *t_calloc(size_t k, size_t n) { return take() ? calloc(k, n) : NULL; }
static inline void *t_realloc(void *p, size_t n) { return take() ? realloc(p, n) : NULL; }

#define VI_RM_LEAF_CAP 4
#define VI_RM_INNER_CAP 4
#define VI_RM_CHUNK_MAX 1	/* one allocation per leaf, as before the leaf pool */
#endif

#define malloc(n) t_malloc(n)
#define calloc(k, n) t_calloc(k, n)
#define realloc(p, n) t_realloc(p, n)

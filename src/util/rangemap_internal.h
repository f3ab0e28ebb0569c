/* SPDX-License-Identifier: MIT */
/*
 * Internals of the range map shared with tests, the fuzz target and the
 * benchmark: node geometry and the invariant checker.
 */
#ifndef VI_UTIL_RANGEMAP_INTERNAL_H
#define VI_UTIL_RANGEMAP_INTERNAL_H

#include <viommu/rangemap.h>

/*
 * Entries per leaf and children per inner node, chosen by measurement with
 * bench/bench_rangemap.c (docs/design.md, "Node sizes and search"). Unused key slots are
 * padded with UINT64_MAX, which ends the key scan. Powers of two, so the
 * optional binary search (VI_RM_SEARCH_BINARY) can run over the whole array.
 * The fuzz target and test_rangemap_small_nodes.c compile the map with 4.
 */
#ifndef VI_RM_LEAF_CAP
#define VI_RM_LEAF_CAP 64
#endif
#ifndef VI_RM_INNER_CAP
#define VI_RM_INNER_CAP 32
#endif
/*
 * Leaves per pool chunk at most (chunks grow 1, 2, 4, ... up to this), and
 * how many inserts and removes share one step of the relayout sweep that
 * keeps leaves in key order in memory: measured with bench_rangemap
 * (docs/design.md, "Leaf layout"). The 4-slot builds sweep on every
 * operation and use small chunks so that swaps, compaction and chunk
 * boundaries happen all the time.
 */
#ifndef VI_RM_CHUNK_MAX
#define VI_RM_CHUNK_MAX 64
#endif
#ifndef VI_RM_SWEEP_EVERY
#define VI_RM_SWEEP_EVERY 8
#endif
/* Below this fill a node that is not on the right spine is rebalanced. */
#define VI_RM_LEAF_MIN (VI_RM_LEAF_CAP / 2)
#define VI_RM_INNER_MIN (VI_RM_INNER_CAP / 2)

/*
 * Verify every structural invariant of @m: key order and disjointness,
 * first <= last, inner keys equal to the max `last` of each child, strictly
 * increasing inner keys, padding of unused key slots, fill bounds (root,
 * right spine, others), the doubly linked leaf chain, the entry count and the
 * node counters behind viommu_rangemap_bytes(). Returns 0, or the negated
 * source line of the first failed check so a failing test names the
 * invariant. Cost O(n).
 */
int vi_rangemap_check(const struct viommu_rangemap *m);

/* Height of the tree (0: a single leaf or empty). For tests and the benchmark. */
unsigned vi_rangemap_height(const struct viommu_rangemap *m);

#endif

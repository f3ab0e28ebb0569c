/* SPDX-License-Identifier: MIT */
/*
 * The output index of the IOMMU source: which IOVA extents translate into a
 * given guest-physical range. Extents are disjoint in IOVA but their outputs
 * may overlap (two IOVAs onto one page is ordinary), so this is an interval
 * tree: an AVL tree keyed by (output first, IOVA first), each node keeping
 * the largest output last of its subtree, as in CLRS's augmented interval
 * tree (Linux's include/linux/interval_tree_generic.h augments an rbtree the
 * same way). Worst case: insert and remove O(log n); a query O(log n + k)
 * for k answers.
 */
#ifndef VI_RECON_OUT_INDEX_H
#define VI_RECON_OUT_INDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct vi_out_node {
	uint64_t out_first, out_last;	/* the extent's output range */
	uint64_t iova;			/* the extent's first IOVA */
	uint64_t max_last;		/* largest out_last in this subtree */
	struct vi_out_node *left, *right;
	int height;
};

struct vi_out_index {
	struct vi_out_node *root;
	size_t n;
};

/* Add an extent. 0; -EEXIST if (out_first, iova) is there; -ENOMEM (nothing changed). */
int vi_out_index_insert(struct vi_out_index *x, uint64_t out_first, uint64_t out_last, uint64_t iova);
/* Remove the extent keyed (out_first, iova); false if absent. */
bool vi_out_index_remove(struct vi_out_index *x, uint64_t out_first, uint64_t iova);
/*
 * Call @fn for every extent whose output overlaps [first, last], in ascending
 * (out_first, iova) order. @fn must not change the index.
 */
void vi_out_index_query(const struct vi_out_index *x, uint64_t first, uint64_t last,
			void (*fn)(void *ctx, const struct vi_out_node *n), void *ctx);
/* Remove everything. */
void vi_out_index_clear(struct vi_out_index *x);
/* The AVL and augmentation invariants (for the fuzz target): true if they hold. */
bool vi_out_index_valid(const struct vi_out_index *x);

#endif

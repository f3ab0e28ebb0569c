/* SPDX-License-Identifier: MIT */
/*
 * The output index of the IOMMU source: which IOVA extents translate into a
 * given guest-physical range. Extents are disjoint in IOVA but their outputs
 * may overlap (two IOVAs onto one page is ordinary), so this is an interval
 * tree: an AVL tree keyed by (output first, IOVA first), each node keeping
 * the largest output last of its subtree, as in CLRS's augmented interval
 * tree (Linux's include/linux/interval_tree_generic.h augments an rbtree the
 * same way). Worst case: insert and remove O(log n); a query O(log n + k)
 * for k answers; clear O(n / VI_OUT_CHUNK).
 *
 * Nodes come from the index's own pool (a free list over chunks of
 * VI_OUT_CHUNK nodes): an insert allocates only when the free list is empty,
 * one chunk per VI_OUT_CHUNK nodes, so the per-event path of the IOMMU
 * source does no malloc. A removed node goes back on the free list; chunks
 * are freed by clear. The pool holds at most the peak node count rounded up
 * to a chunk.
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

#define VI_OUT_CHUNK 64

/* A block of pool nodes; chunks form a list through @next. */
struct vi_out_chunk {
	struct vi_out_chunk *next;
	struct vi_out_node nodes[VI_OUT_CHUNK];
};

/*
 * Invariants: @n nodes are in the tree under @root; every other node of
 * every chunk is on @free (linked through ->left). All zero is an empty
 * index.
 */
struct vi_out_index {
	struct vi_out_node *root;
	size_t n;
	struct vi_out_node *free;
	struct vi_out_chunk *chunks;
	size_t nchunks;
};

/*
 * Add an extent. 0; -EEXIST if (out_first, iova) is there; -ENOMEM if the
 * free list is empty and a new chunk cannot be allocated (nothing changed).
 */
int vi_out_index_insert(struct vi_out_index *x, uint64_t out_first, uint64_t out_last, uint64_t iova);
/* Remove the extent keyed (out_first, iova); false if absent. */
bool vi_out_index_remove(struct vi_out_index *x, uint64_t out_first, uint64_t iova);
/*
 * Call @fn for every extent whose output overlaps [first, last], in ascending
 * (out_first, iova) order. @fn must not change the index.
 */
void vi_out_index_query(const struct vi_out_index *x, uint64_t first, uint64_t last,
			void (*fn)(void *ctx, const struct vi_out_node *n), void *ctx);
/* Remove everything and free the pool. */
void vi_out_index_clear(struct vi_out_index *x);
/* The AVL and augmentation invariants (for the fuzz target): true if they hold. */
bool vi_out_index_valid(const struct vi_out_index *x);

#endif

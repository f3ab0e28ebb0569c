/* SPDX-License-Identifier: MIT */
/*
 * The children index of a region: an interval B+ tree of its subregions,
 * keyed by (address in the parent, link sequence number), each entry also
 * holding the subregion's window end (address + size - 1, saturated at
 * 2^64-1). Inner entries hold their subtree's first key and largest end, so
 * the subregions overlapping an address window are found in
 * O(log n + k) while touching a few nodes per level: the top levels of a
 * big index stay in cache and a query misses only near the leaves, where a
 * binary tree would miss once per level.
 *
 * Invariants: keys strictly increase across the leaves; inner entry i holds
 * child i's first key and the largest end in it; every node holds
 * 1..VI_KX_FAN entries (no minimum: removal only frees empty nodes, so the
 * height is never more than insertions alone would give); an inner root has
 * at least two entries. Mutated only under the model's exclusion; renders
 * read it under the same exclusion.
 */
#ifndef VI_MEMORY_KIDX_H
#define VI_MEMORY_KIDX_H

#include <stddef.h>
#include <stdint.h>

#define VI_KX_FAN 32

struct vi_kx_node {
	uint32_t n;
	uint32_t level;			/* 0: leaf */
	uint64_t addr[VI_KX_FAN];
	uint64_t seq[VI_KX_FAN];
	uint64_t end[VI_KX_FAN];
	void *ptr[VI_KX_FAN];		/* leaf: the subregion; inner: the child node */
	int prio[VI_KX_FAN];		/* leaf: the subregion's priority (sorting needs no dereference) */
};

/* What a query returns per subregion: enough to sort by precedence without touching it. */
struct vi_kx_hit {
	void *item;
	uint64_t seq;
	int prio;
};

/* Add @item under (addr, seq) with window end @end and priority @prio. 0 or -ENOMEM (nothing changed). */
int vi_kx_insert(struct vi_kx_node **root, void *item, uint64_t addr, uint64_t seq, uint64_t end, int prio);
/* Remove the entry (addr, seq), which must exist. Never allocates. */
void vi_kx_remove(struct vi_kx_node **root, uint64_t addr, uint64_t seq);
/* Change the window end of the entry (addr, seq). Never allocates. */
void vi_kx_set_end(struct vi_kx_node *root, uint64_t addr, uint64_t seq, uint64_t end);
/*
 * Append to (*stack)[*n..] every item whose window [addr, end] meets
 * [first, last], in key order. 0 or -ENOMEM.
 */
int vi_kx_collect(const struct vi_kx_node *root, uint64_t first, uint64_t last, struct vi_kx_hit **stack,
		  size_t *n, size_t *cap);
/* Call @fn on every item in key order; stops at and returns the first non-zero result. */
int vi_kx_walk(const struct vi_kx_node *root, int (*fn)(void *ctx, void *item), void *ctx);
/* Free every node of the index (not the items). NULL is allowed. */
void vi_kx_free(struct vi_kx_node *root);
/* Check the invariants (tests); 0 or -EIO. */
int vi_kx_check(const struct vi_kx_node *root);

#endif

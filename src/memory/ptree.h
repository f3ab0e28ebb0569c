/* SPDX-License-Identifier: MIT */
/*
 * A persistent (copy-on-write) B+ tree of items sorted by a 64-bit key: the
 * storage of flat views. A tree is an immutable root node; an update builds
 * a new root that shares every untouched node with the old tree (path
 * copying), so an old version stays valid for readers that hold it while a
 * new one is published, and an update of k items costs O((k + FAN) log n)
 * instead of a copy of the whole array.
 *
 * Nodes are reference counted (atomic: a reader in any thread may drop the
 * last reference to an old version). Every node holds one reference to each
 * child. Leaves hold up to VI_PT_FAN items of @esz bytes each (esz 0: the
 * keys are the items), inner nodes up to VI_PT_FAN children with the last
 * key and the cumulative item count of each, so search by key and by index
 * are both O(log n).
 *
 * Invariants (checked by vi_pt_check): keys strictly increase across the
 * leaves in order; all leaves are at level 0 and every child of a level-L
 * node is at level L-1; a node holds 1..VI_PT_FAN entries, and at least
 * VI_PT_MIN unless it is the root; an inner node's key i is the last key of
 * child i and its cum i the item count of children 0..i; an inner root has
 * at least two children. Height is therefore at most log_MIN(n) + 2.
 *
 * Updates run under the memory model's exclusion; reads need none.
 */
#ifndef VI_MEMORY_PTREE_H
#define VI_MEMORY_PTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VI_PT_FAN 32
#define VI_PT_MIN (VI_PT_FAN / 4)
#define VI_PT_MAXH 24	/* enough for 2^64 items at VI_PT_MIN children per node */

struct vi_pnode {
	unsigned long refs;		/* atomic */
	struct vi_pnode *made_next;	/* nodes made by the update in progress */
	uint32_t n;			/* entries */
	uint32_t level;			/* 0: leaf */
	size_t count;			/* items in the subtree */
	uint64_t keys[];		/* n keys, then the n items (leaf) or slots (inner) */
};

struct vi_pslot {
	struct vi_pnode *child;
	size_t cum;			/* items in children 0..this one */
};

static inline struct vi_pslot *vi_pt_slots(const struct vi_pnode *x)
{
	return (struct vi_pslot *)(void *)((uint64_t *)x->keys + x->n);
}

static inline char *vi_pt_items(const struct vi_pnode *x)
{
	return (char *)((uint64_t *)x->keys + x->n);
}

static inline size_t vi_pt_count(const struct vi_pnode *x)
{
	return x ? x->count : 0;
}

void vi_pt_get(struct vi_pnode *x);
void vi_pt_put(struct vi_pnode *x);

/*
 * *out = a new tree of the @n items (keys strictly increasing; items @esz
 * bytes each, NULL when esz is 0). 0 or -ENOMEM (nothing allocated).
 */
int vi_pt_build(size_t esz, const uint64_t *keys, const void *items, size_t n, struct vi_pnode **out);

/*
 * *out = @root with items [i, j) replaced by the @k given ones (the caller
 * keeps the keys sorted across the seam). @root is unchanged and shares its
 * untouched nodes with *out. 0 or -ENOMEM (then nothing changed).
 * Cost O((k + VI_PT_FAN) * height).
 */
int vi_pt_replace(struct vi_pnode *root, size_t esz, size_t i, size_t j, const uint64_t *keys,
		  const void *items, size_t k, struct vi_pnode **out);

/* Index of the first item with key >= @key (the item count if none). O(log n). */
size_t vi_pt_lower(const struct vi_pnode *root, uint64_t key);

/* Item @i (its key if esz is 0), or NULL if i >= count. O(log n). */
const void *vi_pt_at(const struct vi_pnode *root, size_t esz, size_t i);

/* Sequential access from an index: O(log n) to seek, O(1) amortised per step. */
struct vi_pcur {
	const struct vi_pnode *node[VI_PT_MAXH];
	uint32_t idx[VI_PT_MAXH];
	unsigned depth;		/* levels on the path; 0 when exhausted */
	size_t esz;
};

/* Position @c at item @i; returns the item (key if esz 0) or NULL past the end. */
const void *vi_pcur_seek(struct vi_pcur *c, const struct vi_pnode *root, size_t esz, size_t i);
/* The next item, or NULL past the end. */
const void *vi_pcur_next(struct vi_pcur *c);

/* Copy every key (esz 0 trees) or item into @out (count entries). */
void vi_pt_copy_out(const struct vi_pnode *root, size_t esz, void *out);

/* Check the invariants above; returns 0 or -EIO (tests only). */
int vi_pt_check(const struct vi_pnode *root, size_t esz);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * A persistent (copy-on-write) B+ tree of items sorted by a 64-bit key: the
 * storage of flat views. A tree is an immutable root node; an update builds
 * a new root that shares every untouched node with the old tree (path
 * copying), so an old version stays valid for readers that hold it while a
 * new one is published, and an update of k items costs O((k + FAN) log n)
 * instead of a copy of the whole array.
 *
 * Nodes carry no reference counts (a count per node would make every copied
 * inner node touch each of its up to FAN children, a cache miss apiece on
 * big trees). Instead updates run in a transaction (struct vi_pt_txn) that
 * records the nodes it made and the published nodes it removed ("retired"):
 * the retired nodes belong to the versions before the transaction only, so
 * whoever owns the versions frees them once every older version is gone
 * (memory.c does that per chain of views, oldest first). Nodes a
 * transaction made and then replaced itself never become visible and are
 * freed when it ends.
 *
 * Leaves hold up to VI_PT_LEAF_FAN items of @esz bytes each (esz 0: the keys
 * are the items), inner nodes up to VI_PT_FAN children with the last key and
 * the cumulative item count of each, so search by key and by index are both
 * O(log n).
 *
 * Invariants (checked by vi_pt_check): keys strictly increase across the
 * leaves in order; all leaves are at level 0 and every child of a level-L
 * node is at level L-1; a node holds 1..VI_PT_CAP(level) entries, and at
 * least VI_PT_MIN(level) unless it is the root; an inner node's key i is the last key of
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

#define VI_PT_FAN 32		/* children per inner node */
#define VI_PT_LEAF_FAN 8	/* items per leaf: a leaf of sections is 8 cache lines */
#define VI_PT_CAP(level) ((level) ? VI_PT_FAN : VI_PT_LEAF_FAN)
#define VI_PT_MIN(level) (VI_PT_CAP(level) / 4)
#define VI_PT_MAXH 24	/* enough for 2^64 items at VI_PT_MIN entries per node */

enum vi_pnode_state {
	VI_PN_PUBLISHED,	/* part of a version readers may hold */
	VI_PN_FRESH,		/* made by the open transaction */
	VI_PN_DEAD,		/* made by it and replaced again: never visible */
};

struct vi_pnode {
	struct vi_pnode *link;		/* a transaction's made list, or a retired/dying list */
	uint32_t n;			/* entries */
	uint16_t level;			/* 0: leaf */
	uint8_t state;			/* enum vi_pnode_state */
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

/*
 * Work counters of the calling thread (tests and fuzz: cost budgets in
 * counted units, not time). descents: walks from a root to a leaf, each
 * O(log n) (lower, find, at, the cursor seeks); steps: cursor steps, each
 * O(1) amortised (vi_pcur_next, so vi_pt_copy_out counts one per item);
 * made: nodes made by updates. Thread-local because readers run
 * concurrently with the writer and take no lock; initial-exec (as
 * iotlb.c's stripe) so that in the shared library an increment is one
 * instruction, not a __tls_get_addr call on every lookup.
 */
struct vi_pt_work {
	uint64_t descents, steps, made;
};
extern __thread struct vi_pt_work vi_pt_work __attribute__((tls_model("initial-exec")));

/* One update transaction: start zeroed. */
struct vi_pt_txn {
	struct vi_pnode *made;		/* every node it made */
	struct vi_pnode *retired;	/* published nodes it removed from the tree it updated */
};

/*
 * *out = a new tree of the @n items (keys strictly increasing; items @esz
 * bytes each, NULL when esz is 0). 0 or -ENOMEM.
 */
int vi_pt_build(struct vi_pt_txn *t, size_t esz, const uint64_t *keys, const void *items, size_t n,
		struct vi_pnode **out);

/*
 * *out = @root with items [i, j) replaced by the @k given ones (the caller
 * keeps the keys sorted across the seam). @root may be published (it is
 * left unchanged and shares its untouched nodes with *out) or made by the
 * same transaction. 0 or -ENOMEM (then abort the transaction).
 * Cost O((k + VI_PT_FAN) * height), touching only the nodes on the paths to
 * the two ends of the range.
 */
int vi_pt_replace(struct vi_pt_txn *t, struct vi_pnode *root, size_t esz, size_t i, size_t j,
		  const uint64_t *keys, const void *items, size_t k, struct vi_pnode **out);

/*
 * End a transaction whose result is published: its nodes become published,
 * those it replaced itself are freed, and the retired nodes are prepended to
 * *dying (the caller frees them with vi_pt_free_list once no version older
 * than the result is held).
 */
void vi_pt_txn_commit(struct vi_pt_txn *t, struct vi_pnode **dying);
/* End a transaction whose result is dropped: free what it made; the old trees are as they were. */
void vi_pt_txn_abort(struct vi_pt_txn *t);
/* Free a retired list. */
void vi_pt_free_list(struct vi_pnode *list);
/* Free every node of a tree no other live version shares. */
void vi_pt_free_tree(struct vi_pnode *root);

/* Index of the first item with key >= @key (the item count if none). O(log n). */
size_t vi_pt_lower(const struct vi_pnode *root, uint64_t key);

/*
 * The first item with key >= @key (its key if esz is 0), or NULL if none.
 * O(log n), and the cheapest descent: no index, no cursor.
 */
const void *vi_pt_find(const struct vi_pnode *root, size_t esz, uint64_t key);

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
/*
 * Position @c at the first item with key >= @key; returns it, or NULL if
 * none, and its index in *index (the count if none; index may be NULL).
 * O(log n).
 */
const void *vi_pcur_seek_key(struct vi_pcur *c, const struct vi_pnode *root, size_t esz, uint64_t key,
			     size_t *index);
/* The next item, or NULL past the end. */
const void *vi_pcur_next(struct vi_pcur *c);

/* Copy every key (esz 0 trees) or item into @out (count entries). */
void vi_pt_copy_out(const struct vi_pnode *root, size_t esz, void *out);

/* Check the invariants above; returns 0 or -EIO (tests only). */
int vi_pt_check(const struct vi_pnode *root, size_t esz);

#endif

// SPDX-License-Identifier: MIT
/*
 * The range map: a B+ tree of disjoint closed intervals keyed by their last
 * address. See docs/design.md, "The range map", for the structure, the
 * measured node sizes and the costs.
 *
 * Keying by `last` means one descent for a key k finds the first entry whose
 * last >= k; because entries are disjoint and sorted that is the only entry
 * that can contain k, and the only one an insert of [k, ...] can collide
 * with first. No code computes last + 1 unless last < some other value, so
 * [x, UINT64_MAX] needs no special case.
 */
#include <stdlib.h>
#include <string.h>

#include "util/compiler.h"
#include "util/rangemap_internal.h"

#define LEAF_CAP VI_RM_LEAF_CAP
#define INNER_CAP VI_RM_INNER_CAP
#define LEAF_MIN VI_RM_LEAF_MIN
#define INNER_MIN VI_RM_INNER_MIN

_Static_assert((LEAF_CAP & (LEAF_CAP - 1)) == 0 && LEAF_CAP >= 4, "leaf capacity: power of two >= 4");
_Static_assert((INNER_CAP & (INNER_CAP - 1)) == 0 && INNER_CAP >= 4, "inner capacity: power of two >= 4");

/*
 * Every node off the right spine holds at least CAP/2 items, so a tree of
 * height h holds at least LEAF_MIN * INNER_MIN^(h-1) entries: with the
 * default sizes 24 levels is beyond any memory (4-slot test builds would
 * need 2^24 entries).
 */
#define MAX_DEPTH 24

/*
 * A leaf: up to LEAF_CAP entries sorted by last, in three parallel arrays so
 * the key search touches only last[]. Invariants: last[i-1] < first[i],
 * first[i] <= last[i] for i < n; last[i] == UINT64_MAX for i >= n (padding
 * that ends the key scan). prev/next chain all leaves in key order.
 */
struct vi_rm_leaf {
	uint64_t last[LEAF_CAP];
	uint64_t first[LEAF_CAP];
	uint64_t value[LEAF_CAP];
	struct vi_rm_leaf *prev, *next;
	unsigned n;
};

/*
 * An inner node: max[i] is exactly the highest `last` stored under child[i]
 * (so max[] is strictly increasing); max[i] == UINT64_MAX for i >= n.
 */
struct vi_rm_inner {
	uint64_t max[INNER_CAP];
	void *child[INNER_CAP];
	unsigned n;
};

/*
 * Leaves live in a pool of chunks owned by the map, not in malloc's heap, so
 * that the writer can keep them in key order in memory (see "Leaf layout" in
 * docs/design.md): a cursor then walks memory forwards, as over an array.
 * Chunks hold 1, 2, 4, ... up to VI_RM_CHUNK_MAX leaves and form a list; the
 * pool is dense: every chunk but the last is full and slots [0, used) of the
 * last hold live leaves, so the pool never holds more than one partly used
 * chunk of slack and memory follows the leaf count.
 */
struct vi_rm_chunk {
	struct vi_rm_chunk *prev, *next;
	unsigned cap, used;		/* used < cap only in the last chunk */
	struct vi_rm_leaf leaf[];
};

/*
 * The map. root is NULL when empty, a leaf when height == 0, else an inner
 * node; all leaves are at depth `height`. Fill bounds: the root holds >= 1
 * entry (leaf) or >= 2 children (inner); a node on the right spine (the
 * path of last children) holds >= 1 item, so appending in ascending order can
 * leave full nodes behind; any other node holds >= CAP/2. No locking inside:
 * see the header's concurrency contract.
 *
 * Pool: chunk_head .. chunk_tail hold exactly nleaves live leaves (dense, as
 * above); pool_bytes is their allocation size. The relayout sweep stands at
 * slot sw_off of chunk sw (NULL: start again at the first slot); every slot
 * before it was, when the sweep passed, the leaf following its predecessor
 * slot's leaf in key order. hole is a leaf freed by the current operation
 * whose slot pool_compact() still has to refill. Once a whole pass found
 * every leaf in order with nothing moved meanwhile (sorted), the sweep
 * rests until a leaf is placed out of order (sweep_disorder()).
 */
struct viommu_rangemap {
	void *root;
	size_t count;
	size_t nleaves, ninner;
	struct vi_rm_chunk *chunk_head, *chunk_tail, *sw;
	struct vi_rm_leaf *hole;
	size_t pool_bytes;
	unsigned height;
	unsigned sw_off, sw_tick;
	bool sorted;		/* the last full pass found the pool in key order and nothing moved since */
	bool pass_dirty;	/* a leaf went out of order during the current pass */
};

/* A root-to-leaf path: node[l] is at level l (0 = leaf), idx[l] its slot in node[l+1]. */
struct vi_rm_path {
	void *node[MAX_DEPTH + 1];
	unsigned idx[MAX_DEPTH + 1];
	bool spine[MAX_DEPTH + 1];
};

/*
 * Number of keys < k among the n (>= 1) sorted keys of a node (unused slots
 * hold UINT64_MAX for the fixed-length binary variant). A forward scan: with the
 * node's lines prefetched it beat a binary search by 40% on
 * cache-resident maps and tied at 10^6 entries (docs/design.md, "Node sizes
 * and search"); the
 * binary search stays behind VI_RM_SEARCH_BINARY for re-measuring.
 */
static inline unsigned rank(const uint64_t *keys, unsigned cap, unsigned n, uint64_t k)
{
	/* Appends and searches past the end of the map land here on every level. */
	if (keys[n - 1] < k)
		return n;
#ifdef VI_RM_SEARCH_BINARY
	const uint64_t *base = keys;
	unsigned len = cap;

	while (len > 1) {
		unsigned half = len / 2;
		base = base[half - 1] < k ? base + half : base;
		len -= half;
	}
	return (unsigned)(base - keys) + (*base < k);
#else
	unsigned i = 0;

	/* keys[n - 1] >= k here, so the scan stops inside the node. */
	while (keys[i] < k)
		i++;
	return i;
#endif
}

/*
 * Ask for every cache line of a node's key array at once (and, for a leaf,
 * of the first/value arrays too): the lines then arrive in parallel instead
 * of one dependent miss per search step.
 */
static inline void prefetch_range(const void *p, size_t bytes)
{
#ifndef VI_RM_NO_PREFETCH
	for (size_t off = 0; off < bytes; off += 64)
		__builtin_prefetch((const char *)p + off);
#else
	(void)p;
	(void)bytes;
#endif
}

static inline unsigned node_n(const void *node, unsigned level)
{
	return level ? ((const struct vi_rm_inner *)node)->n : ((const struct vi_rm_leaf *)node)->n;
}

/* Highest last under a non-empty node. */
static inline uint64_t node_max(const void *node, unsigned level)
{
	if (level) {
		const struct vi_rm_inner *in = node;
		return in->max[in->n - 1];
	}
	const struct vi_rm_leaf *l = node;
	return l->last[l->n - 1];
}

/* ---- the leaf pool -------------------------------------------------------- */

static size_t chunk_size(unsigned cap)
{
	return sizeof(struct vi_rm_chunk) + cap * sizeof(struct vi_rm_leaf);
}

/* The next free slot at the end of the pool, allocating a chunk if the last is full. O(1). */
static struct vi_rm_leaf *pool_take(struct viommu_rangemap *m)
{
	struct vi_rm_chunk *t = m->chunk_tail;

	if (!t || t->used == t->cap) {
		unsigned cap = t ? t->cap * 2 : 1;
		struct vi_rm_chunk *c;

		if (cap > VI_RM_CHUNK_MAX)
			cap = VI_RM_CHUNK_MAX;
		c = malloc(chunk_size(cap));
		if (!c)
			return NULL;
		c->cap = cap;
		c->used = 0;
		c->next = NULL;
		c->prev = t;
		if (t)
			t->next = c;
		else
			m->chunk_head = c;
		m->chunk_tail = t = c;
		m->pool_bytes += chunk_size(cap);
	}
	return &t->leaf[t->used++];
}

/* The leaf in the pool's last used slot (the pool is not empty). */
static struct vi_rm_leaf *pool_last(const struct viommu_rangemap *m)
{
	return &m->chunk_tail->leaf[m->chunk_tail->used - 1];
}

/* Give back the pool's last slot; an emptied last chunk is freed. O(1). */
static void pool_drop_last(struct viommu_rangemap *m)
{
	struct vi_rm_chunk *t = m->chunk_tail;

	if (--t->used)
		return;
	m->chunk_tail = t->prev;
	if (t->prev)
		t->prev->next = NULL;
	else
		m->chunk_head = NULL;
	if (m->sw == t)
		m->sw = NULL;
	m->pool_bytes -= chunk_size(t->cap);
	free(t);
}

static void pool_free_all(struct viommu_rangemap *m)
{
	while (m->chunk_head) {
		struct vi_rm_chunk *c = m->chunk_head;

		m->chunk_head = c->next;
		free(c);
	}
	m->chunk_tail = m->sw = NULL;
	m->pool_bytes = 0;
	m->hole = NULL;
	m->sorted = m->pass_dirty = false;
}

static struct vi_rm_leaf *leaf_new(struct viommu_rangemap *m)
{
	struct vi_rm_leaf *l = pool_take(m);

	if (!l)
		return NULL;
	for (unsigned i = 0; i < LEAF_CAP; i++)
		l->last[i] = UINT64_MAX;
	l->prev = l->next = NULL;
	l->n = 0;
	return l;
}

static struct vi_rm_inner *inner_new(void)
{
	struct vi_rm_inner *in = malloc(sizeof(*in));

	if (!in)
		return NULL;
	for (unsigned i = 0; i < INNER_CAP; i++) {
		in->max[i] = UINT64_MAX;
		in->child[i] = NULL;
	}
	in->n = 0;
	return in;
}

/*
 * Unlink a leaf that has left the tree; its slot is refilled by
 * pool_compact() once the operation has restored the tree's invariants
 * (refilling moves another leaf, which needs a consistent tree to find its
 * parent). A delete fix-up frees at most one leaf.
 */
static void leaf_free(struct viommu_rangemap *m, struct vi_rm_leaf *l)
{
	if (l->prev)
		l->prev->next = l->next;
	if (l->next)
		l->next->prev = l->prev;
	m->hole = l;
	m->nleaves--;
}

static void inner_free(struct viommu_rangemap *m, struct vi_rm_inner *in)
{
	free(in);
	m->ninner--;
}

/* ---- slot moves inside and between nodes -------------------------------- */

static void leaf_insert_at(struct vi_rm_leaf *l, unsigned pos, uint64_t first, uint64_t last, uint64_t value)
{
	unsigned tail = l->n - pos;

	memmove(&l->last[pos + 1], &l->last[pos], tail * sizeof(uint64_t));
	memmove(&l->first[pos + 1], &l->first[pos], tail * sizeof(uint64_t));
	memmove(&l->value[pos + 1], &l->value[pos], tail * sizeof(uint64_t));
	l->last[pos] = last;
	l->first[pos] = first;
	l->value[pos] = value;
	l->n++;
}

/* Remove slots [a, b) and re-pad. */
static void leaf_remove_range(struct vi_rm_leaf *l, unsigned a, unsigned b)
{
	unsigned tail = l->n - b, k = b - a;

	memmove(&l->last[a], &l->last[b], tail * sizeof(uint64_t));
	memmove(&l->first[a], &l->first[b], tail * sizeof(uint64_t));
	memmove(&l->value[a], &l->value[b], tail * sizeof(uint64_t));
	l->n -= k;
	for (unsigned i = l->n; i < l->n + k; i++)
		l->last[i] = UINT64_MAX;
}

/* Append src[a, a + k) to the end of dst. */
static void leaf_copy_tail(struct vi_rm_leaf *dst, const struct vi_rm_leaf *src, unsigned a, unsigned k)
{
	memcpy(&dst->last[dst->n], &src->last[a], k * sizeof(uint64_t));
	memcpy(&dst->first[dst->n], &src->first[a], k * sizeof(uint64_t));
	memcpy(&dst->value[dst->n], &src->value[a], k * sizeof(uint64_t));
	dst->n += k;
}

static void inner_insert_at(struct vi_rm_inner *in, unsigned pos, uint64_t max, void *child)
{
	unsigned tail = in->n - pos;

	memmove(&in->max[pos + 1], &in->max[pos], tail * sizeof(uint64_t));
	memmove(&in->child[pos + 1], &in->child[pos], tail * sizeof(void *));
	in->max[pos] = max;
	in->child[pos] = child;
	in->n++;
}

static void inner_remove_range(struct vi_rm_inner *in, unsigned a, unsigned b)
{
	unsigned tail = in->n - b, k = b - a;

	memmove(&in->max[a], &in->max[b], tail * sizeof(uint64_t));
	memmove(&in->child[a], &in->child[b], tail * sizeof(void *));
	in->n -= k;
	for (unsigned i = in->n; i < in->n + k; i++) {
		in->max[i] = UINT64_MAX;
		in->child[i] = NULL;
	}
}

static void inner_copy_tail(struct vi_rm_inner *dst, const struct vi_rm_inner *src, unsigned a, unsigned k)
{
	memcpy(&dst->max[dst->n], &src->max[a], k * sizeof(uint64_t));
	memcpy(&dst->child[dst->n], &src->child[a], k * sizeof(void *));
	dst->n += k;
}

/*
 * Where a full node of cap items splits when an item goes in at pos: evenly,
 * except that an append at the very end of the right spine keeps the old node
 * full and starts a new one, so ascending fills pack nodes completely
 * (SQLite's "quick balance" idea).
 */
static inline unsigned split_point(unsigned cap, unsigned pos, bool spine)
{
	return spine && pos == cap ? cap : (cap + 1) / 2;
}

/* Split full leaf l into l and the empty leaf r while inserting at pos. */
static void leaf_split_insert(struct vi_rm_leaf *l, struct vi_rm_leaf *r, unsigned pos, bool spine,
			      uint64_t first, uint64_t last, uint64_t value)
{
	unsigned s = split_point(LEAF_CAP, pos, spine);

	if (pos < s) {
		leaf_copy_tail(r, l, s - 1, LEAF_CAP - (s - 1));
		leaf_remove_range(l, s - 1, LEAF_CAP);
		leaf_insert_at(l, pos, first, last, value);
	} else {
		leaf_copy_tail(r, l, s, LEAF_CAP - s);
		leaf_remove_range(l, s, LEAF_CAP);
		leaf_insert_at(r, pos - s, first, last, value);
	}
	r->prev = l;
	r->next = l->next;
	if (l->next)
		l->next->prev = r;
	l->next = r;
}

static void inner_split_insert(struct vi_rm_inner *in, struct vi_rm_inner *r, unsigned pos, bool spine,
			       uint64_t max, void *child)
{
	unsigned s = split_point(INNER_CAP, pos, spine);

	if (pos < s) {
		inner_copy_tail(r, in, s - 1, INNER_CAP - (s - 1));
		inner_remove_range(in, s - 1, INNER_CAP);
		inner_insert_at(in, pos, max, child);
	} else {
		inner_copy_tail(r, in, s, INNER_CAP - s);
		inner_remove_range(in, s, INNER_CAP);
		inner_insert_at(r, pos - s, max, child);
	}
}

/* ---- descent ------------------------------------------------------------ */

/*
 * The leaf holding the first entry with last >= key, and that entry's slot.
 * When no entry has last >= key this is the rightmost leaf with pos == n, the
 * only case where pos == n.
 */
static inline struct vi_rm_leaf *locate(const struct viommu_rangemap *m, uint64_t key, unsigned *pos)
{
	const void *node = m->root;

	for (unsigned h = m->height; h > 0; h--) {
		const struct vi_rm_inner *in = node;
		prefetch_range(in->max, sizeof(in->max));
		unsigned i = rank(in->max, INNER_CAP, in->n, key);

		node = in->child[i < in->n ? i : in->n - 1];
	}
	const struct vi_rm_leaf *l = node;
	prefetch_range(l, offsetof(struct vi_rm_leaf, prev));
	*pos = rank(l->last, LEAF_CAP, l->n, key);
	return (struct vi_rm_leaf *)l;
}

/* locate() recording the path, for operations that restructure. */
static unsigned descend(const struct viommu_rangemap *m, uint64_t key, struct vi_rm_path *p)
{
	void *node = m->root;
	bool spine = true;

	for (unsigned h = m->height; h > 0; h--) {
		struct vi_rm_inner *in = node;
		unsigned i = rank(in->max, INNER_CAP, in->n, key);

		if (i >= in->n)
			i = in->n - 1;
		p->node[h] = node;
		p->spine[h] = spine;
		p->idx[h - 1] = i;
		spine = spine && i == in->n - 1;
		node = in->child[i];
	}
	struct vi_rm_leaf *l = node;
	p->node[0] = l;
	p->spine[0] = spine;
	return rank(l->last, LEAF_CAP, l->n, key);
}

/* Refresh the parents' keys above level lvl after the max under p->node[lvl] changed. */
static void fix_keys_up(struct viommu_rangemap *m, struct vi_rm_path *p, unsigned lvl)
{
	for (; lvl < m->height; lvl++) {
		struct vi_rm_inner *par = p->node[lvl + 1];
		uint64_t mx = node_max(p->node[lvl], lvl);

		if (par->max[p->idx[lvl]] == mx)
			break;
		par->max[p->idx[lvl]] = mx;
	}
}

/* ---- leaf relayout -------------------------------------------------------- */

/* A leaf was placed out of key order: the sweep has work again. */
static inline void sweep_disorder(struct viommu_rangemap *m)
{
	m->sorted = false;
	m->pass_dirty = true;
}

/* Whether pool slot b directly follows slot a (b is in use). */
static bool slot_follows(const struct viommu_rangemap *m, const struct vi_rm_leaf *a, const struct vi_rm_leaf *b)
{
	for (const struct vi_rm_chunk *c = m->chunk_tail; c; c = c->prev)
		if (b >= c->leaf && b < c->leaf + c->used)
			return b > c->leaf ? b - 1 == a : c->prev && &c->prev->leaf[c->prev->cap - 1] == a;
	return false;
}

/*
 * The tree's pointer to live leaf l: its parent's child slot, found by one
 * descent by l's highest key (keys are disjoint, so that descent ends at l),
 * or the root. O(height).
 */
static void **leaf_ref(struct viommu_rangemap *m, const struct vi_rm_leaf *l)
{
	uint64_t key = l->last[l->n - 1];
	void **ref = (void **)&m->root;

	for (unsigned h = m->height; h > 0; h--) {
		struct vi_rm_inner *in = *ref;
		unsigned i = rank(in->max, INNER_CAP, in->n, key);

		ref = &in->child[i < in->n ? i : in->n - 1];
	}
	return ref;
}

/* Point l's chain neighbours back at l after l's contents moved to this address. */
static void relink(struct vi_rm_leaf *l)
{
	if (l->prev)
		l->prev->next = l;
	if (l->next)
		l->next->prev = l;
}

/*
 * Refill the slot of the leaf freed by this operation with the pool's last
 * leaf, so the pool stays dense: one descent and one leaf copy. Called once
 * the tree is consistent again. Never allocates.
 */
static void pool_compact(struct viommu_rangemap *m)
{
	struct vi_rm_leaf *h = m->hole, *e;

	if (!h)
		return;
	m->hole = NULL;
	e = pool_last(m);
	if (e != h) {
		void **ref = leaf_ref(m, e);

		*h = *e;
		*ref = h;
		relink(h);
		sweep_disorder(m);
	}
	pool_drop_last(m);
}

/* Exchange the slots of live leaves a != b: two descents, three leaf copies. */
static void leaf_swap(struct viommu_rangemap *m, struct vi_rm_leaf *a, struct vi_rm_leaf *b)
{
	void **ra = leaf_ref(m, a), **rb = leaf_ref(m, b);
	struct vi_rm_leaf t = *a;

	*a = *b;
	*b = t;
	*ra = b;
	*rb = a;
	/* Links that named the other leaf's old address now name its new one. */
	for (int k = 0; k < 2; k++) {
		struct vi_rm_leaf *l = k ? a : b;

		if (l->prev == a || l->prev == b)
			l->prev = l->prev == a ? b : a;
		if (l->next == a || l->next == b)
			l->next = l->next == a ? b : a;
	}
	relink(a);
	relink(b);
}

/*
 * One step of the relayout sweep, run by every VI_RM_SWEEP_EVERY-th insert or
 * remove once the tree is consistent: the slot the sweep stands on receives the leaf that
 * follows, in key order, the leaf of the slot before it (the first slot: the
 * leftmost leaf), by a swap if it is elsewhere; then the sweep moves on one
 * slot. A pass over a map that does not change lays the leaves out in key
 * order; a split or merge only displaces the leaves after it, which the next
 * pass puts back. O(height) (a swap: two descents), no allocation, and what
 * it reads and writes is the map's own: const calls still write nothing.
 */
static void sweep_step(struct viommu_rangemap *m)
{
	struct vi_rm_leaf *want, *slot;

	if (m->nleaves < 2 || m->sorted) {
		m->sw = NULL;
		return;
	}
	if (++m->sw_tick < VI_RM_SWEEP_EVERY)
		return;
	m->sw_tick = 0;
	if (!m->sw || (m->sw == m->chunk_tail && m->sw_off >= m->sw->used)) {
		m->sw = m->chunk_head;
		m->sw_off = 0;
		m->pass_dirty = false;
	}
	slot = &m->sw->leaf[m->sw_off];
	if (m->sw_off)
		want = slot[-1].next;
	else if (m->sw->prev)
		want = m->sw->prev->leaf[m->sw->prev->cap - 1].next;
	else {
		const void *node = m->root;

		for (unsigned h = m->height; h > 0; h--)
			node = ((const struct vi_rm_inner *)node)->child[0];
		want = (struct vi_rm_leaf *)node;
	}
	if (!want) {
		/*
		 * The slot before is the rightmost leaf: this pass is done. Each
		 * step left its slot holding the successor of the slot before,
		 * so unless a leaf moved meanwhile the pool is in key order.
		 */
		m->sw = NULL;
		m->sorted = !m->pass_dirty;
		return;
	}
	if (want != slot)
		leaf_swap(m, want, slot);
	if (++m->sw_off == m->sw->cap) {
		m->sw = m->sw->next;
		m->sw_off = 0;
	}
}

/* ---- lifecycle ---------------------------------------------------------- */

VIOMMU_API struct viommu_rangemap *viommu_rangemap_new(void)
{
	struct viommu_rangemap *m = calloc(1, sizeof(*m));

	if (!m)
		return vi_null(ENOMEM);
	return m;
}

/* Free the inner nodes under node (leaves belong to the pool). */
static void free_subtree(void *node, unsigned level)
{
	if (level == 0)
		return;
	struct vi_rm_inner *in = node;
	if (level > 1)
		for (unsigned i = 0; i < in->n; i++)
			free_subtree(in->child[i], level - 1);
	free(in);
}

VIOMMU_API void viommu_rangemap_clear(struct viommu_rangemap *m)
{
	if (m->root)
		free_subtree(m->root, m->height);
	pool_free_all(m);
	m->root = NULL;
	m->height = 0;
	m->count = m->nleaves = m->ninner = 0;
}

VIOMMU_API void viommu_rangemap_free(struct viommu_rangemap *m)
{
	if (!m)
		return;
	viommu_rangemap_clear(m);
	free(m);
}

VIOMMU_API size_t viommu_rangemap_count(const struct viommu_rangemap *m)
{
	return m->count;
}

VIOMMU_API size_t viommu_rangemap_bytes(const struct viommu_rangemap *m)
{
	return sizeof(*m) + m->pool_bytes + m->ninner * sizeof(struct vi_rm_inner);
}

/* ---- insert ------------------------------------------------------------- */

/*
 * gcc 12 cannot see that descend() fills p.idx[0 .. height - 1], which is all
 * the split cascade reads; zeroing the path on every insert would cost more
 * than the warning is worth.
 */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

VIOMMU_API int viommu_rangemap_insert(struct viommu_rangemap *m, uint64_t first, uint64_t last,
				      uint64_t value)
{
	struct vi_rm_path p;
	struct vi_rm_leaf *leaf, *spare_leaf = NULL;
	struct vi_rm_inner *spare[MAX_DEPTH + 1];
	unsigned pos, nspare = 0, need = 0, lvl;

	if (first > last)
		return vi_errno(-EINVAL);
	if (!m->root) {
		leaf = leaf_new(m);
		if (!leaf)
			return vi_errno(-ENOMEM);
		leaf_insert_at(leaf, 0, first, last, value);
		m->root = leaf;
		m->nleaves = 1;
		m->count = 1;
		return 0;
	}

	pos = descend(m, first, &p);
	leaf = p.node[0];
	/* The first entry with last >= first is the only possible first collision. */
	if (pos < leaf->n && leaf->first[pos] <= last)
		return vi_errno(-EEXIST);

	if (leaf->n < LEAF_CAP) {
		leaf_insert_at(leaf, pos, first, last, value);
		if (pos == leaf->n - 1)
			fix_keys_up(m, &p, 0);
		m->count++;
		sweep_step(m);
		return 0;
	}

	/*
	 * Split: allocate every node the cascade needs before touching the
	 * tree, so -ENOMEM leaves the map unchanged.
	 */
	for (lvl = 1; lvl <= m->height && ((struct vi_rm_inner *)p.node[lvl])->n == INNER_CAP; lvl++)
		need++;
	if (lvl > m->height)
		need++; /* a new root */
	if (m->height + 1 >= MAX_DEPTH && lvl > m->height)
		return vi_errno(-ENOMEM);
	for (; nspare < need; nspare++) {
		spare[nspare] = inner_new();
		if (!spare[nspare]) {
			while (nspare)
				free(spare[--nspare]);
			return vi_errno(-ENOMEM);
		}
	}
	/* Last: the pool slot it takes is the only one, so nothing else can have moved. */
	spare_leaf = leaf_new(m);
	if (!spare_leaf) {
		while (nspare)
			free(spare[--nspare]);
		return vi_errno(-ENOMEM);
	}
	m->nleaves++;
	m->ninner += need;

	leaf_split_insert(leaf, spare_leaf, pos, p.spine[0], first, last, value);
	/* Ascending fills append the new leaf right behind its left half: still in order. */
	if (!slot_follows(m, leaf, spare_leaf))
		sweep_disorder(m);
	void *left = leaf, *right = spare_leaf;
	for (lvl = 1; lvl <= m->height; lvl++) {
		struct vi_rm_inner *par = p.node[lvl];
		unsigned idx = p.idx[lvl - 1];

		par->max[idx] = node_max(left, lvl - 1);
		if (par->n < INNER_CAP) {
			inner_insert_at(par, idx + 1, node_max(right, lvl - 1), right);
			fix_keys_up(m, &p, lvl);
			break;
		}
		struct vi_rm_inner *r = spare[--nspare];
		inner_split_insert(par, r, idx + 1, p.spine[lvl], node_max(right, lvl - 1), right);
		left = par;
		right = r;
	}
	if (lvl > m->height) {
		struct vi_rm_inner *root = spare[--nspare];

		inner_insert_at(root, 0, node_max(left, m->height), left);
		inner_insert_at(root, 1, node_max(right, m->height), right);
		m->root = root;
		m->height++;
	}
	m->count++;
	sweep_step(m);
	return 0;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

/* ---- delete ------------------------------------------------------------- */

/*
 * Merge or even out two adjacent children li, li + 1 of par at level lvl,
 * one of which is under-filled. Never allocates.
 */
static void rebalance(struct viommu_rangemap *m, struct vi_rm_inner *par, unsigned li, unsigned lvl)
{
	unsigned ri = li + 1;

	if (lvl == 0) {
		struct vi_rm_leaf *l = par->child[li], *r = par->child[ri];
		unsigned total = l->n + r->n;

		if (total <= LEAF_CAP) {
			leaf_copy_tail(l, r, 0, r->n);
			leaf_free(m, r);
			inner_remove_range(par, ri, ri + 1);
		} else if (l->n < total / 2) {
			unsigned k = total / 2 - l->n;
			leaf_copy_tail(l, r, 0, k);
			leaf_remove_range(r, 0, k);
		} else {
			unsigned k = l->n - total / 2;
			/* Shift r right by k, then take l's tail in front. */
			memmove(&r->last[k], &r->last[0], r->n * sizeof(uint64_t));
			memmove(&r->first[k], &r->first[0], r->n * sizeof(uint64_t));
			memmove(&r->value[k], &r->value[0], r->n * sizeof(uint64_t));
			memcpy(&r->last[0], &l->last[total / 2], k * sizeof(uint64_t));
			memcpy(&r->first[0], &l->first[total / 2], k * sizeof(uint64_t));
			memcpy(&r->value[0], &l->value[total / 2], k * sizeof(uint64_t));
			r->n += k;
			leaf_remove_range(l, total / 2, l->n);
		}
	} else {
		struct vi_rm_inner *l = par->child[li], *r = par->child[ri];
		unsigned total = l->n + r->n;

		if (total <= INNER_CAP) {
			inner_copy_tail(l, r, 0, r->n);
			inner_free(m, r);
			inner_remove_range(par, ri, ri + 1);
		} else if (l->n < total / 2) {
			unsigned k = total / 2 - l->n;
			inner_copy_tail(l, r, 0, k);
			inner_remove_range(r, 0, k);
		} else {
			unsigned k = l->n - total / 2;
			memmove(&r->max[k], &r->max[0], r->n * sizeof(uint64_t));
			memmove(&r->child[k], &r->child[0], r->n * sizeof(void *));
			memcpy(&r->max[0], &l->max[total / 2], k * sizeof(uint64_t));
			memcpy(&r->child[0], &l->child[total / 2], k * sizeof(void *));
			r->n += k;
			inner_remove_range(l, total / 2, l->n);
		}
	}
	par->max[li] = node_max(par->child[li], lvl);
	if (ri < par->n)
		par->max[ri] = node_max(par->child[ri], lvl);
}

/*
 * Restore the invariants bottom-up along p after entries left p->node[0]:
 * drop emptied nodes, rebalance under-filled ones, refresh keys, shrink the
 * root. O(height), no allocation.
 */
static void fixup_after_delete(struct viommu_rangemap *m, struct vi_rm_path *p)
{
	for (unsigned lvl = 0; lvl < m->height; lvl++) {
		void *node = p->node[lvl];
		struct vi_rm_inner *par = p->node[lvl + 1];
		unsigned idx = p->idx[lvl], n = node_n(node, lvl);

		if (n == 0) {
			inner_remove_range(par, idx, idx + 1);
			if (lvl)
				inner_free(m, node);
			else
				leaf_free(m, node);
		} else if (n < (lvl ? INNER_MIN : LEAF_MIN) && !p->spine[lvl]) {
			/* Not on the spine, so par has a sibling for it (see the fill bounds). */
			rebalance(m, par, idx > 0 ? idx - 1 : idx, lvl);
		} else {
			par->max[idx] = node_max(node, lvl);
		}
	}
	while (m->height > 0 && ((struct vi_rm_inner *)m->root)->n == 1) {
		struct vi_rm_inner *old = m->root;

		m->root = old->child[0];
		m->height--;
		inner_free(m, old);
	}
	if (m->height == 0 && ((struct vi_rm_leaf *)m->root)->n == 0) {
		leaf_free(m, m->root);
		m->root = NULL;
	}
	pool_compact(m);
}

VIOMMU_API int viommu_rangemap_remove(struct viommu_rangemap *m, uint64_t first, uint64_t last,
				      uint64_t *value)
{
	struct vi_rm_path p;
	struct vi_rm_leaf *leaf;
	unsigned pos;

	if (!m->root)
		return vi_errno(-ENOENT);
	pos = descend(m, first, &p);
	leaf = p.node[0];
	if (pos >= leaf->n || leaf->first[pos] != first || leaf->last[pos] != last)
		return vi_errno(-ENOENT);
	if (value)
		*value = leaf->value[pos];
	leaf_remove_range(leaf, pos, pos + 1);
	m->count--;
	fixup_after_delete(m, &p);
	sweep_step(m);
	return 0;
}

VIOMMU_API long viommu_rangemap_remove_inside(struct viommu_rangemap *m, uint64_t first, uint64_t last,
					      viommu_rangemap_fn fn, void *ctx)
{
	uint64_t key = first;
	long removed = 0;

	if (first > last)
		return vi_errno(-EINVAL);
	/*
	 * One descent per leaf touched: each pass removes the run of wholly
	 * covered entries of one leaf with one memmove and one fix-up, so the
	 * cost is O((1 + k / LEAF_MIN) * height).
	 */
	while (m->root) {
		struct vi_rm_path p;
		unsigned pos = descend(m, key, &p), end;
		struct vi_rm_leaf *leaf = p.node[0];
		bool more = false;

		/* An entry starting below first only partly overlaps: it stays. */
		if (pos < leaf->n && leaf->first[pos] < first)
			pos++;
		for (end = pos; end < leaf->n && leaf->last[end] <= last; end++)
			;
		if (end == leaf->n && leaf->next && leaf->last[leaf->n - 1] < last) {
			more = true;
			key = leaf->last[leaf->n - 1] + 1; /* < last, so no overflow */
		}
		if (end > pos) {
			if (fn) {
				for (unsigned i = pos; i < end; i++) {
					struct viommu_range_entry e = {
						leaf->first[i], leaf->last[i], leaf->value[i]
					};
					fn(&e, ctx);
				}
			}
			leaf_remove_range(leaf, pos, end);
			m->count -= end - pos;
			removed += end - pos;
			fixup_after_delete(m, &p);
		}
		if (!more)
			break;
	}
	if (removed)
		sweep_step(m);
	return removed;
}

/* ---- lookups ------------------------------------------------------------ */

static inline void fill(struct viommu_range_entry *out, const struct vi_rm_leaf *l, unsigned i)
{
	if (out) {
		out->first = l->first[i];
		out->last = l->last[i];
		out->value = l->value[i];
	}
}

VIOMMU_API bool viommu_rangemap_find(const struct viommu_rangemap *m, uint64_t addr,
				     struct viommu_range_entry *out)
{
	unsigned pos;
	const struct vi_rm_leaf *l;

	if (!m->root)
		return false;
	l = locate(m, addr, &pos);
	if (pos >= l->n || l->first[pos] > addr)
		return false;
	fill(out, l, pos);
	return true;
}

VIOMMU_API bool viommu_rangemap_find_overlap(const struct viommu_rangemap *m, uint64_t first, uint64_t last,
					     struct viommu_range_entry *out)
{
	unsigned pos;
	const struct vi_rm_leaf *l;

	if (!m->root || first > last)
		return false;
	l = locate(m, first, &pos);
	if (pos >= l->n || l->first[pos] > last)
		return false;
	fill(out, l, pos);
	return true;
}

VIOMMU_API bool viommu_rangemap_first(const struct viommu_rangemap *m, struct viommu_range_entry *out)
{
	const void *node = m->root;

	if (!node)
		return false;
	for (unsigned h = m->height; h > 0; h--)
		node = ((const struct vi_rm_inner *)node)->child[0];
	fill(out, node, 0);
	return true;
}

VIOMMU_API bool viommu_rangemap_last(const struct viommu_rangemap *m, struct viommu_range_entry *out)
{
	const void *node = m->root;

	if (!node)
		return false;
	for (unsigned h = m->height; h > 0; h--) {
		const struct vi_rm_inner *in = node;
		node = in->child[in->n - 1];
	}
	fill(out, node, ((const struct vi_rm_leaf *)node)->n - 1);
	return true;
}

VIOMMU_API bool viommu_rangemap_next(const struct viommu_rangemap *m, uint64_t addr,
				     struct viommu_range_entry *out)
{
	unsigned pos;
	const struct vi_rm_leaf *l;

	if (!m->root || addr == UINT64_MAX)
		return false;
	/* The first entry ending above addr either starts above it or contains it. */
	l = locate(m, addr + 1, &pos);
	if (pos < l->n && l->first[pos] <= addr)
		pos++;
	if (pos >= l->n) {
		l = l->next;
		pos = 0;
		if (!l)
			return false;
	}
	fill(out, l, pos);
	return true;
}

VIOMMU_API bool viommu_rangemap_prev(const struct viommu_rangemap *m, uint64_t addr,
				     struct viommu_range_entry *out)
{
	unsigned pos;
	const struct vi_rm_leaf *l;

	if (!m->root || addr == 0)
		return false;
	/* Everything before the first entry with last >= addr ends below addr. */
	l = locate(m, addr, &pos);
	if (pos == 0) {
		l = l->prev;
		if (!l)
			return false;
		pos = l->n;
	}
	fill(out, l, pos - 1);
	return true;
}

VIOMMU_API int viommu_rangemap_set_value(struct viommu_rangemap *m, uint64_t addr, uint64_t value)
{
	unsigned pos;
	struct vi_rm_leaf *l;

	if (!m->root)
		return vi_errno(-ENOENT);
	l = locate(m, addr, &pos);
	if (pos >= l->n || l->first[pos] > addr)
		return vi_errno(-ENOENT);
	l->value[pos] = value;
	return 0;
}

/* ---- cursor ------------------------------------------------------------- */

/*
 * Leaves sit wherever malloc put them, so the hardware cannot guess the next
 * one: on entering a leaf the cursor asks for all of the next one, its
 * header (n, prev, next) included, while this one is walked. Deeper
 * prefetching (two leaves ahead along the links, or up to four through the
 * inner node's child array) measured no better on this machine.
 */
static inline void prefetch_next_leaf(const struct vi_rm_leaf *l)
{
	if (l->next)
		prefetch_range(l->next, sizeof(struct vi_rm_leaf));
}

/* Put the cursor on slot @i of leaf @l, with the window the inline step reads. */
static inline void cursor_at(struct viommu_rangemap_iter *it, const struct vi_rm_leaf *l, unsigned i)
{
	it->node = (void *)l;
	it->idx = i;
	it->win_first = l->first;
	it->win_last = l->last;
	it->win_value = l->value;
	it->win_n = l->n;
	fill(&it->entry, l, i);
}

VIOMMU_API bool viommu_rangemap_iter_start(struct viommu_rangemap_iter *it, const struct viommu_rangemap *m,
					   uint64_t first, uint64_t last)
{
	unsigned pos;
	struct vi_rm_leaf *l;

	it->map = m;
	it->node = NULL;
	it->idx = 0;
	it->win_n = 0;
	it->first = first;
	it->last = last;
	it->valid = false;
	if (!m->root || first > last)
		return false;
	l = locate(m, first, &pos);
	if (pos >= l->n || l->first[pos] > last)
		return false;
	cursor_at(it, l, pos);
	prefetch_next_leaf(l);
	it->valid = true;
	return true;
}

/* On false the cursor stays on its current entry. */
VIOMMU_API bool viommu_rangemap_iter_next(struct viommu_rangemap_iter *it)
{
	struct vi_rm_leaf *l = it->node;
	unsigned i = it->idx + 1;

	if (!l || it->entry.last >= it->last)
		return false;
	if (i >= l->n) {
		l = l->next;
		i = 0;
		if (!l)
			return false;
		prefetch_next_leaf(l);
	}
	if (l->first[i] > it->last)
		return false;
	cursor_at(it, l, i);
	return true;
}

VIOMMU_API bool viommu_rangemap_iter_prev(struct viommu_rangemap_iter *it)
{
	struct vi_rm_leaf *l = it->node;
	unsigned i = it->idx;

	if (!l || it->entry.first <= it->first)
		return false;
	if (i == 0) {
		l = l->prev;
		if (!l)
			return false;
		i = l->n;
	}
	i--;
	if (l->last[i] < it->first)
		return false;
	cursor_at(it, l, i);
	return true;
}

VIOMMU_API void viommu_rangemap_iter_set_value(struct viommu_rangemap_iter *it, uint64_t value)
{
	struct vi_rm_leaf *l = it->node;

	if (!l)
		return;
	l->value[it->idx] = value;
	it->entry.value = value;
}

/* ---- invariant checker -------------------------------------------------- */

struct check_ctx {
	const struct viommu_rangemap *m;
	const struct vi_rm_leaf *prev_leaf;
	bool have_prev;
	uint64_t prev_last;
	size_t count, nleaves, ninner;
};

#define CHECK(c) do { if (!(c)) return -__LINE__; } while (0)

/* Whether l is a used slot of the pool. O(chunks). */
static bool in_pool(const struct viommu_rangemap *m, const struct vi_rm_leaf *l)
{
	for (const struct vi_rm_chunk *c = m->chunk_head; c; c = c->next)
		if (l >= c->leaf && l < c->leaf + c->used)
			return (size_t)((const char *)l - (const char *)c->leaf) % sizeof(*l) == 0;
	return false;
}

/* The pool: dense, sized as recorded, holding exactly the tree's leaves (with check_node). */
static int check_pool(const struct viommu_rangemap *m)
{
	size_t used = 0, bytes = 0;
	bool sw_seen = m->sw == NULL;

	CHECK(m->hole == NULL);
	CHECK((m->chunk_head == NULL) == (m->chunk_tail == NULL));
	for (const struct vi_rm_chunk *c = m->chunk_head; c; c = c->next) {
		CHECK(c->prev == NULL ? c == m->chunk_head : c->prev->next == c);
		CHECK(c->next == NULL ? c == m->chunk_tail : c->next->prev == c);
		CHECK(c->cap >= 1 && c->cap <= VI_RM_CHUNK_MAX);
		CHECK(c->used <= c->cap && (c == m->chunk_tail ? c->used >= 1 : c->used == c->cap));
		used += c->used;
		bytes += chunk_size(c->cap);
		if (c == m->sw) {
			CHECK(m->sw_off < c->cap);
			sw_seen = true;
		}
	}
	CHECK(sw_seen);
	CHECK(used == m->nleaves);
	CHECK(bytes == m->pool_bytes);
	return 0;
}

static int check_node(struct check_ctx *c, const void *node, unsigned level, bool is_root, bool spine,
		      uint64_t *max_out)
{
	unsigned n = node_n(node, level);
	unsigned cap = level ? INNER_CAP : LEAF_CAP, min = level ? INNER_MIN : LEAF_MIN;

	CHECK(n <= cap);
	if (is_root)
		CHECK(n >= (level ? 2u : 1u));
	else
		CHECK(n >= (spine ? 1u : min));
	if (level) {
		const struct vi_rm_inner *in = node;
		c->ninner++;
		for (unsigned i = 0; i < n; i++) {
			uint64_t mx;
			int rc;
			CHECK(in->child[i] != NULL);
			rc = check_node(c, in->child[i], level - 1, false, spine && i == n - 1, &mx);
			if (rc)
				return rc;
			CHECK(in->max[i] == mx);
			if (i)
				CHECK(in->max[i - 1] < in->max[i]);
		}
		for (unsigned i = n; i < INNER_CAP; i++)
			CHECK(in->max[i] == UINT64_MAX && in->child[i] == NULL);
		*max_out = in->max[n - 1];
		return 0;
	}
	const struct vi_rm_leaf *l = node;
	c->nleaves++;
	CHECK(in_pool(c->m, l));
	CHECK(l->prev == c->prev_leaf);
	if (c->prev_leaf)
		CHECK(c->prev_leaf->next == l);
	c->prev_leaf = l;
	for (unsigned i = 0; i < n; i++) {
		CHECK(l->first[i] <= l->last[i]);
		if (c->have_prev)
			CHECK(c->prev_last < l->first[i]);
		c->have_prev = true;
		c->prev_last = l->last[i];
	}
	for (unsigned i = n; i < LEAF_CAP; i++)
		CHECK(l->last[i] == UINT64_MAX);
	c->count += n;
	*max_out = l->last[n - 1];
	return 0;
}

int vi_rangemap_check(const struct viommu_rangemap *m)
{
	struct check_ctx c = { .m = m };
	uint64_t mx;
	int rc;

	CHECK(m != NULL);
	rc = check_pool(m);
	if (rc)
		return rc;
	if (!m->root) {
		CHECK(m->height == 0 && m->count == 0 && m->nleaves == 0 && m->ninner == 0);
		CHECK(m->chunk_head == NULL && m->pool_bytes == 0);
		return 0;
	}
	CHECK(m->height < MAX_DEPTH);
	rc = check_node(&c, m->root, m->height, true, true, &mx);
	if (rc)
		return rc;
	CHECK(c.prev_leaf->next == NULL);
	if (m->sorted) {
		/* Resting sweep: the pool's slots, in order, are the leaf chain. */
		const struct vi_rm_leaf *l = c.prev_leaf;

		while (l->prev)
			l = l->prev;
		for (const struct vi_rm_chunk *ch = m->chunk_head; ch; ch = ch->next)
			for (unsigned i = 0; i < ch->used; i++, l = l->next)
				CHECK(l == &ch->leaf[i]);
		CHECK(l == NULL);
	}
	CHECK(c.count == m->count);
	CHECK(c.nleaves == m->nleaves);
	CHECK(c.ninner == m->ninner);
	return 0;
}

unsigned vi_rangemap_height(const struct viommu_rangemap *m)
{
	return m->height;
}

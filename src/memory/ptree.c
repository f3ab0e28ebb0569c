// SPDX-License-Identifier: MIT
/*
 * The persistent B+ tree behind flat views (see ptree.h for the model and
 * invariants).
 *
 * An update is one recursive pass: pt_rep() rebuilds, level by level, only
 * the nodes on the paths to the two ends of the replaced range, returning
 * for each level a list of new nodes that replaces the node it was given
 * (nodes off those paths are shared). A new node with fewer than
 * VI_PT_MIN(level) entries is merged with a neighbour in its parent
 * (pt_merge2, which fixes the seam below it the same way), so every non-root
 * node keeps at least that many entries and the height stays logarithmic.
 *
 * Every node an update takes out of the tree goes through pt_drop(): a
 * published one is retired (it still belongs to older versions), a fresh
 * one (made by this transaction) is marked dead and freed when the
 * transaction ends. Lists of entries inside an update carry each child's
 * last key and item count, so building a parent never touches its children.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "memory/ptree.h"

__thread struct vi_pt_work vi_pt_work __attribute__((tls_model("initial-exec")));

struct pt_op {
	struct vi_pt_txn *t;
	size_t esz;
	uint64_t *kbuf;		/* leaf rebuild buffer */
	char *ibuf;
	size_t bufcap;
};

/* A child in a list being rebuilt: the node with its last key and item count. */
struct pt_ent {
	struct vi_pnode *node;
	uint64_t key;
	size_t count;
};

struct pt_list {
	struct pt_ent *v;
	size_t n, cap;
};

static int list_push(struct pt_list *l, struct vi_pnode *x, uint64_t key, size_t count)
{
	if (l->n == l->cap) {
		size_t nc = l->cap ? 2 * l->cap : 16;
		struct pt_ent *nv = realloc(l->v, nc * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = (struct pt_ent){ x, key, count };
	return 0;
}

/*
 * Give @l room for @cap entries up front: a rebuilt level pushes a node's
 * children and its replacements, and growing 16 -> 32 -> 64 on the way cost
 * three allocations per level of every update (the commit path's largest
 * allocator cost). Failure is left to list_push.
 */
static void list_init(struct pt_list *l, size_t cap)
{
	l->v = malloc(cap * sizeof(*l->v));
	l->n = 0;
	l->cap = l->v ? cap : 0;
}

/* Push child @k of inner node @x. */
static int list_push_child(struct pt_list *l, const struct vi_pnode *x, uint32_t k)
{
	const struct vi_pslot *s = vi_pt_slots(x);

	return list_push(l, s[k].child, x->keys[k], s[k].cum - (k ? s[k - 1].cum : 0));
}

/* Replace l[a..a+2) by the entries of @r (one or two). */
static void list_splice2(struct pt_list *l, size_t a, const struct pt_list *r)
{
	l->v[a] = r->v[0];
	if (r->n == 2) {
		l->v[a + 1] = r->v[1];
		return;
	}
	memmove(&l->v[a + 1], &l->v[a + 2], (l->n - a - 2) * sizeof(l->v[0]));
	l->n--;
}

static void pt_free_node(struct vi_pnode *x)
{
	free(x);
}

/* @x leaves the tree being updated. */
static void pt_drop(struct pt_op *op, struct vi_pnode *x)
{
	if (x->state == VI_PN_FRESH) {
		x->state = VI_PN_DEAD;
	} else if (x->state == VI_PN_PUBLISHED) {
		x->link = op->t->retired;
		op->t->retired = x;
	}
}

/* A whole subtree leaves the tree being updated. */
static void pt_drop_tree(struct pt_op *op, struct vi_pnode *x)
{
	if (x->level)
		for (uint32_t i = 0; i < x->n; i++)
			pt_drop_tree(op, vi_pt_slots(x)[i].child);
	pt_drop(op, x);
}

static struct vi_pnode *pt_new(struct pt_op *op, uint32_t level, uint32_t n)
{
	size_t psz = level ? sizeof(struct vi_pslot) : op->esz;
	struct vi_pnode *x = malloc(sizeof(*x) + (size_t)n * (sizeof(uint64_t) + psz));

	if (!x)
		return NULL;
	vi_pt_work.made++;
	x->n = n;
	x->level = (uint16_t)level;
	x->state = VI_PN_FRESH;
	x->count = 0;
	x->link = op->t->made;
	op->t->made = x;
	return x;
}

/* Cut @total items from (keys, items) into leaves of at most VI_PT_LEAF_FAN, evenly, appended to @out. */
static int pt_make_leaves(struct pt_op *op, const uint64_t *keys, const char *items, size_t total,
			  struct pt_list *out)
{
	size_t m = (total + VI_PT_LEAF_FAN - 1) / VI_PT_LEAF_FAN, off = 0;

	for (size_t c = 0; c < m; c++) {
		uint32_t cnt = (uint32_t)(total / m + (c < total % m));
		struct vi_pnode *x = pt_new(op, 0, cnt);

		if (!x)
			return -ENOMEM;
		memcpy(x->keys, keys + off, cnt * sizeof(uint64_t));
		if (op->esz)
			memcpy(vi_pt_items(x), items + off * op->esz, cnt * op->esz);
		x->count = cnt;
		if (list_push(out, x, x->keys[cnt - 1], cnt))
			return -ENOMEM;
		off += cnt;
	}
	return 0;
}

/* Cut @total entries of level @level - 1 into inner nodes of at most FAN children, appended to @out. */
static int pt_make_inner(struct pt_op *op, uint32_t level, const struct pt_ent *kids, size_t total,
			 struct pt_list *out)
{
	size_t m = (total + VI_PT_FAN - 1) / VI_PT_FAN, off = 0;

	for (size_t c = 0; c < m; c++) {
		uint32_t cnt = (uint32_t)(total / m + (c < total % m));
		struct vi_pnode *x = pt_new(op, level, cnt);
		struct vi_pslot *s;
		size_t cum = 0;

		if (!x)
			return -ENOMEM;
		s = vi_pt_slots(x);
		for (uint32_t k = 0; k < cnt; k++) {
			const struct pt_ent *e = &kids[off + k];

			cum += e->count;
			s[k] = (struct vi_pslot){ .child = e->node, .cum = cum };
			x->keys[k] = e->key;
		}
		x->count = cum;
		if (list_push(out, x, x->keys[cnt - 1], cum))
			return -ENOMEM;
		off += cnt;
	}
	return 0;
}

static int pt_reserve(struct pt_op *op, size_t n)
{
	if (n <= op->bufcap)
		return 0;
	size_t nc = op->bufcap ? op->bufcap : 2 * VI_PT_LEAF_FAN;
	while (nc < n)
		nc *= 2;
	uint64_t *k = realloc(op->kbuf, nc * sizeof(uint64_t));
	if (!k)
		return -ENOMEM;
	op->kbuf = k;
	if (op->esz) {
		char *it = realloc(op->ibuf, nc * op->esz);
		if (!it)
			return -ENOMEM;
		op->ibuf = it;
	}
	op->bufcap = nc;
	return 0;
}

/* Copy @n keys and items to the rebuild buffer at position @at. */
static void pt_buf_put(struct pt_op *op, size_t at, const uint64_t *keys, const char *items, size_t n)
{
	if (!n)
		return;
	memcpy(op->kbuf + at, keys, n * sizeof(uint64_t));
	if (op->esz)
		memcpy(op->ibuf + at * op->esz, items, n * op->esz);
}

static int pt_fix_list(struct pt_op *op, struct pt_list *c, size_t p0, size_t p1);

/* Merge two adjacent nodes of one level into one or two well-filled nodes, appended to @out. */
static int pt_merge2(struct pt_op *op, struct vi_pnode *a, struct vi_pnode *b, struct pt_list *out)
{
	int err = 0;

	if (!a->level) {
		size_t total = (size_t)a->n + b->n;

		if (pt_reserve(op, total))
			return -ENOMEM;
		pt_buf_put(op, 0, a->keys, vi_pt_items(a), a->n);
		pt_buf_put(op, a->n, b->keys, vi_pt_items(b), b->n);
		err = pt_make_leaves(op, op->kbuf, op->ibuf, total, out);
	} else {
		struct pt_list e;

		list_init(&e, (size_t)a->n + b->n);
		for (uint32_t k = 0; k < a->n && !err; k++)
			err = list_push_child(&e, a, k);
		for (uint32_t k = 0; k < b->n && !err; k++)
			err = list_push_child(&e, b, k);
		if (!err)
			err = pt_fix_list(op, &e, a->n - 1, (size_t)a->n + 1);
		if (!err)
			err = pt_make_inner(op, a->level, e.v, e.n, out);
		free(e.v);
	}
	if (!err) {
		pt_drop(op, a);
		pt_drop(op, b);
	}
	return err;
}

/*
 * Make every node in @c well filled, looking at positions [p0, p1) (where
 * new nodes are): a node with fewer than VI_PT_MIN entries is merged with
 * its right neighbour (left for the last one). A single node is left alone:
 * the parent's own merge will deal with it.
 */
static int pt_fix_list(struct pt_op *op, struct pt_list *c, size_t p0, size_t p1)
{
	size_t p = p0;

	while (p < p1 && p < c->n && c->n >= 2) {
		struct pt_list r = { 0 };
		size_t a;
		int err;

		if (c->v[p].node->n >= VI_PT_MIN(c->v[p].node->level)) {
			p++;
			continue;
		}
		a = p + 1 < c->n ? p : p - 1;
		err = pt_merge2(op, c->v[a].node, c->v[a + 1].node, &r);
		if (!err)
			list_splice2(c, a, &r);
		if (!err && r.n == 1)
			p1--;
		free(r.v);
		if (err)
			return err;
		p = a;		/* re-check: a merge of two small nodes can still be small */
		if (p1 < p + 1)
			p1 = p + 1;
	}
	return 0;
}

/* Items [i, j) of subtree @x replaced by src; the entries replacing @x are appended to @out. */
static int pt_rep(struct pt_op *op, struct vi_pnode *x, uint64_t xkey, size_t i, size_t j, const uint64_t *keys,
		  const char *items, size_t k, struct pt_list *out)
{
	int err = 0;

	if (i == j && !k)
		return list_push(out, x, xkey, x->count);
	if (!x->level) {
		size_t total = i + k + (x->n - j);

		if (pt_reserve(op, total))
			return -ENOMEM;
		pt_buf_put(op, 0, x->keys, vi_pt_items(x), i);
		pt_buf_put(op, i, keys, items, k);
		pt_buf_put(op, i + k, x->keys + j, vi_pt_items(x) + j * op->esz, x->n - j);
		err = pt_make_leaves(op, op->kbuf, op->ibuf, total, out);
		if (!err)
			pt_drop(op, x);
		return err;
	}

	const struct vi_pslot *s = vi_pt_slots(x);
	uint32_t lo = 0, hi;
	size_t base_lo, p0, p1;
	struct pt_list c;

	while (lo + 1 < x->n && s[lo].cum <= i)
		lo++;
	hi = lo;
	if (j > i)
		while (hi + 1 < x->n && s[hi].cum < j)
			hi++;
	base_lo = lo ? s[lo - 1].cum : 0;
	list_init(&c, x->n + 4 + k / VI_PT_LEAF_FAN);
	for (uint32_t q = 0; q < lo && !err; q++)
		err = list_push_child(&c, x, q);
	p0 = c.n;
	if (!err && lo == hi) {
		err = pt_rep(op, s[lo].child, x->keys[lo], i - base_lo, j - base_lo, keys, items, k, &c);
	} else if (!err) {
		size_t base_hi = s[hi - 1].cum;

		err = pt_rep(op, s[lo].child, x->keys[lo], i - base_lo, s[lo].cum - base_lo, keys, items, k, &c);
		if (!err)
			err = pt_rep(op, s[hi].child, x->keys[hi], 0, j - base_hi, NULL, NULL, 0, &c);
	}
	p1 = c.n;
	for (uint32_t q = hi + 1; q < x->n && !err; q++)
		err = list_push_child(&c, x, q);
	if (!err)
		err = pt_fix_list(op, &c, p0, p1);
	if (!err && c.n)
		err = pt_make_inner(op, x->level, c.v, c.n, out);
	free(c.v);
	if (!err) {
		for (uint32_t q = lo + 1; q < hi; q++)	/* whole children in the range */
			pt_drop_tree(op, s[q].child);
		pt_drop(op, x);
	}
	return err;
}

static int pt_finish(struct pt_op *op, struct pt_list *l, int err, struct vi_pnode **out)
{
	while (!err && l->n > 1) {
		struct pt_list up = { 0 };

		err = pt_make_inner(op, l->v[0].node->level + 1, l->v, l->n, &up);
		free(l->v);
		*l = up;
	}
	if (!err) {
		struct vi_pnode *r = l->n ? l->v[0].node : NULL;

		while (r && r->level && r->n == 1) {
			struct vi_pnode *only = vi_pt_slots(r)[0].child;

			pt_drop(op, r);
			r = only;
		}
		*out = r;
	}
	free(l->v);
	free(op->kbuf);
	free(op->ibuf);
	return err;
}

int vi_pt_replace(struct vi_pt_txn *t, struct vi_pnode *root, size_t esz, size_t i, size_t j,
		  const uint64_t *keys, const void *items, size_t k, struct vi_pnode **out)
{
	struct pt_op op = { .t = t, .esz = esz };
	struct pt_list l = { 0 };
	int err;

	if (!root)
		err = pt_make_leaves(&op, keys, items, k, &l);
	else
		err = pt_rep(&op, root, 0, i, j, keys, items, k, &l);
	return pt_finish(&op, &l, err, out);
}

int vi_pt_build(struct vi_pt_txn *t, size_t esz, const uint64_t *keys, const void *items, size_t n,
		struct vi_pnode **out)
{
	return vi_pt_replace(t, NULL, esz, 0, 0, keys, items, n, out);
}

void vi_pt_txn_commit(struct vi_pt_txn *t, struct vi_pnode **dying)
{
	struct vi_pnode *x, *nx, *last = NULL;

	for (x = t->made; x; x = nx) {
		nx = x->link;
		if (x->state == VI_PN_DEAD) {
			pt_free_node(x);
		} else {
			x->state = VI_PN_PUBLISHED;
			x->link = NULL;
		}
	}
	t->made = NULL;
	for (x = t->retired; x; x = x->link)
		last = x;
	if (last) {
		last->link = *dying;
		*dying = t->retired;
	}
	t->retired = NULL;
}

void vi_pt_txn_abort(struct vi_pt_txn *t)
{
	for (struct vi_pnode *x = t->made, *nx; x; x = nx) {
		nx = x->link;
		pt_free_node(x);
	}
	t->made = NULL;
	t->retired = NULL;
}

void vi_pt_free_list(struct vi_pnode *x)
{
	while (x) {
		struct vi_pnode *nx = x->link;

		pt_free_node(x);
		x = nx;
	}
}

void vi_pt_free_tree(struct vi_pnode *x)
{
	while (x) {
		struct vi_pnode *next = NULL;

		if (x->level) {
			const struct vi_pslot *s = vi_pt_slots(x);

			for (uint32_t i = 0; i + 1 < x->n; i++)
				vi_pt_free_tree(s[i].child);
			next = s[x->n - 1].child;	/* the last child without recursion */
		}
		pt_free_node(x);
		x = next;
	}
}

/*
 * First of @n sorted keys that is >= @key (n if none). The key array's
 * cache lines are requested together first: the probes of a binary search
 * depend on each other, the fetches need not.
 */
static uint32_t pt_search(const uint64_t *k, uint32_t n, uint64_t key)
{
	uint32_t lo = 0;

	for (uint32_t i = 8; i < n; i += 8)
		__builtin_prefetch(&k[i]);

	while (n > 1) {
		uint32_t half = n / 2;

		lo = k[lo + half - 1] < key ? lo + half : lo;
		n -= half;
	}
	return n == 1 && k[lo] < key ? lo + 1 : lo;
}

size_t vi_pt_lower(const struct vi_pnode *x, uint64_t key)
{
	size_t base = 0;

	vi_pt_work.descents++;
	if (!x)
		return 0;
	if (x->keys[x->n - 1] < key)
		return x->count;
	while (x->level) {
		uint32_t c = pt_search(x->keys, x->n, key);
		const struct vi_pslot *s = vi_pt_slots(x);

		if (c)
			base += s[c - 1].cum;
		x = s[c].child;
	}
	return base + pt_search(x->keys, x->n, key);
}

/* First child whose cum exceeds @i. */
static uint32_t pt_slot_of(const struct vi_pnode *x, size_t i)
{
	const struct vi_pslot *s = vi_pt_slots(x);
	uint32_t lo = 0, n = x->n;

	while (n > 1) {
		uint32_t half = n / 2;

		lo = s[lo + half - 1].cum <= i ? lo + half : lo;
		n -= half;
	}
	return lo;
}

static const void *pt_item(const struct vi_pnode *leaf, size_t esz, uint32_t i)
{
	return esz ? (const void *)(vi_pt_items(leaf) + i * esz) : (const void *)&leaf->keys[i];
}

const void *vi_pt_at(const struct vi_pnode *x, size_t esz, size_t i)
{
	vi_pt_work.descents++;
	if (!x || i >= x->count)
		return NULL;
	while (x->level) {
		uint32_t c = pt_slot_of(x, i);

		if (c)
			i -= vi_pt_slots(x)[c - 1].cum;
		x = vi_pt_slots(x)[c].child;
	}
	return pt_item(x, esz, (uint32_t)i);
}

/*
 * The same as pt_search for a node's few keys (at most VI_PT_FAN), by
 * counting those below @key: no dependent probes and no branch to mispredict,
 * which is what a lookup's descent is made of.
 */
static uint32_t pt_count_below(const uint64_t *k, uint32_t n, uint64_t key)
{
	uint32_t c = 0;

	for (uint32_t i = 0; i < n; i++)
		c += k[i] < key;
	return c;
}

const void *vi_pt_find(const struct vi_pnode *x, size_t esz, uint64_t key)
{
	vi_pt_work.descents++;
	if (!x || x->keys[x->n - 1] < key)
		return NULL;
	while (x->level)
		x = vi_pt_slots(x)[pt_count_below(x->keys, x->n, key)].child;
	return pt_item(x, esz, pt_count_below(x->keys, x->n, key));
}

const void *vi_pcur_seek(struct vi_pcur *c, const struct vi_pnode *x, size_t esz, size_t i)
{
	vi_pt_work.descents++;
	c->depth = 0;
	c->esz = esz;
	if (!x || i >= x->count)
		return NULL;
	for (;;) {
		uint32_t k = x->level ? pt_slot_of(x, i) : (uint32_t)i;

		c->node[c->depth] = x;
		c->idx[c->depth++] = k;
		if (!x->level)
			return pt_item(x, esz, k);
		if (k)
			i -= vi_pt_slots(x)[k - 1].cum;
		x = vi_pt_slots(x)[k].child;
	}
}

const void *vi_pcur_seek_key(struct vi_pcur *c, const struct vi_pnode *x, size_t esz, uint64_t key, size_t *index)
{
	size_t base = 0;

	vi_pt_work.descents++;
	c->depth = 0;
	c->esz = esz;
	if (!x || x->keys[x->n - 1] < key) {
		if (index)
			*index = vi_pt_count(x);
		return NULL;
	}
	for (;;) {
		uint32_t k = pt_search(x->keys, x->n, key);

		c->node[c->depth] = x;
		c->idx[c->depth++] = k;
		if (!x->level) {
			if (index)
				*index = base + k;
			return pt_item(x, esz, k);
		}
		if (k)
			base += vi_pt_slots(x)[k - 1].cum;
		x = vi_pt_slots(x)[k].child;
	}
}

const void *vi_pcur_next(struct vi_pcur *c)
{
	unsigned d;

	if (!c->depth)
		return NULL;
	vi_pt_work.steps++;
	d = c->depth - 1;
	if (++c->idx[d] < c->node[d]->n)
		return pt_item(c->node[d], c->esz, c->idx[d]);
	/* climb to the first ancestor with a next child, then down its leftmost path */
	while (d > 0 && ++c->idx[d - 1] >= c->node[d - 1]->n)
		d--;
	if (d == 0) {
		c->depth = 0;
		return NULL;
	}
	for (; d < c->depth; d++) {
		c->node[d] = vi_pt_slots(c->node[d - 1])[c->idx[d - 1]].child;
		c->idx[d] = 0;
	}
	return pt_item(c->node[c->depth - 1], c->esz, 0);
}

void vi_pt_copy_out(const struct vi_pnode *x, size_t esz, void *out)
{
	struct vi_pcur c;
	size_t sz = esz ? esz : sizeof(uint64_t), i = 0;

	for (const void *p = vi_pcur_seek(&c, x, esz, 0); p; p = vi_pcur_next(&c))
		memcpy((char *)out + sz * i++, p, sz);
}

static int pt_check_node(const struct vi_pnode *x, size_t esz, uint32_t level, bool root, bool *have,
			 uint64_t *prev)
{
	if (x->level != level || !x->n || x->n > VI_PT_CAP(level) || (!root && x->n < VI_PT_MIN(level)) ||
	    (root && level && x->n < 2) || x->state != VI_PN_PUBLISHED)
		return -EIO;
	if (!level) {
		for (uint32_t i = 0; i < x->n; i++) {
			if (*have && x->keys[i] <= *prev)
				return -EIO;
			*have = true;
			*prev = x->keys[i];
		}
		return x->count == x->n ? 0 : -EIO;
	}
	size_t cum = 0;
	for (uint32_t i = 0; i < x->n; i++) {
		const struct vi_pnode *ch = vi_pt_slots(x)[i].child;

		if (pt_check_node(ch, esz, level - 1, false, have, prev))
			return -EIO;
		cum += ch->count;
		if (vi_pt_slots(x)[i].cum != cum || x->keys[i] != ch->keys[ch->n - 1])
			return -EIO;
	}
	return x->count == cum ? 0 : -EIO;
}

int vi_pt_check(const struct vi_pnode *root, size_t esz)
{
	bool have = false;
	uint64_t prev = 0;

	if (!root)
		return 0;
	if (root->level >= VI_PT_MAXH)
		return -EIO;
	return pt_check_node(root, esz, root->level, true, &have, &prev);
}

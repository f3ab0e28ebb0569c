// SPDX-License-Identifier: MIT
/* The children index (see kidx.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "memory/kidx.h"

static bool key_le(uint64_t a1, uint64_t s1, uint64_t a2, uint64_t s2)
{
	return a1 < a2 || (a1 == a2 && s1 <= s2);
}

/* Inner node: the last entry whose first key is <= (addr, seq), or 0. */
static uint32_t kx_slot(const struct vi_kx_node *x, uint64_t addr, uint64_t seq)
{
	uint32_t lo = 0, n = x->n;

	/* binary search for the count of entries with key <= (addr, seq) */
	while (n > 1) {
		uint32_t half = n / 2;

		lo = key_le(x->addr[lo + half], x->seq[lo + half], addr, seq) ? lo + half : lo;
		n -= half;
	}
	return lo;
}

/* Leaf: the first entry whose key is > (addr, seq) (the insertion point). */
static uint32_t kx_after(const struct vi_kx_node *x, uint64_t addr, uint64_t seq)
{
	uint32_t lo = 0, n = x->n;

	while (n > 0) {
		uint32_t half = n / 2;

		if (key_le(x->addr[lo + half], x->seq[lo + half], addr, seq)) {
			lo += half + 1;
			n -= half + 1;
		} else {
			n = half;
		}
	}
	return lo;
}

/* Refresh inner entry @i of @x from its child. */
static void kx_refresh(struct vi_kx_node *x, uint32_t i)
{
	const struct vi_kx_node *c = x->ptr[i];
	uint64_t e = c->end[0];

	for (uint32_t k = 1; k < c->n; k++)
		if (c->end[k] > e)
			e = c->end[k];
	x->addr[i] = c->addr[0];
	x->seq[i] = c->seq[0];
	x->end[i] = e;
}

static void kx_put_entry(struct vi_kx_node *x, uint32_t at, uint64_t addr, uint64_t seq, uint64_t end, void *p,
			 int prio)
{
	uint32_t k = x->n - at;

	memmove(&x->prio[at + 1], &x->prio[at], k * sizeof(x->prio[0]));
	x->prio[at] = prio;
	memmove(&x->addr[at + 1], &x->addr[at], k * sizeof(x->addr[0]));
	memmove(&x->seq[at + 1], &x->seq[at], k * sizeof(x->seq[0]));
	memmove(&x->end[at + 1], &x->end[at], k * sizeof(x->end[0]));
	memmove(&x->ptr[at + 1], &x->ptr[at], k * sizeof(x->ptr[0]));
	x->addr[at] = addr;
	x->seq[at] = seq;
	x->end[at] = end;
	x->ptr[at] = p;
	x->n++;
}

static void kx_del_entry(struct vi_kx_node *x, uint32_t at)
{
	uint32_t k = x->n - at - 1;

	memmove(&x->prio[at], &x->prio[at + 1], k * sizeof(x->prio[0]));
	memmove(&x->addr[at], &x->addr[at + 1], k * sizeof(x->addr[0]));
	memmove(&x->seq[at], &x->seq[at + 1], k * sizeof(x->seq[0]));
	memmove(&x->end[at], &x->end[at + 1], k * sizeof(x->end[0]));
	memmove(&x->ptr[at], &x->ptr[at + 1], k * sizeof(x->ptr[0]));
	x->n--;
}

struct kx_pool {
	struct vi_kx_node *v[40];
	unsigned n;
};

/* Move the upper half of full node @x into @y. */
static void kx_split(struct vi_kx_node *x, struct vi_kx_node *y)
{
	uint32_t h = x->n / 2, k = x->n - h;

	y->level = x->level;
	y->n = k;
	memcpy(y->addr, &x->addr[h], k * sizeof(x->addr[0]));
	memcpy(y->seq, &x->seq[h], k * sizeof(x->seq[0]));
	memcpy(y->end, &x->end[h], k * sizeof(x->end[0]));
	memcpy(y->ptr, &x->ptr[h], k * sizeof(x->ptr[0]));
	memcpy(y->prio, &x->prio[h], k * sizeof(x->prio[0]));
	x->n = h;
}

/*
 * Insert into subtree @x; returns the new right sibling if @x split (taken
 * from @pool, which holds enough nodes for every full node on the path).
 */
static struct vi_kx_node *kx_ins(struct vi_kx_node *x, void *item, uint64_t addr, uint64_t seq, uint64_t end,
				 int prio, struct kx_pool *pool)
{
	struct vi_kx_node *sib = NULL;
	uint32_t at;

	if (!x->level) {
		at = kx_after(x, addr, seq);
		if (x->n == VI_KX_FAN) {
			sib = pool->v[--pool->n];
			if (at == x->n) {
				/* an append (children added in address order): keep this node full */
				sib->level = 0;
				kx_put_entry(sib, 0, addr, seq, end, item, prio);
				return sib;
			}
			kx_split(x, sib);
			if (at > x->n) {
				kx_put_entry(sib, at - x->n, addr, seq, end, item, prio);
				return sib;
			}
		}
		kx_put_entry(x, at, addr, seq, end, item, prio);
		return sib;
	}
	uint32_t i = kx_slot(x, addr, seq);
	struct vi_kx_node *csib = kx_ins(x->ptr[i], item, addr, seq, end, prio, pool);

	kx_refresh(x, i);
	if (!csib)
		return NULL;
	at = i + 1;
	if (x->n == VI_KX_FAN) {
		sib = pool->v[--pool->n];
		if (at == x->n) {
			sib->level = x->level;
			kx_put_entry(sib, 0, 0, 0, 0, csib, 0);
			kx_refresh(sib, 0);
			return sib;
		}
		kx_split(x, sib);
		if (at > x->n) {
			kx_put_entry(sib, at - x->n, 0, 0, 0, csib, 0);
			kx_refresh(sib, at - x->n);
			return sib;
		}
	}
	kx_put_entry(x, at, 0, 0, 0, csib, 0);
	kx_refresh(x, at);
	return sib;
}

int vi_kx_insert(struct vi_kx_node **root, void *item, uint64_t addr, uint64_t seq, uint64_t end, int prio)
{
	struct kx_pool pool = { .n = 0 };
	struct vi_kx_node *x = *root, *sib;
	unsigned need = 0;

	if (!x) {
		x = calloc(1, sizeof(*x));
		if (!x)
			return -ENOMEM;
		x->n = 1;
		x->addr[0] = addr;
		x->seq[0] = seq;
		x->end[0] = end;
		x->ptr[0] = item;
		x->prio[0] = prio;
		*root = x;
		return 0;
	}
	/* every full node on the path splits, and a full root needs a new root above it */
	for (;;) {
		need = x->n == VI_KX_FAN ? need + 1 : 0;
		if (!x->level)
			break;
		x = x->ptr[kx_slot(x, addr, seq)];
	}
	/* need counts the full nodes at the bottom of the path; if that is all of it, a new root too */
	if (need == (*root)->level + 1)
		need++;
	for (pool.n = 0; pool.n < need; pool.n++) {
		pool.v[pool.n] = calloc(1, sizeof(struct vi_kx_node));
		if (!pool.v[pool.n]) {
			while (pool.n)
				free(pool.v[--pool.n]);
			return -ENOMEM;
		}
	}
	sib = kx_ins(*root, item, addr, seq, end, prio, &pool);
	if (sib) {
		struct vi_kx_node *r = pool.v[--pool.n], *old = *root;

		r->level = old->level + 1;
		r->n = 2;
		r->ptr[0] = old;
		r->ptr[1] = sib;
		kx_refresh(r, 0);
		kx_refresh(r, 1);
		*root = r;
	}
	while (pool.n)
		free(pool.v[--pool.n]);
	return 0;
}

/* Remove (addr, seq) from subtree @x; returns true if @x became empty (and was freed by the caller). */
static bool kx_del(struct vi_kx_node *x, uint64_t addr, uint64_t seq)
{
	if (!x->level) {
		uint32_t at = kx_after(x, addr, seq);

		if (at && x->addr[at - 1] == addr && x->seq[at - 1] == seq)
			kx_del_entry(x, at - 1);
		return !x->n;
	}
	uint32_t i = kx_slot(x, addr, seq);

	if (kx_del(x->ptr[i], addr, seq)) {
		free(x->ptr[i]);
		kx_del_entry(x, i);
	} else {
		kx_refresh(x, i);
	}
	return !x->n;
}

void vi_kx_remove(struct vi_kx_node **root, uint64_t addr, uint64_t seq)
{
	struct vi_kx_node *r = *root;

	if (!r)
		return;
	if (kx_del(r, addr, seq)) {
		free(r);
		*root = NULL;
		return;
	}
	while (r->level && r->n == 1) {
		struct vi_kx_node *only = r->ptr[0];

		free(r);
		r = only;
	}
	*root = r;
}

static void kx_end(struct vi_kx_node *x, uint64_t addr, uint64_t seq, uint64_t end)
{
	if (!x->level) {
		uint32_t at = kx_after(x, addr, seq);

		if (at && x->addr[at - 1] == addr && x->seq[at - 1] == seq)
			x->end[at - 1] = end;
		return;
	}
	uint32_t i = kx_slot(x, addr, seq);

	kx_end(x->ptr[i], addr, seq, end);
	kx_refresh(x, i);
}

void vi_kx_set_end(struct vi_kx_node *root, uint64_t addr, uint64_t seq, uint64_t end)
{
	if (root)
		kx_end(root, addr, seq, end);
}

int vi_kx_collect(const struct vi_kx_node *x, uint64_t first, uint64_t last, struct vi_kx_hit **stack,
		  size_t *n, size_t *cap)
{
	if (!x)
		return 0;
	/* the scan reads both arrays: request their lines together */
	for (uint32_t i = 0; i < x->n; i += 8) {
		__builtin_prefetch(&x->addr[i]);
		__builtin_prefetch(&x->end[i]);
	}
	for (uint32_t i = 0; i < x->n && x->addr[i] <= last; i++) {
		if (x->end[i] < first)
			continue;
		if (x->level) {
			int err = vi_kx_collect(x->ptr[i], first, last, stack, n, cap);

			if (err)
				return err;
			continue;
		}
		if (*n == *cap) {
			size_t nc = *cap ? 2 * *cap : 64;
			struct vi_kx_hit *ns = realloc(*stack, nc * sizeof(*ns));

			if (!ns)
				return -ENOMEM;
			*stack = ns;
			*cap = nc;
		}
		(*stack)[(*n)++] = (struct vi_kx_hit){ x->ptr[i], x->seq[i], x->prio[i] };
	}
	return 0;
}

int vi_kx_walk(const struct vi_kx_node *x, int (*fn)(void *ctx, void *item), void *ctx)
{
	if (!x)
		return 0;
	for (uint32_t i = 0; i < x->n; i++) {
		int r = x->level ? vi_kx_walk(x->ptr[i], fn, ctx) : fn(ctx, x->ptr[i]);

		if (r)
			return r;
	}
	return 0;
}

static int kx_check(const struct vi_kx_node *x, uint32_t level, bool root, bool *have, uint64_t *pa,
		    uint64_t *ps, uint64_t *maxend)
{
	uint64_t e = 0;

	if (x->level != level || !x->n || x->n > VI_KX_FAN || (root && level && x->n < 2))
		return -EIO;
	for (uint32_t i = 0; i < x->n; i++) {
		if (level) {
			const struct vi_kx_node *c = x->ptr[i];
			uint64_t ce;

			if (kx_check(c, level - 1, false, have, pa, ps, &ce) || x->end[i] != ce ||
			    x->addr[i] != c->addr[0] || x->seq[i] != c->seq[0])
				return -EIO;
		} else {
			if (*have && key_le(x->addr[i], x->seq[i], *pa, *ps))
				return -EIO;
			*have = true;
			*pa = x->addr[i];
			*ps = x->seq[i];
		}
		if (x->end[i] > e)
			e = x->end[i];
	}
	*maxend = e;
	return 0;
}

int vi_kx_check(const struct vi_kx_node *root)
{
	bool have = false;
	uint64_t a = 0, s = 0, e;

	return root ? kx_check(root, root->level, true, &have, &a, &s, &e) : 0;
}

void vi_kx_free(struct vi_kx_node *x)
{
	if (!x)
		return;
	if (x->level)
		for (uint32_t i = 0; i < x->n; i++)
			vi_kx_free(x->ptr[i]);
	free(x);
}

// SPDX-License-Identifier: MIT
/*
 * An AVL interval tree (out_index.h). Recursion depth is the tree height,
 * at most 1.44 log2(n + 2): under 100 for any n that fits in memory.
 */
#include <errno.h>
#include <stdlib.h>

#include "reconcile/out_index.h"

static int node_height(const struct vi_out_node *n)
{
	return n ? n->height : 0;
}

static uint64_t subtree_max_last(const struct vi_out_node *n)
{
	return n ? n->max_last : 0;
}

static void node_update(struct vi_out_node *n)
{
	int hl = node_height(n->left), hr = node_height(n->right);
	uint64_t m = n->out_last;

	n->height = 1 + (hl > hr ? hl : hr);
	if (n->left && subtree_max_last(n->left) > m)
		m = subtree_max_last(n->left);
	if (n->right && subtree_max_last(n->right) > m)
		m = subtree_max_last(n->right);
	n->max_last = m;
}

/* -1, 0, 1 as key (of, iova) is below, equal to, above node @n's. */
static int key_cmp(uint64_t of, uint64_t iova, const struct vi_out_node *n)
{
	if (of != n->out_first)
		return of < n->out_first ? -1 : 1;
	if (iova != n->iova)
		return iova < n->iova ? -1 : 1;
	return 0;
}

static struct vi_out_node *avl_rotate_right(struct vi_out_node *n)
{
	struct vi_out_node *l = n->left;

	n->left = l->right;
	l->right = n;
	node_update(n);
	node_update(l);
	return l;
}

static struct vi_out_node *avl_rotate_left(struct vi_out_node *n)
{
	struct vi_out_node *r = n->right;

	n->right = r->left;
	r->left = n;
	node_update(n);
	node_update(r);
	return r;
}

static struct vi_out_node *avl_rebalance(struct vi_out_node *n)
{
	int bal;

	node_update(n);
	bal = node_height(n->left) - node_height(n->right);
	if (bal > 1) {
		if (node_height(n->left->left) < node_height(n->left->right))
			n->left = avl_rotate_left(n->left);
		return avl_rotate_right(n);
	}
	if (bal < -1) {
		if (node_height(n->right->right) < node_height(n->right->left))
			n->right = avl_rotate_right(n->right);
		return avl_rotate_left(n);
	}
	return n;
}

static struct vi_out_node *avl_insert(struct vi_out_node *n, struct vi_out_node *nn, int *rc)
{
	int c;

	if (!n)
		return nn;
	c = key_cmp(nn->out_first, nn->iova, n);
	if (c == 0) {
		*rc = -EEXIST;
		return n;
	}
	if (c < 0)
		n->left = avl_insert(n->left, nn, rc);
	else
		n->right = avl_insert(n->right, nn, rc);
	return avl_rebalance(n);
}

/* A node from the pool; NULL if it is empty and no chunk can be had. */
static struct vi_out_node *node_get(struct vi_out_index *x)
{
	struct vi_out_node *nn = x->free;

	if (!nn) {
		struct vi_out_chunk *c = malloc(sizeof(*c));

		if (!c)
			return NULL;
		c->next = x->chunks;
		x->chunks = c;
		x->nchunks++;
		/* thread the new nodes onto the free list, lowest first */
		for (size_t i = 0; i < VI_OUT_CHUNK; i++)
			c->nodes[i].left = i + 1 < VI_OUT_CHUNK ? &c->nodes[i + 1] : NULL;
		nn = &c->nodes[0];
	}
	x->free = nn->left;
	return nn;
}

static void node_put(struct vi_out_index *x, struct vi_out_node *n)
{
	n->left = x->free;
	x->free = n;
}

int vi_out_index_insert(struct vi_out_index *x, uint64_t out_first, uint64_t out_last, uint64_t iova)
{
	struct vi_out_node *nn = node_get(x);
	int rc = 0;

	if (!nn)
		return -ENOMEM;
	*nn = (struct vi_out_node){ .out_first = out_first, .out_last = out_last, .iova = iova,
				    .max_last = out_last, .height = 1 };
	x->root = avl_insert(x->root, nn, &rc);
	if (rc) {
		node_put(x, nn);
		return rc;
	}
	x->n++;
	return 0;
}

/* Detach the smallest node of @n's subtree into *min. */
static struct vi_out_node *avl_take_min(struct vi_out_node *n, struct vi_out_node **min)
{
	if (!n->left) {
		*min = n;
		return n->right;
	}
	n->left = avl_take_min(n->left, min);
	return avl_rebalance(n);
}

/* Detach the node keyed (of, iova) from @n's subtree into *found (NULL if absent). */
static struct vi_out_node *avl_remove(struct vi_out_node *n, uint64_t of, uint64_t iova,
				      struct vi_out_node **found)
{
	int c;

	if (!n)
		return NULL;
	c = key_cmp(of, iova, n);
	if (c < 0) {
		n->left = avl_remove(n->left, of, iova, found);
	} else if (c > 0) {
		n->right = avl_remove(n->right, of, iova, found);
	} else {
		struct vi_out_node *l = n->left, *r = n->right, *m;

		*found = n;
		if (!r)
			return l;
		r = avl_take_min(r, &m);
		m->left = l;
		m->right = r;
		return avl_rebalance(m);
	}
	return avl_rebalance(n);
}

bool vi_out_index_remove(struct vi_out_index *x, uint64_t out_first, uint64_t iova)
{
	struct vi_out_node *found = NULL;

	x->root = avl_remove(x->root, out_first, iova, &found);
	if (!found)
		return false;
	node_put(x, found);
	x->n--;
	return true;
}

static void overlap_query(const struct vi_out_node *n, uint64_t first, uint64_t last,
		  void (*fn)(void *ctx, const struct vi_out_node *n), void *ctx)
{
	/* nothing in this subtree ends at or after @first */
	if (!n || n->max_last < first)
		return;
	overlap_query(n->left, first, last, fn, ctx);
	/* this node and everything to its right start after @last */
	if (n->out_first > last)
		return;
	if (n->out_last >= first)
		fn(ctx, n);
	overlap_query(n->right, first, last, fn, ctx);
}

void vi_out_index_query(const struct vi_out_index *x, uint64_t first, uint64_t last,
			void (*fn)(void *ctx, const struct vi_out_node *n), void *ctx)
{
	overlap_query(x->root, first, last, fn, ctx);
}

void vi_out_index_clear(struct vi_out_index *x)
{
	struct vi_out_chunk *c = x->chunks;

	while (c) {
		struct vi_out_chunk *next = c->next;

		free(c);
		c = next;
	}
	*x = (struct vi_out_index){ 0 };
}

/* Height, or -1 if an invariant fails below @n; keys must lie strictly between lo and hi. */
static int subtree_valid(const struct vi_out_node *n, const struct vi_out_node *lo, const struct vi_out_node *hi,
		 size_t *count)
{
	int hl, hr;
	uint64_t m;

	if (!n)
		return 0;
	(*count)++;
	if (n->out_last < n->out_first || (lo && key_cmp(n->out_first, n->iova, lo) <= 0) ||
	    (hi && key_cmp(n->out_first, n->iova, hi) >= 0))
		return -1;
	hl = subtree_valid(n->left, lo, n, count);
	hr = subtree_valid(n->right, n, hi, count);
	if (hl < 0 || hr < 0 || hl - hr > 1 || hr - hl > 1 || n->height != 1 + (hl > hr ? hl : hr))
		return -1;
	m = n->out_last;
	if (n->left && n->left->max_last > m)
		m = n->left->max_last;
	if (n->right && n->right->max_last > m)
		m = n->right->max_last;
	return m == n->max_last ? n->height : -1;
}

bool vi_out_index_valid(const struct vi_out_index *x)
{
	size_t count = 0, nfree = 0;

	if (subtree_valid(x->root, NULL, NULL, &count) < 0 || count != x->n)
		return false;
	/* every pool node is in the tree or on the free list (the list is bounded by the pool) */
	for (const struct vi_out_node *f = x->free; f && nfree <= x->nchunks * VI_OUT_CHUNK; f = f->left)
		nfree++;
	return x->n + nfree == x->nchunks * VI_OUT_CHUNK;
}

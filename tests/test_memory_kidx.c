// SPDX-License-Identifier: MIT
/*
 * The children index (src/memory/kidx.c) against a plain list: random
 * inserts (many at equal addresses, as siblings may share one), removals,
 * window-end changes, and window queries, with small and huge windows,
 * after each of which the collected items must be exactly the list's
 * entries overlapping the window, in key order, and every invariant must
 * hold (vi_kx_check). Inserts are also failed at each allocation in turn:
 * -ENOMEM and the index unchanged. The index is compiled here with an
 * allocator that fails on demand (the definitions here take precedence over
 * the archive's copy, which is never linked).
 */
#include <stdbool.h>
#include <stdlib.h>

#include "test.h"

static long alloc_budget = -1;	/* < 0: unlimited */

static void *t_calloc(size_t k, size_t n)
{
	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	return calloc(k, n);
}

#define calloc(k, n) t_calloc(k, n)
#include "../src/memory/kidx.c"
#undef calloc

struct ent {
	uint64_t addr, seq, end;
	bool live;
};

enum { MAXE = 6000 };
static struct ent e[MAXE];	/* item i is &e[i] */
static size_t ne;

static bool ent_less(const struct ent *a, const struct ent *b)
{
	return a->addr < b->addr || (a->addr == b->addr && a->seq < b->seq);
}

static void check_query(const struct vi_kx_node *root, uint64_t first, uint64_t last)
{
	struct vi_kx_hit *got = NULL;
	size_t n = 0, cap = 0, want = 0;
	const struct ent *prev = NULL;
	bool ok = true;

	T_EQ(vi_kx_collect(root, first, last, &got, &n, &cap), 0);
	for (size_t i = 0; i < ne; i++)
		want += e[i].live && e[i].addr <= last && e[i].end >= first;
	T_EQ(n, want);
	for (size_t i = 0; i < n; i++) {
		const struct ent *x = got[i].item;

		ok &= x->live && x->addr <= last && x->end >= first;
		ok &= got[i].seq == x->seq && got[i].prio == (int)(x->seq % 7) - 3;
		ok &= !prev || ent_less(prev, x);
		prev = x;
	}
	T_OK(ok);
	free(got);
}

static int count_item(void *ctx, void *item)
{
	(*(size_t *)ctx)++;
	return ((struct ent *)item)->live ? 0 : -1;
}

int main(void)
{
	uint64_t seed = t_seed("memory_kidx", 0x6b696478ull);
	struct vi_kx_node *root = NULL;
	struct t_rng r;
	uint64_t seq = 0;
	size_t live = 0, nomem = 0;
	unsigned height_max = 0;

	t_rng_init(&r, seed);
	for (unsigned step = 0; step < 40000; step++) {
		unsigned op = (unsigned)t_rng_below(&r, 10);

		if ((op < 6 || !live) && ne < MAXE) {
			struct ent *x = &e[ne];
			/* addresses from a small set (ties) or anywhere; some windows reach 2^64-1 */
			uint64_t a = t_rng_below(&r, 3) ? t_rng_below(&r, 4096) * 0x1000 : t_rng_next(&r);
			uint64_t size = t_rng_below(&r, 16) ? 0x1000 * (1 + t_rng_below(&r, 8)) : t_rng_next(&r);
			uint64_t end = a + size - 1 < a ? UINT64_MAX : a + size - 1;

			*x = (struct ent){ .addr = a, .seq = ++seq, .end = end, .live = true };
			if (step % 500 == 0) {
				for (long fail = 0;; fail++) {
					int rc;

					alloc_budget = fail;
					rc = vi_kx_insert(&root, x, x->addr, x->seq, x->end, (int)(x->seq % 7) - 3);
					alloc_budget = -1;
					if (!rc)
						break;
					T_EQ(rc, -ENOMEM);
					nomem++;
					T_EQ(vi_kx_check(root), 0);
					size_t cnt = 0;
					T_EQ(vi_kx_walk(root, count_item, &cnt), 0);
					T_EQ(cnt, live);
				}
			} else {
				T_EQ(vi_kx_insert(&root, x, x->addr, x->seq, x->end, (int)(x->seq % 7) - 3), 0);
			}
			ne++;
			live++;
		} else if (op < 9 && live) {
			size_t i;

			do
				i = (size_t)t_rng_below(&r, ne);
			while (!e[i].live);
			vi_kx_remove(&root, e[i].addr, e[i].seq);
			e[i].live = false;
			live--;
		} else if (live) {
			size_t i;

			do
				i = (size_t)t_rng_below(&r, ne);
			while (!e[i].live);
			e[i].end = e[i].addr + t_rng_below(&r, 0x10000);
			if (e[i].end < e[i].addr)
				e[i].end = UINT64_MAX;
			vi_kx_set_end(root, e[i].addr, e[i].seq, e[i].end);
		}
		if (root && root->level + 1 > height_max)
			height_max = root->level + 1;
		if (step % 97 == 0) {
			uint64_t q = t_rng_below(&r, 4096) * 0x1000;

			T_EQ(vi_kx_check(root), 0);
			check_query(root, q, q + 0xfff);
			check_query(root, q, q + t_rng_below(&r, 1u << 24));
			check_query(root, 0, UINT64_MAX);
			check_query(root, UINT64_MAX, UINT64_MAX);
		}
		/* now and then empty it completely */
		if (step % 13000 == 12999) {
			for (size_t i = 0; i < ne; i++)
				if (e[i].live) {
					vi_kx_remove(&root, e[i].addr, e[i].seq);
					e[i].live = false;
				}
			live = 0;
			T_OK(root == NULL);
			ne = 0;
		}
	}
	printf("items %zu live, height up to %u, out-of-memory inserts %zu\n", live, height_max, nomem);
	T_OK(height_max >= 3);	/* splits at every level were exercised */
	T_OK(nomem > 0);
	for (size_t i = 0; i < ne; i++)
		if (e[i].live)
			vi_kx_remove(&root, e[i].addr, e[i].seq);
	T_OK(root == NULL);
	return t_done();
}

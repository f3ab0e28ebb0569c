// SPDX-License-Identifier: MIT
/*
 * The persistent B+ tree under flat views (src/memory/ptree.c) against a
 * plain sorted array: random range replacements of random sizes (single
 * items, whole runs, everything), after each of which the new version must
 * equal the array item for item (by cursor, by index and by key search),
 * satisfy every structural invariant (vi_pt_check), and every older version
 * still held must be unchanged (persistence). Each allocation of a sample of
 * updates is then failed in turn: -ENOMEM, and the tree it was applied to is
 * as it was; ASan sees no leak. The tree is compiled here with an allocator
 * that fails on demand (the definitions here take precedence over the
 * archive's copy, which is never linked).
 */
#include <stdlib.h>

#include "test.h"

static long alloc_budget = -1;	/* < 0: unlimited */

static void *t_malloc(size_t n)
{
	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	return malloc(n);
}

static void *t_realloc(void *p, size_t n)
{
	if (alloc_budget == 0)
		return NULL;
	if (alloc_budget > 0)
		alloc_budget--;
	return realloc(p, n);
}

#define malloc(n) t_malloc(n)
#define realloc(p, n) t_realloc(p, n)
#include "../src/memory/ptree.c"
#include "util/compiler.h"
#undef malloc
#undef realloc

struct item {
	uint64_t key;
	uint64_t val[2];
};

#define ESZ sizeof(struct item)

/* A version: the tree, the array it must equal, and what it loses to its successor (as memory.c keeps views). */
struct version {
	struct vi_pnode *root;
	struct item *a;
	size_t n;
	bool held;		/* a reader still has it */
	struct vi_pnode *dying;
	bool dies_whole;
};

static void check_version(const struct version *v, bool deep)
{
	struct vi_pcur c;
	const struct item *p;
	size_t i = 0;

	T_EQ(vi_pt_check(v->root, ESZ), 0);
	T_EQ(vi_pt_count(v->root), v->n);
	for (p = vi_pcur_seek(&c, v->root, ESZ, 0); p && i < v->n; p = vi_pcur_next(&c), i++)
		if (memcmp(p, &v->a[i], sizeof(*p)))
			break;
	T_EQ(i, v->n);
	T_OK(p == NULL);
	if (!deep || !v->n)
		return;
	/* a few random probes by index, by key and from the middle */
	for (int k = 0; k < 8; k++) {
		size_t at = (size_t)rand() % v->n;
		const struct item *q = vi_pt_at(v->root, ESZ, at);

		T_OK(q && q->key == v->a[at].key && q->val[0] == v->a[at].val[0]);
		T_EQ(vi_pt_lower(v->root, v->a[at].key), at);
		T_OK(vi_pt_find(v->root, ESZ, v->a[at].key) == q);
		if (v->a[at].key) {
			bool prev_adjacent = at && v->a[at - 1].key == v->a[at].key - 1;

			T_EQ(vi_pt_lower(v->root, v->a[at].key - 1), prev_adjacent ? at - 1 : at);
			/* the first key >= key - 1: the previous item if adjacent, else this one */
			T_OK(vi_pt_find(v->root, ESZ, v->a[at].key - 1) ==
			     (prev_adjacent ? vi_pt_at(v->root, ESZ, at - 1) : q));
		}
		q = vi_pcur_seek(&c, v->root, ESZ, at);
		T_OK(q && q->key == v->a[at].key);
		q = vi_pcur_next(&c);
		T_OK(at + 1 < v->n ? q && q->key == v->a[at + 1].key : q == NULL);
	}
	T_EQ(vi_pt_lower(v->root, v->a[v->n - 1].key + 1), v->n);
	T_OK(vi_pt_find(v->root, ESZ, v->a[v->n - 1].key + 1) == NULL);
	T_OK(vi_pt_at(v->root, ESZ, v->n) == NULL);
}

/* Keys are 4 * position-ish, so replacements can pick fresh keys between neighbours. */
static size_t make_new(struct t_rng *r, const struct version *v, size_t i, size_t j, struct item *out,
		       uint64_t **keys, size_t maxk)
{
	uint64_t lo = i ? v->a[i - 1].key + 1 : 0, hi = j < v->n ? v->a[j].key - 1 : UINT64_MAX;
	size_t k;

	if (lo > hi || (i && v->a[i - 1].key == UINT64_MAX) || (j < v->n && v->a[j].key == 0))
		return 0;	/* no free key between the neighbours */
	k = (size_t)t_rng_below(r, maxk + 1);
	if (k && hi - lo < k - 1)
		k = (size_t)(hi - lo + 1);
	/* k distinct sorted keys in [lo, hi]: a stride walk */
	uint64_t stride = k ? (hi - lo) / k : 1;

	if (!stride)
		stride = 1;
	for (size_t q = 0; q < k; q++) {
		out[q].key = lo + q * stride;
		out[q].val[0] = t_rng_next(r);
		out[q].val[1] = out[q].key ^ 0x5a5a;
		(*keys)[q] = out[q].key;
	}
	return k;
}

static void apply_model(const struct version *old, size_t i, size_t j, const struct item *src, size_t k,
			struct version *nv)
{
	nv->n = old->n - (j - i) + k;
	nv->a = malloc((nv->n + 1) * sizeof(struct item));
	memcpy(nv->a, old->a, i * sizeof(struct item));
	memcpy(nv->a + i, src, k * sizeof(struct item));
	memcpy(nv->a + i + k, old->a + j, (old->n - j) * sizeof(struct item));
}

enum { MAXV = 64 };
static struct version chain[MAXV];	/* oldest first; the last one is current */
static size_t nchain;

static void version_free(struct version *v, bool whole)
{
	if (whole || v->dies_whole)
		vi_pt_free_tree(v->root);
	vi_pt_free_list(v->dying);
	free(v->a);
}

/* Free versions from the old end while no reader holds them (never the current one). */
static void reclaim(void)
{
	size_t k = 0;

	while (k + 1 < nchain && !chain[k].held)
		version_free(&chain[k++], false);
	memmove(chain, chain + k, (nchain - k) * sizeof(chain[0]));
	nchain -= k;
}

int main(int argc, char **argv)
{
	uint64_t seed = t_seed("memory_ptree", 0x7074726565ull);
	unsigned steps = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 3000;
	struct t_rng r;
	struct item *src = malloc(5000 * sizeof(struct item));
	uint64_t *keys = malloc(5000 * sizeof(uint64_t));
	unsigned nomem_runs = 0, rebuilds = 0;

	t_rng_init(&r, seed);
	srand((unsigned)seed);
	chain[nchain++] = (struct version){ .a = malloc(sizeof(struct item)) };
	for (unsigned s = 0; s < steps; s++) {
		struct version *cur = &chain[nchain - 1];
		size_t i, j, k, maxk;
		struct version nv = { 0 };
		unsigned shape = (unsigned)t_rng_below(&r, 100);
		struct vi_pt_txn txn = { 0 };

		/* mostly small edits, some runs of hundreds, a few big inserts, a rare wipe */
		i = cur->n ? (size_t)t_rng_below(&r, cur->n + 1) : 0;
		if (shape < 60)
			j = i + (size_t)t_rng_below(&r, VI_MIN(cur->n - i, 2) + 1), maxk = 4;
		else if (shape < 95)
			j = i + (size_t)t_rng_below(&r, VI_MIN(cur->n - i, 300) + 1), maxk = 400;
		else if (shape < 99)
			j = i + (size_t)t_rng_below(&r, VI_MIN(cur->n - i, 3) + 1), maxk = 2000;
		else
			i = 0, j = cur->n, maxk = 40;
		if (cur->n > 20000)
			maxk = 2;
		k = make_new(&r, cur, i, j, src, &keys, maxk);
		for (size_t q = 0; q < k; q++)
			keys[q] = src[q].key;
		apply_model(cur, i, j, src, k, &nv);

		/* out of memory at every allocation of some updates: nothing changes, nothing leaks */
		if (s % 97 == 0) {
			for (long fail = 0;; fail++) {
				struct vi_pnode *t = NULL;
				int rc;

				alloc_budget = fail;
				rc = vi_pt_replace(&txn, cur->root, ESZ, i, j, keys, src, k, &t);
				alloc_budget = -1;
				vi_pt_txn_abort(&txn);
				if (rc == 0)
					break;
				T_EQ(rc, -ENOMEM);
				nomem_runs++;
				check_version(cur, false);
			}
		}
		if (shape == 98) {
			/* a rebuild from scratch: the successor shares nothing */
			uint64_t *ks = malloc((nv.n + 1) * sizeof(uint64_t));

			for (size_t q = 0; q < nv.n; q++)
				ks[q] = nv.a[q].key;
			T_EQ(vi_pt_build(&txn, ESZ, ks, nv.a, nv.n, &nv.root), 0);
			free(ks);
			cur->dies_whole = true;
			rebuilds++;
		} else {
			T_EQ(vi_pt_replace(&txn, cur->root, ESZ, i, j, keys, src, k, &nv.root), 0);
			/* a second update in the same transaction, on the unpublished result */
			if (nv.n && shape % 3 == 0) {
				size_t at = (size_t)t_rng_below(&r, nv.n);
				struct item one = nv.a[at];
				struct vi_pnode *t2;

				one.val[0] ^= 0xfeed;
				T_EQ(vi_pt_replace(&txn, nv.root, ESZ, at, at + 1, &one.key, &one, 1, &t2), 0);
				nv.root = t2;
				nv.a[at] = one;
			}
		}
		vi_pt_txn_commit(&txn, &cur->dying);
		check_version(&nv, true);
		/* readers hold some old versions and drop them in any order */
		cur->held = t_rng_below(&r, 8) == 0 && nchain + 1 < MAXV;
		for (size_t q = 0; q + 1 < nchain; q++)
			if (chain[q].held && t_rng_below(&r, 4) == 0)
				chain[q].held = false;
		if (nchain == MAXV)
			for (size_t q = 0; q < nchain; q++)
				chain[q].held = false;
		chain[nchain++] = nv;
		if (s % 50 == 0)
			for (size_t q = 0; q < nchain; q++)
				if (chain[q].held)
					check_version(&chain[q], false);
		reclaim();
	}
	/* keys-only trees (flat-view boundaries) */
	{
		uint64_t ks[3000], out[3002];
		struct vi_pnode *t = NULL, *t2 = NULL, *dying = NULL;
		struct vi_pt_txn txn = { 0 };

		for (int q = 0; q < 3000; q++)
			ks[q] = (uint64_t)q * 3;
		T_EQ(vi_pt_build(&txn, 0, ks, NULL, 3000, &t), 0);
		vi_pt_txn_commit(&txn, &dying);
		T_EQ(vi_pt_check(t, 0), 0);
		T_EQ(vi_pt_lower(t, 301), 101);
		T_OK(*(const uint64_t *)vi_pt_at(t, 0, 100) == 300);
		uint64_t mid[2] = { 301, 302 };
		T_EQ(vi_pt_replace(&txn, t, 0, 101, 101, mid, NULL, 2, &t2), 0);
		vi_pt_txn_commit(&txn, &dying);
		T_EQ(vi_pt_check(t2, 0), 0);
		vi_pt_copy_out(t2, 0, out);
		T_OK(out[100] == 300 && out[101] == 301 && out[102] == 302 && out[103] == 303);
		T_EQ(vi_pt_count(t2), 3002);
		T_EQ(vi_pt_count(t), 3000);
		T_OK(dying != NULL);	/* the old path went to the dying list */
		vi_pt_free_list(dying);
		vi_pt_free_tree(t2);
	}
	printf("steps %u, final items %zu, height %u, rebuilds %u, out-of-memory runs %u\n", steps,
	       chain[nchain - 1].n, chain[nchain - 1].root ? chain[nchain - 1].root->level + 1 : 0, rebuilds,
	       nomem_runs);
	T_OK(nomem_runs > 0);
	for (size_t q = 0; q < nchain; q++)
		version_free(&chain[q], q + 1 == nchain);
	free(src);
	free(keys);
	return t_done();
}

// SPDX-License-Identifier: MIT
/*
 * The output index's node pool (src/reconcile/out_index.c), compiled here with
 * the budgeted allocator (tests/alloc_budget.h):
 *  - n inserts make exactly ceil(n / VI_OUT_CHUNK) allocations, and removes
 *    and re-inserts below the peak make none (the IOMMU source's per-event
 *    path does no malloc);
 *  - a refused insert (-EEXIST) keeps its node in the pool;
 *  - with the pool exhausted and no memory, an insert is -ENOMEM and changes
 *    nothing: the same count, the same answers to every query, the tree and
 *    pool invariants intact; a remove then frees a node the next insert
 *    reuses without memory;
 *  - clear frees the pool (ASan's leak check sees the rest).
 * Random operations on a fixed printed seed, checked against a list.
 */
#include "test.h"

#include "alloc_budget.h"
#include "../src/reconcile/out_index.c"
#include "alloc_budget_end.h"

#define N 1000

struct ent { uint64_t of, ol, iova; bool in; };

static struct ent e[N];

struct got { size_t n; uint64_t sum; };

static void collect(void *ctx, const struct vi_out_node *n)
{
	struct got *g = ctx;

	g->n++;
	g->sum = g->sum * 31 + n->out_first * 7 + n->iova * 3 + n->out_last;
}

/* Every query of [q, q + 8 pages] over the output space matches the list. */
static unsigned long queries_differ(const struct vi_out_index *x)
{
	unsigned long bad = 0;

	for (uint64_t q = 0; q < 4 * N * 0x1000ull; q += 0x3000) {
		struct got g = { 0 };
		size_t want = 0;

		vi_out_index_query(x, q, q + 0x8000, collect, &g);
		for (size_t i = 0; i < N; i++)
			want += e[i].in && e[i].of <= q + 0x8000 && e[i].ol >= q;
		bad += g.n != want;
	}
	return bad;
}

static struct got snapshot(const struct vi_out_index *x)
{
	struct got g = { 0 };

	vi_out_index_query(x, 0, UINT64_MAX, collect, &g);
	return g;
}

int main(void)
{
	uint64_t seed = t_seed("test_reconcile_out_index_pool", 0x10330061);
	struct vi_out_index x = { 0 };
	struct t_rng rng;
	size_t in = 0;

	t_rng_init(&rng, seed);
	for (size_t i = 0; i < N; i++) {
		uint64_t of = t_rng_below(&rng, 4 * N) * 0x1000ull;

		e[i] = (struct ent){ of, of + (1 + t_rng_below(&rng, 4)) * 0x1000ull - 1, 0x100000000ull + i * 0x1000ull,
				     false };
	}

	/* n inserts: ceil(n / chunk) allocations */
	alloc_budget = 1000000;
	for (size_t i = 0; i < N; i++) {
		T_EQ(vi_out_index_insert(&x, e[i].of, e[i].ol, e[i].iova), 0);
		e[i].in = true;
	}
	in = N;
	T_EQ(1000000 - alloc_budget, (N + VI_OUT_CHUNK - 1) / VI_OUT_CHUNK);
	T_EQ(x.nchunks, (N + VI_OUT_CHUNK - 1) / VI_OUT_CHUNK);
	T_OK(vi_out_index_valid(&x));
	T_EQ(queries_differ(&x), 0);

	/* an existing key is refused and its node goes back to the pool */
	alloc_budget = 0;
	T_EQ(vi_out_index_insert(&x, e[5].of, e[5].ol, e[5].iova), -EEXIST);
	T_EQ(x.n, N);
	T_OK(vi_out_index_valid(&x));

	/* below the peak, removes and re-inserts need no memory at all */
	for (int t = 0; t < 20000; t++) {
		size_t i = t_rng_below(&rng, N);

		if (e[i].in) {
			T_OK(vi_out_index_remove(&x, e[i].of, e[i].iova));
			in--;
		} else {
			T_EQ(vi_out_index_insert(&x, e[i].of, e[i].ol, e[i].iova), 0);
			in++;
		}
		e[i].in = !e[i].in;
	}
	T_EQ(failures, 0);
	T_EQ(x.n, in);
	T_OK(vi_out_index_valid(&x));
	T_EQ(queries_differ(&x), 0);

	/* fill the pool exactly: every node in the tree, the free list empty */
	alloc_budget = 0;
	for (size_t i = 0; i < N && x.n < x.nchunks * VI_OUT_CHUNK; i++) {
		if (!e[i].in) {
			T_EQ(vi_out_index_insert(&x, e[i].of, e[i].ol, e[i].iova), 0);
			e[i].in = true;
		}
	}
	T_EQ(failures, 0);
	T_EQ(x.n, N);	/* all N are in: the pool holds ceil(N / chunk) chunks */
	{
		/* exhausted, no memory: -ENOMEM and nothing changed */
		struct got before = snapshot(&x), after;
		size_t n0 = x.n, c0 = x.nchunks;

		while (x.n < x.nchunks * VI_OUT_CHUNK) {
			/* top the last chunk up with fresh keys so the free list is empty */
			T_EQ(vi_out_index_insert(&x, UINT64_MAX - x.n, UINT64_MAX, x.n), 0);
		}
		before = snapshot(&x);
		n0 = x.n;
		T_EQ(vi_out_index_insert(&x, 0x5000, 0x5fff, 0x7000000000ull), -ENOMEM);
		T_EQ(failures, 1);
		after = snapshot(&x);
		T_EQ(x.n, n0);
		T_EQ(x.nchunks, c0);
		T_EQ(after.n, before.n);
		T_EQ_U64(after.sum, before.sum);
		T_OK(vi_out_index_valid(&x));
		T_OK(x.free == NULL);
		/* a remove gives a node back: the next insert needs no memory */
		T_OK(vi_out_index_remove(&x, e[7].of, e[7].iova));
		T_EQ(vi_out_index_insert(&x, 0x5000, 0x5fff, 0x7000000000ull), 0);
		T_EQ(failures, 1);
		T_OK(vi_out_index_valid(&x));
		/* memory is back: the pool grows by one chunk */
		alloc_budget = 1;
		T_EQ(vi_out_index_insert(&x, 0x6000, 0x6fff, 0x7000001000ull), 0);
		T_EQ(alloc_budget, 0);
		T_EQ(x.nchunks, c0 + 1);
		T_OK(vi_out_index_valid(&x));
	}
	alloc_budget = -1;
	vi_out_index_clear(&x);
	T_EQ(x.n, 0);
	T_EQ(x.nchunks, 0);
	T_OK(x.root == NULL && x.free == NULL && x.chunks == NULL);
	T_OK(vi_out_index_valid(&x));
	return t_done();
}

// SPDX-License-Identifier: MIT
/*
 * IOMMU sync benchmark: library time per guest invalidation, without any host
 * backend (the listener only counts events).
 *
 *	bench_iommu [pages [seed]]      default 65536 pages (256 MiB of IOVA), seed 0x10330003
 *
 * The guest is a flat array of 4K page entries plus one entry per 2M block
 * (a 2M leaf); the read-view callback reports the leaves of a range from it.
 * Cases, each over every page (4K) or every 2M block, in a shuffled order
 * built before the timed loop:
 *   4k.map        a page appears, the guest invalidates it        -> MAP
 *   4k.same       invalidation of an unchanged page                -> nothing
 *   4k.change     a page's output changes                          -> CHANGE
 *   4k.unmap      a page disappears                                -> UNMAP
 *   2m.map512     512 contiguous 4K pages appear, one invalidation -> one MAP
 *   2m.split      a 2M leaf becomes 512 x 4K, one page changed     -> one CHANGE
 *   2m.unmap512   512 pages disappear                              -> one UNMAP
 * Baseline, same run, same guest and read callback: QEMU's VT-d shadowing
 * (docs/reference.md §5): walk the range leaf by leaf against a tree of 4K-page
 * shadow entries, skip identical ones, MAP new ones, UNMAP gone ones, and
 * UNMAP + MAP changed ones (which is also where it bisects, §1.1).
 * Times are thread CPU time, best of 3 passes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <viommu/iommu.h>
#include <viommu/rangemap.h>

#include "bench.h"

#define PG 0x1000ull
#define BIGP 512u
#define REPS 3

static uint64_t sink;
static size_t npages;
static uint64_t *pte;		/* out | perm, 0 = hole */
static uint64_t *big;		/* per 2M block: out | perm of a 2M leaf, 0 = none */

/* The guest's leaves over [first, last], in order: fn(ctx, first, last, out, perm). */
typedef void (*leaf_fn)(void *ctx, uint64_t first, uint64_t last, uint64_t out, unsigned perm);

static void walk(uint64_t first, uint64_t last, leaf_fn fn, void *ctx)
{
	size_t p = first / PG, pe = last / PG;

	while (p <= pe && p < npages) {
		size_t b = p / BIGP;

		if (big[b]) {
			fn(ctx, b * BIGP * PG, (b + 1) * BIGP * PG - 1, big[b] & ~3ull, (unsigned)(big[b] & 3));
			p = (b + 1) * BIGP;
			continue;
		}
		if (pte[p])
			fn(ctx, p * PG, p * PG + PG - 1, pte[p] & ~3ull, (unsigned)(pte[p] & 3));
		p++;
	}
}

static void view_leaf(void *ctx, uint64_t first, uint64_t last, uint64_t out, unsigned perm)
{
	viommu_iommu_view_add(ctx, first, last, out, perm);
}

static int read_view(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *v)
{
	(void)ctx;
	walk(first, last, view_leaf, v);
	return 0;
}

static void count_event(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	(void)l;
	sink += ev->kind + (ev->last - ev->first);
}

/* ---- the baseline: QEMU-style per-leaf shadowing ------------------------ */

struct qemu {
	struct viommu_rangemap *tree;	/* shadowed leaves, value = out | perm */
	struct viommu_iommu_listener *l;
	uint64_t cur;			/* next address the walk has not covered */
};

static void qemu_event(struct qemu *q, unsigned kind, uint64_t f, uint64_t l, uint64_t v)
{
	struct viommu_iommu_event ev = { .kind = kind, .first = f, .last = l, .out = v & ~3ull,
					 .perm = (unsigned)(v & 3) };

	q->l->notify(q->l, &ev);
}

/* A hole [f, l]: UNMAP whatever the tree has there. */
static void qemu_hole(struct qemu *q, uint64_t f, uint64_t l)
{
	struct viommu_range_entry e;

	while (f <= l && viommu_rangemap_find_overlap(q->tree, f, l, &e)) {
		viommu_rangemap_remove(q->tree, e.first, e.last, NULL);
		qemu_event(q, VIOMMU_IOMMU_EV_UNMAP, e.first, e.last, e.value);
	}
}

static void qemu_leaf(void *ctx, uint64_t first, uint64_t last, uint64_t out, unsigned perm)
{
	struct qemu *q = ctx;
	struct viommu_range_entry e;

	if (first > q->cur)
		qemu_hole(q, q->cur, first - 1);
	q->cur = last + 1;
	if (viommu_rangemap_find(q->tree, first, &e) && e.first == first && e.last == last &&
	    e.value == (out | perm))
		return;
	/* Changed: UNMAP (whatever overlaps) then MAP. */
	qemu_hole(q, first, last);
	viommu_rangemap_insert(q->tree, first, last, out | perm);
	qemu_event(q, VIOMMU_IOMMU_EV_MAP, first, last, out | perm);
}

static void qemu_sync(struct qemu *q, uint64_t first, uint64_t last)
{
	q->cur = first;
	walk(first, last, qemu_leaf, q);
	if (q->cur <= last)
		qemu_hole(q, q->cur, last);
}

/* ---- cases ---------------------------------------------------------------- */

enum mutation { M_MAP, M_SAME, M_CHANGE, M_UNMAP, M_MAP512, M_SPLIT, M_UNMAP512 };

static void mutate(enum mutation m, size_t i, uint64_t gen)
{
	switch (m) {
	case M_MAP:
		pte[i] = (0x100000000ull + i * PG) | 3;
		break;
	case M_SAME:
		break;
	case M_CHANGE:
		pte[i] = (0x200000000ull + (i ^ gen) * PG) | 3;
		break;
	case M_UNMAP:
		pte[i] = 0;
		break;
	case M_MAP512:
		for (size_t k = 0; k < BIGP; k++)
			pte[i * BIGP + k] = (0x100000000ull + (i * BIGP + k) * PG) | 3;
		break;
	case M_SPLIT:
		big[i] = 0;
		for (size_t k = 0; k < BIGP; k++)
			pte[i * BIGP + k] = (0x300000000ull + (i * BIGP + (k == 7 ? 100000 : k)) * PG) | 3;
		break;
	case M_UNMAP512:
		for (size_t k = 0; k < BIGP; k++)
			pte[i * BIGP + k] = 0;
		break;
	}
}

/* Guest state before a case's pass. */
static void prepare(enum mutation m)
{
	size_t nb = npages / BIGP;

	memset(big, 0, nb * sizeof(*big));
	for (size_t i = 0; i < npages; i++)
		pte[i] = m == M_MAP || m == M_MAP512 ? 0 : (0x100000000ull + i * PG) | 3;
	if (m == M_SPLIT)
		for (size_t b = 0; b < nb; b++)
			big[b] = (0x300000000ull + b * BIGP * PG) | 3;
}

struct sys {
	struct viommu_iommu_as *ias;
	struct viommu_iommu_listener l;
	struct qemu q;
};

static void sys_init(struct sys *s)
{
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = read_view };

	s->ias = viommu_iommu_as_new(&o);
	s->l = (struct viommu_iommu_listener){ .sz = sizeof(s->l), .first = 0, .last = UINT64_MAX,
					       .kinds = VIOMMU_IOMMU_EV_ALL,
					       .caps = VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE,
					       .notify = count_event };
	if (!s->ias || viommu_iommu_listener_register(s->ias, &s->l)) {
		fprintf(stderr, "setup failed\n");
		exit(1);
	}
	s->q.tree = viommu_rangemap_new();
	s->q.l = &s->l;
}

static void sys_free(struct sys *s)
{
	viommu_iommu_as_free(s->ias);
	viommu_rangemap_free(s->q.tree);
}

/* Time one pass of case m over order[] with ours (baseline false) or QEMU's. */
static double pass(enum mutation m, const uint64_t *order, size_t n, bool baseline)
{
	struct sys s;
	bool blocks = m >= M_MAP512;
	uint64_t span = blocks ? BIGP * PG : PG;
	uint64_t t0;
	double t;

	sys_init(&s);
	prepare(m);
	/* Both start with the shadow equal to the guest. */
	if (baseline)
		qemu_sync(&s.q, 0, npages * PG - 1);
	else
		viommu_iommu_sync(s.ias, 0, npages * PG - 1);
	t0 = bench_cpu_ns();
	for (size_t k = 0; k < n; k++) {
		size_t i = (size_t)order[k];

		mutate(m, i, 1);
		if (baseline)
			qemu_sync(&s.q, i * span, i * span + span - 1);
		else
			sink += (uint64_t)viommu_iommu_sync(s.ias, i * span, i * span + span - 1);
	}
	t = (double)(bench_cpu_ns() - t0) / (double)n;
	sys_free(&s);
	return t;
}

int main(int argc, char **argv)
{
	uint64_t seed = 0x10330003;
	static const struct { const char *name; enum mutation m; } cases[] = {
		{ "iommu.sync.4k.map", M_MAP },
		{ "iommu.sync.4k.same", M_SAME },
		{ "iommu.sync.4k.change", M_CHANGE },
		{ "iommu.sync.4k.unmap", M_UNMAP },
		{ "iommu.sync.2m.map512", M_MAP512 },
		{ "iommu.sync.2m.split", M_SPLIT },
		{ "iommu.sync.2m.unmap512", M_UNMAP512 },
	};

	npages = 65536;
	if (argc > 1)
		npages = strtoull(argv[1], NULL, 0) / BIGP * BIGP;
	if (argc > 2)
		seed = strtoull(argv[2], NULL, 0);
	if (npages < BIGP)
		npages = BIGP;
	bench_seed(seed);
	printf("seed 0x%" PRIx64 "\npages %zu\n", seed, npages);
	pte = calloc(npages, sizeof(*pte));
	big = calloc(npages / BIGP, sizeof(*big));
	uint64_t *order4k = malloc(npages * sizeof(uint64_t)), *order2m = malloc(npages / BIGP * sizeof(uint64_t));

	if (!pte || !big || !order4k || !order2m)
		return 1;
	for (size_t i = 0; i < npages; i++)
		order4k[i] = i;
	for (size_t i = 0; i < npages / BIGP; i++)
		order2m[i] = i;
	bench_shuffle(order4k, npages);
	bench_shuffle(order2m, npages / BIGP);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		enum mutation m = cases[c].m;
		const uint64_t *order = m >= M_MAP512 ? order2m : order4k;
		size_t n = m >= M_MAP512 ? npages / BIGP : npages;
		double ours = 1e300, base = 1e300;

		for (int r = 0; r < REPS; r++) {
			double a = pass(m, order, n, false), b = pass(m, order, n, true);

			ours = a < ours ? a : ours;
			base = b < base ? b : base;
		}
		printf("%s %.1f ns\n", cases[c].name, ours);
		printf("%s ratio %.3f\n", cases[c].name, ours / base);
	}
	printf("sink %" PRIu64 "\n", sink);
	free(pte);
	free(big);
	free(order4k);
	free(order2m);
	return 0;
}

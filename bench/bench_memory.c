// SPDX-License-Identifier: MIT
/*
 * Memory-model benchmark: commit time for address spaces of N regions (one
 * region changed per commit, and a bulk change of N/10 regions in one
 * transaction), flat-view lookup time, and a device-local change next to a
 * big system space.
 *
 * Baseline (same run): what QEMU does on every commit, as system/memory.c
 * of QEMU 10.0 (softmmu/memory.c in 7.2, the same code) renders it:
 * generate_memory_topology() paints the tree into a fresh array with
 * render_memory_region() (subregions in priority order, then the region
 * itself into the gaps left so far: a linear scan of the ranges built so
 * far and a memmove insert per piece, O(N^2)), merges neighbours with
 * flatview_simplify(), then address_space_set_flatview() runs
 * address_space_update_topology_pass() twice over the old and new arrays
 * (region_del for ranges not in the new view, then region_add / region_nop)
 * into one listener. QEMU also builds the dispatch radix tree for every new
 * view (flatview_add_to_dispatch, system/physmem.c); that is left out, so
 * the baseline is cheaper than QEMU's real commit. It renders the same tree
 * as ours (the bench cross-checks the sections) with one listener attached,
 * as ours has one.
 *
 * The ratio lines are ours / baseline (lower is better); "growth" lines are
 * the cost at one size over the cost at a smaller one. All times are thread
 * CPU time; each case keeps the best of 3 rounds (the machine is shared).
 *
 * Usage: bench_memory [max_regions] [seed]   (default 100000). The
 * quadratic baseline takes seconds per commit at 100,000 regions, so it
 * runs one commit there.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <viommu/memory.h>

#include "memory/memory_int.h"
#include "util/compiler.h"
#include "bench.h"

static volatile uint64_t sink;

static void on_diff(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_diff *d,
		    size_t n)
{
	(void)l;
	(void)as;
	for (size_t i = 0; i < n; i++)
		sink += d[i].changed;
}

/* ---- the baseline: QEMU's commit ---- */

typedef unsigned __int128 u128;	/* QEMU computes addresses in Int128 */

/* A FlatRange: QEMU keeps these fields (plus dirty_log_mask, romd_mode, nonvolatile). */
struct qrange {
	const struct viommu_mr *mr;
	uint64_t offset_in_region;
	u128 start, size;
	bool readonly, unmergeable;
};

struct qview {
	struct qrange *r;
	unsigned nr, nr_allocated;
};

/*
 * QEMU's region tree: each region's subregions in a list kept in priority
 * order (memory_region_add_subregion_common inserts before the first of
 * lower or equal priority). Built once from ours before the timed loops,
 * which change only flags; render reads every attribute live.
 */
struct qnode {
	const struct viommu_mr *mr;
	struct qnode *alias;
	struct qnode **sub;
	size_t nsub;
};

static int q_prec(const void *a, const void *b)
{
	const struct viommu_mr *x = *(struct viommu_mr *const *)a, *y = *(struct viommu_mr *const *)b;

	if (x->priority != y->priority)
		return x->priority > y->priority ? -1 : 1;
	return x->seq > y->seq ? -1 : x->seq < y->seq;
}

static struct qnode *q_build(const struct viommu_mr *mr)
{
	struct qnode *q = calloc(1, sizeof(*q));
	struct vi_kx_hit *h = NULL;
	struct viommu_mr **k;
	size_t cap = 0;

	if (!q || vi_kx_collect(mr->kids, 0, UINT64_MAX, &h, &q->nsub, &cap))
		abort();
	q->mr = mr;
	k = calloc(q->nsub + 1, sizeof(*k));
	for (size_t i = 0; i < q->nsub; i++)
		k[i] = h[i].item;
	free(h);
	qsort(k, q->nsub, sizeof(*k), q_prec);
	q->sub = calloc(q->nsub + 1, sizeof(*q->sub));
	for (size_t i = 0; i < q->nsub; i++)
		q->sub[i] = q_build(k[i]);
	if (mr->alias_target)
		q->alias = q_build(mr->alias_target);
	free(k);
	return q;
}

static void q_free(struct qnode *q)
{
	if (!q)
		return;
	for (size_t i = 0; i < q->nsub; i++)
		q_free(q->sub[i]);
	q_free(q->alias);
	free(q->sub);
	free(q);
}

/* flatview_insert: grow to MAX(2 * nr, 10), memmove the tail, store. */
static void q_insert(struct qview *v, unsigned pos, const struct qrange *fr)
{
	if (v->nr == v->nr_allocated) {
		v->nr_allocated = VI_MAX(2 * v->nr, 10);
		v->r = realloc(v->r, v->nr_allocated * sizeof(*v->r));
		if (!v->r)
			abort();
	}
	memmove(&v->r[pos + 1], &v->r[pos], (v->nr - pos) * sizeof(*v->r));
	v->r[pos] = *fr;
	v->nr++;
}

static u128 q_min(u128 a, u128 b) { return a < b ? a : b; }
static u128 q_max(u128 a, u128 b) { return a > b ? a : b; }

/*
 * render_memory_region: @base is the absolute address of the container's
 * offset 0 (the region adds its own addr first), [cs, ce) the clip.
 */
static void q_render(struct qview *v, const struct qnode *q, u128 base, u128 cs, u128 ce, bool ro, bool unm,
		     bool is_root)
{
	const struct viommu_mr *mr = q->mr;
	u128 s, e, now, remain;
	uint64_t off;
	unsigned i;

	if (!mr->enabled)
		return;
	if (!is_root)
		base += mr->addr;
	ro |= mr->readonly;
	unm |= mr->unmergeable;
	s = base;
	e = base + (u128)mr->last + 1;
	if (e <= cs || s >= ce)		/* !addrrange_intersects */
		return;
	cs = q_max(cs, s);		/* addrrange_intersection */
	ce = q_min(ce, e);
	if (mr->kind == VIOMMU_MR_ALIAS) {
		/* base -= alias->addr + alias_offset; the target adds its own addr back */
		q_render(v, q->alias, base - mr->alias_target->addr - mr->alias_offset, cs, ce, ro, unm, false);
		return;
	}
	for (size_t k = 0; k < q->nsub; k++)	/* subregions in priority order */
		q_render(v, q->sub[k], base, cs, ce, ro, unm, false);
	if (mr->kind == VIOMMU_MR_CONTAINER)	/* !mr->terminates */
		return;
	off = (uint64_t)(cs - base);
	base = cs;
	remain = ce - cs;
	struct qrange fr = { .mr = mr, .readonly = ro, .unmergeable = unm };
	/* render the region itself into any gaps left by the current view */
	for (i = 0; i < v->nr && remain; ++i) {
		u128 rs = v->r[i].start, re = rs + v->r[i].size;

		if (base >= re)
			continue;
		if (base < rs) {
			now = q_min(remain, rs - base);
			fr.offset_in_region = off;
			fr.start = base;
			fr.size = now;
			q_insert(v, i, &fr);
			++i;
			base += now;
			off += (uint64_t)now;
			remain -= now;
		}
		now = q_min(base + remain, re) - base;
		base += now;
		off += (uint64_t)now;
		remain -= now;
	}
	if (remain) {
		fr.offset_in_region = off;
		fr.start = base;
		fr.size = remain;
		q_insert(v, i, &fr);
	}
}

static bool q_can_merge(const struct qrange *a, const struct qrange *b)
{
	return a->start + a->size == b->start && a->mr == b->mr &&
	       (u128)a->offset_in_region + a->size == b->offset_in_region && a->readonly == b->readonly &&
	       !a->unmergeable && !b->unmergeable;
}

/* flatview_simplify */
static void q_simplify(struct qview *v)
{
	unsigned i = 0;

	if (v->nr <= 1)
		return;
	for (unsigned j = 1; j < v->nr; j++) {
		if (q_can_merge(&v->r[i], &v->r[j]))
			v->r[i].size += v->r[j].size;
		else if (++i != j)
			v->r[i] = v->r[j];
	}
	v->nr = i + 1;
}

/* flatrange_equal */
static bool q_equal(const struct qrange *a, const struct qrange *b)
{
	return a->mr == b->mr && a->start == b->start && a->size == b->size &&
	       a->offset_in_region == b->offset_in_region && a->readonly == b->readonly &&
	       a->unmergeable == b->unmergeable;
}

/* The listener QEMU calls through MEMORY_LISTENER_UPDATE_REGION, with a section per call. */
static void q_listener(const struct qrange *fr, int what)
{
	struct viommu_mr_section s = { .first = (uint64_t)fr->start, .last = (uint64_t)(fr->start + fr->size - 1),
				       .mr = fr->mr, .offset = fr->offset_in_region, .readonly = fr->readonly };

	sink += (uint64_t)what + s.first + s.last;
}

/* address_space_update_topology_pass */
static void q_update_pass(const struct qview *o, const struct qview *n, bool adding)
{
	unsigned io = 0, in = 0;

	while (io < o->nr || in < n->nr) {
		const struct qrange *fo = io < o->nr ? &o->r[io] : NULL, *fn = in < n->nr ? &n->r[in] : NULL;

		if (fo && (!fn || fo->start < fn->start || (fo->start == fn->start && !q_equal(fo, fn)))) {
			if (!adding)
				q_listener(fo, 0);	/* region_del */
			++io;
		} else if (fo && fn && q_equal(fo, fn)) {
			if (adding)
				q_listener(fn, 1);	/* region_nop */
			++io;
			++in;
		} else {
			if (adding)
				q_listener(fn, 2);	/* region_add */
			++in;
		}
	}
}

/* One QEMU commit of the space rooted at @root: a new view from scratch, both passes against @old. */
static void q_commit(const struct qnode *root, struct qview *old)
{
	struct qview nv = { 0 };

	q_render(&nv, root, 0, 0, (u128)1 << 64, false, false, true);
	q_simplify(&nv);
	q_update_pass(old, &nv, false);
	q_update_pass(old, &nv, true);
	free(old->r);
	*old = nv;
}

/* ---- the machine ---- */

#define SLOT 0x10000ull		/* each region gets a 64K slot; sizes 4K..32K */

struct machine {
	struct viommu_memory *m;
	struct viommu_mr *root;
	struct viommu_mr **r;
	struct viommu_as *as;
	size_t n;
	struct viommu_memory_listener l;
};

static char host_mem[32 * 4096];

static void build(struct machine *mc, size_t n)
{
	memset(mc, 0, sizeof(*mc));
	mc->n = n;
	mc->m = viommu_memory_new();
	mc->root = viommu_mr_new_container(mc->m, "system", UINT64_C(1) << 48);
	mc->r = calloc(n, sizeof(*mc->r));
	mc->as = viommu_as_new(mc->m, "system", mc->root);
	if (!mc->m || !mc->root || !mc->r || !mc->as)
		abort();
	viommu_memory_begin(mc->m);
	for (size_t i = 0; i < n; i++) {
		uint64_t size = 4096 * (1 + bench_rng() % 8);
		char name[32];

		snprintf(name, sizeof(name), "r%zu", i);
		/* Mostly RAM, some MMIO, like a machine with many DIMM/hot-plug blocks and BARs. */
		if (i % 8 == 7)
			mc->r[i] = viommu_mr_new_mmio(mc->m, name, size, NULL, NULL);
		else
			mc->r[i] = viommu_mr_new_ram(mc->m, name, size, host_mem);
		if (!mc->r[i] || viommu_mr_add_subregion(mc->root, i * SLOT, mc->r[i], 0))
			abort();
	}
	viommu_memory_commit(mc->m);
	mc->l = (struct viommu_memory_listener){ .sz = sizeof(mc->l), .as = mc->as, .diff = on_diff };
	viommu_memory_listener_register(mc->m, &mc->l);
}

static void machine_free(struct machine *mc)
{
	viommu_memory_free(mc->m);
	free(mc->r);
}

/* One change: toggle one region's enabled flag. */
static void change_one(struct machine *mc, size_t k)
{
	viommu_mr_set_enabled(mc->r[k], !viommu_mr_is_enabled(mc->r[k]));
}

/* A bulk change: move n/10 regions to slots past the end and back. */
static void change_bulk(struct machine *mc, unsigned round)
{
	viommu_memory_begin(mc->m);
	for (size_t i = 0; i < mc->n / 10; i++) {
		size_t k = (size_t)(bench_rng() % mc->n);

		viommu_mr_set_address(mc->r[k], ((round & 1) ? k : mc->n + k) * SLOT);
	}
	viommu_memory_commit(mc->m);
}

/* The QEMU-style view equals ours, range for range. */
static void cross_check(struct machine *mc, const struct qview *q)
{
	struct viommu_flatview *v = viommu_as_get_flatview(mc->as);
	size_t n = viommu_flatview_count(v);

	if (n != q->nr)
		printf("memory.baseline.mismatch %zu %u sections\n", n, q->nr);
	for (size_t i = 0; i < n && i < q->nr; i++) {
		const struct viommu_mr_section *s = viommu_flatview_section(v, i);

		if (s->first != (uint64_t)q->r[i].start || s->last != (uint64_t)(q->r[i].start + q->r[i].size - 1) ||
		    s->mr != q->r[i].mr ||
		    s->offset != q->r[i].offset_in_region) {
			printf("memory.baseline.mismatch at section %zu\n", i);
			break;
		}
	}
	viommu_flatview_put(v);
}

#define ROUNDS 3

/*
 * Many address spaces: the system space of @n regions plus @ndev device DMA
 * spaces (an IOMMU region over the whole space, an MSI window on top, as
 * QEMU's VT-d model builds them). A device-local change re-renders a window
 * of that device's space; QEMU regenerates every space on every commit.
 */
static void bench_device_spaces(size_t n, unsigned ndev)
{
	struct machine mc;
	struct viommu_mr **msi = calloc(ndev, sizeof(*msi));
	struct viommu_as **das = calloc(ndev + 1, sizeof(*das));
	struct qview *qv = calloc(ndev + 1, sizeof(*qv));
	struct qnode **qn = calloc(ndev + 1, sizeof(*qn));
	unsigned iters = 2000, biters = 5;
	double ours = 1e300, base = 1e300;

	build(&mc, n);
	das[0] = mc.as;
	for (unsigned d = 0; d < ndev; d++) {
		char name[32];
		struct viommu_mr *root, *iommu;

		snprintf(name, sizeof(name), "dev%u", d);
		root = viommu_mr_new_container(mc.m, name, 0);
		iommu = viommu_mr_new_iommu(mc.m, "iommu", 0, NULL, NULL);
		msi[d] = viommu_mr_new_mmio(mc.m, "msi", 0x100000, NULL, NULL);
		if (!root || !iommu || !msi[d] || viommu_mr_add_subregion(root, 0, iommu, 0) ||
		    viommu_mr_add_subregion(root, 0xfee00000, msi[d], 1) || !(das[d + 1] = viommu_as_new(mc.m, name, root)))
			abort();
	}
	for (unsigned d = 0; d <= ndev; d++) {
		qn[d] = q_build(das[d]->root);
		q_commit(qn[d], &qv[d]);
	}
	for (int round = 0; round < ROUNDS; round++) {
		uint64_t t0 = bench_cpu_ns();

		for (unsigned i = 0; i < iters; i++)
			viommu_mr_set_enabled(msi[i % ndev], !viommu_mr_is_enabled(msi[i % ndev]));
		ours = VI_MIN(ours, (double)(bench_cpu_ns() - t0) / iters);
		/* QEMU: the same change, then every address space regenerated */
		viommu_memory_begin(mc.m);
		t0 = bench_cpu_ns();
		for (unsigned i = 0; i < biters; i++) {
			viommu_mr_set_enabled(msi[i % ndev], !viommu_mr_is_enabled(msi[i % ndev]));
			for (unsigned d = 0; d <= ndev; d++)
				q_commit(qn[d], &qv[d]);
		}
		base = VI_MIN(base, (double)(bench_cpu_ns() - t0) / biters);
		viommu_memory_commit(mc.m);
	}
	printf("memory.commit.device.n%zu.dev%u %.2f us\n", n, ndev, ours / 1000);
	printf("memory.commit.device.n%zu.dev%u.baseline_qemu %.1f us\n", n, ndev, base / 1000);
	printf("memory.commit.device.n%zu.dev%u ratio %.5f\n", n, ndev, ours / base);
	for (unsigned d = 0; d <= ndev; d++) {
		free(qv[d].r);
		q_free(qn[d]);
	}
	free(qn);
	machine_free(&mc);
	free(msi);
	free(das);
	free(qv);
}

int main(int argc, char **argv)
{
	long arg = argc > 1 ? strtol(argv[1], NULL, 0) : 100000;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x6d656d;
	size_t maxn = (size_t)(arg < 0 ? -arg : arg);
	static const size_t sizes[] = { 100, 1000, 10000, 100000 };
	enum { NS = sizeof(sizes) / sizeof(sizes[0]) };
	double one_ns[NS] = { 0 };

	bench_seed(seed);
	printf("seed 0x%" PRIx64 " max_regions %zu sizes 100 1000 10000 100000\n", seed, maxn);
	for (size_t si = 0; si < NS && sizes[si] <= maxn; si++) {
		size_t n = sizes[si];
		struct machine mc;
		unsigned iters = (unsigned)VI_MAX(2000, VI_MIN(20000, 20000000 / n));
		unsigned biters = n >= 100000 ? 1 : n >= 10000 ? 3 : (unsigned)VI_MIN(2000, 2000000 / n);
		double ours = 1e300, base = 1e300, t;
		size_t *pick = malloc(iters * sizeof(*pick));
		struct qview q = { 0 };
		uint64_t t0;

		build(&mc, n);
		for (unsigned i = 0; i < iters; i++)
			pick[i] = (size_t)(bench_rng() % n);
		struct qnode *qroot = q_build(mc.root);

		q_commit(qroot, &q);
		/*
		 * Commit, one region changed. Our rounds run back to back, before
		 * the baseline's: a QEMU render of 100,000 regions evicts every
		 * cache, and two of three rounds of 200 commits (0.5 ms) used to
		 * follow one, so the growth line measured the refill and swung
		 * from 1.5 to 4.4 between runs of main.
		 */
		for (int round = 0; round < ROUNDS; round++) {
			t0 = bench_cpu_ns();
			for (unsigned i = 0; i < iters; i++)
				change_one(&mc, pick[i]);
			ours = VI_MIN(ours, (double)(bench_cpu_ns() - t0) / iters);
		}
		for (int round = 0; round < ROUNDS; round++) {
			/* the same changes committed QEMU's way (our commit does not run inside the transaction) */
			if (round && n >= 100000)
				break;
			viommu_memory_begin(mc.m);
			t0 = bench_cpu_ns();
			for (unsigned i = 0; i < biters; i++) {
				change_one(&mc, pick[i]);
				q_commit(qroot, &q);
			}
			base = VI_MIN(base, (double)(bench_cpu_ns() - t0) / biters);
			viommu_memory_commit(mc.m);
			cross_check(&mc, &q);
		}
		one_ns[si] = ours;
		printf("memory.commit.one.n%zu %.2f us\n", n, ours / 1000);
		printf("memory.commit.one.n%zu.baseline_qemu %.1f us\n", n, base / 1000);
		printf("memory.commit.one.n%zu ratio %.4f\n", n, ours / base);
		free(q.r);
		q_free(qroot);

		/* bulk: n/10 moves in one transaction */
		unsigned bulk_iters = (unsigned)VI_MAX(4, VI_MIN(200, 400000 / n));
		t = 1e300;
		for (int round = 0; round < ROUNDS; round++) {
			t0 = bench_cpu_ns();
			for (unsigned i = 0; i < bulk_iters; i++)
				change_bulk(&mc, i);
			t = VI_MIN(t, (double)(bench_cpu_ns() - t0) / bulk_iters);
		}
		printf("memory.commit.bulk.n%zu %.1f us\n", n, t / 1000);

		/* lookup, against a linear scan of the same view (as QEMU's flatview_lookup did before its dispatch tree) */
		struct viommu_flatview *v = viommu_as_get_flatview(mc.as);
		unsigned liters = 1000000;
		uint64_t *addr = malloc(liters * sizeof(*addr));
		uint64_t acc = 0;
		size_t nsec = viommu_flatview_count(v);
		struct viommu_mr_section *flat = malloc((nsec + 1) * sizeof(*flat));

		for (size_t i = 0; i < nsec; i++)
			flat[i] = *viommu_flatview_section(v, i);
		for (unsigned i = 0; i < liters; i++)
			addr[i] = bench_rng() % (n * SLOT);
		double look = 1e300, lin = 1e300;
		unsigned lin_iters = (unsigned)VI_MAX(100, VI_MIN(liters, 20000000 / n));
		for (int round = 0; round < ROUNDS; round++) {
			t0 = bench_cpu_ns();
			for (unsigned i = 0; i < liters; i++) {
				const struct viommu_mr_section *s = viommu_flatview_lookup(v, addr[i]);

				acc += s ? s->offset : 1;
			}
			look = VI_MIN(look, (double)(bench_cpu_ns() - t0) / liters);
			t0 = bench_cpu_ns();
			for (unsigned i = 0; i < lin_iters; i++) {
				size_t k;

				for (k = 0; k < nsec && flat[k].last < addr[i]; k++)
					;
				acc += k < nsec && flat[k].first <= addr[i] ? flat[k].offset : 1;
			}
			lin = VI_MIN(lin, (double)(bench_cpu_ns() - t0) / lin_iters);
		}
		printf("memory.lookup.n%zu %.1f ns\n", n, look);
		printf("memory.lookup.n%zu ratio %.4f\n", n, look / lin);
		sink += acc;
		viommu_flatview_put(v);
		free(flat);
		free(addr);
		free(pick);
		machine_free(&mc);
	}
	if (maxn >= 10000)
		bench_device_spaces(10000, 100);
	if (maxn >= 100000 && one_ns[1] > 0)
		printf("memory.commit.one.growth_1k_to_100k %.2f x\n", one_ns[3] / one_ns[1]);
	if (maxn >= 100000 && one_ns[2] > 0)
		printf("memory.commit.one.growth_10k_to_100k %.2f x\n", one_ns[3] / one_ns[2]);
	printf("sink %" PRIu64 "\n", (uint64_t)sink);
	return 0;
}

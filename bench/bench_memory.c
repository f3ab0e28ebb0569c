// SPDX-License-Identifier: MIT
/*
 * Memory-model benchmark: commit time for address spaces of N regions (one
 * region changed per commit, and a bulk change of N/10 regions in one
 * transaction), and flat-view lookup time.
 *
 * Baseline (same run): QEMU's rendering algorithm (render_memory_region +
 * flatview_insert: each terminal piece is placed by a linear scan of the
 * flat ranges built so far and inserted with a memmove, which is O(N^2))
 * followed by the same O(N) diff. The ratio lines are ours / baseline
 * (lower is better). For lookups the baseline is a linear scan.
 *
 * Usage: bench_memory [max_regions] [seed]   (default 100000; the quadratic
 * baseline runs only up to 10,000 regions unless max_regions is negative,
 * which means "same sizes, baseline everywhere").
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
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

static double per_op(uint64_t ns, unsigned iters)
{
	return (double)ns / iters;
}

/* ---- the baseline: QEMU's painter ---- */

struct qview {
	struct viommu_mr_section *r;
	size_t n, cap;
};

static void q_insert(struct qview *v, size_t pos, const struct viommu_mr_section *s)
{
	if (v->n == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->r = realloc(v->r, v->cap * sizeof(*v->r));
		if (!v->r)
			abort();
	}
	memmove(&v->r[pos + 1], &v->r[pos], (v->n - pos) * sizeof(*v->r));
	v->r[pos] = *s;
	v->n++;
}

/* Place [first, last] of terminal @mr (offset @off at @first) into the gaps of @v, as QEMU does. */
static void q_place(struct qview *v, const struct viommu_mr *mr, uint64_t first, uint64_t last, uint64_t off)
{
	size_t i;

	for (i = 0; i < v->n && first <= last; i++) {
		struct viommu_mr_section s = { .mr = mr, .kind = mr->kind };

		if (first > v->r[i].last)
			continue;
		if (first < v->r[i].first) {
			s.first = first;
			s.last = VI_MIN(last, v->r[i].first - 1);
			s.offset = off;
			q_insert(v, i, &s);
			i++;
			off += s.last - first + 1;
			first = s.last + 1;
			if (s.last == last)
				return;
		}
		if (first > last)
			return;
		/* skip the existing range */
		if (v->r[i].last >= last)
			return;
		off += v->r[i].last + 1 - first;
		first = v->r[i].last + 1;
	}
	if (first <= last) {
		struct viommu_mr_section s = { .mr = mr, .kind = mr->kind, .first = first, .last = last,
					       .offset = off };

		q_insert(v, v->n, &s);
	}
}

static void q_render(struct qview *v, const struct viommu_mr *mr, uint64_t delta, uint64_t of, uint64_t ol)
{
	if (!mr->enabled)
		return;
	if (ol > mr->last)
		ol = mr->last;
	if (of > ol)
		return;
	if (mr->kind == VIOMMU_MR_ALIAS) {
		q_render(v, mr->alias_target, delta - mr->alias_offset, of + mr->alias_offset,
			 ol + mr->alias_offset);
		return;
	}
	for (const struct viommu_mr *c = mr->child_head; c; c = c->next_sib) {
		uint64_t cf = VI_MAX(c->addr, of), cl = VI_MIN(c->addr + c->last, ol);

		if (cf <= cl)
			q_render(v, c, delta + c->addr, cf - c->addr, cl - c->addr);
	}
	if (mr->kind != VIOMMU_MR_CONTAINER)
		q_place(v, mr, of + delta, ol + delta, of);
}

/* Baseline "commit": render QEMU-style into a fresh array and diff against the previous one. */
static struct viommu_flatview *q_commit(struct viommu_as *as, struct viommu_flatview *old)
{
	struct qview q = { 0 };
	struct viommu_flatview *v;
	struct viommu_mr_diff *d;
	size_t n;

	q_render(&q, as->root, 0, 0, UINT64_MAX);
	v = malloc(sizeof(*v) + (q.n + 1) * sizeof(v->s[0]));
	if (!v)
		abort();
	v->refs = 1;
	v->n = q.n;
	memcpy(v->s, q.r, q.n * sizeof(q.r[0]));
	free(q.r);
	if (viommu_flatview_diff(old, v, &d, &n))
		abort();
	for (size_t i = 0; i < n; i++)
		sink += d[i].changed;
	free(d);
	viommu_flatview_put(old);
	return v;
}

/* ---- the machine ---- */

#define SLOT 0x10000ull		/* each region gets a 64K slot; sizes 4K..32K */

struct machine {
	struct viommu_memory *m;
	struct viommu_mr *root;
	struct viommu_mr **r;
	uint64_t *slot;
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
	mc->slot = calloc(n, sizeof(*mc->slot));
	mc->as = viommu_as_new(mc->m, "system", mc->root);
	if (!mc->m || !mc->root || !mc->r || !mc->slot || !mc->as)
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
		mc->slot[i] = i;
		if (!mc->r[i] || viommu_mr_add_subregion(mc->root, i * SLOT, mc->r[i], 0))
			abort();
	}
	viommu_memory_commit(mc->m);
	mc->l = (struct viommu_memory_listener){ .size = sizeof(mc->l), .as = mc->as, .diff = on_diff };
	viommu_memory_listener_register(mc->m, &mc->l);
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

/*
 * Many address spaces: the system space of @n regions plus @ndev device DMA
 * spaces (an IOMMU region over the whole space, an MSI window on top, as
 * QEMU's VT-d model builds them). A device-local change re-renders only that
 * device's space; the baseline forces every space to re-render, as QEMU does
 * on every commit.
 */
static void bench_device_spaces(size_t n, unsigned ndev)
{
	struct machine mc;
	struct viommu_mr **msi = calloc(ndev, sizeof(*msi));
	unsigned iters = 2000;
	uint64_t t0, t_ours, t_base;

	build(&mc, n);
	for (unsigned d = 0; d < ndev; d++) {
		char name[32];
		struct viommu_mr *root, *iommu;

		snprintf(name, sizeof(name), "dev%u", d);
		root = viommu_mr_new_container(mc.m, name, 0);
		iommu = viommu_mr_new_iommu(mc.m, "iommu", 0, NULL, NULL);
		msi[d] = viommu_mr_new_mmio(mc.m, "msi", 0x100000, NULL, NULL);
		if (!root || !iommu || !msi[d] || viommu_mr_add_subregion(root, 0, iommu, 0) ||
		    viommu_mr_add_subregion(root, 0xfee00000, msi[d], 1) || !viommu_as_new(mc.m, name, root))
			abort();
	}
	t0 = bench_now_ns();
	for (unsigned i = 0; i < iters; i++)
		viommu_mr_set_enabled(msi[i % ndev], !viommu_mr_is_enabled(msi[i % ndev]));
	t_ours = bench_now_ns() - t0;
	iters = 20;
	t0 = bench_now_ns();
	for (unsigned i = 0; i < iters; i++) {
		viommu_memory_begin(mc.m);
		viommu_mr_set_enabled(msi[i % ndev], !viommu_mr_is_enabled(msi[i % ndev]));
		mc.m->all_dirty = true;
		viommu_memory_commit(mc.m);
	}
	t_base = bench_now_ns() - t0;
	printf("memory.commit.device.n%zu.dev%u %.1f us\n", n, ndev, per_op(t_ours, 2000) / 1000);
	printf("memory.commit.device.n%zu.dev%u.baseline_all_spaces %.1f us\n", n, ndev,
	       per_op(t_base, iters) / 1000);
	printf("memory.commit.device.n%zu.dev%u ratio %.4f\n", n, ndev,
	       per_op(t_ours, 2000) / per_op(t_base, iters));
	viommu_memory_free(mc.m);
	free(mc.r);
	free(mc.slot);
	free(msi);
}


int main(int argc, char **argv)
{
	long arg = argc > 1 ? strtol(argv[1], NULL, 0) : 100000;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x6d656d;
	bool baseline_all = arg < 0;
	size_t maxn = (size_t)(arg < 0 ? -arg : arg);
	static const size_t sizes[] = { 100, 10000, 100000 };
	double one_ns[3] = { 0 };

	bench_seed(seed);
	printf("seed 0x%" PRIx64 " max_regions %zu sizes 100 10000 100000\n", seed, maxn);
	for (size_t si = 0; si < 3 && sizes[si] <= maxn; si++) {
		size_t n = sizes[si];
		struct machine mc;
		unsigned iters = (unsigned)VI_MAX(10, VI_MIN(5000, 4000000 / n));
		uint64_t t0, t;

		build(&mc, n);

		/* commit, one region changed */
		size_t *pick = malloc(iters * sizeof(*pick));
		for (unsigned i = 0; i < iters; i++)
			pick[i] = (size_t)(bench_rng() % n);
		t0 = bench_now_ns();
		for (unsigned i = 0; i < iters; i++)
			change_one(&mc, pick[i]);
		t = bench_now_ns() - t0;
		one_ns[si] = per_op(t, iters);
		printf("memory.commit.one.n%zu %.1f us\n", n, one_ns[si] / 1000);

		if (n <= 10000 || baseline_all) {
			struct viommu_flatview *bv = viommu_as_get_flatview(mc.as);
			unsigned biters = n >= 10000 ? 3 : iters;

			/* Inside an open transaction our commit does not run; the tree still changes. */
			viommu_memory_begin(mc.m);
			t0 = bench_now_ns();
			for (unsigned i = 0; i < biters; i++) {
				change_one(&mc, pick[i]);
				bv = q_commit(mc.as, bv);
			}
			t = bench_now_ns() - t0;
			viommu_memory_commit(mc.m);
			double base = per_op(t, biters);
			/* Cross-check: the QEMU-style rendering equals ours. */
			struct viommu_flatview *ours = viommu_as_get_flatview(mc.as);
			if (ours->n != bv->n)
				printf("memory.baseline.mismatch %zu %zu sections\n", ours->n, bv->n);
			for (size_t i = 0; i < ours->n && i < bv->n; i++)
				if (ours->s[i].first != bv->s[i].first || ours->s[i].last != bv->s[i].last ||
				    ours->s[i].mr != bv->s[i].mr) {
					printf("memory.baseline.mismatch at %zu\n", i);
					break;
				}
			viommu_flatview_put(ours);
			viommu_flatview_put(bv);
			printf("memory.commit.one.n%zu.baseline_qemu %.1f us\n", n, base / 1000);
			printf("memory.commit.one.n%zu ratio %.3f\n", n, one_ns[si] / base);
		}

		/* bulk: n/10 moves in one transaction */
		unsigned bulk_iters = (unsigned)VI_MAX(4, VI_MIN(200, 400000 / n));
		t0 = bench_now_ns();
		for (unsigned i = 0; i < bulk_iters; i++)
			change_bulk(&mc, i);
		t = bench_now_ns() - t0;
		printf("memory.commit.bulk.n%zu %.1f us\n", n, per_op(t, bulk_iters) / 1000);

		/* lookup */
		struct viommu_flatview *v = viommu_as_get_flatview(mc.as);
		unsigned liters = 1000000;
		uint64_t *addr = malloc(liters * sizeof(*addr));
		uint64_t acc = 0;

		for (unsigned i = 0; i < liters; i++)
			addr[i] = (bench_rng() % (n * SLOT));
		t0 = bench_now_ns();
		for (unsigned i = 0; i < liters; i++) {
			const struct viommu_mr_section *s = viommu_flatview_lookup(v, addr[i]);

			acc += s ? s->offset : 1;
		}
		t = bench_now_ns() - t0;
		double look = per_op(t, liters);
		printf("memory.lookup.n%zu %.1f ns\n", n, look);
		/* baseline: linear scan */
		unsigned lin_iters = (unsigned)VI_MAX(100, VI_MIN(liters, 20000000 / n));
		t0 = bench_now_ns();
		for (unsigned i = 0; i < lin_iters; i++) {
			size_t k;

			for (k = 0; k < v->n && v->s[k].last < addr[i]; k++)
				;
			acc += k < v->n && v->s[k].first <= addr[i] ? v->s[k].offset : 1;
		}
		t = bench_now_ns() - t0;
		printf("memory.lookup.n%zu ratio %.3f\n", n, look / per_op(t, lin_iters));
		sink += acc;
		viommu_flatview_put(v);
		free(addr);
		free(pick);
		viommu_memory_free(mc.m);
		free(mc.r);
		free(mc.slot);
	}
	if (maxn >= 10000)
		bench_device_spaces(10000, 100);
	if (maxn >= 100000 && one_ns[1] > 0)
		printf("memory.commit.one.growth_10k_to_100k %.2f x\n", one_ns[2] / one_ns[1]);
	if (maxn >= 10000 && one_ns[0] > 0)
		printf("memory.commit.one.growth_100_to_10k %.2f x\n", one_ns[1] / one_ns[0]);
	printf("sink %" PRIu64 "\n", (uint64_t)sink);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * Page-table speed, per format: ns per call for map and unmap of 4K, 2M, 1G,
 * 256 x 4K and 256 x 2M, cut of a 2M and a 1G leaf, and lookup of a 4K and a
 * 2M leaf.
 *
 * The baseline, measured in the same run: a plain loop storing the same
 * number of 8-byte entries into the same amount of cache-resident memory, one
 * volatile store per entry as a page table needs (each entry is read by
 * concurrent walkers, so the stores may not be merged or vectorised); with
 * zeros it is the unmap baseline. Bulk 256 x 4K map and unmap are reported as
 * a ratio to it (goal, issue 14: map <= 1.3, unmap <= 1.5). The kernel's
 * generic_pt figures are in docs/design.md ("IO page tables").
 *
 * usage: bench_pgtable [scale] [seed]   (scale 1 = default sizes)
 *
 * Method: every case runs batches of 16 calls (16 IOVAs mapped, then
 * unmapped, again and again, so table allocation and reclamation are
 * included and the tables stay cache-resident, as in the kernel's
 * microbenchmarks: the figures are CPU cost, not DRAM bandwidth). Each batch
 * is timed on its own and a case reports the median over all its batches:
 * on a shared machine a preempted batch is an outlier the median ignores,
 * where a sum over a round would carry it. The bulk 256 x 4K ratios are
 * medians of paired samples (bench_bulk below).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <viommu/pgtable.h>
#include "bench.h"

#define BATCH 16

static uint64_t sink;

struct fmt_case {
	const char *name;
	enum viommu_pt_format format;
};

static const struct fmt_case fmts[] = {
	{ "vtd4", VIOMMU_PT_VTD_SL },
	{ "arm_s1_4k", VIOMMU_PT_ARM_S1 },
	{ "arm_s2_4k", VIOMMU_PT_ARM_S2 },
	{ "amd4", VIOMMU_PT_AMD_V1 },
};
#define NFMTS (sizeof(fmts) / sizeof(fmts[0]))

/* Per-batch samples of one case, ns per call. */
struct samples {
	double *v;
	size_t n, cap;
};

static void sample(struct samples *s, double ns)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			exit(1);
	}
	s->v[s->n++] = ns;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(struct samples *s)
{
	double m;

	if (!s->n)
		return 0;
	qsort(s->v, s->n, sizeof(*s->v), cmp_double);
	m = s->n & 1 ? s->v[s->n / 2] : (s->v[s->n / 2 - 1] + s->v[s->n / 2]) / 2;
	free(s->v);
	*s = (struct samples){ 0 };
	return m;
}

static struct viommu_pgtable *make(const struct fmt_case *f)
{
	struct viommu_pgtable_opts o;

	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	o.format = f->format;
	o.unmap_policy = VIOMMU_PT_UNMAP_WHOLE_LEAF;
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	if (!pt) {
		perror("viommu_pgtable_new");
		exit(1);
	}
	return pt;
}

/* One batch: BATCH IOVAs @stride apart mapped, then unmapped; ns per call of each into *map and *unmap. */
static void map_unmap_batch(struct viommu_pgtable *pt, uint64_t size, uint64_t stride, double *map, double *unmap)
{
	uint64_t base = UINT64_C(1) << 40, done;
	uint64_t t0 = bench_now_ns();

	for (unsigned i = 0; i < BATCH; i++) {
		if (viommu_pgtable_map(pt, base + i * stride, i * stride, size, VIOMMU_PERM_READ | VIOMMU_PERM_WRITE,
				       &done)) {
			fprintf(stderr, "map failed\n");
			exit(1);
		}
		sink += done;
	}
	uint64_t t1 = bench_now_ns();
	for (unsigned i = 0; i < BATCH; i++) {
		viommu_pgtable_unmap(pt, base + i * stride, size, &done);
		sink += done;
	}
	uint64_t t2 = bench_now_ns();
	*map = (double)(t1 - t0) / BATCH;
	*unmap = (double)(t2 - t1) / BATCH;
}

/* @n calls of @size bytes in batches; one sample per batch into @map and @unmap. */
static void run_map_unmap(const struct fmt_case *f, uint64_t size, uint64_t stride, unsigned n, struct samples *map,
			  struct samples *unmap)
{
	struct viommu_pgtable *pt = make(f);
	double m, u;

	for (unsigned rep = 0; rep < n / BATCH; rep++) {
		map_unmap_batch(pt, size, stride, &m, &u);
		/* The first batches warm the allocator and the table pool. */
		if (rep >= 2) {
			sample(map, m);
			sample(unmap, u);
		}
	}
	viommu_pgtable_free(pt);
}

static void bench_map_unmap(const struct fmt_case *f, const char *label, uint64_t size, uint64_t stride,
			    unsigned n)
{
	struct samples map = { 0 }, unmap = { 0 };

	run_map_unmap(f, size, stride, n, &map, &unmap);
	printf("pgtable.%s.map.%s %.1f ns\n", f->name, label, median(&map));
	printf("pgtable.%s.unmap.%s %.1f ns\n", f->name, label, median(&unmap));
}

/* Cut @n leaves of @size one granule in, in batches; the table memory is warm (round 0 only warms). */
static void bench_cut(const struct fmt_case *f, const char *label, uint64_t size, unsigned n)
{
	struct viommu_pgtable *pt = make(f);
	struct samples s = { 0 };
	uint64_t base = UINT64_C(1) << 40, done;

	for (int round = 0; round < 4; round++) {
		viommu_pgtable_map(pt, base, 0, n * size, VIOMMU_PERM_READ, &done);
		for (unsigned i = 0; i + BATCH <= n; i += BATCH) {
			uint64_t t0 = bench_now_ns();
			for (unsigned k = i; k < i + BATCH; k++)
				if (viommu_pgtable_cut(pt, base + k * size + 0x1000)) {
					fprintf(stderr, "cut failed\n");
					exit(1);
				}
			uint64_t t1 = bench_now_ns();
			if (round)
				sample(&s, (double)(t1 - t0) / BATCH);
		}
		sink += viommu_pgtable_iova_to_phys(pt, base + 0x1000);
		viommu_pgtable_unmap(pt, base, n * size, &done);
	}
	viommu_pgtable_free(pt);
	printf("pgtable.%s.cut.%s %.1f ns\n", f->name, label, median(&s));
}

/*
 * Lock-free lookups of random addresses inside 1024 leaves of @size (4 MiB of
 * 4K leaves: the upper tables stay cached, as for an IOTLB miss path), BATCH
 * x 16 per sample.
 */
static void bench_lookup(const struct fmt_case *f, const char *label, uint64_t size, unsigned n)
{
	struct viommu_pgtable *pt = make(f);
	struct samples s = { 0 };
	uint64_t base = UINT64_C(1) << 40, done, probe[BATCH * 16];

	if (viommu_pgtable_map(pt, base, 0, 1024 * size, VIOMMU_PERM_READ, &done)) {
		fprintf(stderr, "map failed\n");
		exit(1);
	}
	for (unsigned rep = 0; rep < n / (BATCH * 16); rep++) {
		for (unsigned i = 0; i < BATCH * 16; i++)
			probe[i] = base + bench_below(1024 * size);
		uint64_t t0 = bench_now_ns();
		for (unsigned i = 0; i < BATCH * 16; i++) {
			struct viommu_pt_mapping m;

			if (viommu_pgtable_lookup(pt, probe[i], &m) == 0)
				sink += m.phys;
		}
		uint64_t t1 = bench_now_ns();
		sample(&s, (double)(t1 - t0) / (BATCH * 16));
	}
	viommu_pgtable_free(pt);
	printf("pgtable.%s.lookup.%s %.1f ns\n", f->name, label, median(&s));
}

/*
 * The baseline's loops, each a function of its own placed at a 64-byte
 * boundary: where a loop this small sits relative to fetch blocks changed
 * its speed by 2x between two builds of this file, which would make the
 * ratio measure code placement. noinline keeps the placement the same in
 * every build.
 */
__attribute__((noinline, aligned(64))) static void store256(volatile uint64_t *vp, uint64_t val, uint64_t seq)
{
	for (unsigned j = 0; j < 256; j++)
		vp[j] = val | ((seq + j) << 12);
}

__attribute__((noinline, aligned(64))) static void store256_zero(volatile uint64_t *vp)
{
	for (unsigned j = 0; j < 256; j++)
		vp[j] = 0;
}

__attribute__((noinline, aligned(64))) static void store256_vec(uint64_t *p, uint64_t val, uint64_t seq)
{
	for (unsigned j = 0; j < 256; j++)
		p[j] = val ? val | ((seq + j) << 12) : 0;
}

/* The baseline: BATCH x 256 entries, one volatile 8-byte store each, into @mem; ns per 256. */
static double store_batch(uint64_t *mem, uint64_t val, unsigned rep, int scalar)
{
	uint64_t t0 = bench_now_ns();

	for (unsigned i = 0; i < BATCH; i++) {
		uint64_t *p = mem + (size_t)i * 256;

		if (!scalar)
			store256_vec(p, val, rep + i * 256);
		else if (val)
			store256(p, val, rep + i * 256);
		else
			store256_zero(p);
		__asm__ __volatile__("" ::: "memory");
	}
	return (double)(bench_now_ns() - t0) / BATCH;
}

static uint64_t *store_mem(void)
{
	uint64_t *mem = aligned_alloc(4096, (size_t)BATCH * 256 * 8);

	if (!mem)
		exit(1);
	memset(mem, 0, (size_t)BATCH * 256 * 8);
	return mem;
}

/*
 * Bulk 256 x 4K map and unmap against the baseline, as paired samples: each
 * map batch is timed right after a store batch, each unmap batch right after
 * a zero-store batch, each after an untimed batch of the same that makes its
 * memory cache-resident again. This machine's speed changes by up to 2x from
 * one moment to the next (other guests on the host's cores), so a ratio of
 * medians taken at different moments measures the host; the median of the
 * pairs' ratios does not.
 */
static void bench_bulk(const struct fmt_case *f, unsigned n, struct samples *st, struct samples *st0)
{
	struct viommu_pgtable *pt = make(f);
	struct samples map = { 0 }, unmap = { 0 }, rmap = { 0 }, runmap = { 0 };
	uint64_t *mem = store_mem();
	double s1, s0, m, u;

	for (unsigned rep = 0; rep < n / BATCH; rep++) {
		store_batch(mem, 0x3, rep, 1);
		s1 = store_batch(mem, 0x3, rep, 1);
		map_unmap_batch(pt, 0x100000, 0x100000, &m, &u);
		map_unmap_batch(pt, 0x100000, 0x100000, &m, &u);
		store_batch(mem, 0, rep, 1);
		s0 = store_batch(mem, 0, rep, 1);
		if (rep < 2)
			continue;
		sample(st, s1);
		sample(st0, s0);
		sample(&map, m);
		sample(&unmap, u);
		sample(&rmap, m / s1);
		sample(&runmap, u / s0);
	}
	sink += mem[BATCH * 128];
	free(mem);
	viommu_pgtable_free(pt);
	printf("pgtable.%s.map.256x4k %.1f ns\n", f->name, median(&map));
	printf("pgtable.%s.unmap.256x4k %.1f ns\n", f->name, median(&unmap));
	printf("pgtable.%s.map.256x4k ratio %.2f\n", f->name, median(&rmap));
	printf("pgtable.%s.unmap.256x4k ratio %.2f\n", f->name, median(&runmap));
}

int main(int argc, char **argv)
{
	unsigned scale = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 1;
	unsigned long seed = argc > 2 ? strtoul(argv[2], NULL, 0) : 1;
	unsigned n4k = 200000 * scale, n2m = 200000 * scale, n1g = 100000 * scale;
	unsigned nbulk4k = 40000 * scale, nbulk2m = 40000 * scale, ncut2m = 1024 * scale, ncut1g = 64 * scale;
	unsigned nlookup = 1 << 18;
	struct samples store = { 0 }, store0 = { 0 }, vec = { 0 }, vec0 = { 0 };

#ifdef __GLIBC__
	/* Keep freed table pages in the heap between rounds. */
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
	if (!scale) {
		fprintf(stderr, "usage: bench_pgtable [scale>=1] [seed]\n");
		return 2;
	}
	bench_seed(seed);
	printf("seed %lu\n", seed);
	printf("sizes 4k=%u 2m=%u 1g=%u 256x4k=%u 256x2m=%u cut2m=%u cut1g=%u lookup=%u batch=%u\n", n4k, n2m, n1g,
	       nbulk4k, nbulk2m, ncut2m, ncut1g, nlookup, BATCH);
	for (unsigned i = 0; i < NFMTS; i++) {
		const struct fmt_case *f = &fmts[i];

		bench_bulk(f, nbulk4k, &store, &store0);
		bench_map_unmap(f, "4k", 0x1000, 0x1000, n4k);
		bench_map_unmap(f, "2m", 0x200000, 0x200000, n2m);
		bench_map_unmap(f, "1g", 0x40000000, 0x40000000, n1g);
		bench_map_unmap(f, "256x2m", 0x20000000, 0x20000000, nbulk2m);
		bench_cut(f, "2m", 0x200000, ncut2m);
		bench_cut(f, "1g", 0x40000000, ncut1g);
		bench_lookup(f, "4k", 0x1000, nlookup);
		bench_lookup(f, "2m", 0x200000, nlookup);
	}
	/* The baselines' own medians (over every pair above), and for reference
	 * the same loops as the compiler vectorises them. */
	printf("pgtable.store.256 %.1f ns\n", median(&store));
	printf("pgtable.store0.256 %.1f ns\n", median(&store0));
	{
		uint64_t *mem = store_mem();

		for (unsigned rep = 0; rep < nbulk4k / BATCH; rep++)
			sample(&vec, store_batch(mem, 0x3, rep, 0));
		for (unsigned rep = 0; rep < nbulk4k / BATCH; rep++)
			sample(&vec0, store_batch(mem, 0, rep, 0));
		free(mem);
	}
	printf("pgtable.store_vec.256 %.1f ns\n", median(&vec));
	printf("pgtable.store0_vec.256 %.1f ns\n", median(&vec0));
	printf("sink %llu\n", (unsigned long long)sink);
	return 0;
}

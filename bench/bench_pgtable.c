// SPDX-License-Identifier: MIT
/*
 * Page-table engine speed, per format: ns per call for map and unmap of 4K,
 * 2M, 1G, 256 x 4K and 256 x 2M, and cut of a 2M and a 1G leaf. The baseline
 * measured in the same run is a plain loop storing the same number of 8-byte
 * entries; bulk 256 x 4K map and unmap are reported as a ratio to it (goal:
 * within 2x). The kernel's generic_pt figures are in docs/design.md ("IO page tables").
 *
 * usage: bench_pgtable [scale] [seed]   (scale 1 = default sizes)
 * Each case is the best of 3 rounds; every round maps fresh IOVAs and
 * unmaps them again, so table allocation and reclamation are included.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <viommu/pgtable.h>
#include "bench.h"

static uint64_t sink;

#define VI_MIN_D(a, b) ((a) < (b) ? (a) : (b))


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

/*
 * One map/unmap case: @n calls of @size bytes, in batches of @batch IOVAs
 * @stride apart that are mapped, then unmapped, again and again. The batch
 * keeps the tables cache-resident, as the kernel's microbenchmarks do: the
 * figures are CPU cost, not DRAM bandwidth.
 */
static void bench_map_unmap(const struct fmt_case *f, const char *label, uint64_t size, uint64_t stride,
			    unsigned n, unsigned batch, int rounds, double *map_ns, double *unmap_ns)
{
	struct viommu_pgtable *pt = make(f);
	double best_map = 1e30, best_unmap = 1e30;
	uint64_t base = UINT64_C(1) << 40, done;

	for (int round = 0; round < rounds; round++) {
		uint64_t tmap = 0, tunmap = 0;
		for (unsigned rep = 0; rep < n / batch; rep++) {
			uint64_t t0 = bench_now_ns();
			for (unsigned i = 0; i < batch; i++) {
				if (viommu_pgtable_map(pt, base + i * stride, i * stride, size,
						       VIOMMU_PERM_READ | VIOMMU_PERM_WRITE, &done)) {
					fprintf(stderr, "map failed\n");
					exit(1);
				}
				sink += done;
			}
			uint64_t t1 = bench_now_ns();
			for (unsigned i = 0; i < batch; i++) {
				viommu_pgtable_unmap(pt, base + i * stride, size, &done);
				sink += done;
			}
			uint64_t t2 = bench_now_ns();
			tmap += t1 - t0;
			tunmap += t2 - t1;
		}
		double calls = (double)(n / batch * batch);
		if (tmap / calls < best_map)
			best_map = tmap / calls;
		if (tunmap / calls < best_unmap)
			best_unmap = tunmap / calls;
	}
	viommu_pgtable_free(pt);
	if (label) {
		printf("pgtable.%s.map.%s %.1f ns\n", f->name, label, best_map);
		printf("pgtable.%s.unmap.%s %.1f ns\n", f->name, label, best_unmap);
	}
	*map_ns = best_map;
	*unmap_ns = best_unmap;
}

/* Cut @n leaves of @size one granule in; the table memory is warm (see main). */
static void bench_cut(const struct fmt_case *f, const char *label, uint64_t size, unsigned n)
{
	struct viommu_pgtable *pt = make(f);
	double best = 1e30;
	uint64_t base = UINT64_C(1) << 40, done;

	for (int round = 0; round < 4; round++) {
		viommu_pgtable_map(pt, base, 0, n * size, VIOMMU_PERM_READ, &done);
		uint64_t t0 = bench_now_ns();
		for (unsigned i = 0; i < n; i++)
			if (viommu_pgtable_cut(pt, base + i * size + 0x1000)) {
				fprintf(stderr, "cut failed\n");
				exit(1);
			}
		uint64_t t1 = bench_now_ns();
		sink += viommu_pgtable_iova_to_phys(pt, base + 0x1000);
		viommu_pgtable_unmap(pt, base, n * size, &done);
		/* Round 0 warms the allocator (first-touch page faults are the
		 * kernel's cost, not ours). */
		if (round && (double)(t1 - t0) / n < best)
			best = (double)(t1 - t0) / n;
	}
	viommu_pgtable_free(pt);
	printf("pgtable.%s.cut.%s %.1f ns\n", f->name, label, best);
}

/*
 * The baseline: the same number of 8-byte stores as a 256-entry call, in a
 * plain loop over the same cache-resident memory (batch x 256 entries),
 * timed the same way. With @val 0 it is the unmap baseline (storing zeros).
 */
static double bench_store_loop(unsigned n, unsigned batch, uint64_t val, int scalar, int rounds)
{
	uint64_t *mem = aligned_alloc(4096, (size_t)batch * 256 * 8);
	double best = 1e30;

	if (!mem)
		exit(1);
	memset(mem, 0, (size_t)batch * 256 * 8);
	for (int round = 0; round < rounds; round++) {
		uint64_t t = 0;
		for (unsigned rep = 0; rep < n / batch; rep++) {
			uint64_t t0 = bench_now_ns();
			for (unsigned i = 0; i < batch; i++) {
				uint64_t *p = mem + (size_t)i * 256;
				if (scalar) {
					/* One 8-byte store per entry, as a page table needs. */
					volatile uint64_t *vp = p;
					for (unsigned j = 0; j < 256; j++)
						vp[j] = val ? val | ((uint64_t)(rep + i * 256 + j) << 12) : 0;
				} else {
					for (unsigned j = 0; j < 256; j++)
						p[j] = val ? val | ((uint64_t)(rep + i * 256 + j) << 12) : 0;
				}
				__asm__ __volatile__("" ::: "memory");
			}
			t += bench_now_ns() - t0;
		}
		if ((double)t / (n / batch * batch) < best)
			best = (double)t / (n / batch * batch);
	}
	sink += mem[batch * 128];
	free(mem);
	return best;
}

int main(int argc, char **argv)
{
	unsigned scale = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 1;
	unsigned long seed = argc > 2 ? strtoul(argv[2], NULL, 0) : 1;
	unsigned n4k = 200000 * scale, n2m = 200000 * scale, n1g = 100000 * scale;
	unsigned nbulk4k = 40000 * scale, nbulk2m = 40000 * scale, ncut2m = 1024 * scale, ncut1g = 64 * scale;
	const unsigned batch = 16;
	double m, u, store_map, store_unmap;

#ifdef __GLIBC__
	/* Keep freed table pages in the heap between rounds. */
	mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
	if (!scale) {
		fprintf(stderr, "usage: bench_pgtable [scale>=1] [seed]\n");
		return 2;
	}
	/* Nothing here is random; the seed is printed for the common format. */
	printf("seed %lu\n", seed);
	printf("sizes 4k=%u 2m=%u 1g=%u 256x4k=%u 256x2m=%u cut2m=%u cut1g=%u batch=%u\n", n4k, n2m, n1g, nbulk4k,
	       nbulk2m, ncut2m, ncut1g, batch);
	/* The machine may be shared: the baseline and the bulk cases are
	 * measured in alternation and each keeps its best round, so the ratio
	 * compares like with like. */
	store_map = store_unmap = 1e30;
	double bm[NFMTS], bu[NFMTS];
	for (unsigned i = 0; i < NFMTS; i++)
		bm[i] = bu[i] = 1e30;
	for (int round = 0; round < 5; round++) {
		store_map = VI_MIN_D(store_map, bench_store_loop(nbulk4k, batch, 0x3, 1, 1));
		store_unmap = VI_MIN_D(store_unmap, bench_store_loop(nbulk4k, batch, 0, 1, 1));
		for (unsigned i = 0; i < NFMTS; i++) {
			bench_map_unmap(&fmts[i], NULL, 0x100000, 0x100000, nbulk4k, batch, 1, &m, &u);
			bm[i] = VI_MIN_D(bm[i], m);
			bu[i] = VI_MIN_D(bu[i], u);
		}
	}
	printf("pgtable.store.256 %.1f ns\n", store_map);
	printf("pgtable.store0.256 %.1f ns\n", store_unmap);
	/* For reference: the same loops as the compiler vectorises them. */
	printf("pgtable.store_vec.256 %.1f ns\n", bench_store_loop(nbulk4k, batch, 0x3, 0, 3));
	printf("pgtable.store0_vec.256 %.1f ns\n", bench_store_loop(nbulk4k, batch, 0, 0, 3));
	for (unsigned i = 0; i < NFMTS; i++) {
		const struct fmt_case *f = &fmts[i];
		bench_map_unmap(f, "4k", 0x1000, 0x1000, n4k, batch, 3, &m, &u);
		bench_map_unmap(f, "2m", 0x200000, 0x200000, n2m, batch, 3, &m, &u);
		bench_map_unmap(f, "1g", 0x40000000, 0x40000000, n1g, batch, 3, &m, &u);
		printf("pgtable.%s.map.256x4k %.1f ns\n", f->name, bm[i]);
		printf("pgtable.%s.unmap.256x4k %.1f ns\n", f->name, bu[i]);
		printf("pgtable.%s.map.256x4k ratio %.2f\n", f->name, bm[i] / store_map);
		printf("pgtable.%s.unmap.256x4k ratio %.2f\n", f->name, bu[i] / store_unmap);
		bench_map_unmap(f, "256x2m", 0x20000000, 0x20000000, nbulk2m, batch, 3, &m, &u);
		bench_cut(f, "2m", 0x200000, ncut2m);
		bench_cut(f, "1g", 0x40000000, ncut1g);
	}
	printf("sink %llu\n", (unsigned long long)sink);
	return 0;
}

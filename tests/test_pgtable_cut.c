// SPDX-License-Identifier: MIT
/*
 * cut (no kernel uAPI can split a mapping; Linux removed io-pgtable-arm's block
 * split on unmap in 6.13, which swapped a block for a table much like this): a
 * large leaf is replaced by an identically
 * translating subtree with one atomic store. Every translation is the same
 * before and after, the invalidation reported is exactly the old leaf, and a
 * reader thread translating continuously never sees a hole or a wrong
 * address while the writer cuts, maps and unmaps.
 */
#include <pthread.h>

#include <viommu/pgtable.h>

#include "pt_common.h"
#include "test.h"

struct flush_log {
	struct viommu_pt_range r[16];
	unsigned calls, n;
};

static void log_flush(void *ctx, const struct viommu_pt_range *ranges, size_t n)
{
	struct flush_log *l = ctx;
	l->calls++;
	for (size_t i = 0; i < n; i++)
		if (l->n < 16)
			l->r[l->n++] = ranges[i];
}

struct leaf_count {
	unsigned n;
	uint64_t bytes;
	uint64_t by_size[64];
};

static int count_cb(const struct viommu_pt_mapping *m, void *ctx)
{
	struct leaf_count *c = ctx;
	c->n++;
	c->bytes += m->size;
	c->by_size[vi_fls64_test(m->size)]++;
	return 0;
}

static void test_cut_case(const struct pt_case *pc, uint64_t seed)
{
	struct pt_mem_counter mc = { 0, 0, 0 };
	struct viommu_pt_mem_ops mem = { pt_cnt_alloc, pt_cnt_free, pt_cnt_v2p, pt_cnt_p2v, &mc };
	struct viommu_pgtable_opts o = pt_opts(pc);
	struct flush_log fl = { .calls = 0 };
	struct viommu_pgtable *pt;
	struct leaf_count lc;
	uint64_t bitmap, gran, big, mid, base, pa, done;
	struct t_rng rng;

	t_rng_init(&rng, seed);
	o.flush = log_flush;
	o.flush_ctx = &fl;
	o.mem = &mem;
	o.unmap_policy = VIOMMU_PT_UNMAP_REFUSE_PARTIAL;
	pt = viommu_pgtable_new(&o);
	bitmap = viommu_pgtable_pgsize_bitmap(pt);
	gran = bitmap & -bitmap;
	big = UINT64_C(1) << vi_fls64_test(bitmap);
	mid = (bitmap & (bitmap - 1)) & -(bitmap & (bitmap - 1));	/* second smallest */
	base = 2 * big;
	pa = 7 * big;
	T_EQ(viommu_pgtable_map(pt, base, pa, big, VIOMMU_PERM_READ | VIOMMU_PT_ATTR_SNOOP, &done), 0);

	/* Not aligned, outside the range, unmapped, already a boundary: no change. */
	T_EQ(viommu_pgtable_cut(pt, base + gran / 2), -EINVAL);
	if (pt_case_in_bits(pc) < 64)	/* AMD mode 6 translates the whole 64-bit space */
		T_EQ(viommu_pgtable_cut(pt, UINT64_C(1) << 60), -ERANGE);
	T_EQ(viommu_pgtable_cut(pt, 0), 0);
	T_EQ(viommu_pgtable_cut(pt, base), 0);
	T_EQ(fl.calls, 0);

	/* Cut one granule into the largest leaf. */
	uint64_t at = base + gran;
	T_EQ(viommu_pgtable_cut(pt, at), 0);
	T_EQ(fl.calls, 1);
	T_EQ(fl.n, 1);
	T_EQ_U64(fl.r[0].first, base);
	T_EQ_U64(fl.r[0].last, base + big - 1);
	memset(&lc, 0, sizeof(lc));
	T_EQ(viommu_pgtable_for_each(pt, 0, UINT64_MAX, count_cb, &lc), 0);
	T_EQ_U64(lc.bytes, big);
	/* The cut point's granule page and the rest of its enclosing pieces. */
	if (mid != big) {
		/* big -> (big/mid - 1) x mid + one mid table of (mid/gran) x gran, for two-level splits. */
		unsigned expect_gran = (unsigned)(mid / gran), expect_mid = (unsigned)(big / mid) - 1;
		if (big / mid == ((uint64_t)1 << (vi_fls64_test(gran) - 3)) && mid / gran == ((uint64_t)1 << (vi_fls64_test(gran) - 3))) {
			T_EQ(lc.by_size[vi_fls64_test(gran)], expect_gran);
			T_EQ(lc.by_size[vi_fls64_test(mid)], expect_mid);
		}
	}
	/* Every translation is identical, permissions included. */
	for (unsigned i = 0; i < 2000; i++) {
		uint64_t off = t_rng_below(&rng, big) & ~UINT64_C(7);
		struct viommu_pt_mapping m;
		T_EQ_U64(viommu_pgtable_iova_to_phys(pt, base + off), pa + off);
		T_EQ(viommu_pgtable_lookup(pt, base + off, &m), 0);
		T_EQ(m.perm, pt_norm_perm(pc->format, VIOMMU_PERM_READ | VIOMMU_PT_ATTR_SNOOP));
	}
	/* The boundary is real: the first granule can now be unmapped exactly. */
	T_EQ(viommu_pgtable_unmap(pt, base, gran, &done), 0);
	T_EQ_U64(done, gran);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, base), 0);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, at), pa + gran);

	/* More cuts at random points, each keeping the translation. */
	for (unsigned i = 0; i < 20; i++) {
		uint64_t p = base + gran + (t_rng_below(&rng, big / gran - 1) * gran);
		T_EQ(viommu_pgtable_cut(pt, p), 0);
		struct viommu_pt_mapping m;
		T_EQ(viommu_pgtable_lookup(pt, p, &m), 0);
		T_EQ_U64(m.iova, p);	/* p is now a leaf boundary */
		T_EQ_U64(m.phys, pa + (p - base));
	}
	memset(&lc, 0, sizeof(lc));
	viommu_pgtable_for_each(pt, 0, UINT64_MAX, count_cb, &lc);
	T_EQ_U64(lc.bytes, big - gran);
	T_EQ(viommu_pgtable_unmap(pt, base, big, &done), 0);
	T_EQ_U64(done, big - gran);
	{
		struct viommu_pgtable_stats st;
		viommu_pgtable_get_stats(pt, &st);
		T_EQ(st.table_pages, 1);
		T_EQ(mc.live, 1);
	}

	/* A bitmap without the middle size: cut must build tables of granule pages. */
	viommu_pgtable_free(pt);
	T_EQ(mc.live, 0);
	if (mid != big) {
		o.pgsize_bitmap = gran | big;
		pt = viommu_pgtable_new(&o);
		T_EQ(viommu_pgtable_map(pt, base, pa, big, VIOMMU_PERM_WRITE, &done), 0);
		T_EQ(viommu_pgtable_cut(pt, base + big / 2), 0);
		memset(&lc, 0, sizeof(lc));
		viommu_pgtable_for_each(pt, 0, UINT64_MAX, count_cb, &lc);
		T_EQ_U64(lc.n, big / gran);
		T_EQ_U64(viommu_pgtable_iova_to_phys(pt, base + big - 8), pa + big - 8);
		viommu_pgtable_free(pt);
		T_EQ(mc.live, 0);
	}
}

/* ---- concurrency: one writer, lock-free readers ---------------------------- */

#define NBIG 8
static const uint64_t C_BASE = UINT64_C(0x40000000), C_PA = UINT64_C(0x1000000000);

/* Each reader checks exactly READER_CHECKS addresses; the writer cuts until both are done. */
#define READER_CHECKS 200000
static int readers_left;

struct reader {
	struct viommu_pgtable *pt;
	unsigned long checks, errors;
	uint64_t seed;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct t_rng rng;

	t_rng_init(&rng, r->seed);
	for (int n = 0; n < READER_CHECKS; n++) {
		/* The NBIG 1G leaves being cut: always mapped, always identical. */
		uint64_t off = t_rng_below(&rng, NBIG * UINT64_C(0x40000000)) & ~UINT64_C(7);
		uint64_t got = viommu_pgtable_iova_to_phys(r->pt, C_BASE + off);
		if (got != C_PA + off)
			r->errors++;
		r->checks++;
	}
	__atomic_sub_fetch(&readers_left, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void test_concurrent_cut(const struct pt_case *pc, uint64_t seed)
{
	struct viommu_pgtable_opts o = pt_opts(pc);
	struct reader rd[2];
	pthread_t th[2];
	struct viommu_pgtable *pt;
	struct t_rng rng;
	uint64_t done;

	o.unmap_policy = VIOMMU_PT_UNMAP_REFUSE_PARTIAL;
	pt = viommu_pgtable_new(&o);
	T_EQ(viommu_pgtable_map(pt, C_BASE, C_PA, NBIG * UINT64_C(0x40000000), VIOMMU_PERM_READ, &done), 0);
	t_rng_init(&rng, seed);
	readers_left = 2;
	for (int i = 0; i < 2; i++) {
		rd[i] = (struct reader){ .pt = pt, .seed = seed + 1 + (uint64_t)i };
		pthread_create(&th[i], NULL, reader_main, &rd[i]);
	}
	/* The writer cuts the readers' range and maps/unmaps a neighbouring one. */
	for (int i = 0; i < 3000 || __atomic_load_n(&readers_left, __ATOMIC_ACQUIRE); i++) {
		uint64_t p = C_BASE + (t_rng_below(&rng, NBIG * UINT64_C(0x40000)) << 12);
		T_EQ(viommu_pgtable_cut(pt, p), 0);
		uint64_t other = UINT64_C(0x100000000000) + (t_rng_below(&rng, 64) << 21);
		uint64_t len = (1 + t_rng_below(&rng, 600)) << 12;
		if (viommu_pgtable_map(pt, other, other, len, VIOMMU_PERM_WRITE, &done) == 0)
			T_EQ(viommu_pgtable_unmap(pt, other, len, &done), 0);
		else
			viommu_pgtable_unmap(pt, other, done ? done : 0x1000, &done);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		T_EQ(rd[i].errors, 0);
		T_EQ(rd[i].checks, READER_CHECKS);
	}
	printf("concurrent cut: %lu + %lu reader checks\n", rd[0].checks, rd[1].checks);
	/* After the storm, the whole range still translates and unmaps exactly. */
	T_EQ(viommu_pgtable_unmap(pt, C_BASE, NBIG * UINT64_C(0x40000000), &done), 0);
	T_EQ_U64(done, NBIG * UINT64_C(0x40000000));
	viommu_pgtable_free(pt);
}

int main(void)
{
	uint64_t seed = t_seed("cut", 0x5eed0004);

	for (unsigned i = 0; i < sizeof(pt_cases) / sizeof(pt_cases[0]); i++)
		test_cut_case(&pt_cases[i], seed + i);
	test_concurrent_cut(&pt_cases[PT_CASE_VTD4], seed);
	test_concurrent_cut(&pt_cases[PT_CASE_AMD4], seed + 100);
	return t_done();
}

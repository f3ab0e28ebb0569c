// SPDX-License-Identifier: MIT
/*
 * Page-table engine, per format and granule: the leaf-size matrix, the map and
 * unmap error contract (Linux drivers/iommu/iommu.c __iommu_map/__iommu_unmap,
 * drivers/iommu/generic_pt/iommu_pt.h), the page-size choice of iommu_pgsize()
 * (drivers/iommu/iommu.c; generic_pt's kunit test_mixed and
 * test_pgsize_boundary, drivers/iommu/generic_pt/kunit_iommu_pt.h), table
 * reclamation and leak checks.
 */
#include <viommu/pgtable.h>

#include "pt_common.h"
#include "test.h"

struct leaf_list {
	struct viommu_pt_mapping m[64];
	unsigned n;
};

static int collect(const struct viommu_pt_mapping *m, void *ctx)
{
	struct leaf_list *l = ctx;
	if (l->n < 64)
		l->m[l->n] = *m;
	l->n++;
	return 0;
}

static unsigned count_leaves(struct viommu_pgtable *pt, uint64_t first, uint64_t last)
{
	struct leaf_list l = { .n = 0 };
	T_EQ(viommu_pgtable_for_each(pt, first, last, collect, &l), 0);
	return l.n;
}

static uint64_t table_pages(struct viommu_pgtable *pt)
{
	struct viommu_pgtable_stats st;
	viommu_pgtable_get_stats(pt, &st);
	return st.table_pages;
}

/* Per format: empty table, every leaf size, offsets, EEXIST, exact unmap, remap, top of range. */
static void test_leaf_matrix(const struct pt_case *pc)
{
	struct pt_mem_counter mc = { 0, 0, 0 };
	struct viommu_pt_mem_ops mem = { pt_cnt_alloc, pt_cnt_free, pt_cnt_v2p, pt_cnt_p2v, &mc };
	struct viommu_pgtable_opts o = pt_opts(pc);
	struct viommu_pt_mapping m;
	struct viommu_pgtable *pt;
	uint64_t bitmap, gran, done, top;
	unsigned prot = VIOMMU_PERM_READ | VIOMMU_PERM_WRITE;

	printf("case %s\n", pc->name);
	o.mem = &mem;
	pt = viommu_pgtable_new(&o);
	if (!pt)
		T_FATAL("new %s: errno %d", pc->name, errno);
	T_EQ(mc.live, 1);
	bitmap = viommu_pgtable_pgsize_bitmap(pt);
	gran = bitmap & -bitmap;
	T_EQ_U64(gran, pc->granule ? pc->granule : 4096);

	/* An empty table translates nothing. */
	T_EQ(viommu_pgtable_lookup(pt, 0, &m), -ENOENT);
	T_EQ(viommu_pgtable_lookup(pt, 0x12345000, &m), -ENOENT);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, 0x40000000), 0);
	T_EQ(count_leaves(pt, 0, UINT64_MAX), 0);

	for (uint64_t b = bitmap; b; b &= b - 1) {
		uint64_t s = b & -b, iova = 3 * s, pa = 5 * s;

		T_EQ(viommu_pgtable_map(pt, iova, pa, s, prot, &done), 0);
		T_EQ_U64(done, s);
		/* No in-place replace, whatever the new target (io-pgtable -EEXIST, generic_pt -EADDRINUSE). */
		T_EQ(viommu_pgtable_map(pt, iova, pa + s, s, prot, &done), -EEXIST);
		T_EQ_U64(done, 0);
		T_EQ(viommu_pgtable_map(pt, iova, pa, gran, VIOMMU_PERM_READ, &done), -EEXIST);
		T_EQ_U64(viommu_pgtable_iova_to_phys(pt, iova), pa);
		T_EQ_U64(viommu_pgtable_iova_to_phys(pt, iova + s - gran), pa + s - gran);
		T_EQ_U64(viommu_pgtable_iova_to_phys(pt, iova + s - 8), pa + s - 8);
		T_EQ_U64(viommu_pgtable_iova_to_phys(pt, iova + s), 0);
		T_EQ_U64(viommu_pgtable_iova_to_phys(pt, iova - 1), 0);
		T_EQ(viommu_pgtable_lookup(pt, iova + s / 2 + 0x123, &m), 0);
		T_EQ_U64(m.iova, iova);
		T_EQ_U64(m.phys, pa);
		T_EQ_U64(m.size, s);
		T_EQ(m.perm, prot);
		T_EQ(count_leaves(pt, 0, UINT64_MAX), 1);
		T_EQ(count_leaves(pt, iova + s - 1, iova + s - 1), 1);
		T_EQ(count_leaves(pt, iova + s, UINT64_MAX), 0);

		T_EQ(viommu_pgtable_unmap(pt, iova, s, &done), 0);
		T_EQ_U64(done, s);
		T_EQ_U64(viommu_pgtable_iova_to_phys(pt, iova), 0);
		T_EQ(viommu_pgtable_lookup(pt, iova + s - gran, &m), -ENOENT);
		/* Empty tables are reclaimed: only the root is left. */
		T_EQ(table_pages(pt), 1);
		/* Unmapping nothing succeeds with 0 bytes. */
		T_EQ(viommu_pgtable_unmap(pt, iova, s, &done), 0);
		T_EQ_U64(done, 0);
		/* The range can be mapped again. */
		T_EQ(viommu_pgtable_map(pt, iova, pa + s, s, VIOMMU_PERM_READ, &done), 0);
		T_EQ_U64(viommu_pgtable_iova_to_phys(pt, iova + s - gran), pa + s + s - gran);
		T_EQ(viommu_pgtable_lookup(pt, iova, &m), 0);
		T_EQ(m.perm, VIOMMU_PERM_READ);
		T_EQ(viommu_pgtable_unmap(pt, iova, s, &done), 0);
		T_EQ_U64(done, s);
	}

	/* The largest leaf at the very top of the input range. */
	uint64_t big = UINT64_C(1) << vi_fls64_test(bitmap);
	unsigned in_bits = pt_case_in_bits(pc);
	top = (in_bits >= 64 ? UINT64_MAX : (UINT64_C(1) << in_bits) - 1) - big + 1;
	T_EQ(viommu_pgtable_map(pt, top, big, big, prot, &done), 0);
	T_EQ_U64(done, big);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, top + big - 1), big + big - 1);
	T_EQ(count_leaves(pt, top, UINT64_MAX), 1);
	/* One granule past the top is out of range. */
	if (in_bits < 64)
		T_EQ(viommu_pgtable_map(pt, top + big, 0, gran, prot, &done), -ERANGE);
	T_EQ(viommu_pgtable_map(pt, top, 0, 2 * big, prot, &done), -ERANGE);
	T_EQ(viommu_pgtable_unmap(pt, top, big, &done), 0);
	T_EQ_U64(done, big);
	T_EQ(table_pages(pt), 1);

	/* __iommu_map()'s argument errors: no permission, size 0, misalignment, beyond the widths. */
	T_EQ(viommu_pgtable_map(pt, 0, 0, gran, 0, &done), -EINVAL);
	T_EQ(viommu_pgtable_map(pt, 0, 0, gran, VIOMMU_PT_ATTR_SNOOP, &done), -EINVAL);
	T_EQ(viommu_pgtable_map(pt, 0, 0, 0, prot, &done), -EINVAL);
	T_EQ(viommu_pgtable_map(pt, gran / 2, 0, gran, prot, &done), -EINVAL);
	T_EQ(viommu_pgtable_map(pt, 0, gran / 2, gran, prot, &done), -EINVAL);
	T_EQ(viommu_pgtable_map(pt, 0, 0, gran + gran / 2, prot, &done), -EINVAL);
	T_EQ(viommu_pgtable_map(pt, 0, UINT64_C(1) << 48, gran, prot, &done), -ERANGE);
	if (in_bits < 64)	/* AMD mode 6 translates the whole 64-bit space */
		T_EQ(viommu_pgtable_map(pt, UINT64_MAX - gran + 1, 0, gran, prot, &done), -ERANGE);
	T_EQ(viommu_pgtable_unmap(pt, 0, 0, &done), -EINVAL);
	T_EQ(viommu_pgtable_unmap(pt, gran / 2, gran, &done), -EINVAL);
	T_EQ(table_pages(pt), 1);

	/* Destroy with live mappings frees everything. */
	T_EQ(viommu_pgtable_map(pt, 0, 0, 64 * gran, prot, &done), 0);
	T_EQ(viommu_pgtable_map(pt, 100 * big, 0, big, prot, &done), 0);
	T_OK(mc.live > 1);
	viommu_pgtable_free(pt);
	T_EQ(mc.live, 0);
}

/* generic_pt's kunit test_mixed: 20 leaves, 14 x 2M, 3 x 1G, 3 x 2M. */
static void test_mixed(const struct pt_case *pc)
{
	struct viommu_pgtable_opts o = pt_opts(pc);
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	struct leaf_list l = { .n = 0 };
	uint64_t first = 0x3fe400000, last = 0x4c0600000, done;

	T_EQ(viommu_pgtable_map(pt, first, first, last - first, VIOMMU_PERM_READ, &done), 0);
	T_EQ_U64(done, last - first);
	T_EQ(viommu_pgtable_for_each(pt, 0, UINT64_MAX, collect, &l), 0);
	T_EQ(l.n, 20);
	for (unsigned i = 0; i < 20 && i < l.n; i++) {
		uint64_t want = i < 14 || i >= 17 ? 0x200000 : 0x40000000;
		T_EQ_U64(l.m[i].size, want);
		T_EQ_U64(l.m[i].phys, l.m[i].iova);
		if (i)
			T_EQ_U64(l.m[i].iova, l.m[i - 1].iova + l.m[i - 1].size);
	}
	T_EQ_U64(l.m[0].iova, first);
	T_EQ(viommu_pgtable_unmap(pt, first, last - first, &done), 0);
	T_EQ_U64(done, last - first);
	T_EQ(table_pages(pt), 1);

	/* Restricted to 4K (iommu_pgsize() picks only from the bitmap): the same range is all 4K. */
	viommu_pgtable_free(pt);
	o.pgsize_bitmap = 0x1000;
	pt = viommu_pgtable_new(&o);
	T_EQ_U64(viommu_pgtable_pgsize_bitmap(pt), 0x1000);
	T_EQ(viommu_pgtable_map(pt, 0x200000, 0x200000, 0x400000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(count_leaves(pt, 0, UINT64_MAX), 1024);
	viommu_pgtable_free(pt);
}

/* iommu_pgsize: iova and paddr offset differently within 2M never use 2M. */
static void test_pgsize_offset(void)
{
	struct viommu_pgtable_opts o = pt_opts(&pt_cases[1]);
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	struct leaf_list l = { .n = 0 };
	uint64_t done;

	T_EQ(viommu_pgtable_map(pt, 0x200000, 0x201000, 0x400000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(viommu_pgtable_for_each(pt, 0, UINT64_MAX, collect, &l), 0);
	T_EQ(l.n, 1024);
	viommu_pgtable_unmap(pt, 0x200000, 0x400000, &done);
	T_EQ_U64(done, 0x400000);
	l.n = 0;
	/* 4K up to the 2M boundary, then 2M, then a 4K tail. */
	T_EQ(viommu_pgtable_map(pt, 0x1ff000, 0x1ff000, 0x202000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(viommu_pgtable_for_each(pt, 0, UINT64_MAX, collect, &l), 0);
	T_EQ(l.n, 3);
	T_EQ_U64(l.m[0].size, 0x1000);
	T_EQ_U64(l.m[1].size, 0x200000);
	T_EQ_U64(l.m[1].iova, 0x200000);
	T_EQ_U64(l.m[2].size, 0x1000);
	viommu_pgtable_free(pt);
}

/* generic_pt map_table_to_oa: small pages unmapped, then a large leaf fits (§2.2, §2.3). */
static void test_table_to_oa(const struct pt_case *pc)
{
	struct viommu_pgtable_opts o = pt_opts(pc);
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	uint64_t bitmap = viommu_pgtable_pgsize_bitmap(pt), gran = bitmap & -bitmap;
	uint64_t big = (bitmap & (bitmap - 1)) & -(bitmap & (bitmap - 1)), done;
	struct viommu_pt_mapping m;

	T_EQ(viommu_pgtable_map(pt, big, 0, gran, VIOMMU_PERM_READ, &done), 0);
	T_EQ(viommu_pgtable_map(pt, big + 5 * gran, 0, gran, VIOMMU_PERM_READ, &done), 0);
	/* A large leaf over a non-empty table is refused. */
	T_EQ(viommu_pgtable_map(pt, big, big, big, VIOMMU_PERM_READ, &done), -EEXIST);
	T_EQ_U64(done, 0);
	T_EQ(viommu_pgtable_unmap(pt, big, gran, &done), 0);
	T_EQ(viommu_pgtable_unmap(pt, big + 5 * gran, gran, &done), 0);
	T_EQ(viommu_pgtable_map(pt, big, big, big, VIOMMU_PERM_READ, &done), 0);
	T_EQ(viommu_pgtable_lookup(pt, big + gran, &m), 0);
	T_EQ_U64(m.size, big);
	T_EQ_U64(m.phys, big);
	viommu_pgtable_free(pt);
}

/* generic_pt's kunit test_unmap_split, and the two unmap policies (generic_pt removes the whole leaf;
 * io-pgtable-arm refuses a partial block since Linux 6.13). */
static void test_unmap_split(const struct pt_case *pc)
{
	struct viommu_pgtable_opts o = pt_opts(pc);
	struct viommu_pgtable *pt;
	uint64_t bitmap, gran, big, done;

	o.unmap_policy = VIOMMU_PT_UNMAP_WHOLE_LEAF;
	pt = viommu_pgtable_new(&o);
	bitmap = viommu_pgtable_pgsize_bitmap(pt);
	gran = bitmap & -bitmap;
	big = (bitmap & (bitmap - 1)) & -(bitmap & (bitmap - 1));
	T_EQ(viommu_pgtable_map(pt, big, big, 2 * big, VIOMMU_PERM_READ, &done), 0);
	T_EQ(count_leaves(pt, 0, UINT64_MAX), 2);
	/* Starting inside a large leaf makes no progress. */
	T_EQ(viommu_pgtable_unmap(pt, big + gran, gran, &done), -EINVAL);
	T_EQ_U64(done, 0);
	T_EQ(count_leaves(pt, 0, UINT64_MAX), 2);
	/* A small unmap at its start removes the whole leaf, reports its size and
	 * does not continue into the next leaf. */
	T_EQ(viommu_pgtable_unmap(pt, big, gran, &done), 0);
	T_EQ_U64(done, big);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, big), 0);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, 2 * big), 2 * big);
	/* A range ending inside the second leaf removes it whole. */
	T_EQ(viommu_pgtable_unmap(pt, big, big + gran, &done), 0);
	T_EQ_U64(done, big);
	T_EQ(count_leaves(pt, 0, UINT64_MAX), 0);
	T_EQ(table_pages(pt), 1);
	viommu_pgtable_free(pt);

	o.unmap_policy = VIOMMU_PT_UNMAP_REFUSE_PARTIAL;
	pt = viommu_pgtable_new(&o);
	T_EQ(viommu_pgtable_map(pt, big, big, 2 * big, VIOMMU_PERM_READ, &done), 0);
	T_EQ(viommu_pgtable_map(pt, 0, 0, gran, VIOMMU_PERM_READ, &done), 0);
	T_EQ(viommu_pgtable_unmap(pt, big, gran, &done), -EINVAL);
	T_EQ_U64(done, 0);
	T_EQ(viommu_pgtable_unmap(pt, big + gran, gran, &done), -EINVAL);
	/* The refused range would also remove the 4K page at 0: nothing changes. */
	T_EQ(viommu_pgtable_unmap(pt, 0, big + big / 2, &done), -EINVAL);
	T_EQ(count_leaves(pt, 0, UINT64_MAX), 3);
	T_EQ(viommu_pgtable_unmap(pt, 0, 2 * big, &done), 0);
	T_EQ_U64(done, big + gran);
	T_EQ(count_leaves(pt, 0, UINT64_MAX), 1);
	T_EQ(viommu_pgtable_unmap(pt, 0, 4 * big, &done), 0);
	T_EQ_U64(done, big);
	viommu_pgtable_free(pt);
}

/* A map failing part-way reports what it mapped and leaves a consistent table (§2.2). */
static void test_partial_map(const struct pt_case *pc)
{
	struct viommu_pgtable_opts o = pt_opts(pc);
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	uint64_t bitmap = viommu_pgtable_pgsize_bitmap(pt), gran = bitmap & -bitmap, done;

	T_EQ(viommu_pgtable_map(pt, 10 * gran, 0, gran, VIOMMU_PERM_WRITE, &done), 0);
	T_EQ(viommu_pgtable_map(pt, 7 * gran, 0x100 * gran, 8 * gran, VIOMMU_PERM_READ, &done), -EEXIST);
	T_EQ_U64(done, 3 * gran);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, 9 * gran), 0x102 * gran);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, 10 * gran), 0);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, 11 * gran), 0);
	T_EQ(count_leaves(pt, 0, UINT64_MAX), 4);
	T_EQ(viommu_pgtable_unmap(pt, 7 * gran, done, &done), 0);
	T_EQ_U64(done, 3 * gran);
	T_EQ(count_leaves(pt, 0, UINT64_MAX), 1);
	viommu_pgtable_free(pt);
}

/* Bulk: 256 granule pages in one call, iterate, unmap in one call. */
static void test_bulk(const struct pt_case *pc)
{
	struct viommu_pgtable_opts o = pt_opts(pc);
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	uint64_t bitmap = viommu_pgtable_pgsize_bitmap(pt), gran = bitmap & -bitmap, done;
	/* Straddle a table boundary so the walk position has to move. */
	uint64_t iova = (UINT64_C(1) << (vi_fls64_test(gran) + (vi_fls64_test(gran) - 3))) - 100 * gran;

	T_EQ(viommu_pgtable_map(pt, iova, gran, 256 * gran, VIOMMU_PERM_READ | VIOMMU_PERM_WRITE, &done), 0);
	T_EQ(count_leaves(pt, 0, UINT64_MAX), 256);
	for (unsigned i = 0; i < 256; i += 17)
		T_EQ_U64(viommu_pgtable_iova_to_phys(pt, iova + i * gran + 8), gran + i * gran + 8);
	T_EQ(viommu_pgtable_unmap(pt, iova, 256 * gran, &done), 0);
	T_EQ_U64(done, 256 * gran);
	T_EQ(table_pages(pt), 1);
	viommu_pgtable_free(pt);
}

/* Allocation failures (iommu_map() unmaps what a failed map reported mapped): a failed map reports what it
 * mapped, leaves no empty table behind; a failed cut changes nothing. */
static void test_enomem(const struct pt_case *pc)
{
	struct pt_mem_counter mc = { 0, 0, 3 };
	struct viommu_pt_mem_ops mem = { pt_cnt_alloc, pt_cnt_free, pt_cnt_v2p, pt_cnt_p2v, &mc };
	struct viommu_pgtable_opts o = pt_opts(pc);	/* 4 levels of 4K tables */
	struct viommu_pgtable *pt;
	struct viommu_pt_mapping m;
	uint64_t done;

	o.mem = &mem;
	pt = viommu_pgtable_new(&o);
	/* Root + 2: a 4K page needs three more tables. */
	T_EQ(viommu_pgtable_map(pt, 0, 0, 0x1000, VIOMMU_PERM_READ, &done), -ENOMEM);
	T_EQ_U64(done, 0);
	T_EQ(mc.live, 1);
	T_EQ(table_pages(pt), 1);
	/* Room for exactly one path: the run stops at the next leaf table. */
	mc.limit = mc.allocs + 3;
	T_EQ(viommu_pgtable_map(pt, 0x1fe000, 0x5000, 0x4000, VIOMMU_PERM_READ, &done), -ENOMEM);
	T_EQ_U64(done, 0x2000);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, 0x1ff000), 0x6000);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, 0x200000), 0);
	T_EQ(table_pages(pt), 4);
	T_EQ(mc.live, 4);
	T_EQ(viommu_pgtable_unmap(pt, 0x1fe000, done, &done), 0);
	T_EQ_U64(done, 0x2000);
	T_EQ(table_pages(pt), 1);
	/* A 1G leaf needs one table (the pool is off with hooks: 3 live allocs left over). */
	mc.limit = mc.allocs + 1;
	T_EQ(viommu_pgtable_map(pt, 0x40000000, 0x80000000, 0x40000000, VIOMMU_PERM_WRITE, &done), 0);
	long live = mc.live;
	T_EQ(viommu_pgtable_cut(pt, 0x40001000), -ENOMEM);
	T_EQ(mc.live, live);
	T_EQ(viommu_pgtable_lookup(pt, 0x40001000, &m), 0);
	T_EQ_U64(m.size, 0x40000000);
	/* One table is not enough for a 1G cut at 4K (it needs two): no change. */
	mc.limit = mc.allocs + 1;
	T_EQ(viommu_pgtable_cut(pt, 0x40001000), -ENOMEM);
	T_EQ(mc.live, live);
	T_EQ(viommu_pgtable_lookup(pt, 0x40001000, &m), 0);
	T_EQ_U64(m.size, 0x40000000);
	mc.limit = 0;
	T_EQ(viommu_pgtable_cut(pt, 0x40001000), 0);
	T_EQ(mc.live, live + 2);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, 0x40001008), 0x80001008);
	viommu_pgtable_free(pt);
	T_EQ(mc.live, 0);
}

/* Bad options are refused with EINVAL. */
static void test_bad_opts(void)
{
	struct viommu_pgtable_opts o;

	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	T_OK(!viommu_pgtable_new(&o));
	T_EQ(errno, EINVAL);
	o.format = VIOMMU_PT_VTD_SL;
	o.levels = 6;
	T_OK(!viommu_pgtable_new(&o));
	o.levels = 4;
	o.granule = 16384;
	T_OK(!viommu_pgtable_new(&o));
	o.granule = 0;
	o.pgsize_bitmap = 0x200000;	/* no granule */
	T_OK(!viommu_pgtable_new(&o));
	o.pgsize_bitmap = 0;
	o.sz = 4;
	T_OK(!viommu_pgtable_new(&o));
	o.sz = sizeof(o);
	o.format = VIOMMU_PT_ARM_S1;
	o.granule = 8192;
	T_OK(!viommu_pgtable_new(&o));
	o.granule = 4096;
	o.in_bits = 52;
	T_OK(!viommu_pgtable_new(&o));
	o.in_bits = 0;
	o.levels = 3;	/* 48 bits at 4K need 4 */
	T_OK(!viommu_pgtable_new(&o));
	T_EQ(errno, EINVAL);
	o.levels = 0;
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	T_OK(pt != NULL);
	T_EQ_U64(viommu_pgtable_pgsize_bitmap(pt), 0x40201000);
	viommu_pgtable_free(pt);
	o.granule = 16384;
	pt = viommu_pgtable_new(&o);
	T_EQ_U64(viommu_pgtable_pgsize_bitmap(pt), 0x2004000);
	viommu_pgtable_free(pt);
	o.granule = 65536;
	pt = viommu_pgtable_new(&o);
	T_EQ_U64(viommu_pgtable_pgsize_bitmap(pt), 0x20010000);
	viommu_pgtable_free(pt);
	viommu_pgtable_free(NULL);
}

/*
 * generic_pt's kunit test_pgsize_boundary (drivers/iommu/generic_pt/
 * kunit_iommu_pt.h, after the report linked there): map [0xfef80000,
 * 0xfef9ffff] to 0x208b95d000. The output is only 4K-aligned, so iommu_pgsize()
 * must pick 32 4K pages, each translating exactly.
 */
static int count_leaf(const struct viommu_pt_mapping *m, void *ctx)
{
	unsigned *n = ctx;

	(*n)++;
	return m->size == 0x1000 ? 0 : -1;
}

static void test_pgsize_boundary(const struct pt_case *pc)
{
	struct viommu_pgtable_opts o = pt_opts(pc);
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	uint64_t done;
	unsigned n = 0;

	T_EQ(viommu_pgtable_map(pt, 0xfef80000, 0x208b95d000, 0x20000, VIOMMU_PERM_RW, &done), 0);
	T_EQ_U64(done, 0x20000);
	T_EQ(viommu_pgtable_for_each(pt, 0, UINT64_MAX, count_leaf, &n), 0);
	T_EQ(n, 32);
	for (uint64_t off = 0; off < 0x20000; off += 0x800)
		T_EQ_U64(viommu_pgtable_iova_to_phys(pt, 0xfef80000 + off), 0x208b95d000 + off);
	T_EQ(viommu_pgtable_unmap(pt, 0xfef80000, 0x20000, &done), 0);
	T_EQ_U64(done, 0x20000);
	viommu_pgtable_free(pt);
}

/* Every refusal is logged with the exact range and the reason; guest-walk faults only at debug level. */
static char g_log[512];
static int g_nlog;

static void log_sink(enum viommu_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	g_nlog++;
	snprintf(g_log, sizeof(g_log), "%s", msg);
}

#define T_LOGGED(call, rc, text) do {							\
	g_nlog = 0;									\
	g_log[0] = 0;									\
	T_EQ((call), (rc));								\
	T_EQ(g_nlog, 1);								\
	if (!strstr(g_log, (text)))							\
		fprintf(stderr, "log line \"%s\" lacks \"%s\"\n", g_log, (text));		\
	T_OK(strstr(g_log, (text)) != NULL);						\
} while (0)

static void test_refusal_logs(void)
{
	struct viommu_pgtable_opts o = pt_opts(&pt_cases[PT_CASE_VTD4]);
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	struct viommu_pt_walk_result res;
	uint64_t done;

	viommu_set_log(log_sink, NULL, VIOMMU_LOG_INFO);
	T_EQ(viommu_pgtable_map(pt, 0x200000, 0, 0x200000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(g_nlog, 0);	/* success is silent */
	T_LOGGED(viommu_pgtable_map(pt, 0x1000, 0, 0x1000, 0, &done), -EINVAL,
		 "pgtable map at 0x1000 size 0x1000: permissions 0x0 (neither read nor write)");
	T_LOGGED(viommu_pgtable_map(pt, 0x1000, 0, 0x1000, 0x10 | VIOMMU_PERM_READ, &done), -EINVAL,
		 "permissions 0x11 (unknown bits)");
	T_LOGGED(viommu_pgtable_map(pt, 0x1800, 0, 0x1000, VIOMMU_PERM_READ, &done), -EINVAL,
		 "pgtable map [0x1800, 0x27ff]: not aligned to the smallest page (0x1000)");
	T_LOGGED(viommu_pgtable_map(pt, 0, 0, 0, VIOMMU_PERM_READ, &done), -EINVAL, "pgtable map at 0x0: size 0");
	T_LOGGED(viommu_pgtable_map(pt, UINT64_C(1) << 48, 0, 0x1000, VIOMMU_PERM_READ, &done), -ERANGE,
		 "pgtable map at 0x1000000000000 size 0x1000: beyond the 48-bit input width");
	T_LOGGED(viommu_pgtable_map(pt, 0x1000, UINT64_C(1) << 48, 0x1000, VIOMMU_PERM_READ, &done), -ERANGE,
		 "pgtable map [0x1000, 0x1fff] -> 0x1000000000000: output beyond the 48-bit width");
	/* Over the 2M leaf: the refused range and the leaf in the way. */
	T_LOGGED(viommu_pgtable_map(pt, 0x1ff000, 0, 0x3000, VIOMMU_PERM_READ, &done), -EEXIST,
		 "pgtable map [0x1ff000, 0x201fff]: [0x200000, 0x3fffff] is already mapped (0x1000 bytes mapped before it)");
	T_EQ_U64(done, 0x1000);
	T_EQ(viommu_pgtable_unmap(pt, 0x1ff000, 0x1000, &done), 0);
	/* This table refuses partial unmaps (the default policy): the end is checked first. */
	T_LOGGED(viommu_pgtable_unmap(pt, 0x200000, 0x1000, &done), -EINVAL,
		 "pgtable unmap [0x200000, 0x200fff]: ends inside the 0x200000-byte leaf [0x200000, 0x3fffff]; nothing unmapped");
	T_LOGGED(viommu_pgtable_unmap(pt, 0x201000, 0x1ff000, &done), -EINVAL,
		 "pgtable unmap [0x201000, 0x3fffff]: starts inside the 0x200000-byte leaf [0x200000, 0x3fffff]; nothing unmapped");
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, 0x3ff000), 0x1ff000);	/* nothing changed */
	T_LOGGED(viommu_pgtable_cut(pt, 0x200800), -EINVAL, "pgtable cut at 0x200800: not aligned");
	T_LOGGED(viommu_pgtable_cut(pt, UINT64_C(1) << 50), -ERANGE, "pgtable cut at 0x4000000000000: beyond the 48-bit input width");
	T_LOGGED(viommu_pgtable_for_each(pt, 2, 1, count_leaf, NULL), -EINVAL, "pgtable for_each [0x2, 0x1]: first > last");
	/* A guest walk's faults: silent at INFO, one debug line at DEBUG. */
	g_nlog = 0;
	T_EQ(viommu_pgtable_walk(&o, viommu_pgtable_root(pt), pt_read_host, NULL, 0x5000, VIOMMU_PERM_READ, &res),
	     -EFAULT);
	T_EQ(g_nlog, 0);
	viommu_set_log(log_sink, NULL, VIOMMU_LOG_DEBUG);
	T_LOGGED(viommu_pgtable_walk(&o, viommu_pgtable_root(pt), pt_read_host, NULL, 0x5000, VIOMMU_PERM_READ, &res),
		 -EFAULT, "pgtable walk vtd-sl 0x5000 (access 0x1): translation fault at level 2");
	T_LOGGED(viommu_pgtable_walk(&o, viommu_pgtable_root(pt), pt_read_host, NULL, 0x200000, VIOMMU_PERM_WRITE, &res),
		 -EFAULT, "permission fault at level 2");
	viommu_set_log(log_sink, NULL, VIOMMU_LOG_INFO);
	/* Options: refusals name the struct and the reason. */
	o.format = (enum viommu_pt_format)9;
	g_nlog = 0;
	T_OK(!viommu_pgtable_new(&o));
	T_EQ(g_nlog, 1);
	T_OK(strstr(g_log, "unknown format 9") != NULL);
	viommu_set_log(NULL, NULL, VIOMMU_LOG_ERROR);
	viommu_pgtable_free(pt);
}

/*
 * The options rule (src/util/opts.h): a caller built against an older header
 * (a smaller struct, missing the newest field) gets defaults; a newer caller's
 * larger struct is accepted with zero bytes beyond what the library knows and
 * refused with anything else there.
 */
static void test_opts_sizes(void)
{
	union {
		struct viommu_pgtable_opts o;
		unsigned char bytes[sizeof(struct viommu_pgtable_opts) + 16];
	} u;
	struct viommu_pgtable *pt;

	memset(&u, 0, sizeof(u));
	u.o.format = VIOMMU_PT_VTD_SL;
	u.o.sz = offsetof(struct viommu_pgtable_opts, root_deny);	/* no root_deny yet */
	pt = viommu_pgtable_new(&u.o);
	T_OK(pt != NULL);
	T_EQ_U64(viommu_pgtable_pgsize_bitmap(pt), 0x40201000);
	viommu_pgtable_free(pt);
	u.o.sz = sizeof(u);	/* newer and larger, the new bytes zero */
	pt = viommu_pgtable_new(&u.o);
	T_OK(pt != NULL);
	viommu_pgtable_free(pt);
	u.bytes[sizeof(u) - 1] = 1;	/* a field this library does not know, set */
	errno = 0;
	T_OK(!viommu_pgtable_new(&u.o));
	T_EQ(errno, EINVAL);
	T_OK(!viommu_pgtable_new(NULL));
	T_EQ(errno, EINVAL);
}

int main(void)
{
	for (unsigned i = 0; i < sizeof(pt_cases) / sizeof(pt_cases[0]); i++) {
		const struct pt_case *pc = &pt_cases[i];
		test_leaf_matrix(pc);
		test_table_to_oa(pc);
		test_unmap_split(pc);
		test_partial_map(pc);
		test_bulk(pc);
	}
	test_mixed(&pt_cases[1]);
	test_mixed(&pt_cases[2]);
	test_mixed(&pt_cases[3]);
	test_pgsize_offset();
	test_enomem(&pt_cases[PT_CASE_VTD4]);
	test_enomem(&pt_cases[PT_CASE_AMD4]);
	test_mixed(&pt_cases[PT_CASE_AMD4]);
	test_bad_opts();
	test_pgsize_boundary(&pt_cases[PT_CASE_VTD4]);
	test_pgsize_boundary(&pt_cases[PT_CASE_AMD4]);
	test_pgsize_boundary(&pt_cases[3]);	/* ARM S1 4K */
	test_refusal_logs();
	test_opts_sizes();
	return t_done();
}

// SPDX-License-Identifier: MIT
/*
 * The read-view adapter over guest page tables (viommu_iommu_read_pgtable):
 * VT-d second-stage tables built with viommu_pgtable_map are read through the
 * guest walker, so sync sees exactly what a vIOMMU model would
 * (docs/reference.md §1.1, §4, §6.1).
 */
#include <viommu/pgtable.h>

#include "iommu_model.h"

#define PG 0x1000ull
#define M2 0x200000ull
#define NPAGES 4096u

static unsigned reads;
static bool fail_reads;

/* Owned tables hold host addresses: a guest-memory read is a plain copy. */
static int pt_read_host(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	(void)ctx;
	reads++;
	if (fail_reads)
		return -EIO;
	memcpy(buf, (const void *)(uintptr_t)gpa, len);
	return 0;
}

static struct viommu_pgtable_opts po = { .sz = sizeof(po), .format = VIOMMU_PT_VTD_SL, .levels = 4 };

static void test_directed(void)
{
	struct viommu_pgtable *pt = viommu_pgtable_new(&po);
	struct viommu_iommu_pgtable_source src = { &po, 0, pt_read_host, NULL };
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = viommu_iommu_read_pgtable, .read_ctx = &src };
	struct viommu_iommu_as *ias;
	struct rec A;

	if (!pt)
		T_FATAL("pgtable_new");
	src.root = viommu_pgtable_root(pt);
	ias = viommu_iommu_as_new(&o);
	rec_init(&A, 0, UINT64_MAX, VIOMMU_IOMMU_EV_ALL, VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE);
	T_EQ(viommu_iommu_listener_register(ias, &A.l), 0);

	T_EQ(viommu_pgtable_map(pt, M2, 0x40000000, M2, VIOMMU_PERM_READ | VIOMMU_PERM_WRITE, NULL), 0);
	T_EQ(viommu_iommu_sync(ias, M2, 2 * M2 - 1), 1);
	T_STREQ(A.log, "M 200000-3fffff>40000000/3;");
	rec_clear(&A);

	/* The 2M leaf becomes 512 4K leaves with the same output: nothing. */
	T_EQ(viommu_pgtable_unmap(pt, M2, M2, NULL), 0);
	for (uint64_t i = 0; i < 512; i++)
		T_EQ(viommu_pgtable_map(pt, M2 + i * PG, 0x40000000 + i * PG, PG, VIOMMU_PERM_READ |
					VIOMMU_PERM_WRITE, NULL), 0);
	T_EQ(viommu_iommu_sync(ias, M2, 2 * M2 - 1), 0);
	T_STREQ(A.log, "");
	/* One page moves, the guest invalidates it: one CHANGE over the 2M extent. */
	T_EQ(viommu_pgtable_unmap(pt, M2 + 5 * PG, PG, NULL), 0);
	T_EQ(viommu_pgtable_map(pt, M2 + 5 * PG, 0x80000000, PG, VIOMMU_PERM_READ, NULL), 0);
	T_EQ(viommu_iommu_sync(ias, M2 + 5 * PG, M2 + 6 * PG - 1), 1);
	T_STREQ(A.log, "C 200000-3fffff>40000000/3[200000-204fff>40000000/3,205000-205fff>80000000/1,"
		       "206000-3fffff>40006000/3,];");
	rec_clear(&A);

	/*
	 * A whole 48-bit sync of a sparse table: holes are skipped a table
	 * entry at a time (QEMU's default replay walked them page by page).
	 */
	T_EQ(viommu_pgtable_map(pt, 0x7f0000000000ull, 0x1000000, PG, VIOMMU_PERM_READ, NULL), 0);
	reads = 0;
	T_EQ(viommu_iommu_sync(ias, 0, UINT64_MAX), 1);
	T_STREQ(A.log, "M 7f0000000000-7f0000000fff>1000000/1;");
	/* One walk per present leaf or missing entry: bounded by the entries of the tables in use, not 2^36 pages. */
	T_OK(reads < 4 * 4 * 512 + 4 * 512);
	printf("whole-space sync: %u table reads\n", reads);
	rec_clear(&A);

	/* Unreadable tables: -EFAULT and nothing changes. */
	T_EQ(viommu_pgtable_unmap(pt, 0x7f0000000000ull, PG, NULL), 0);
	fail_reads = true;
	T_EQ(viommu_iommu_sync(ias, 0, UINT64_MAX), -EFAULT);
	fail_reads = false;
	T_STREQ(A.log, "");
	T_OK(viommu_iommu_lookup(ias, 0x7f0000000000ull, NULL));
	T_EQ(viommu_iommu_sync(ias, 0x7f0000000000ull, 0x7f0000000fffull), 1);
	T_STREQ(A.log, "U 7f0000000000-7f0000000fff>1000000/1;");
	/* Bad source. */
	T_EQ(viommu_iommu_read_pgtable(NULL, 0, 1, NULL), -EINVAL);
	viommu_iommu_as_free(ias);
	viommu_pgtable_free(pt);
}


static struct guest g;
static struct t_rng rng;

static uint64_t rand_out(void *ctx, uint64_t align_pages)
{
	(void)ctx;
	return 0x100000000ull + t_rng_below(&rng, 4096 / align_pages) * align_pages * PG;
}

/*
 * Random guest mutations mirrored into real tables: the 2M blocks a mutation
 * touches are rebuilt from the model's leaves, the guest invalidates only
 * what it changed, and the listener's copy must equal the model.
 */
static void test_random(uint64_t seed)
{
	struct viommu_pgtable *pt = viommu_pgtable_new(&po);
	struct viommu_iommu_pgtable_source src = { &po, viommu_pgtable_root(pt), pt_read_host, NULL };
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = viommu_iommu_read_pgtable, .read_ctx = &src };
	struct viommu_iommu_as *ias = viommu_iommu_as_new(&o);
	static struct page_copy c;
	static uint64_t c_out[NPAGES];
	static unsigned c_perm[NPAGES];
	unsigned syncs = 0, bad = 0;
	struct viommu_iommu_stats st = { .sz = sizeof(st) };

	t_rng_init(&rng, seed);
	page_copy_init(&c, c_out, c_perm, NPAGES);
	T_EQ(viommu_iommu_listener_register(ias, &c.l), 0);
	for (unsigned it = 0; it < 1500; it++) {
		struct gmut m = { &g, &rng, 0, NPAGES, rand_out, NULL };
		struct viommu_rangemap_iter ri;
		uint64_t a, z;

		if (!guest_mutate(&m, &a, &z))
			continue;
		uint64_t b0 = a & ~(M2 - 1), b1 = z | (M2 - 1);

		T_EQ(viommu_pgtable_unmap(pt, b0, b1 - b0 + 1, NULL), 0);
		viommu_rangemap_for_each(&ri, g.leaves, b0, b1)
			T_EQ(viommu_pgtable_map(pt, ri.entry.first, ri.entry.value & ~3ull,
						ri.entry.last - ri.entry.first + 1, (unsigned)(ri.entry.value & 3), NULL), 0);
		T_OK(viommu_iommu_sync(ias, a, z) >= 0);
		syncs++;
		for (size_t p = 0; p < NPAGES; p++) {
			struct viommu_range_entry e;
			unsigned want = 0;
			uint64_t out = 0;

			if (viommu_rangemap_find(g.leaves, p * PG, &e)) {
				want = (unsigned)(e.value & 3);
				out = (e.value & ~3ull) + (p * PG - e.first);
			}
			if (want != c.perm[p] || (want && out != c.out[p]))
				bad++;
		}
	}
	T_EQ(bad, 0);
	T_EQ(viommu_iommu_get_stats(ias, &st), 0);
	printf("pgtable round: %u syncs, %" PRIu64 " maps, %" PRIu64 " unmaps, %" PRIu64 " changes\n", syncs, st.maps,
	       st.unmaps, st.changes);
	T_OK(st.maps > 100 && st.unmaps > 100 && st.changes > 100);
	viommu_iommu_as_free(ias);
	viommu_pgtable_free(pt);
}

int main(void)
{
	uint64_t seed = t_seed("iommu_pgtable", 0x10330004);

	g.leaves = viommu_rangemap_new();
	test_directed();
	test_random(seed);
	viommu_rangemap_free(g.leaves);
	return t_done();
}

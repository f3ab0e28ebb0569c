// SPDX-License-Identifier: MIT
/*
 * The read-only guest walk (viommu_pgtable_walk): it agrees with the owned
 * engine on tables the engine built, and turns every hostile table into the
 * exact fault the hardware would report (VT-d reason codes semantics.md
 * §6.1, ARM fault kinds and levels §6.2).
 */
#include <viommu/pgtable.h>

#include "pt_common.h"
#include "test.h"

/* ---- a small guest memory ------------------------------------------------- */

#define G_BASE  UINT64_C(0x100000)
#define G_PAGES 64

struct guest {
	uint8_t mem[G_PAGES * 4096];
	unsigned reads;
};

static int g_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct guest *g = ctx;
	g->reads++;
	if (gpa < G_BASE || gpa + len > G_BASE + sizeof(g->mem) || gpa + len < gpa)
		return -EFAULT;
	memcpy(buf, g->mem + (gpa - G_BASE), len);
	return 0;
}

/* Entry @idx of the table page @page (gpa G_BASE + page * 4K). */
static void g_set(struct guest *g, unsigned page, unsigned idx, uint64_t v)
{
	memcpy(g->mem + page * 4096 + idx * 8, &v, 8);
}

static uint64_t g_page(unsigned page)
{
	return G_BASE + page * UINT64_C(4096);
}

static struct viommu_pgtable_opts vtd_opts(unsigned levels, unsigned oas)
{
	struct viommu_pgtable_opts o;
	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	o.format = VIOMMU_PT_VTD_SL;
	o.levels = levels;
	o.oas = oas;
	return o;
}

/* Walk over tables the engine built: same answer as lookup for every probe. */
static void test_owned_agree(const struct pt_case *pc, uint64_t seed)
{
	struct viommu_pgtable_opts o = pt_opts(pc);
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	uint64_t bitmap = viommu_pgtable_pgsize_bitmap(pt), gran = bitmap & -bitmap, done;
	struct t_rng rng;
	unsigned prots[3] = { VIOMMU_PT_PROT_READ, VIOMMU_PT_PROT_WRITE,
			      VIOMMU_PT_PROT_READ | VIOMMU_PT_PROT_WRITE | VIOMMU_PT_PROT_SNOOP };
	uint64_t span = UINT64_C(1) << (vi_fls64_test(bitmap) + 4);

	t_rng_init(&rng, seed);
	for (int i = 0; i < 40; i++) {
		uint64_t s = UINT64_C(1) << (vi_fls64_test(gran) + t_rng_below(&rng, 12));
		uint64_t iova = t_rng_below(&rng, span / s) * s;
		viommu_pgtable_map(pt, iova, t_rng_below(&rng, span / s) * s, s, prots[i % 3], &done);
	}
	for (int i = 0; i < 3000; i++) {
		uint64_t iova = t_rng_below(&rng, span) & ~UINT64_C(7);
		struct viommu_pt_walk_result r;
		struct viommu_pt_mapping m;
		int lrc = viommu_pgtable_lookup(pt, iova, &m);
		int wrc = viommu_pgtable_walk(&o, viommu_pgtable_root(pt), pt_read_host, NULL, iova, 0, &r);

		if (lrc) {
			T_EQ(wrc, -EFAULT);
			T_EQ(r.fault, VIOMMU_PT_FAULT_TRANSLATION);
			continue;
		}
		T_EQ(wrc, 0);
		T_EQ_U64(r.phys, m.phys + (iova - m.iova));
		T_EQ_U64(r.size, m.size);
		T_EQ_U64(r.leaf_iova, m.iova);
		T_EQ(r.prot, m.prot);
		/* A write to a read-only leaf is a permission fault. */
		wrc = viommu_pgtable_walk(&o, viommu_pgtable_root(pt), pt_read_host, NULL, iova,
					  VIOMMU_PT_PROT_WRITE, &r);
		T_EQ(wrc, m.prot & VIOMMU_PT_PROT_WRITE ? 0 : -EFAULT);
	}
	viommu_pgtable_free(pt);
}

/* VT-d hostile tables (semantics.md §6.1). 4 levels: pages 0 root, 1 L3, 2 L2, 3 L1. */
static void test_vtd_faults(void)
{
	static struct guest g;
	struct viommu_pgtable_opts o = vtd_opts(4, 39);
	struct viommu_pt_walk_result r;
	const uint64_t RW = 3, PS = 0x80, SNP = 0x800;
	uint64_t iova = 0x40201000;	/* indices: L4 0, L3 1, L2 1, L1 1 */

	memset(&g, 0, sizeof(g));
	g_set(&g, 0, 0, g_page(1) | RW);
	g_set(&g, 1, 1, g_page(2) | RW);
	g_set(&g, 2, 1, g_page(3) | RW);
	g_set(&g, 3, 1, 0x7654000 | RW | SNP);

	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 0x10, VIOMMU_PT_PROT_WRITE, &r), 0);
	T_EQ_U64(r.phys, 0x7654010);
	T_EQ_U64(r.size, 0x1000);
	T_EQ(r.prot, VIOMMU_PT_PROT_READ | VIOMMU_PT_PROT_WRITE | VIOMMU_PT_PROT_SNOOP);
	T_EQ(r.level, 1);

	/* Not present: reason 6 on read, 5 on write, at the level it was found. */
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 0x1000, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_TRANSLATION);
	T_EQ(r.vtd_reason, 6);
	T_EQ(r.level, 1);
	T_EQ_U64(r.entry_addr, g_page(3) + 2 * 8);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0, VIOMMU_PT_PROT_WRITE, &r), -EFAULT);
	T_EQ(r.vtd_reason, 5);
	T_EQ(r.level, 3);

	/* Permissions AND down the walk: a read-only L2 table entry. */
	g_set(&g, 2, 1, g_page(3) | 1);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_WRITE, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
	T_EQ(r.vtd_reason, 5);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), 0);
	T_EQ(r.prot, VIOMMU_PT_PROT_READ | VIOMMU_PT_PROT_SNOOP);
	/* Write-only leaf, read access: reason 6. */
	g_set(&g, 2, 1, g_page(3) | RW);
	g_set(&g, 3, 1, 0x7654000 | 2);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
	T_EQ(r.vtd_reason, 6);

	/* Reserved bits: 0xC. Address beyond the 39-bit host width. */
	g_set(&g, 3, 1, (UINT64_C(1) << 40) | RW);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_RESERVED);
	T_EQ(r.vtd_reason, 0xC);
	T_EQ(r.level, 1);
	g_set(&g, 3, 1, 0x7654000 | RW);
	/* A table pointer beyond the host width. */
	g_set(&g, 1, 1, (UINT64_C(1) << 45) | g_page(2) | RW);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.vtd_reason, 0xC);
	T_EQ(r.level, 3);
	/* SNP in a non-leaf entry. */
	g_set(&g, 1, 1, g_page(2) | RW | SNP);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.vtd_reason, 0xC);
	g_set(&g, 1, 1, g_page(2) | RW);
	/* PS in a PML4E (no 512G pages). */
	g_set(&g, 0, 0, g_page(1) | RW | PS);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.vtd_reason, 0xC);
	T_EQ(r.level, 4);
	g_set(&g, 0, 0, g_page(1) | RW);
	/* A 2M leaf with address bits below 2M set. */
	g_set(&g, 2, 1, 0x40201000 | RW | PS);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.vtd_reason, 0xC);
	T_EQ(r.level, 2);
	/* A good 2M leaf. */
	g_set(&g, 2, 1, 0x40200000 | RW | PS);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 0x345, VIOMMU_PT_PROT_READ, &r), 0);
	T_EQ_U64(r.phys, 0x40201345);
	T_EQ_U64(r.size, 0x200000);
	T_EQ_U64(r.leaf_iova, 0x40200000);
	T_EQ(r.level, 2);

	/* A pointer outside guest memory: reason 7, with the address it tried. */
	g_set(&g, 2, 1, 0x80000000 | RW);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_WALK_ABORT);
	T_EQ(r.vtd_reason, 7);
	T_EQ_U64(r.entry_addr, 0x80000000 + 8);
	T_EQ(r.level, 1);
	g_set(&g, 2, 1, g_page(3) | RW);
	/* The root table itself unreadable: reason 3, invalid context entry. */
	T_EQ(viommu_pgtable_walk(&o, 0x80000000, g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_WALK_ABORT);
	T_EQ(r.vtd_reason, 3);
	T_EQ(r.level, 4);

	/* Beyond the input width (3 levels: 39 bits): reason 4, nothing read. */
	struct viommu_pgtable_opts o3 = vtd_opts(3, 0);
	g.reads = 0;
	T_EQ(viommu_pgtable_walk(&o3, g_page(0), g_read, &g, UINT64_C(1) << 39, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_INPUT_RANGE);
	T_EQ(r.vtd_reason, 4);
	T_EQ(g.reads, 0);
	/* An MGAW below the AGAW: 4 levels, 40 input bits. */
	o3 = vtd_opts(4, 0);
	o3.ias = 40;
	T_EQ(viommu_pgtable_walk(&o3, g_page(0), g_read, &g, UINT64_C(1) << 40, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.vtd_reason, 4);

	/* A loop: every level points back at the root. The walk reads exactly
	 * one entry per level and ends with the root page itself as the leaf. */
	memset(&g, 0, sizeof(g));
	g_set(&g, 0, 0, g_page(0) | RW);
	g.reads = 0;
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0x8, VIOMMU_PT_PROT_READ, &r), 0);
	T_EQ(g.reads, 4);
	T_EQ_U64(r.phys, g_page(0) + 8);
	T_EQ_U64(r.size, 0x1000);
	/* Bad options are an error, not a fault. */
	o3 = vtd_opts(7, 0);
	T_EQ(viommu_pgtable_walk(&o3, g_page(0), g_read, &g, 0, VIOMMU_PT_PROT_READ, &r), -EINVAL);
}

/* ARM LPAE hostile tables (semantics.md §6.2): 4K granule, 48 bits, levels 0..3. */
static void test_arm_faults(enum viommu_pt_format f)
{
	static struct guest g;
	struct viommu_pgtable_opts o;
	struct viommu_pt_walk_result r;
	const uint64_t T = 3, AF = 1 << 10, BLOCK = 1;
	uint64_t iova = 0x40201000;	/* L0 0, L1 1, L2 1, L3 1 */
	uint64_t leaf_rw = f == VIOMMU_PT_ARM_S1 ? 0 : (3 << 6);	/* S1: AP RW; S2: S2AP RW */

	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	o.format = f;
	o.oas = 40;
	memset(&g, 0, sizeof(g));
	g_set(&g, 0, 0, g_page(1) | T);
	g_set(&g, 1, 1, g_page(2) | T);
	g_set(&g, 2, 1, g_page(3) | T);
	g_set(&g, 3, 1, 0x7654000 | T | AF | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 4, VIOMMU_PT_PROT_WRITE, &r), 0);
	T_EQ_U64(r.phys, 0x7654004);
	T_EQ(r.level, 3);

	/* Invalid descriptor: translation fault at the level, ARM numbering. */
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 0x1000, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_TRANSLATION);
	T_EQ(r.level, 3);
	T_EQ(r.vtd_reason, 0);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, UINT64_C(1) << 39, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.level, 0);
	/* 0b01 at level 3 is reserved: translation fault. */
	g_set(&g, 3, 1, 0x7654000 | BLOCK | AF | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_TRANSLATION);
	T_EQ(r.level, 3);
	/* A block at level 0 does not exist with 4K granules. */
	g_set(&g, 0, 0, BLOCK | AF | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_TRANSLATION);
	T_EQ(r.level, 0);
	g_set(&g, 0, 0, g_page(1) | T);
	/* AF clear: access-flag fault. */
	g_set(&g, 3, 1, 0x7654000 | T | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_ACCESS_FLAG);
	/* Output beyond the 40-bit OAS: address-size fault. */
	g_set(&g, 3, 1, (UINT64_C(1) << 44) | T | AF | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_ADDR_SIZE);
	T_EQ(r.level, 3);
	/* A 1G block at level 1. */
	g_set(&g, 1, 1, 0x40000000 | BLOCK | AF | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), 0);
	T_EQ_U64(r.phys, 0x40201000);
	T_EQ_U64(r.size, 0x40000000);
	T_EQ(r.level, 1);
	/* Table pointer outside guest memory: walk abort. */
	g_set(&g, 1, 1, 0x80000000 | T);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_WALK_ABORT);
	T_EQ(r.level, 2);
	g_set(&g, 1, 1, g_page(2) | T);
	g_set(&g, 3, 1, 0x7654000 | T | AF | leaf_rw);
	if (f == VIOMMU_PT_ARM_S1) {
		/* APTable[1] in a table removes write below it. */
		g_set(&g, 2, 1, g_page(3) | T | (UINT64_C(1) << 62));
		T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_WRITE, &r), -EFAULT);
		T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
		T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), 0);
		T_EQ(r.prot, VIOMMU_PT_PROT_READ);
		/* AP[2] read-only leaf. */
		g_set(&g, 2, 1, g_page(3) | T);
		g_set(&g, 3, 1, 0x7654000 | T | AF | (1 << 7));
		T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_WRITE, &r), -EFAULT);
		T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
	} else {
		/* S2AP write-only: a read faults. */
		g_set(&g, 3, 1, 0x7654000 | T | AF | (2 << 6));
		T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_READ, &r), -EFAULT);
		T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
		T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PT_PROT_WRITE, &r), 0);
		T_EQ(r.prot, VIOMMU_PT_PROT_WRITE);
	}
}

int main(void)
{
	uint64_t seed = t_seed("walk", 0x5eed0003);

	for (unsigned i = 0; i < sizeof(pt_cases) / sizeof(pt_cases[0]); i++)
		test_owned_agree(&pt_cases[i], seed + i);
	test_vtd_faults();
	test_arm_faults(VIOMMU_PT_ARM_S1);
	test_arm_faults(VIOMMU_PT_ARM_S2);
	return t_done();
}

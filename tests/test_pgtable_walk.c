// SPDX-License-Identifier: MIT
/*
 * The read-only guest walk (viommu_pgtable_walk): it agrees with the owned
 * engine on tables the engine built, and turns every hostile table into the
 * exact fault the hardware would report (VT-d specification, "Non-Recoverable
 * Fault Reason Codes"; Arm ARM, VMSAv8-64 translation fault, address size
 * fault, access flag fault and their levels; AMD IOMMU specification,
 * IO_PAGE_FAULT event and "I/O Page Tables for Host Translations").
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

static struct viommu_pgtable_opts vtd_opts(unsigned levels, unsigned out_bits)
{
	struct viommu_pgtable_opts o;
	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	o.format = VIOMMU_PT_VTD_SL;
	o.levels = levels;
	o.out_bits = out_bits;
	return o;
}

/* Walk over tables the engine built: same answer as lookup for every probe. */
static void test_owned_agree(const struct pt_case *pc, uint64_t seed)
{
	struct viommu_pgtable_opts o = pt_opts(pc);
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	uint64_t bitmap = viommu_pgtable_pgsize_bitmap(pt), gran = bitmap & -bitmap, done;
	struct t_rng rng;
	unsigned prots[3] = { VIOMMU_PERM_READ, VIOMMU_PERM_WRITE,
			      VIOMMU_PERM_READ | VIOMMU_PERM_WRITE | VIOMMU_PT_ATTR_SNOOP };
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
		T_EQ(r.perm, m.perm);
		/* A write to a read-only leaf is a permission fault. */
		wrc = viommu_pgtable_walk(&o, viommu_pgtable_root(pt), pt_read_host, NULL, iova,
					  VIOMMU_PERM_WRITE, &r);
		T_EQ(wrc, m.perm & VIOMMU_PERM_WRITE ? 0 : -EFAULT);
	}
	viommu_pgtable_free(pt);
}

/* VT-d hostile tables ("Second-Stage Paging Entries"). 4 levels: pages 0 root, 1 L3, 2 L2, 3 L1. */
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

	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 0x10, VIOMMU_PERM_WRITE, &r), 0);
	T_EQ_U64(r.phys, 0x7654010);
	T_EQ_U64(r.size, 0x1000);
	T_EQ(r.perm, VIOMMU_PERM_READ | VIOMMU_PERM_WRITE | VIOMMU_PT_ATTR_SNOOP);
	T_EQ(r.level, 1);

	/* Not present: reason 6 on read, 5 on write, at the level it was found. */
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 0x1000, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_TRANSLATION);
	T_EQ(r.vtd_reason, 6);
	T_EQ(r.level, 1);
	T_EQ_U64(r.entry_addr, g_page(3) + 2 * 8);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0, VIOMMU_PERM_WRITE, &r), -EFAULT);
	T_EQ(r.vtd_reason, 5);
	T_EQ(r.level, 3);

	/* Permissions AND down the walk: a read-only L2 table entry. */
	g_set(&g, 2, 1, g_page(3) | 1);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_WRITE, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
	T_EQ(r.vtd_reason, 5);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), 0);
	T_EQ(r.perm, VIOMMU_PERM_READ | VIOMMU_PT_ATTR_SNOOP);
	/* Write-only leaf, read access: reason 6. */
	g_set(&g, 2, 1, g_page(3) | RW);
	g_set(&g, 3, 1, 0x7654000 | 2);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
	T_EQ(r.vtd_reason, 6);

	/* Reserved bits: 0xC. Address beyond the 39-bit host width. */
	g_set(&g, 3, 1, (UINT64_C(1) << 40) | RW);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_RESERVED);
	T_EQ(r.vtd_reason, 0xC);
	T_EQ(r.level, 1);
	g_set(&g, 3, 1, 0x7654000 | RW);
	/* A table pointer beyond the host width. */
	g_set(&g, 1, 1, (UINT64_C(1) << 45) | g_page(2) | RW);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.vtd_reason, 0xC);
	T_EQ(r.level, 3);
	/* SNP in a non-leaf entry. */
	g_set(&g, 1, 1, g_page(2) | RW | SNP);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.vtd_reason, 0xC);
	g_set(&g, 1, 1, g_page(2) | RW);
	/* PS in a PML4E (no 512G pages). */
	g_set(&g, 0, 0, g_page(1) | RW | PS);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.vtd_reason, 0xC);
	T_EQ(r.level, 4);
	g_set(&g, 0, 0, g_page(1) | RW);
	/* A 2M leaf with address bits below 2M set. */
	g_set(&g, 2, 1, 0x40201000 | RW | PS);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.vtd_reason, 0xC);
	T_EQ(r.level, 2);
	/* A good 2M leaf. */
	g_set(&g, 2, 1, 0x40200000 | RW | PS);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 0x345, VIOMMU_PERM_READ, &r), 0);
	T_EQ_U64(r.phys, 0x40201345);
	T_EQ_U64(r.size, 0x200000);
	T_EQ_U64(r.leaf_iova, 0x40200000);
	T_EQ(r.level, 2);

	/* A pointer outside guest memory: reason 7, with the address it tried. */
	g_set(&g, 2, 1, 0x80000000 | RW);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_WALK_ABORT);
	T_EQ(r.vtd_reason, 7);
	T_EQ_U64(r.entry_addr, 0x80000000 + 8);
	T_EQ(r.level, 1);
	g_set(&g, 2, 1, g_page(3) | RW);
	/* The root table itself unreadable: reason 3, invalid context entry. */
	T_EQ(viommu_pgtable_walk(&o, 0x80000000, g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_WALK_ABORT);
	T_EQ(r.vtd_reason, 3);
	T_EQ(r.level, 4);

	/* Beyond the input width (3 levels: 39 bits): reason 4, nothing read. */
	struct viommu_pgtable_opts o3 = vtd_opts(3, 0);
	g.reads = 0;
	T_EQ(viommu_pgtable_walk(&o3, g_page(0), g_read, &g, UINT64_C(1) << 39, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_INPUT_RANGE);
	T_EQ(r.vtd_reason, 4);
	T_EQ(g.reads, 0);
	/* An MGAW below the AGAW: 4 levels, 40 input bits. */
	o3 = vtd_opts(4, 0);
	o3.in_bits = 40;
	T_EQ(viommu_pgtable_walk(&o3, g_page(0), g_read, &g, UINT64_C(1) << 40, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.vtd_reason, 4);

	/* A loop: every level points back at the root. The walk reads exactly
	 * one entry per level and ends with the root page itself as the leaf. */
	memset(&g, 0, sizeof(g));
	g_set(&g, 0, 0, g_page(0) | RW);
	g.reads = 0;
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0x8, VIOMMU_PERM_READ, &r), 0);
	T_EQ(g.reads, 4);
	T_EQ_U64(r.phys, g_page(0) + 8);
	T_EQ_U64(r.size, 0x1000);
	/* Bad options are an error, not a fault. */
	o3 = vtd_opts(7, 0);
	T_EQ(viommu_pgtable_walk(&o3, g_page(0), g_read, &g, 0, VIOMMU_PERM_READ, &r), -EINVAL);
}

/* ARM LPAE hostile tables (VMSAv8-64 descriptors): 4K granule, 48 bits, levels 0..3. */
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
	o.out_bits = 40;
	memset(&g, 0, sizeof(g));
	g_set(&g, 0, 0, g_page(1) | T);
	g_set(&g, 1, 1, g_page(2) | T);
	g_set(&g, 2, 1, g_page(3) | T);
	g_set(&g, 3, 1, 0x7654000 | T | AF | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 4, VIOMMU_PERM_WRITE, &r), 0);
	T_EQ_U64(r.phys, 0x7654004);
	T_EQ(r.level, 3);

	/* Invalid descriptor: translation fault at the level, ARM numbering. */
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 0x1000, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_TRANSLATION);
	T_EQ(r.level, 3);
	T_EQ(r.vtd_reason, 0);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, UINT64_C(1) << 39, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.level, 0);
	/* 0b01 at level 3 is reserved: translation fault. */
	g_set(&g, 3, 1, 0x7654000 | BLOCK | AF | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_TRANSLATION);
	T_EQ(r.level, 3);
	/* A block at level 0 does not exist with 4K granules. */
	g_set(&g, 0, 0, BLOCK | AF | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_TRANSLATION);
	T_EQ(r.level, 0);
	g_set(&g, 0, 0, g_page(1) | T);
	/* AF clear: access-flag fault. */
	g_set(&g, 3, 1, 0x7654000 | T | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_ACCESS_FLAG);
	/* Output beyond the 40-bit OAS: address-size fault. */
	g_set(&g, 3, 1, (UINT64_C(1) << 44) | T | AF | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_ADDR_SIZE);
	T_EQ(r.level, 3);
	/* A root pointer beyond the OAS: address-size fault at the top level (0 in
	 * ARM numbering), before any read; the entry address is the root. Catches
	 * mutant walk.c:80 `c.levels - 1` => `c.levels` (mutation round 1). */
	T_EQ(viommu_pgtable_walk(&o, g_page(0) | (UINT64_C(1) << 44), g_read, &g, iova, VIOMMU_PERM_READ, &r),
	     -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_ADDR_SIZE);
	T_EQ(r.level, 0);
	T_EQ_U64(r.entry_addr, g_page(0) | (UINT64_C(1) << 44));
	/* A 1G block at level 1. */
	g_set(&g, 1, 1, 0x40000000 | BLOCK | AF | leaf_rw);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), 0);
	T_EQ_U64(r.phys, 0x40201000);
	T_EQ_U64(r.size, 0x40000000);
	T_EQ(r.level, 1);
	/* Table pointer outside guest memory: walk abort. */
	g_set(&g, 1, 1, 0x80000000 | T);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_WALK_ABORT);
	T_EQ(r.level, 2);
	g_set(&g, 1, 1, g_page(2) | T);
	g_set(&g, 3, 1, 0x7654000 | T | AF | leaf_rw);
	if (f == VIOMMU_PT_ARM_S1) {
		/* APTable[1] in a table removes write below it. */
		g_set(&g, 2, 1, g_page(3) | T | (UINT64_C(1) << 62));
		T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_WRITE, &r), -EFAULT);
		T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
		T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), 0);
		T_EQ(r.perm, VIOMMU_PERM_READ);
		/* AP[2] read-only leaf. */
		g_set(&g, 2, 1, g_page(3) | T);
		g_set(&g, 3, 1, 0x7654000 | T | AF | (1 << 7));
		T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_WRITE, &r), -EFAULT);
		T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
	} else {
		/* S2AP write-only: a read faults. */
		g_set(&g, 3, 1, 0x7654000 | T | AF | (2 << 6));
		T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
		T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
		T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_WRITE, &r), 0);
		T_EQ(r.perm, VIOMMU_PERM_WRITE);
	}
}


/* ---- AMD v1 ("I/O Page Tables for Host Translations") ---------------------- */

#define AMD_PR UINT64_C(1)
#define AMD_FC (UINT64_C(1) << 60)
#define AMD_IR (UINT64_C(1) << 61)
#define AMD_IW (UINT64_C(1) << 62)
#define AMD_RW (AMD_IR | AMD_IW)
#define AMD_NL(n) ((uint64_t)(n) << 9)

static struct viommu_pgtable_opts amd_opts(unsigned mode, unsigned out_bits)
{
	struct viommu_pgtable_opts o;
	memset(&o, 0, sizeof(o));
	o.sz = sizeof(o);
	o.format = VIOMMU_PT_AMD_V1;
	o.levels = mode;
	o.out_bits = out_bits;
	return o;
}

/* An NL=7 "PTE with page size" for a 2^lg page at @pa: ones from bit 12 up to bit lg - 2, bit lg - 1 clear. */
static uint64_t amd_sized(uint64_t pa, unsigned lg)
{
	return (pa | ((UINT64_C(1) << (lg - 1)) - 1)) & ~UINT64_C(0xfff) & ~(UINT64_C(1) << (lg - 1));
}

/*
 * Every page size NL=7 can encode, at every level where it is larger than
 * one entry and fits in the table: 8K .. 2M at level 1, 4M .. 1G at level 2,
 * ... up to 2^52 at level 5. Mode 6; the root PDE skips straight to the
 * level under test, so this also exercises level skipping at every distance.
 */
static void test_amd_sized(void)
{
	static struct guest g;
	struct viommu_pgtable_opts o = amd_opts(6, 52);
	struct viommu_pt_walk_result r;
	unsigned checked = 0;

	for (unsigned lvl = 1; lvl <= 5; lvl++) {
		unsigned sh = 12 + 9 * (lvl - 1);
		for (unsigned lg = sh + 1; lg <= sh + 9 && lg <= 52; lg++) {
			uint64_t size = UINT64_C(1) << lg;
			uint64_t pa = lg <= 49 ? 3 * size : 0;
			/* Second page of the table when it fits, else the first. */
			uint64_t leaf_iova = lg < sh + 9 ? size : 0;
			uint64_t iova = leaf_iova + size - 8;
			unsigned idx = (unsigned)((iova >> sh) & 511);

			memset(&g, 0, sizeof(g));
			g_set(&g, 0, 0, g_page(1) | AMD_PR | AMD_RW | AMD_NL(lvl));
			g_set(&g, 1, idx, amd_sized(pa, lg) | AMD_PR | AMD_IR | AMD_NL(7));
			g.reads = 0;
			T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), 0);
			T_EQ_U64(r.size, size);
			T_EQ_U64(r.leaf_iova, leaf_iova);
			T_EQ_U64(r.phys, pa + size - 8);
			T_EQ(r.level, (int)lvl);
			T_EQ(r.perm, VIOMMU_PERM_READ);
			T_EQ(g.reads, 2);
			checked++;
		}
		/* A size not above one entry of the level (the 8K code at level 2+),
		 * and bits 51:12 all ones (no terminating zero): undecodable. */
		if (lvl > 1) {
			memset(&g, 0, sizeof(g));
			g_set(&g, 0, 0, g_page(1) | AMD_PR | AMD_RW | AMD_NL(lvl));
			g_set(&g, 1, 0, amd_sized(0, 13) | AMD_PR | AMD_IR | AMD_NL(7));
			T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0, VIOMMU_PERM_READ, &r), -EFAULT);
			T_EQ(r.fault, VIOMMU_PT_FAULT_RESERVED);
			T_EQ(r.level, (int)lvl);
		}
		g_set(&g, 1, 0, (UINT64_C(0xfffffffffffff000) & ((UINT64_C(1) << 52) - 1)) | AMD_PR | AMD_IR | AMD_NL(7));
		T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0, VIOMMU_PERM_READ, &r), -EFAULT);
		T_EQ(r.fault, VIOMMU_PT_FAULT_RESERVED);
	}
	/* 9 sizes at levels 1..4 and 4 (2^49 .. 2^52) at level 5: every power of two from 8K to 2^52. */
	T_EQ(checked, 40);
	/* A size larger than the table a 4K-level entry sits in (4M at level 1). */
	memset(&g, 0, sizeof(g));
	g_set(&g, 0, 0, g_page(1) | AMD_PR | AMD_RW | AMD_NL(1));
	g_set(&g, 1, 0, amd_sized(0, 22) | AMD_PR | AMD_IR | AMD_NL(7));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_RESERVED);
	T_EQ(r.level, 1);
	/* NL=7 beyond the output width: the page's address, not its size code, is checked. */
	o = amd_opts(6, 40);
	g_set(&g, 1, 0, amd_sized(UINT64_C(1) << 40, 21) | AMD_PR | AMD_IR | AMD_NL(7));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_ADDR_SIZE);
	/* (Replicated as the format requires: the walk reads the slot of the iova.) */
	for (unsigned i = 0; i < 512; i++)
		g_set(&g, 1, i, amd_sized(UINT64_C(1) << 39, 21) | AMD_PR | AMD_IR | AMD_NL(7));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0x1234, VIOMMU_PERM_READ, &r), 0);
	T_EQ_U64(r.leaf_iova, 0);
	T_EQ_U64(r.size, 0x200000);
	T_EQ_U64(r.phys, (UINT64_C(1) << 39) + 0x1234);
}

/*
 * Mode 4: pages 0 root (level 4), 1 level 3, 2 level 2, 3 level 1. Level
 * skipping, loops, bad pointers, reserved bits, and IR/IW ANDed down the walk
 * starting from the DTE's.
 */
static void test_amd_faults(void)
{
	static struct guest g;
	struct viommu_pgtable_opts o = amd_opts(4, 48);
	struct viommu_pt_walk_result r;
	const uint64_t iova = 0x40201000;	/* L4 0, L3 1, L2 1, L1 1 */

	memset(&g, 0, sizeof(g));
	g_set(&g, 0, 0, g_page(1) | AMD_PR | AMD_RW | AMD_NL(3));
	g_set(&g, 1, 1, g_page(2) | AMD_PR | AMD_RW | AMD_NL(2));
	g_set(&g, 2, 1, g_page(3) | AMD_PR | AMD_RW | AMD_NL(1));
	g_set(&g, 3, 1, 0x7654000 | AMD_PR | AMD_RW | AMD_FC);
	g.reads = 0;
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 4, VIOMMU_PERM_WRITE, &r), 0);
	T_EQ_U64(r.phys, 0x7654004);
	T_EQ_U64(r.size, 0x1000);
	T_EQ(r.level, 1);
	T_EQ(r.perm, VIOMMU_PERM_READ | VIOMMU_PERM_WRITE | VIOMMU_PT_ATTR_SNOOP);
	T_EQ(r.vtd_reason, 0);
	T_EQ(g.reads, 4);

	/* PR clear: not present at that level, AMD numbering. */
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 0x1000, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_TRANSLATION);
	T_EQ(r.level, 1);
	T_EQ_U64(r.entry_addr, g_page(3) + 2 * 8);
	/* Beyond the paging mode (48 bits): nothing is read. */
	g.reads = 0;
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, UINT64_C(1) << 48, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_INPUT_RANGE);
	T_EQ(r.level, 4);
	T_EQ(g.reads, 0);

	/* Level skipping: the root points straight at the level-2 table. The
	 * skipped level-3 index bits (38:30) must be zero. */
	g_set(&g, 0, 0, g_page(2) | AMD_PR | AMD_RW | AMD_NL(2));
	g.reads = 0;
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0x201000, VIOMMU_PERM_READ, &r), 0);
	T_EQ_U64(r.phys, 0x7654000);
	T_EQ(g.reads, 3);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_TRANSLATION);
	T_EQ(r.level, 4);
	T_EQ_U64(r.entry_addr, g_page(0));
	/* Skipping two levels: root -> level 1. */
	g_set(&g, 0, 0, g_page(3) | AMD_PR | AMD_RW | AMD_NL(1));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0x1000, VIOMMU_PERM_READ, &r), 0);
	T_EQ_U64(r.phys, 0x7654000);
	T_EQ(r.level, 1);

	/* Loops: a root entry naming its own level and pointing at itself, a
	 * level-3 PDE naming a higher level, a level-2 PDE naming level 2. Each
	 * faults on the first such entry: the walk cannot go round. */
	g_set(&g, 0, 0, g_page(0) | AMD_PR | AMD_RW | AMD_NL(4));
	g.reads = 0;
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_LEVEL);
	T_EQ(r.level, 4);
	T_EQ(g.reads, 1);
	g_set(&g, 0, 0, g_page(1) | AMD_PR | AMD_RW | AMD_NL(3));
	g_set(&g, 1, 1, g_page(0) | AMD_PR | AMD_RW | AMD_NL(4));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_LEVEL);
	T_EQ(r.level, 3);
	g_set(&g, 1, 1, g_page(2) | AMD_PR | AMD_RW | AMD_NL(2));
	g_set(&g, 2, 1, g_page(2) | AMD_PR | AMD_RW | AMD_NL(2));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_LEVEL);
	T_EQ(r.level, 2);
	/* A level-1 entry with NL 1..6 would point at or above its own level. */
	g_set(&g, 2, 1, g_page(3) | AMD_PR | AMD_RW | AMD_NL(1));
	g_set(&g, 3, 1, g_page(3) | AMD_PR | AMD_RW | AMD_NL(1));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_LEVEL);
	T_EQ(r.level, 1);
	g_set(&g, 3, 1, 0x7654000 | AMD_PR | AMD_RW);

	/* A table pointer outside guest memory: the read of the next level fails. */
	g_set(&g, 1, 1, 0x80000000 | AMD_PR | AMD_RW | AMD_NL(2));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_WALK_ABORT);
	T_EQ(r.level, 2);
	T_EQ_U64(r.entry_addr, 0x80000000 + 8);
	/* ... or beyond the output width. */
	g_set(&g, 1, 1, (UINT64_C(1) << 49) | AMD_PR | AMD_RW | AMD_NL(2));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_ADDR_SIZE);
	T_EQ(r.level, 3);
	g_set(&g, 1, 1, g_page(2) | AMD_PR | AMD_RW | AMD_NL(2));
	/* Reserved bits 58:52, in a PDE and in a PTE. */
	g_set(&g, 2, 1, g_page(3) | AMD_PR | AMD_RW | AMD_NL(1) | (UINT64_C(1) << 55));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_RESERVED);
	T_EQ(r.level, 2);
	g_set(&g, 2, 1, g_page(3) | AMD_PR | AMD_RW | AMD_NL(1));
	g_set(&g, 3, 1, 0x7654000 | AMD_PR | AMD_RW | (UINT64_C(1) << 52));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_RESERVED);
	T_EQ(r.level, 1);
	g_set(&g, 3, 1, 0x7654000 | AMD_PR | AMD_RW);
	/* A 2M NL=0 leaf at level 2 with address bits below 2M set. */
	g_set(&g, 2, 1, 0x40201000 | AMD_PR | AMD_RW);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_RESERVED);
	g_set(&g, 2, 1, 0x40200000 | AMD_PR | AMD_RW);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova + 0x10, VIOMMU_PERM_READ, &r), 0);
	T_EQ_U64(r.phys, 0x40201010);
	T_EQ_U64(r.size, 0x200000);
	T_EQ(r.level, 2);
	g_set(&g, 2, 1, g_page(3) | AMD_PR | AMD_RW | AMD_NL(1));

	/* IR/IW AND down the walk, starting with the DTE's (opts.root_deny). */
	o.root_deny = VIOMMU_PERM_WRITE;
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_WRITE, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
	T_EQ(r.level, 1);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), 0);
	T_EQ(r.perm, VIOMMU_PERM_READ);
	o.root_deny = VIOMMU_PERM_READ | VIOMMU_PERM_WRITE;
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
	/* A translation without access (a probe) still succeeds and shows nothing granted. */
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, 0, &r), 0);
	T_EQ(r.perm, 0);
	o.root_deny = 0;
	/* A PDE without IW removes write below it; a leaf without IR denies reads. */
	g_set(&g, 1, 1, g_page(2) | AMD_PR | AMD_IR | AMD_NL(2));
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_WRITE, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), 0);
	T_EQ(r.perm, VIOMMU_PERM_READ);
	g_set(&g, 1, 1, g_page(2) | AMD_PR | AMD_RW | AMD_NL(2));
	g_set(&g, 3, 1, 0x7654000 | AMD_PR | AMD_IW);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_PERMISSION);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, iova, VIOMMU_PERM_WRITE, &r), 0);
	T_EQ(r.perm, VIOMMU_PERM_WRITE);

	/* Mode 6 indexes bits 63:57 at the root; mode 1 is a single 4K-PTE table. */
	o = amd_opts(6, 48);
	memset(&g, 0, sizeof(g));
	g_set(&g, 0, 127, g_page(1) | AMD_PR | AMD_RW | AMD_NL(1));
	g_set(&g, 1, 3, 0x5000 | AMD_PR | AMD_IR);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, UINT64_C(0xfe00000000003008), VIOMMU_PERM_READ, &r),
	     0);
	T_EQ_U64(r.phys, 0x5008);
	o = amd_opts(1, 48);
	g_set(&g, 0, 3, 0x9000 | AMD_PR | AMD_IR);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0x3008, VIOMMU_PERM_READ, &r), 0);
	T_EQ_U64(r.phys, 0x9008);
	T_EQ(viommu_pgtable_walk(&o, g_page(0), g_read, &g, 0x200000, VIOMMU_PERM_READ, &r), -EFAULT);
	T_EQ(r.fault, VIOMMU_PT_FAULT_INPUT_RANGE);
}

/* What map writes into an owned AMD table: NL = 0 leaves, pointers naming the next level. */
static void test_amd_owned_encoding(void)
{
	struct viommu_pgtable_opts o = amd_opts(4, 0);
	struct viommu_pgtable *pt = viommu_pgtable_new(&o);
	const uint64_t *root, *l3, *l2, *l1;
	uint64_t done;

	T_EQ_U64(viommu_pgtable_pgsize_bitmap(pt), UINT64_C(0x40201000));
	T_EQ(viommu_pgtable_map(pt, 0x40200000, 0x80200000, 0x200000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(viommu_pgtable_map(pt, 0x40401000, 0x9000, 0x1000,
				VIOMMU_PERM_READ | VIOMMU_PERM_WRITE | VIOMMU_PT_ATTR_SNOOP, &done), 0);
	root = (const uint64_t *)(uintptr_t)viommu_pgtable_root(pt);
	T_EQ_U64(root[0] & ~UINT64_C(0xffffffffff000), AMD_PR | AMD_RW | AMD_NL(3));
	l3 = (const uint64_t *)(uintptr_t)(root[0] & UINT64_C(0xffffffffff000));
	T_EQ_U64(l3[1] & ~UINT64_C(0xffffffffff000), AMD_PR | AMD_RW | AMD_NL(2));
	l2 = (const uint64_t *)(uintptr_t)(l3[1] & UINT64_C(0xffffffffff000));
	T_EQ_U64(l2[1], 0x80200000 | AMD_PR | AMD_IR);
	T_EQ_U64(l2[2] & ~UINT64_C(0xffffffffff000), AMD_PR | AMD_RW | AMD_NL(1));
	l1 = (const uint64_t *)(uintptr_t)(l2[2] & UINT64_C(0xffffffffff000));
	T_EQ_U64(l1[1], 0x9000 | AMD_PR | AMD_RW | AMD_FC);
	viommu_pgtable_free(pt);

	/* Options: 1..6 levels, 4K granule, in_bits up to 64, out_bits 32..52. */
	o = amd_opts(7, 0);
	T_EQ(viommu_pgtable_new(&o) == NULL, 1);
	T_EQ(errno, EINVAL);
	o = amd_opts(4, 53);
	T_EQ(viommu_pgtable_new(&o) == NULL, 1);
	o = amd_opts(4, 0);
	o.granule = 16384;
	T_EQ(viommu_pgtable_new(&o) == NULL, 1);
	o = amd_opts(4, 0);
	o.in_bits = 49;	/* more than 4 levels cover */
	T_EQ(viommu_pgtable_new(&o) == NULL, 1);
	o = amd_opts(0, 0);
	o.in_bits = 49;	/* the fewest levels that cover it: 5 */
	pt = viommu_pgtable_new(&o);
	T_EQ(pt != NULL, 1);
	T_EQ(viommu_pgtable_map(pt, UINT64_C(1) << 48, 0, 0x1000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(viommu_pgtable_map(pt, UINT64_C(1) << 49, 0, 0x1000, VIOMMU_PERM_READ, &done), -ERANGE);
	viommu_pgtable_free(pt);
	o = amd_opts(1, 0);	/* one table of 4K pages: 2M of input */
	pt = viommu_pgtable_new(&o);
	T_EQ_U64(viommu_pgtable_pgsize_bitmap(pt), 0x1000);
	T_EQ(viommu_pgtable_map(pt, 0x1ff000, 0, 0x1000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(viommu_pgtable_map(pt, 0x200000, 0, 0x1000, VIOMMU_PERM_READ, &done), -ERANGE);
	viommu_pgtable_free(pt);
}

int main(void)
{
	uint64_t seed = t_seed("walk", 0x5eed0003);

	for (unsigned i = 0; i < sizeof(pt_cases) / sizeof(pt_cases[0]); i++)
		test_owned_agree(&pt_cases[i], seed + i);
	test_vtd_faults();
	test_arm_faults(VIOMMU_PT_ARM_S1);
	test_arm_faults(VIOMMU_PT_ARM_S2);
	test_amd_sized();
	test_amd_faults();
	test_amd_owned_encoding();
	return t_done();
}

// SPDX-License-Identifier: MIT
/*
 * AMD-Vi v1 (host) page-table descriptors (AMD I/O Virtualization Technology
 * (IOMMU) Specification, "I/O Page Tables for Host Translations"; Linux
 * drivers/iommu/generic_pt/fmt/amdv1.h and drivers/iommu/amd/amd_iommu_types.h).
 *
 * Entry: bit 0 PR, Next Level 11:9, address 51:12, reserved 58:52, FC
 * (force coherent) bit 60, IR bit 61, IW bit 62. 512 entries per 4K table;
 * the device table entry's paging mode (1..6) is the level count and its
 * IR/IW are ANDed in above the root (opts.root_deny).
 *
 *   NL 1..6  pointer to a table of level NL (AMD numbering, 1 = 4K PTEs).
 *            It must be below the current level; it may skip levels, whose
 *            address bits must then be zero (checked by the generic walker).
 *   NL 0     leaf of the current level's default size (4K, 2M, 1G, ...).
 *   NL 7     "PTE with page size": the page is 2^(13 + n) bytes where n is
 *            the number of consecutive ones from address bit 12 up, and the
 *            entry is replicated over every slot the page spans. Bit
 *            12 + n is zero; the bits above it are the page's address.
 *
 * Engine levels are AMD levels minus one, so a pointer stored at engine level
 * l carries NL = l. Owned tables emit only NL = 0 leaves at 4K/2M/1G: an
 * NL = 7 page occupies several entries, and the engine's invariants (one
 * entry per leaf, so a lock-free reader sees a leaf appear or vanish with one
 * store and cut swaps it with one store) would not hold for it. Linux's AMD
 * driver does emit NL = 7 for the sizes between the level sizes; a VMM's
 * owned tables gain little from them (the IOTLB of an emulated IOMMU is ours),
 * so we leave them to guest tables, which the walk decodes fully.
 */
#include "pgtable/pt.h"

#define AMD_PR		(UINT64_C(1) << 0)
#define AMD_NL_SHIFT	9
#define AMD_NL_MASK	UINT64_C(7)
#define AMD_NL_LEAF	0
#define AMD_NL_SIZED	7
#define AMD_FC		(UINT64_C(1) << 60)
#define AMD_IR		(UINT64_C(1) << 61)
#define AMD_IW		(UINT64_C(1) << 62)
#define AMD_ADDR_FIELD	(vi_mask(52) & ~vi_mask(12))
#define AMD_RSVD	(vi_mask(59) & ~vi_mask(52))

static unsigned amd_nl(uint64_t pte)
{
	return (unsigned)((pte >> AMD_NL_SHIFT) & AMD_NL_MASK);
}

static int amd_init(struct vi_pt_cfg *c, const struct viommu_pgtable_opts *o)
{
	unsigned levels = o->levels;

	if (o->granule && o->granule != 4096)
		return -EINVAL;
	if (!levels) {
		levels = 4;
		if (o->in_bits)
			for (levels = 1; levels < 6 && 12 + 9 * levels < o->in_bits; levels++)
				;
	}
	if (levels < 1 || levels > 6)
		return -EINVAL;
	c->levels = levels;
	c->granule_shift = 12;
	c->bits_per_level = 9;
	/* Mode 6 indexes only bits 63:57 at the root. */
	c->top_bits = VI_MIN(9u, 64 - (12 + 9 * (levels - 1)));
	c->in_bits = o->in_bits ? o->in_bits : VI_MIN(12 + 9 * levels, 64u);
	if (c->in_bits < 21 || c->in_bits > VI_MIN(12 + 9 * levels, 64u))
		return -EINVAL;
	c->out_bits = o->out_bits ? o->out_bits : 48;
	if (c->out_bits < 32 || c->out_bits > 52)
		return -EINVAL;
	c->leaf_levels = 0x7u & (uint32_t)vi_mask(levels);	/* 4K, 2M, 1G */
	c->present_mask = AMD_PR;
	c->kind_shift = AMD_NL_SHIFT;
	c->kind_mask = (uint32_t)AMD_NL_MASK;
	c->table_kinds = 0x7eu;	/* NL 1..6 */
	return 0;
}

static uint64_t amd_leaf_bits(const struct vi_pt_cfg *c, unsigned level, unsigned perm)
{
	uint64_t v = AMD_PR | ((uint64_t)AMD_NL_LEAF << AMD_NL_SHIFT);

	if (perm & VIOMMU_PERM_READ)
		v |= AMD_IR;
	if (perm & VIOMMU_PERM_WRITE)
		v |= AMD_IW;
	if (perm & VIOMMU_PT_ATTR_SNOOP)
		v |= AMD_FC;
	return v;
}

static uint64_t amd_table_bits(const struct vi_pt_cfg *c, unsigned level)
{
	/* Points to the table of engine level - 1, AMD level @level. Tables
	 * grant everything; the leaf alone decides. */
	return AMD_PR | AMD_IR | AMD_IW | ((uint64_t)level << AMD_NL_SHIFT);
}

static unsigned amd_perm(uint64_t pte)
{
	return (pte & AMD_IR ? VIOMMU_PERM_READ : 0) | (pte & AMD_IW ? VIOMMU_PERM_WRITE : 0);
}

static unsigned amd_leaf_perm(const struct vi_pt_cfg *c, unsigned level, uint64_t pte)
{
	return amd_perm(pte) | (pte & AMD_FC ? VIOMMU_PT_ATTR_SNOOP : 0);
}

static unsigned amd_table_perm(const struct vi_pt_cfg *c, uint64_t pte)
{
	return amd_perm(pte) | VIOMMU_PT_ATTR_SNOOP;
}

/* log2 of an NL = 7 page: 13 + the run of ones from address bit 12 (up to 53
 * if bits 51:12 are all ones; the caller rejects that). */
static unsigned amd_sized_shift(uint64_t pte)
{
	uint64_t ones = (pte & AMD_ADDR_FIELD) >> 12;

	return 13 + (unsigned)vi_ffs64(~ones);
}

/*
 * Reserved bits 58:52 and address bits beyond the output width fault on any
 * entry. A leaf: NL = 0 needs the address bits below its size clear (as a
 * large VT-d leaf does); NL = 7 must encode a page larger than one entry of
 * this level and no larger than the whole table (a smaller or larger size is
 * undecodable at this level); any other NL in a 4K-level table would point
 * to a table at or above it, which the engine never classifies as a table
 * at level 0, so the level rule is reported from here.
 */
static enum viommu_pt_fault amd_check(const struct vi_pt_cfg *c, unsigned level, uint64_t pte, bool is_table)
{
	unsigned nl = amd_nl(pte), sh = vi_pt_shift(c, level), psh = 12;

	if (pte & AMD_RSVD)
		return VIOMMU_PT_FAULT_RESERVED;
	if (!is_table) {
		if (nl == AMD_NL_SIZED) {
			psh = amd_sized_shift(pte);
			if (psh <= sh || psh > sh + vi_pt_level_bits(c, level) || psh > 52)
				return VIOMMU_PT_FAULT_RESERVED;
		} else if (nl != AMD_NL_LEAF) {
			return VIOMMU_PT_FAULT_LEVEL;
		} else if (pte & vi_mask(sh) & ~vi_mask(12)) {
			return VIOMMU_PT_FAULT_RESERVED;
		}
	}
	/* The page's own address bits start at its size (NL = 7 keeps its
	 * size code below that). */
	if (pte & AMD_ADDR_FIELD & ~vi_mask(psh) & ~c->oa_mask)
		return VIOMMU_PT_FAULT_ADDR_SIZE;
	return VIOMMU_PT_FAULT_NONE;
}

static int amd_next_level(const struct vi_pt_cfg *c, unsigned level, uint64_t pte)
{
	return (int)amd_nl(pte) - 1;
}

static unsigned amd_leaf_shift(const struct vi_pt_cfg *c, unsigned level, uint64_t pte)
{
	return amd_nl(pte) == AMD_NL_SIZED ? amd_sized_shift(pte) : vi_pt_shift(c, level);
}

static uint8_t amd_fault_code(enum viommu_pt_fault f, unsigned access, bool root)
{
	return 0;
}

static int amd_fmt_level(const struct vi_pt_cfg *c, unsigned level)
{
	return (int)level + 1;
}

const struct vi_pt_fmt vi_pt_fmt_amd = {
	.name = "amd-v1",
	.init = amd_init,
	.leaf_bits = amd_leaf_bits,
	.table_bits = amd_table_bits,
	.leaf_perm = amd_leaf_perm,
	.table_perm = amd_table_perm,
	.check = amd_check,
	.next_level = amd_next_level,
	.leaf_shift = amd_leaf_shift,
	.fault_code = amd_fault_code,
	.fmt_level = amd_fmt_level,
};

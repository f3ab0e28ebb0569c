// SPDX-License-Identifier: MIT
/*
 * Intel VT-d second-stage descriptors (Intel VT-d specification, "Second-Stage
 * Paging Entries" and, for the fault reasons, "Non-Recoverable Fault Reason
 * Codes"; Linux drivers/iommu/generic_pt/fmt/vtdss.h).
 *
 * Entry: bit 0 R, bit 1 W, bit 7 PS (leaf at the 2M/1G levels), bit 11 SNP,
 * address 51:12. There is no present bit: present iff R|W. Table entries
 * carry R|W too and the permissions AND down the walk. 512 entries per 4K
 * table at every level, 3/4/5 levels for 39/48/57 input bits.
 */
#include "pgtable/pt.h"

#define VTD_R	 (UINT64_C(1) << 0)
#define VTD_W	 (UINT64_C(1) << 1)
#define VTD_PS	 (UINT64_C(1) << 7)
#define VTD_SNP	 (UINT64_C(1) << 11)
/* Address field of any entry; bits above the host width inside it are reserved. */
#define VTD_ADDR_FIELD (vi_mask(52) & ~vi_mask(12))

static int vtd_init(struct vi_pt_cfg *c, const struct viommu_pgtable_opts *o)
{
	unsigned levels = o->levels;

	if (o->granule && o->granule != 4096)
		return -EINVAL;
	if (!levels)
		levels = o->in_bits ? (o->in_bits <= 39 ? 3 : o->in_bits <= 48 ? 4 : 5) : 4;
	if (levels < 3 || levels > 5)
		return -EINVAL;
	c->levels = levels;
	c->granule_shift = 12;
	c->bits_per_level = 9;
	c->top_bits = 9;	/* a VT-d root is a full 512-entry table even below AGAW */
	c->in_bits = o->in_bits ? o->in_bits : 12 + 9 * levels;
	/* The MGAW may be below the table's AGAW, never above it. */
	if (c->in_bits < 21 || c->in_bits > 12 + 9 * levels)
		return -EINVAL;
	c->out_bits = o->out_bits ? o->out_bits : 48;
	if (c->out_bits < 21 || c->out_bits > 52)
		return -EINVAL;
	c->leaf_levels = 0x7;	/* 4K, 2M, 1G */
	c->present_mask = VTD_R | VTD_W;
	c->kind_shift = 7;	/* PS */
	c->kind_mask = 1;
	c->table_kinds = 1u << 0;
	return 0;
}

static uint64_t vtd_leaf_bits(const struct vi_pt_cfg *c, unsigned level, unsigned perm)
{
	uint64_t v = 0;

	if (perm & VIOMMU_PERM_READ)
		v |= VTD_R;
	if (perm & VIOMMU_PERM_WRITE)
		v |= VTD_W;
	if (perm & VIOMMU_PT_ATTR_SNOOP)
		v |= VTD_SNP;
	if (level)
		v |= VTD_PS;
	return v;
}

static uint64_t vtd_table_bits(const struct vi_pt_cfg *c, unsigned level)
{
	/* Tables grant everything; the leaf alone decides. */
	return VTD_R | VTD_W;
}

static unsigned vtd_perm(uint64_t pte)
{
	return (pte & VTD_R ? VIOMMU_PERM_READ : 0) | (pte & VTD_W ? VIOMMU_PERM_WRITE : 0);
}

static unsigned vtd_leaf_perm(const struct vi_pt_cfg *c, unsigned level, uint64_t pte)
{
	return vtd_perm(pte) | (pte & VTD_SNP ? VIOMMU_PT_ATTR_SNOOP : 0);
}

static unsigned vtd_table_perm(const struct vi_pt_cfg *c, uint64_t pte)
{
	return vtd_perm(pte) | VIOMMU_PT_ATTR_SNOOP;
}

/*
 * Reserved bits of a present entry (fault 0xC), following the VT-d layout:
 * address bits at or above the host address width; SNP in a non-leaf entry;
 * PS at a level that cannot hold leaves (PML4E/PML5E, or 1G without SLLPS in
 * the page-size bitmap); address bits below the size of a large leaf.
 */
static enum viommu_pt_fault vtd_check(const struct vi_pt_cfg *c, unsigned level, uint64_t pte, bool is_table)
{
	if (pte & VTD_ADDR_FIELD & ~c->oa_mask)
		return VIOMMU_PT_FAULT_RESERVED;
	if (is_table)
		return pte & VTD_SNP ? VIOMMU_PT_FAULT_RESERVED : VIOMMU_PT_FAULT_NONE;
	if (level) {
		unsigned sh = vi_pt_shift(c, level);
		if (!(c->pgsize_bitmap & (UINT64_C(1) << sh)))
			return VIOMMU_PT_FAULT_RESERVED;
		if (pte & vi_mask(sh) & ~vi_mask(12))
			return VIOMMU_PT_FAULT_RESERVED;
	}
	return VIOMMU_PT_FAULT_NONE;
}

static uint8_t vtd_fault_code(enum viommu_pt_fault f, unsigned access, bool root)
{
	switch (f) {
	case VIOMMU_PT_FAULT_NONE:
		return 0;
	case VIOMMU_PT_FAULT_INPUT_RANGE:
		return 0x4;
	case VIOMMU_PT_FAULT_TRANSLATION:
	case VIOMMU_PT_FAULT_PERMISSION:
	case VIOMMU_PT_FAULT_ACCESS_FLAG:
		/* No separate not-present code: a write faults 5, a read 6. */
		return access & VIOMMU_PERM_WRITE ? 0x5 : 0x6;
	case VIOMMU_PT_FAULT_RESERVED:
	case VIOMMU_PT_FAULT_ADDR_SIZE:
	case VIOMMU_PT_FAULT_LEVEL:	/* not produced: VT-d pointers always descend by one */
		return 0xC;
	case VIOMMU_PT_FAULT_WALK_ABORT:
		/* The root table is reached through the context entry's
		 * pointer: failing to read it is invalid context programming. */
		return root ? 0x3 : 0x7;
	}
	return 0;
}

static int vtd_fmt_level(const struct vi_pt_cfg *c, unsigned level)
{
	return (int)level + 1;
}

const struct vi_pt_fmt vi_pt_fmt_vtd = {
	.name = "vtd-sl",
	.init = vtd_init,
	.leaf_bits = vtd_leaf_bits,
	.table_bits = vtd_table_bits,
	.leaf_perm = vtd_leaf_perm,
	.table_perm = vtd_table_perm,
	.check = vtd_check,
	.fault_code = vtd_fault_code,
	.fmt_level = vtd_fmt_level,
};

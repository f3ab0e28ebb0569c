// SPDX-License-Identifier: MIT
/*
 * ARM LPAE (VMSAv8-64) descriptors, stage 1 and stage 2 (Arm Architecture
 * Reference Manual, "VMSAv8-64 translation table format descriptors"; Linux
 * drivers/iommu/io-pgtable-arm.c, whose ARM_LPAE_PTE_* and prot choices these
 * follow).
 *
 * bits 1:0 = 0b11 table (above the last level) or page (last level), 0b01
 * block; AF bit 10 must be set; SH 9:8. Stage 1: AP[2] bit 7 read-only,
 * AP[1] bit 6 unprivileged, AttrIndx 4:2, nG bit 11, APTable[1] bit 62 in a
 * table removes write below it. Stage 2: S2AP bits 7:6 (6 read, 7 write),
 * MemAttr 5:2. Bits per level = granule shift - 3.
 *
 * Only 48-bit output addresses (no FEAT_LPA's split address field), so the
 * output address sits in the descriptor at its own bit positions, and no
 * concatenated stage-2 roots: every table, the root too, is one granule.
 */
#include "pgtable/pt.h"

#define ARM_VALID	(UINT64_C(1) << 0)
#define ARM_TYPE_MASK	UINT64_C(3)
#define ARM_TYPE_TABLE	UINT64_C(3)
#define ARM_TYPE_BLOCK	UINT64_C(1)
#define ARM_AF		(UINT64_C(1) << 10)
#define ARM_SH_IS	(UINT64_C(3) << 8)
#define ARM_S1_NG	(UINT64_C(1) << 11)
#define ARM_S1_AP_RDONLY (UINT64_C(1) << 7)
#define ARM_S1_AP_UNPRIV (UINT64_C(1) << 6)
#define ARM_S1_ATTR_SHIFT 2
#define ARM_S1_ATTR_MASK (UINT64_C(7) << ARM_S1_ATTR_SHIFT)
#define ARM_S1_ATTR_CACHE 1	/* MAIR index of normal write-back memory (Linux's choice) */
#define ARM_S1_APTABLE_RDONLY (UINT64_C(1) << 62)
#define ARM_S2_AP_READ	(UINT64_C(1) << 6)
#define ARM_S2_AP_WRITE	(UINT64_C(1) << 7)
#define ARM_S2_MEMATTR_SHIFT 2
#define ARM_S2_MEMATTR_MASK (UINT64_C(0xf) << ARM_S2_MEMATTR_SHIFT)
#define ARM_S2_MEMATTR_OIWB UINT64_C(0xf)	/* outer+inner write-back */
#define ARM_S2_MEMATTR_NC UINT64_C(0x5)		/* normal non-cacheable */
/* Address field of a descriptor with 48-bit output. */
#define ARM_ADDR_FIELD (vi_mask(48) & ~vi_mask(12))
/* Bits 51:48 are RES0 without FEAT_LPA; we treat them as an address-size error. */
#define ARM_ADDR_HIGH (vi_mask(52) & ~vi_mask(48))

static int arm_init(struct vi_pt_cfg *c, const struct viommu_pgtable_opts *o)
{
	unsigned g = o->granule ? o->granule : 4096;
	unsigned gs, bpl, levels;

	if (g == 4096)
		gs = 12;
	else if (g == 16384)
		gs = 14;
	else if (g == 65536)
		gs = 16;
	else
		return -EINVAL;
	bpl = gs - 3;
	c->in_bits = o->in_bits ? o->in_bits : 48;
	c->out_bits = o->out_bits ? o->out_bits : 48;
	if (c->in_bits < 25 || c->in_bits > 48 || c->out_bits < 32 || c->out_bits > 48)
		return -EINVAL;
	levels = (c->in_bits - gs + bpl - 1) / bpl;
	if (o->levels && o->levels != levels)
		return -EINVAL;
	c->levels = levels;
	c->granule_shift = gs;
	c->bits_per_level = bpl;
	c->top_bits = c->in_bits - gs - (levels - 1) * bpl;
	/* Blocks: 4K granule at 2M and 1G; 16K at 32M; 64K at 512M (the larger
	 * ones need 52-bit addresses, which this format does not do). */
	c->leaf_levels = (gs == 12 ? 0x7u : 0x3u) & (uint32_t)vi_mask(levels);
	c->present_mask = ARM_VALID;
	c->kind_shift = 0;	/* bits 1:0 */
	c->kind_mask = ARM_TYPE_MASK;
	c->table_kinds = 1u << ARM_TYPE_TABLE;
	return 0;
}

static uint64_t arm_leaf_bits(const struct vi_pt_cfg *c, unsigned level, unsigned perm)
{
	uint64_t v = (level ? ARM_TYPE_BLOCK : ARM_TYPE_TABLE) | ARM_AF | ARM_SH_IS;

	if (c->format == VIOMMU_PT_ARM_S1) {
		/* Stage 1 cannot deny reads: write-only becomes read-write, as in Linux. */
		v |= ARM_S1_NG | ARM_S1_AP_UNPRIV;
		if (!(perm & VIOMMU_PERM_WRITE))
			v |= ARM_S1_AP_RDONLY;
		if (perm & VIOMMU_PT_ATTR_SNOOP)
			v |= (uint64_t)ARM_S1_ATTR_CACHE << ARM_S1_ATTR_SHIFT;
	} else {
		if (perm & VIOMMU_PERM_READ)
			v |= ARM_S2_AP_READ;
		if (perm & VIOMMU_PERM_WRITE)
			v |= ARM_S2_AP_WRITE;
		v |= (perm & VIOMMU_PT_ATTR_SNOOP ? ARM_S2_MEMATTR_OIWB : ARM_S2_MEMATTR_NC) << ARM_S2_MEMATTR_SHIFT;
	}
	return v;
}

static uint64_t arm_table_bits(const struct vi_pt_cfg *c, unsigned level)
{
	return ARM_TYPE_TABLE;
}

static unsigned arm_leaf_perm(const struct vi_pt_cfg *c, unsigned level, uint64_t pte)
{
	unsigned p = 0;

	if (c->format == VIOMMU_PT_ARM_S1) {
		p = VIOMMU_PERM_READ;
		if (!(pte & ARM_S1_AP_RDONLY))
			p |= VIOMMU_PERM_WRITE;
		if (((pte & ARM_S1_ATTR_MASK) >> ARM_S1_ATTR_SHIFT) == ARM_S1_ATTR_CACHE)
			p |= VIOMMU_PT_ATTR_SNOOP;
	} else {
		if (pte & ARM_S2_AP_READ)
			p |= VIOMMU_PERM_READ;
		if (pte & ARM_S2_AP_WRITE)
			p |= VIOMMU_PERM_WRITE;
		if (((pte & ARM_S2_MEMATTR_MASK) >> ARM_S2_MEMATTR_SHIFT) == ARM_S2_MEMATTR_OIWB)
			p |= VIOMMU_PT_ATTR_SNOOP;
	}
	return p;
}

static unsigned arm_table_perm(const struct vi_pt_cfg *c, uint64_t pte)
{
	unsigned all = VIOMMU_PERM_READ | VIOMMU_PERM_WRITE | VIOMMU_PT_ATTR_SNOOP;

	/* Stage 2 tables carry no hierarchical permissions. */
	if (c->format == VIOMMU_PT_ARM_S1 && (pte & ARM_S1_APTABLE_RDONLY))
		all &= ~VIOMMU_PERM_WRITE;
	return all;
}

/*
 * A present entry the masks classified: a 0b01 at the last level and a block
 * at a level without blocks are invalid encodings (translation fault); an
 * output or table address beyond the output width is an address-size fault;
 * a leaf without AF takes an access-flag fault (no hardware AF update).
 */
static enum viommu_pt_fault arm_check(const struct vi_pt_cfg *c, unsigned level, uint64_t pte, bool is_table)
{
	if (!is_table) {
		if (level == 0 && (pte & ARM_TYPE_MASK) != ARM_TYPE_TABLE)
			return VIOMMU_PT_FAULT_TRANSLATION;
		if (!(c->leaf_levels & (1u << level)))
			return VIOMMU_PT_FAULT_TRANSLATION;
	}
	if (pte & (ARM_ADDR_HIGH | (ARM_ADDR_FIELD & ~c->oa_mask)))
		return VIOMMU_PT_FAULT_ADDR_SIZE;
	if (!is_table && !(pte & ARM_AF))
		return VIOMMU_PT_FAULT_ACCESS_FLAG;
	return VIOMMU_PT_FAULT_NONE;
}

static uint8_t arm_fault_code(enum viommu_pt_fault f, unsigned access, bool root)
{
	return 0;
}

static int arm_fmt_level(const struct vi_pt_cfg *c, unsigned level)
{
	/* The last level is level 3 whatever the granule and width. */
	return 3 - (int)level;
}

const struct vi_pt_fmt vi_pt_fmt_arm = {
	.name = "arm-lpae",
	.init = arm_init,
	.leaf_bits = arm_leaf_bits,
	.table_bits = arm_table_bits,
	.leaf_perm = arm_leaf_perm,
	.table_perm = arm_table_perm,
	.check = arm_check,
	.fault_code = arm_fault_code,
	.fmt_level = arm_fmt_level,
};

// SPDX-License-Identifier: MIT
/*
 * Read-only walk of page tables in guest memory, for vIOMMU emulation.
 *
 * The guest controls every byte read here, so the walk is defensive: the
 * level strictly decreases at every step (a format may let a pointer name the
 * level of the table it points to, skipping levels, so the walker checks that
 * the named level is lower: a table pointing at itself or upwards cannot make
 * it loop), hence at most one read per level; it checks each entry's reserved
 * bits and addresses before following it, and turns a failed read into a
 * walk-abort fault. It never allocates and keeps no state between calls.
 */
#include <string.h>

#include "pgtable/pt.h"

static int fault(const struct vi_pt_cfg *c, struct viommu_pt_walk_result *res, enum viommu_pt_fault f,
		 unsigned level, unsigned access, uint64_t entry, uint64_t addr)
{
	res->fault = f;
	res->level = c->fmt->fmt_level(c, level);
	res->vtd_reason = c->fmt->fault_code(f, access, level == c->levels - 1);
	res->entry = entry;
	res->entry_addr = addr;
	return vi_errno(-EFAULT);
}

VIOMMU_API int viommu_pgtable_walk(const struct viommu_pgtable_opts *opts, uint64_t root, viommu_pt_read_fn read,
				   void *ctx, uint64_t iova, unsigned access, struct viommu_pt_walk_result *res)
{
	const unsigned rw = VIOMMU_PT_PROT_READ | VIOMMU_PT_PROT_WRITE;
	struct viommu_pgtable_opts o;
	struct vi_pt_cfg c;
	uint64_t table;
	unsigned prot = rw | VIOMMU_PT_PROT_SNOOP;
	int rc;

	if (!res || !read)
		return vi_errno(-EINVAL);
	memset(res, 0, sizeof(*res));
	rc = vi_pt_opts_copy(&o, opts);
	if (!rc)
		rc = vi_pt_cfg_init(&c, &o);
	if (rc)
		return vi_errno(rc);
	if (vi_pt_beyond_ias(&c, iova))
		return fault(&c, res, VIOMMU_PT_FAULT_INPUT_RANGE, c.levels - 1, access, 0, 0);
	/* The root pointer comes from a guest register or context entry too. */
	if (root & ~c.oa_mask & ~vi_mask(c.granule_shift))
		return fault(&c, res, VIOMMU_PT_FAULT_ADDR_SIZE, c.levels - 1, access, 0, root);
	table = root & c.oa_mask;
	prot &= ~(o.root_deny & rw);
	for (unsigned level = c.levels - 1;;) {
		uint64_t addr = table + (uint64_t)vi_pt_index(&c, level, iova) * 8;
		uint64_t e;
		bool is_table;
		enum viommu_pt_fault f;

		if (read(ctx, addr, &e, sizeof(e)) != 0)
			return fault(&c, res, VIOMMU_PT_FAULT_WALK_ABORT, level, access, 0, addr);
		if (!vi_pt_present(&c, e))
			return fault(&c, res, VIOMMU_PT_FAULT_TRANSLATION, level, access, e, addr);
		is_table = vi_pt_is_table(&c, level, e);
		f = c.fmt->check(&c, level, e, is_table);
		if (f != VIOMMU_PT_FAULT_NONE)
			return fault(&c, res, f, level, access, e, addr);
		if (is_table) {
			int next = c.fmt->next_level ? c.fmt->next_level(&c, level, e) : (int)level - 1;

			/* The one rule that bounds the walk. */
			if (next < 0 || next >= (int)level)
				return fault(&c, res, VIOMMU_PT_FAULT_LEVEL, level, access, e, addr);
			/* Skipped levels have no table to index: their address
			 * bits must be zero, or one table would answer for many
			 * IOVA ranges (see design.md, AMD decisions). */
			if ((iova >> vi_pt_shift(&c, (unsigned)next + 1)) & vi_mask((level - 1 - (unsigned)next) *
										  c.bits_per_level))
				return fault(&c, res, VIOMMU_PT_FAULT_TRANSLATION, level, access, e, addr);
			prot &= c.fmt->table_prot(&c, e);
			table = e & c.oa_mask;
			level = (unsigned)next;
			continue;
		}
		unsigned sh = c.fmt->leaf_shift ? c.fmt->leaf_shift(&c, level, e) : vi_pt_shift(&c, level);
		uint64_t size = UINT64_C(1) << sh;
		prot &= c.fmt->leaf_prot(&c, level, e);
		if (access & rw & ~prot)
			return fault(&c, res, VIOMMU_PT_FAULT_PERMISSION, level, access, e, addr);
		res->leaf_iova = iova & ~(size - 1);
		res->phys = (e & c.oa_mask & ~(size - 1)) | (iova & (size - 1));
		res->size = size;
		res->prot = prot;
		res->level = c.fmt->fmt_level(&c, level);
		res->entry = e;
		res->entry_addr = addr;
		return 0;
	}
}

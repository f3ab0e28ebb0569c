// SPDX-License-Identifier: MIT
/*
 * Read-only walk of page tables in guest memory, for vIOMMU emulation.
 *
 * The guest controls every byte read here, so the walk is defensive: it
 * performs exactly one read per level (a loop in the guest's tables cannot
 * make it go deeper than the level count), checks each entry's reserved bits
 * and addresses before following it, and turns a failed read into a
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
	if (iova >> c.ias)
		return fault(&c, res, VIOMMU_PT_FAULT_INPUT_RANGE, c.levels - 1, access, 0, 0);
	/* The root pointer comes from a guest register or context entry too. */
	if (root & ~c.oa_mask & ~vi_mask(c.granule_shift))
		return fault(&c, res, VIOMMU_PT_FAULT_ADDR_SIZE, c.levels - 1, access, 0, root);
	table = root & c.oa_mask;
	for (int l = (int)c.levels - 1; l >= 0; l--) {
		unsigned level = (unsigned)l;
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
			prot &= c.fmt->table_prot(&c, e);
			table = e & c.oa_mask;
			continue;
		}
		uint64_t size = UINT64_C(1) << vi_pt_shift(&c, level);
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
	/* Unreachable: level 0 never classifies an entry as a table. */
	return fault(&c, res, VIOMMU_PT_FAULT_TRANSLATION, 0, access, 0, 0);
}

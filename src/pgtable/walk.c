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
 *
 * It moves through the tables with the same walk as the owned tables
 * (iter.h), over guest-physical table addresses read through the callback
 * instead of host pointers: one index computation for both.
 *
 * Faults are logged at debug level only: the guest decides how many there
 * are, and a log line per fault at a louder level would let it flood the log.
 */
#include <inttypes.h>
#include <string.h>

#include "pgtable/iter.h"
#include "util/log.h"

static const char *const fault_names[] = {
	[VIOMMU_PT_FAULT_NONE] = "no",
	[VIOMMU_PT_FAULT_INPUT_RANGE] = "input-range",
	[VIOMMU_PT_FAULT_TRANSLATION] = "translation",
	[VIOMMU_PT_FAULT_PERMISSION] = "permission",
	[VIOMMU_PT_FAULT_RESERVED] = "reserved-bit",
	[VIOMMU_PT_FAULT_ADDR_SIZE] = "address-size",
	[VIOMMU_PT_FAULT_ACCESS_FLAG] = "access-flag",
	[VIOMMU_PT_FAULT_WALK_ABORT] = "walk-abort",
	[VIOMMU_PT_FAULT_LEVEL] = "level",
};

static int fault(const struct vi_pt_cfg *c, struct viommu_pt_walk_result *res, enum viommu_pt_fault f,
		 unsigned level, uint64_t iova, unsigned access, uint64_t entry, uint64_t addr)
{
	res->fault = f;
	res->level = c->fmt->fmt_level(c, level);
	res->vtd_reason = c->fmt->fault_code(f, access, level == c->levels - 1);
	res->entry = entry;
	res->entry_addr = addr;
	vi_debug("pgtable walk %s 0x%" PRIx64 " (access 0x%x): %s fault at level %d, entry 0x%" PRIx64
		 " at 0x%" PRIx64, c->fmt->name, iova, access, fault_names[f], res->level, entry, addr);
	return vi_errno(-EFAULT);
}

/* Address bits of the levels a pointer from @level to @next skips (which must be zero). */
static uint64_t skipped_bits(const struct vi_pt_cfg *c, unsigned level, unsigned next, uint64_t iova)
{
	return (iova >> vi_pt_shift(c, next + 1)) & vi_mask((level - 1 - next) * c->bits_per_level);
}

VIOMMU_API int viommu_pgtable_walk(const struct viommu_pgtable_opts *opts, uint64_t root, viommu_pt_read_fn read,
				   void *ctx, uint64_t iova, unsigned access, struct viommu_pt_walk_result *res)
{
	struct viommu_pgtable_opts o;
	struct vi_pt_walk w;
	struct vi_pt_cfg c;
	unsigned perm = VIOMMU_PERM_RW | VIOMMU_PT_ATTR_SNOOP;
	int rc;

	if (!res || !read) {
		vi_warn("pgtable walk at 0x%" PRIx64 ": NULL %s", iova, res ? "read callback" : "result");
		return vi_errno(-EINVAL);
	}
	memset(res, 0, sizeof(*res));
	rc = vi_pt_opts_copy(&o, opts);
	if (!rc)
		rc = vi_pt_cfg_init(&c, &o);
	if (rc)
		return vi_errno(rc);
	if (vi_pt_beyond_input(&c, iova))
		return fault(&c, res, VIOMMU_PT_FAULT_INPUT_RANGE, c.levels - 1, iova, access, 0, 0);
	/* The root pointer comes from a guest register or context entry too. */
	if (root & ~c.oa_mask & ~vi_mask(c.granule_shift))
		return fault(&c, res, VIOMMU_PT_FAULT_ADDR_SIZE, c.levels - 1, iova, access, 0, root);
	perm &= ~(o.root_deny & VIOMMU_PERM_RW);
	vi_pt_walk_init(&w, &c, root & c.oa_mask, c.levels - 1, 0, iova, iova);
	for (;;) {
		unsigned level = w.level;
		uint64_t addr = vi_pt_walk_entry_addr(&w);
		uint64_t e;
		bool is_table;
		enum viommu_pt_fault f;

		if (read(ctx, addr, &e, sizeof(e)) != 0)
			return fault(&c, res, VIOMMU_PT_FAULT_WALK_ABORT, level, iova, access, 0, addr);
		if (!vi_pt_present(&c, e))
			return fault(&c, res, VIOMMU_PT_FAULT_TRANSLATION, level, iova, access, e, addr);
		is_table = vi_pt_is_table(&c, level, e);
		f = c.fmt->check(&c, level, e, is_table);
		if (f != VIOMMU_PT_FAULT_NONE)
			return fault(&c, res, f, level, iova, access, e, addr);
		if (is_table) {
			int next = c.fmt->next_level ? c.fmt->next_level(&c, level, e) : (int)level - 1;

			/* The one rule that bounds the walk. */
			if (next < 0 || next >= (int)level)
				return fault(&c, res, VIOMMU_PT_FAULT_LEVEL, level, iova, access, e, addr);
			/* Skipped levels have no table to index: their address
			 * bits must be zero, or one table would answer for many
			 * IOVA ranges (see design.md, AMD decisions). */
			if (skipped_bits(&c, level, (unsigned)next, iova))
				return fault(&c, res, VIOMMU_PT_FAULT_TRANSLATION, level, iova, access, e, addr);
			perm &= c.fmt->table_perm(&c, e);
			vi_pt_walk_down_to(&w, (unsigned)next, e & c.oa_mask);
			continue;
		}
		unsigned sh = c.fmt->leaf_shift ? c.fmt->leaf_shift(&c, level, e) : vi_pt_walk_shift(&w);
		uint64_t size = UINT64_C(1) << sh;

		perm &= c.fmt->leaf_perm(&c, level, e);
		if (access & VIOMMU_PERM_RW & ~perm)
			return fault(&c, res, VIOMMU_PT_FAULT_PERMISSION, level, iova, access, e, addr);
		res->leaf_iova = iova & ~(size - 1);
		res->phys = (e & c.oa_mask & ~(size - 1)) | (iova & (size - 1));
		res->size = size;
		res->perm = perm;
		res->level = c.fmt->fmt_level(&c, level);
		res->entry = e;
		res->entry_addr = addr;
		return 0;
	}
}

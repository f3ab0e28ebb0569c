// SPDX-License-Identifier: MIT
/*
 * The read-view adapter over guest page tables: reports the leaves of a range
 * by walking the guest's tables with viommu_pgtable_walk(), so every check of
 * the defensive guest walk (reserved bits, widths, unreadable tables) applies.
 *
 * One walk per leaf or hole: a present leaf advances to its end, a missing
 * entry at some level advances past the whole range that entry covers, so a
 * sparse 48-bit space costs a handful of walks, not one per page. A table
 * that cannot be walked (read error, reserved bits, addresses beyond the
 * output width) fails the read with -EFAULT, and the sync then changes
 * nothing: a guest that breaks its tables cannot make the host lose or gain
 * mappings through them.
 */
#include <viommu/iommu.h>

#include "pgtable/pt.h"
#include "util/compiler.h"
#include "util/log.h"

/* The size of the range a missing entry at format level @fmt_level covers. */
static unsigned hole_shift(const struct vi_pt_cfg *c, int fmt_level)
{
	for (unsigned l = 0; l < c->levels; l++)
		if (c->fmt->fmt_level(c, l) == fmt_level)
			return vi_pt_shift(c, l);
	return c->granule_shift;
}

VIOMMU_API int viommu_iommu_read_pgtable(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *view)
{
	const struct viommu_iommu_pgtable_source *src = ctx;
	struct viommu_pgtable_opts o;
	struct vi_pt_cfg c;
	bool have_cfg = false;
	uint64_t cur = first;
	int r;

	if (!src || !src->opts || !src->read || first > last) {
		vi_warn("iommu: page-table read view of [0x%llx, 0x%llx] refused: %s", (unsigned long long)first,
			(unsigned long long)last, first > last ? "first > last" : "no source, format or read callback");
		return vi_errno(-EINVAL);
	}
	for (;;) {
		struct viommu_pt_walk_result res;
		uint64_t end;

		r = viommu_pgtable_walk(src->opts, src->root, src->read, src->ctx, cur, 0, &res);
		/*
		 * The format's geometry is needed only for a hole's extent, so
		 * a read of leaves (one 4K page, the common invalidation) does
		 * not check and unpack the options a second time; a walk that
		 * refused them (no fault recorded) is reported here.
		 */
		if (!have_cfg && ((r && res.fault == VIOMMU_PT_FAULT_NONE) || res.fault == VIOMMU_PT_FAULT_TRANSLATION ||
				  res.fault == VIOMMU_PT_FAULT_ACCESS_FLAG)) {
			int rc = vi_pt_opts_copy(&o, src->opts);

			if (!rc)
				rc = vi_pt_cfg_init(&c, &o);
			if (rc) {
				vi_warn("iommu: page-table read view refused: bad page-table options (%d)", rc);
				return vi_errno(rc);
			}
			have_cfg = true;
		}
		if (r == 0) {
			unsigned perm = res.perm & VIOMMU_PERM_RW;	/* pgtable perm bits are VIOMMU_PERM_* */

			end = res.leaf_iova + (res.size - 1);
			r = viommu_iommu_view_add(view, res.leaf_iova, end, res.phys - (cur - res.leaf_iova), perm);
			if (r)
				return r;
		} else if (res.fault == VIOMMU_PT_FAULT_INPUT_RANGE) {
			return 0;	/* nothing can be mapped beyond the input width */
		} else if (res.fault == VIOMMU_PT_FAULT_TRANSLATION || res.fault == VIOMMU_PT_FAULT_ACCESS_FLAG) {
			end = cur | vi_mask(hole_shift(&c, res.level));
		} else {
			/* the guest's tables: debug level only, so a hostile guest cannot flood the log */
			vi_debug("iommu: guest page table at 0x%llx cannot be walked at IOVA 0x%llx (fault %d, level %d)",
				 (unsigned long long)src->root, (unsigned long long)cur, (int)res.fault, res.level);
			return vi_errno(-EFAULT);
		}
		if (end >= last)
			return 0;
		cur = end + 1;
	}
}

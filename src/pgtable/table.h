/* SPDX-License-Identifier: MIT */
/* The owned page table (struct viommu_pgtable): what table.c works on. */
#ifndef VI_PGTABLE_TABLE_H
#define VI_PGTABLE_TABLE_H

#include "pgtable/flushq.h"
#include "pgtable/iter.h"
#include "pgtable/pages.h"
#include "pgtable/pt.h"

/*
 * One owned page table. c, root, root_phys, the page hooks and the cached
 * bits are immutable after creation; everything else is writer state (one
 * writer, see pgtable.h). Table entries are read and written with __atomic
 * accessors so lock-free readers are well defined.
 *
 * Invariants (docs/design.md, "IO page tables"): an owned table holds only
 * zero (absent) entries, leaves, and pointers this code wrote with
 * table_bits[l]; every table reachable from the root except the root is
 * non-empty after each operation; table_pages counts the pages reachable
 * from the root.
 */
struct viommu_pgtable {
	struct vi_pt_cfg c;
	enum viommu_pt_unmap_policy unmap_policy;
	uint64_t *root;
	uint64_t root_phys;
	uint64_t table_pages;
	struct vi_pt_pages pages;
	struct vi_pt_fq fq;
	uint64_t table_bits[VI_PT_MAX_LEVELS];	/* fmt->table_bits() per level (1..levels-1) */
	/* fmt->leaf_bits() for every permission value (VIOMMU_PERM_* |
	 * VIOMMU_PT_ATTR_SNOOP, 3 bits) and level: a map's template is a load. */
	uint64_t leaf_tmpl[8][VI_PT_MAX_LEVELS];
	/* Owned tables hold only two kinds of entries: leaves and the pointers
	 * written with table_bits[l]. So at level l an owned entry is a table
	 * iff its kind field equals that of table_bits[l]: one mask compare
	 * on the hot loops, exact for owned tables (checked at creation); the
	 * format's general kind bitmap serves guest walks. */
	uint64_t kind_field;			/* kind_mask << kind_shift */
	uint64_t table_kind[VI_PT_MAX_LEVELS];	/* table_bits[l] & kind_field */
};

#endif

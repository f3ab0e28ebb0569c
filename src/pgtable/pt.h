/* SPDX-License-Identifier: MIT */
/*
 * Internal contract between the page-table engine and its formats.
 *
 * Levels are numbered from the leaf up: level 0 holds the smallest pages
 * (4K/16K/64K), level levels-1 is the root. Level l covers
 * shift(l) = granule_shift + l * bits_per_level address bits per entry.
 *
 * A format (struct vi_pt_fmt) supplies only its descriptor encoding and
 * geometry rules; map, unmap, cut, lookup, iterate and the guest walk are
 * written once in engine.c / walk.c. The hot paths use the data fields
 * (present/table masks, a leaf template OR-ed with the output address) so a
 * run of entries is filled without an indirect call per entry; the function
 * pointers are called once per run or on slow paths only.
 */
#ifndef VI_PGTABLE_PT_H
#define VI_PGTABLE_PT_H

#include <stdbool.h>
#include <stdint.h>

#include <viommu/pgtable.h>

#include "util/compiler.h"

#define VI_PT_MAX_LEVELS 6

struct vi_pt_cfg;

struct vi_pt_fmt {
	const char *name;
	/* Fill the geometry of @c from the options (already size-checked copy).
	 * Returns 0 or -EINVAL. */
	int (*init)(struct vi_pt_cfg *c, const struct viommu_pgtable_opts *o);
	/* Non-address bits of a leaf at @level with @prot. */
	uint64_t (*leaf_bits)(const struct vi_pt_cfg *c, unsigned level, unsigned prot);
	/* Non-address bits of a table pointer. */
	uint64_t (*table_bits)(const struct vi_pt_cfg *c);
	/* Permissions a leaf grants (before combining with its tables). */
	unsigned (*leaf_prot)(const struct vi_pt_cfg *c, unsigned level, uint64_t pte);
	/* Permissions a table entry lets through to the levels below it. */
	unsigned (*table_prot)(const struct vi_pt_cfg *c, uint64_t pte);
	/* Guest walk only: validate a present entry @pte at @level that the
	 * masks classify as table (@is_table) or leaf; a VIOMMU_PT_FAULT_* or
	 * VIOMMU_PT_FAULT_NONE. */
	enum viommu_pt_fault (*check)(const struct vi_pt_cfg *c, unsigned level, uint64_t pte, bool is_table);
	/* Format fault code (VT-d reason) for a fault kind, or 0; @root: the
	 * fault is on the root table (reached through a context entry). */
	uint8_t (*fault_code)(enum viommu_pt_fault f, unsigned access, bool root);
	/* The level number the format's documentation uses for engine @level. */
	int (*fmt_level)(const struct vi_pt_cfg *c, unsigned level);
};

/*
 * Geometry and encoding parameters of one table, derived once from the
 * options. Immutable after init, so readers may use it without locks.
 */
struct vi_pt_cfg {
	const struct vi_pt_fmt *fmt;
	enum viommu_pt_format format;
	unsigned levels;
	unsigned granule_shift;
	unsigned bits_per_level;	/* bits indexed by a full table */
	unsigned top_bits;		/* bits indexed by the root (<= bits_per_level) */
	unsigned ias, oas;
	uint64_t pgsize_bitmap;		/* effective */
	uint32_t leaf_levels;		/* bit l: level l may hold leaves (format rule) */
	uint64_t oa_mask;		/* address bits of a descriptor: [oas-1 : granule_shift] */
	/* Classification: present iff pte & present_mask; at a level above 0,
	 * a present entry is a table iff (pte & table_mask) == table_val. */
	uint64_t present_mask;
	uint64_t table_mask, table_val;
};

static inline unsigned vi_pt_shift(const struct vi_pt_cfg *c, unsigned level)
{
	return c->granule_shift + level * c->bits_per_level;
}

static inline unsigned vi_pt_level_bits(const struct vi_pt_cfg *c, unsigned level)
{
	return level == c->levels - 1 ? c->top_bits : c->bits_per_level;
}

static inline unsigned vi_pt_index(const struct vi_pt_cfg *c, unsigned level, uint64_t iova)
{
	return (unsigned)((iova >> vi_pt_shift(c, level)) & vi_mask(vi_pt_level_bits(c, level)));
}

static inline bool vi_pt_present(const struct vi_pt_cfg *c, uint64_t pte)
{
	return (pte & c->present_mask) != 0;
}

/* A present entry at @level: table pointer (true) or leaf. */
static inline bool vi_pt_is_table(const struct vi_pt_cfg *c, unsigned level, uint64_t pte)
{
	return level > 0 && (pte & c->table_mask) == c->table_val;
}

/* Size in bytes of a table page; every table (also a short root) is one granule. */
static inline size_t vi_pt_page_size(const struct vi_pt_cfg *c)
{
	return (size_t)1 << c->granule_shift;
}

/* Fill @c from @o (a copy with sz already validated). */
int vi_pt_cfg_init(struct vi_pt_cfg *c, const struct viommu_pgtable_opts *o);

/* Copy the caller's options into a full-size zeroed struct; -EINVAL on bad sz. */
int vi_pt_opts_copy(struct viommu_pgtable_opts *dst, const struct viommu_pgtable_opts *src);

extern const struct vi_pt_fmt vi_pt_fmt_vtd;
extern const struct vi_pt_fmt vi_pt_fmt_arm;

#endif

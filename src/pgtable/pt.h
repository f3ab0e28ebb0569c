/* SPDX-License-Identifier: MIT */
/*
 * Internal contract between the page-table code and its formats.
 *
 * Levels are numbered from the leaf up: level 0 holds the smallest pages
 * (4K/16K/64K), level levels-1 is the root. Level l covers
 * shift(l) = granule_shift + l * bits_per_level address bits per entry.
 *
 * A format (struct vi_pt_fmt) supplies only its descriptor encoding and
 * geometry rules; map, unmap, cut, lookup, iterate and free (table.c) and the
 * guest walk (walk.c) are written once, over the one walk of iter.h. The hot
 * paths use the data fields (present mask, the entry-kind table, a leaf
 * template OR-ed with the output address) so a run of entries is filled and
 * classified without an indirect call per entry; the function pointers are
 * called once per run, on slow paths, or by the guest walk (one entry per
 * level).
 *
 * What a format must supply (docs/design.md, "IO page tables"):
 *  - geometry: granule, bits per level, level count, input/output widths,
 *    which levels hold leaves (init);
 *  - classification as data: a present mask and a small "kind" field whose
 *    values are table pointers or leaves (VT-d PS, ARM bits 1:0, AMD Next
 *    Level), so no per-entry call decides table vs leaf;
 *  - encoding: leaf bits per level and permissions, table-pointer bits per
 *    level (AMD writes the pointed-to level into its pointers), permission
 *    decoding;
 *  - guest-walk only: reserved-bit checks, and optionally where a pointer
 *    leads (next_level: levels may be skipped, the walker enforces that they
 *    strictly decrease) and how big a leaf is (leaf_shift: a size encoded in
 *    the entry, AMD NL=7); format fault codes and level numbering.
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
	/* Non-address bits of a leaf at @level with @perm (VIOMMU_PERM_* | VIOMMU_PT_ATTR_SNOOP). */
	uint64_t (*leaf_bits)(const struct vi_pt_cfg *c, unsigned level, unsigned perm);
	/* Non-address bits of a table pointer stored at @level (it points to
	 * a table of level - 1). Called once per level at creation. */
	uint64_t (*table_bits)(const struct vi_pt_cfg *c, unsigned level);
	/* Permissions a leaf grants (before combining with its tables). */
	unsigned (*leaf_perm)(const struct vi_pt_cfg *c, unsigned level, uint64_t pte);
	/* Permissions a table entry lets through to the levels below it. */
	unsigned (*table_perm)(const struct vi_pt_cfg *c, uint64_t pte);
	/* Guest walk only: validate a present entry @pte at @level that the
	 * masks classify as table (@is_table) or leaf; a VIOMMU_PT_FAULT_* or
	 * VIOMMU_PT_FAULT_NONE. */
	enum viommu_pt_fault (*check)(const struct vi_pt_cfg *c, unsigned level, uint64_t pte, bool is_table);
	/* Guest walk only, optional (NULL: always level - 1): the level of the
	 * table a present table entry at @level points to. May return any
	 * value; the walker faults (VIOMMU_PT_FAULT_LEVEL) unless it is below
	 * @level, which is what stops a hostile table from looping. */
	int (*next_level)(const struct vi_pt_cfg *c, unsigned level, uint64_t pte);
	/* Guest walk only, optional (NULL: vi_pt_shift(level)): log2 of the
	 * size of the leaf @pte at @level, for formats that encode a size in
	 * the entry. Only called on leaves check() accepted. */
	unsigned (*leaf_shift)(const struct vi_pt_cfg *c, unsigned level, uint64_t pte);
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
	unsigned in_bits;		/* input (IOVA) address width */
	unsigned out_bits;		/* output (physical) address width */
	uint64_t pgsize_bitmap;		/* effective */
	uint32_t leaf_levels;		/* bit l: level l may hold leaves (format rule) */
	uint64_t oa_mask;		/* address bits of a descriptor: [out_bits-1 : granule_shift] */
	/* Classification: present iff pte & present_mask. At a level above 0
	 * a present entry is a table iff bit k of table_kinds is set, where k =
	 * (pte >> kind_shift) & kind_mask is the entry's kind field (at most 5
	 * bits): VT-d PS (0 = table), ARM bits 1:0 (3 = table), AMD Next Level
	 * (1..6 = table; 0 and 7 are leaves). A bitmap rather than a mask
	 * equality so a format may have several table or leaf encodings. */
	uint64_t present_mask;
	unsigned kind_shift;
	uint32_t kind_mask;
	uint32_t table_kinds;
	/* Per level, derived from the geometry above by vi_pt_cfg_init(), so
	 * the walk's index arithmetic is a load, a shift and a mask. */
	uint8_t shift[VI_PT_MAX_LEVELS];	/* address bits below one entry of level l */
	uint32_t index_mask[VI_PT_MAX_LEVELS];	/* entries of a table of level l, minus 1 */
	uint64_t span_mask[VI_PT_MAX_LEVELS];	/* bytes a table of level l translates, minus 1 */
};

/* Any address bit at or above the input width (which may be 64). */
static inline bool vi_pt_beyond_input(const struct vi_pt_cfg *c, uint64_t addr)
{
	return c->in_bits < 64 && (addr >> c->in_bits);
}

static inline unsigned vi_pt_shift(const struct vi_pt_cfg *c, unsigned level)
{
	return c->shift[level];
}

/* Bits a table of @level indexes (the root's may be fewer). */
static inline unsigned vi_pt_level_bits(const struct vi_pt_cfg *c, unsigned level)
{
	return level == c->levels - 1 ? c->top_bits : c->bits_per_level;
}

/* Entries of a table at @level. */
static inline unsigned vi_pt_entries(const struct vi_pt_cfg *c, unsigned level)
{
	return c->index_mask[level] + 1;
}

/* The entry of the table at @level that translates @iova. */
static inline unsigned vi_pt_index(const struct vi_pt_cfg *c, unsigned level, uint64_t iova)
{
	return (unsigned)(iova >> c->shift[level]) & c->index_mask[level];
}

/* The last IOVA the table at @level containing @iova translates (2^64-1 for a 64-bit root). */
static inline uint64_t vi_pt_table_last(const struct vi_pt_cfg *c, unsigned level, uint64_t iova)
{
	return iova | c->span_mask[level];
}

/* @a and @b are translated by the same table of @level. */
static inline bool vi_pt_same_table(const struct vi_pt_cfg *c, unsigned level, uint64_t a, uint64_t b)
{
	return !((a ^ b) & ~c->span_mask[level]);
}

static inline bool vi_pt_present(const struct vi_pt_cfg *c, uint64_t pte)
{
	return (pte & c->present_mask) != 0;
}

/* A present entry at @level: table pointer (true) or leaf. */
static inline bool vi_pt_is_table(const struct vi_pt_cfg *c, unsigned level, uint64_t pte)
{
	return level > 0 && ((c->table_kinds >> ((pte >> c->kind_shift) & c->kind_mask)) & 1);
}

/* Size in bytes of a table page; every table (also a short root) is one granule. */
static inline size_t vi_pt_page_size(const struct vi_pt_cfg *c)
{
	return (size_t)1 << c->granule_shift;
}

/* Fill @c from @o (a copy made by vi_pt_opts_copy). 0 or -EINVAL, with the reason logged. */
int vi_pt_cfg_init(struct vi_pt_cfg *c, const struct viommu_pgtable_opts *o);

/*
 * The caller's options as this library knows them (src/util/opts.h: an older,
 * smaller struct reads as zeros beyond its sz; non-zero bytes beyond what we
 * know are refused). 0, or -EINVAL (NULL or a refused size, logged).
 */
int vi_pt_opts_copy(struct viommu_pgtable_opts *dst, const struct viommu_pgtable_opts *src);

extern const struct vi_pt_fmt vi_pt_fmt_vtd;
extern const struct vi_pt_fmt vi_pt_fmt_arm;
extern const struct vi_pt_fmt vi_pt_fmt_amd;

#endif

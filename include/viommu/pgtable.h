/* SPDX-License-Identifier: MIT */
/*
 * viommu IO page tables: one engine, several hardware formats.
 *
 * A struct viommu_pgtable owns a tree of table pages in one of the formats
 * below and offers map / unmap / cut / lookup / iterate over it. The same
 * formats can be walked read-only inside guest memory through a read callback
 * (viommu_pgtable_walk), which is what a vIOMMU model uses to read the tables a
 * guest wrote; that walk never allocates and turns every malformed table into
 * a precise fault.
 *
 * Formats:
 *  - VIOMMU_PT_VTD_SL: Intel VT-d second-stage, 3/4/5 levels, leaves 4K/2M/1G
 *    (VT-d specification, "Second-Stage Paging Entries"; Linux
 *    drivers/iommu/generic_pt/fmt/vtdss.h).
 *  - VIOMMU_PT_ARM_S1 / VIOMMU_PT_ARM_S2: ARM LPAE (VMSAv8-64) stage 1 / 2 with
 *    4K, 16K or 64K granules, input and output widths up to 48 bits (Arm ARM,
 *    "VMSAv8-64 translation table format descriptors"; Linux
 *    drivers/iommu/io-pgtable-arm.c).
 *  - VIOMMU_PT_AMD_V1: AMD-Vi host (v1) tables, 1..6 levels (the DTE's paging
 *    mode), input width up to 64 bits, output up to 52 (AMD IOMMU
 *    specification, "I/O Page Tables for Host Translations"; Linux
 *    drivers/iommu/generic_pt/fmt/amdv1.h). Owned tables map 4K/2M/1G leaves
 *    (Next Level 0) only; a guest walk also follows level-skipping pointers
 *    and decodes every "PTE with page size" (Next Level 7) from 8K to 2^52.
 *
 * Owned tables: each table page is one granule, allocated aligned to its size.
 * Without allocation hooks the "physical" address written into a table
 * descriptor is the host virtual address of the page, so a walk of an owned
 * table through viommu_pgtable_walk() with a read callback that dereferences
 * the address reads the very same entries.
 *
 * Permissions are VIOMMU_PERM_READ / VIOMMU_PERM_WRITE (viommu/common.h), plus
 * the attribute bit VIOMMU_PT_ATTR_SNOOP where a mapping's permissions go.
 *
 * Refusals: every call that refuses its arguments logs the exact range and the
 * reason through viommu_set_log() (warning level); a guest walk logs its
 * faults at debug level only, so a hostile guest cannot flood the log.
 *
 * Invalidation: every operation collects the IOVA ranges the IOTLB must drop
 * and the table pages that became free. In strict mode the flush callback runs
 * before the operation returns and the pages are freed after it. In lazy mode
 * both wait in a flush queue drained by size, by age, or explicitly; table
 * pages are never freed (hence never reused) before the flush that covers them.
 *
 * Concurrency: one writer (every call except the ones marked lock-free) and
 * any number of concurrent readers calling viommu_pgtable_lookup() /
 * viommu_pgtable_iova_to_phys(). A reader always sees either the old or the
 * new state of each entry: new tables are published with a release store after
 * they are initialised, and cut swaps a large leaf for an identically
 * translating subtree with one atomic store, so a reader of a range being cut
 * never sees a hole. A reader that may look up IOVAs whose tables are being
 * freed by a concurrent unmap must be waited for by the flush callback (as
 * hardware walkers are by an IOTLB flush): pages are freed only after it.
 */
#ifndef VIOMMU_PGTABLE_H
#define VIOMMU_PGTABLE_H

#include <viommu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct viommu_pgtable;

enum viommu_pt_format {
	VIOMMU_PT_VTD_SL = 1,	/* Intel VT-d second-stage */
	VIOMMU_PT_ARM_S1 = 2,	/* ARM LPAE stage 1 */
	VIOMMU_PT_ARM_S2 = 3,	/* ARM LPAE stage 2 */
	VIOMMU_PT_AMD_V1 = 4,	/* AMD-Vi v1 (host) page tables */
};

/*
 * A mapping attribute next to VIOMMU_PERM_READ / _WRITE in a map's @perm and
 * in the permissions a lookup or walk reports: cache-coherent access (VT-d
 * SNP; AMD FC; ARM normal write-back memory attributes). Not a permission: an
 * access never asks for it, and a walk ignores it in @access.
 */
#define VIOMMU_PT_ATTR_SNOOP 0x4u

/* What unmap does with a large leaf the range covers only partly. */
enum viommu_pt_unmap_policy {
	/* Refuse: nothing is changed and -EINVAL is returned (Linux's ARM
	 * tables since 6.13, drivers/iommu/io-pgtable-arm.c). */
	VIOMMU_PT_UNMAP_REFUSE_PARTIAL = 0,
	/* Remove the whole leaf and report its full size (VT-d, AMD, generic_pt:
	 * drivers/iommu/generic_pt/iommu_pt.h). A range starting inside a leaf
	 * still makes no progress (-EINVAL; generic_pt's kunit test_unmap_split). */
	VIOMMU_PT_UNMAP_WHOLE_LEAF = 1,
};

enum viommu_pt_inval_mode {
	VIOMMU_PT_INVAL_STRICT = 0,
	VIOMMU_PT_INVAL_LAZY = 1,
};

/* A closed IOVA range to invalidate. [0, UINT64_MAX] means "everything". */
struct viommu_pt_range {
	uint64_t first;
	uint64_t last;
};

/*
 * Invalidate the IOTLB (and walk caches) for @n ranges. Called from the
 * writer's thread; after it returns the engine frees the table pages the
 * operation released, so it must also wait for any lock-free reader that could
 * still be walking them.
 */
typedef void (*viommu_pt_flush_fn)(void *ctx, const struct viommu_pt_range *ranges, size_t n);

/* Monotonic time in nanoseconds (default: CLOCK_MONOTONIC). */
typedef uint64_t (*viommu_pt_clock_fn)(void *ctx);

/*
 * Optional hooks placing table pages in "real" memory: all three or none.
 * alloc returns zero-filled memory of @size bytes aligned to @size, whose
 * address translates through virt_to_phys; phys_to_virt is its inverse.
 */
struct viommu_pt_mem_ops {
	void *(*alloc)(void *ctx, size_t size);
	void (*free)(void *ctx, void *page, size_t size);
	uint64_t (*virt_to_phys)(void *ctx, void *page);
	void *(*phys_to_virt)(void *ctx, uint64_t phys);
	void *ctx;
};

/*
 * Configuration. Zero means "the format's default" for every field. @sz is
 * sizeof(struct viommu_pgtable_opts) as the caller was compiled (libbpf style):
 * an older, smaller struct reads as zeros beyond it; a newer, larger one is
 * accepted only if the bytes this library does not know are zero.
 */
struct viommu_pgtable_opts {
	size_t sz;
	enum viommu_pt_format format;
	/* VT-d: 3, 4 (default) or 5. AMD: 1..6 (default 4, or the fewest that
	 * cover in_bits). ARM: derived from in_bits and granule; if set it must match. */
	unsigned levels;
	/* ARM granule in bytes: 4096 (default), 16384 or 65536. VT-d, AMD: 4096 only. */
	unsigned granule;
	/* Input (IOVA) address width in bits. VT-d default 12 + 9 * levels (may be
	 * smaller: the MGAW); AMD likewise, at most 64; ARM default 48, range 25..48. */
	unsigned in_bits;
	/* Output (physical) address width in bits. Default 48; VT-d and AMD up to 52,
	 * ARM 32..48. */
	unsigned out_bits;
	/* Page sizes to use; 0 = all the format supports at this granule. A
	 * non-zero value is intersected with the supported set and must keep the
	 * granule (e.g. 4K only: 0x1000). */
	uint64_t pgsize_bitmap;
	enum viommu_pt_unmap_policy unmap_policy;
	enum viommu_pt_inval_mode inval_mode;
	viommu_pt_flush_fn flush;	/* may be NULL: invalidation is then a no-op */
	void *flush_ctx;
	/* Lazy mode: drain the flush queue at this many queued operations (default
	 * 256) or when the oldest is this old (default 10 ms), as Linux does. */
	unsigned fq_entries;
	uint64_t fq_timeout_ns;
	viommu_pt_clock_fn clock;	/* may be NULL */
	void *clock_ctx;
	const struct viommu_pt_mem_ops *mem;	/* may be NULL; copied */
	/* Guest walk only: permissions withheld above the root table
	 * (VIOMMU_PERM_READ / _WRITE), ANDed out like a table entry's: an AMD
	 * device table entry with IR or IW clear. 0 = none. */
	unsigned root_deny;
};

/* One leaf: [iova, iova + size - 1] -> [phys, phys + size - 1] with perm. */
struct viommu_pt_mapping {
	uint64_t iova;
	uint64_t phys;
	uint64_t size;
	unsigned perm;		/* VIOMMU_PERM_* | VIOMMU_PT_ATTR_SNOOP */
};

/*
 * A new empty table (one root page allocated), or NULL with errno EINVAL
 * (bad options, logged with the reason) or ENOMEM. O(1).
 */
VIOMMU_API struct viommu_pgtable *viommu_pgtable_new(const struct viommu_pgtable_opts *opts);

/*
 * Drain the flush queue (calling the flush callback if anything is pending)
 * and free every table page. NULL is allowed. O(table pages).
 */
VIOMMU_API void viommu_pgtable_free(struct viommu_pgtable *pt);

/* The address of the root table as written into hardware (context entry, TTBR, ...). O(1). */
VIOMMU_API uint64_t viommu_pgtable_root(const struct viommu_pgtable *pt);

/* The page sizes in use (the effective bitmap). O(1). */
VIOMMU_API uint64_t viommu_pgtable_pgsize_bitmap(const struct viommu_pgtable *pt);

/*
 * Map [iova, iova + size - 1] to [paddr, ...] with @perm (VIOMMU_PERM_READ
 * and/or _WRITE, optionally | VIOMMU_PT_ATTR_SNOOP), using the page sizes
 * Linux's iommu_pgsize() (drivers/iommu/iommu.c) would choose. *mapped (may
 * be NULL) receives the bytes mapped, also on failure; the caller unmaps that
 * much. Returns 0, or -EINVAL (no READ/WRITE, unknown bits, size 0,
 * misaligned to the smallest page), -ERANGE (beyond the input or output
 * width), -EEXIST (something is already mapped there; nothing is replaced),
 * -ENOMEM. Cost: O(leaves written + levels), allocating at most one table
 * per 512 (one per granule / 8) leaves plus one per level.
 */
VIOMMU_API int viommu_pgtable_map(struct viommu_pgtable *pt, uint64_t iova, uint64_t paddr, uint64_t size,
				  unsigned perm, uint64_t *mapped);

/*
 * Unmap the leaves in [iova, iova + size - 1]; holes are skipped. *unmapped
 * (may be NULL) receives the bytes removed, which under
 * VIOMMU_PT_UNMAP_WHOLE_LEAF may exceed @size. A large leaf that starts
 * before @iova, or (REFUSE_PARTIAL) ends after the range, makes the call fail
 * with -EINVAL and no change. Never splits a leaf silently: see
 * viommu_pgtable_cut(). Returns 0, -EINVAL (also misaligned / size 0),
 * -ERANGE. Cost: O(entries of the tables the range touches): holes inside a
 * present table are visited, absent tables are skipped whole. Never allocates.
 */
VIOMMU_API int viommu_pgtable_unmap(struct viommu_pgtable *pt, uint64_t iova, uint64_t size,
				    uint64_t *unmapped);

/*
 * Make @iova a leaf boundary: a large leaf spanning it is replaced by a
 * subtree of smaller leaves translating identically, built privately and
 * installed with one atomic store. The old leaf's range is invalidated.
 * Returns 0 (also when @iova is unmapped or already a boundary), -EINVAL
 * (@iova not aligned to the smallest page), -ERANGE, -ENOMEM (no change).
 * Cost: one table of stores per level below the leaf (one table for 2M, two
 * for 1G; more only for a page size the bitmap excludes).
 */
VIOMMU_API int viommu_pgtable_cut(struct viommu_pgtable *pt, uint64_t iova);

/*
 * Lock-free: the leaf containing @iova. Returns 0 and fills *out (not NULL),
 * or -ENOENT (not an error: nothing is logged). O(levels).
 */
VIOMMU_API int viommu_pgtable_lookup(const struct viommu_pgtable *pt, uint64_t iova,
				     struct viommu_pt_mapping *out);

/* Lock-free: the physical address of @iova, or 0 if unmapped (Linux convention). O(levels). */
VIOMMU_API uint64_t viommu_pgtable_iova_to_phys(const struct viommu_pgtable *pt, uint64_t iova);

/*
 * Call @fn for each leaf overlapping [first, last] in ascending order (whole
 * leaves, not clipped). A non-zero return from @fn stops the walk and is
 * returned. Returns 0, or -EINVAL if first > last or @fn is NULL. Cost:
 * O(entries of the tables the range touches).
 */
typedef int (*viommu_pt_leaf_fn)(const struct viommu_pt_mapping *m, void *ctx);
VIOMMU_API int viommu_pgtable_for_each(const struct viommu_pgtable *pt, uint64_t first, uint64_t last,
				       viommu_pt_leaf_fn fn, void *ctx);

/*
 * Lazy mode: drain the flush queue now (flush callback, then free the queued
 * pages). viommu_pgtable_flush_poll() drains only if the queue's oldest entry
 * has timed out; call it from an idle loop. Both are no-ops in strict mode.
 * Cost: one flush callback with one range (the queue keeps the hull of its
 * ranges) plus O(queued table pages), which the queue bounds by draining at
 * fq_entries operations; flush_poll without a drain is O(1) (one clock read).
 */
VIOMMU_API void viommu_pgtable_flush(struct viommu_pgtable *pt);
VIOMMU_API void viommu_pgtable_flush_poll(struct viommu_pgtable *pt);

/* Counters, for tests and statistics; call from the writer's thread. O(1). */
struct viommu_pgtable_stats {
	uint64_t table_pages;		/* table pages reachable from the root, root included */
	uint64_t pending_pages;		/* freed pages waiting in the flush queue */
	uint64_t pending_ops;		/* operations waiting in the flush queue */
	uint64_t flushes;		/* flush callback invocations */
	uint64_t pages_freed;		/* table pages returned to the allocator */
};
VIOMMU_API void viommu_pgtable_get_stats(const struct viommu_pgtable *pt, struct viommu_pgtable_stats *out);

/* ---- read-only walk of tables in guest memory ------------------------------ */

/* Read @len bytes at guest-physical @gpa into @buf; 0 or a negative errno. */
typedef int (*viommu_pt_read_fn)(void *ctx, uint64_t gpa, void *buf, size_t len);

enum viommu_pt_fault {
	VIOMMU_PT_FAULT_NONE = 0,
	VIOMMU_PT_FAULT_INPUT_RANGE,	/* iova beyond the input width (VT-d 4) */
	VIOMMU_PT_FAULT_TRANSLATION,	/* entry not present / invalid (VT-d 5 or 6) */
	VIOMMU_PT_FAULT_PERMISSION,	/* access not allowed (VT-d 5 or 6) */
	VIOMMU_PT_FAULT_RESERVED,	/* reserved bits set (VT-d 0xC) */
	VIOMMU_PT_FAULT_ADDR_SIZE,	/* address beyond the output width (VT-d 0xC) */
	VIOMMU_PT_FAULT_ACCESS_FLAG,	/* ARM AF clear */
	VIOMMU_PT_FAULT_WALK_ABORT,	/* reading a table failed (VT-d 7; 3 for the root table) */
	VIOMMU_PT_FAULT_LEVEL,		/* a table pointer's level does not decrease (AMD Next Level) */
};

/*
 * AMD-Vi reports these as (AMD IOMMU spec, event log): TRANSLATION and
 * INPUT_RANGE: IO_PAGE_FAULT with PR=0 (not present, address beyond the
 * paging mode, or non-zero address bits of skipped levels); PERMISSION:
 * IO_PAGE_FAULT PR=1 PE=1; RESERVED, ADDR_SIZE and LEVEL: IO_PAGE_FAULT PR=1
 * RZ=1 (reserved bits, an undecodable page size, an illegal Next Level);
 * WALK_ABORT: PAGE_TAB_HARDWARE_ERROR. vtd_reason stays 0 for AMD.
 */

struct viommu_pt_walk_result {
	enum viommu_pt_fault fault;	/* NONE on success */
	/* Success: the leaf containing iova. */
	uint64_t leaf_iova;		/* start of the leaf */
	uint64_t phys;			/* translation of the iova itself */
	uint64_t size;			/* leaf size */
	unsigned perm;			/* effective VIOMMU_PERM_* | VIOMMU_PT_ATTR_SNOOP, ANDed down the walk */
	/* Fault details. */
	int level;			/* format numbering: VT-d 1 (4K) .. 5; AMD 1 (4K) .. 6; ARM 0 .. 3 (3 = page) */
	uint8_t vtd_reason;		/* VT-d fault reason code, 0 for ARM and AMD */
	uint64_t entry;			/* the offending entry (0 if none was read) */
	uint64_t entry_addr;		/* where it was read from */
};

/*
 * Translate @iova for @access (VIOMMU_PERM_READ and/or _WRITE; 0 asks only
 * whether a translation exists) through the tables at @root in the format
 * @opts describes, reading entries with @read. Cost: O(levels), at most one
 * read of one entry per level, 6 at most (levels strictly decrease, also
 * where a format lets a pointer skip levels), plus the option checks;
 * never allocates; table pointers beyond the output width, read errors and
 * reserved bits give a precise fault, logged at debug level only.
 * opts->root_deny applies permissions granted above the root (AMD DTE).
 * Returns 0 (translated), -EFAULT (res->fault says why), -EINVAL (bad opts,
 * logged).
 */
VIOMMU_API int viommu_pgtable_walk(const struct viommu_pgtable_opts *opts, uint64_t root, viommu_pt_read_fn read,
				   void *ctx, uint64_t iova, unsigned access, struct viommu_pt_walk_result *res);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_PGTABLE_H */

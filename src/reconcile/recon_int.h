/* SPDX-License-Identifier: MIT */
/*
 * The reconcile engine's inside: what a desired-mapping source provides, and
 * the engine calls a source makes. One engine (reconcile.c) keeps every
 * backend equal to the desired mapping; a source (source_flat.c: an address
 * space's flat view; source_iommu.c: an IOMMU address space composed with a
 * flat view) says what the desired mapping is and which IOVA ranges of it
 * changed. Sources never call a backend and never touch a record.
 */
#ifndef VI_RECON_INT_H
#define VI_RECON_INT_H

#include <viommu/iommu.h>
#include <viommu/rangemap.h>
#include <viommu/reconcile.h>

/*
 * One piece of the desired mapping: IOVA [first, last] with one translation.
 * Pieces come in ascending IOVA order, disjoint, with holes where nothing is
 * desired. A source breaks pieces wherever its inputs are independent (a
 * section boundary, an IOMMU extent boundary): the engine keeps one host
 * mapping per run of pieces that meet at page-aligned points only where the
 * coalesce option allows it.
 */
struct vi_recon_piece {
	uint64_t first, last;
	uint64_t delta;			/* host address - IOVA, modulo 2^64 */
	unsigned perm;			/* VIOMMU_PERM_*, non-zero when mappable */
	bool mappable;
	bool device;			/* a RAM device: problems are skips (P2P only), not errors */
	bool unmergeable;
	const struct viommu_mr *mr;	/* the region, for reports; may be NULL */
	uint64_t out;			/* guest-physical address of @first, for reports */
	/* not mappable: the report to raise when the engine would map it (0: none) */
	enum viommu_recon_report_kind refuse;
};

/* A source's position; what the fields mean is the source's business. */
struct vi_recon_cursor {
	uint64_t addr;			/* next IOVA to describe */
	size_t idx;			/* a section index */
	struct viommu_iommu_xlat x;	/* the IOMMU extent being described */
	bool in_x, done;
};

struct vi_recon_source_ops {
	/* Position @c so that next() yields the pieces with last >= @addr. */
	void (*seek)(const struct viommu_recon *r, struct vi_recon_cursor *c, uint64_t addr);
	/* The next piece; false at the end of the space. */
	bool (*next)(const struct viommu_recon *r, struct vi_recon_cursor *c, struct vi_recon_piece *p);
	/*
	 * The lowest IOVA in (first, last] that is page aligned (@pm: page
	 * size - 1) and where the desired mapping can change independently
	 * although the pieces around it continue (a region boundary the flat
	 * view merged away), or 0 if none.
	 */
	uint64_t (*next_cut)(const struct viommu_recon *r, uint64_t pm, uint64_t first, uint64_t last);
	/*
	 * Take the current flat view as @view. The memory layer publishes a
	 * view whose sections are unchanged and only region boundaries moved
	 * without telling listeners, so the view held since the last commit may
	 * cut host mappings at stale boundaries; its translations are current.
	 */
	void (*refresh)(struct viommu_recon *r);
	/* The source's own changes for a commit under the naive policy (NULL: policy refused). */
	void (*naive_commit)(struct viommu_recon *r, const struct viommu_flatview *before);
	/* Unregister and free the source's state (backends are already gone). */
	void (*destroy)(struct viommu_recon *r);
};

/* A changed IOVA range. */
struct vi_recon_range { uint64_t first, last; };

/*
 * One attached backend and its record: what the engine mapped in it, as a
 * range map extent -> vaddr | perm | REC_STALE. The record changes only after
 * the backend accepted a call, so it always equals what the backend holds.
 */
struct vi_recon_backend {
	struct viommu_host *h;
	struct viommu_rangemap *maps;
	uint64_t page;			/* smallest IOMMU page: every extent is aligned to it */
	uint32_t nranges;		/* usable IOVA ranges, ascending */
	struct viommu_host_iova_range ranges[VIOMMU_HOST_CAPS_MAX_RANGES];
	struct viommu_recon_stats st;
	bool full;			/* the backend said ENOSPC in this work range: stop asking */
	bool dirty_on;			/* migrate.c: dirty logging started on this backend */
	bool dirty_untracked;		/* migrate.c: it cannot track: every mapped page counts as dirty */
	struct vi_recon_backend *next;
};

/* Record value bits below the (page aligned) host address. */
#define VI_REC_PERM	((uint64_t)VIOMMU_PERM_RW)
#define VI_REC_STALE	0x4ull		/* an unmap of this extent failed: the backend still holds it */
#define VI_REC_FLAGS	0x7ull

/*
 * Invariants: @view is the flat view the desired mapping is read from
 * (NULL when empty), referenced; every backend's record equals its backend.
 * @dirty lists the IOVA ranges the change being applied touched (sorted and
 * merged by vi_recon_apply). Locking: the caller's exclusion over the memory
 * model (and the IOMMU address space on the IOMMU path), see the header.
 */
struct viommu_recon {
	const struct vi_recon_source_ops *src;
	void *src_priv;
	struct viommu_memory *m;
	struct viommu_recon_opts opts;
	struct viommu_flatview *view;
	struct vi_recon_backend *backends;
	struct vi_recon_range *dirty;
	size_t ndirty, dirty_cap;
	bool dirty_all;			/* a range could not be recorded (ENOMEM): reconcile everything */
	int status;			/* first error of the last operation */
	struct viommu_recon_report first_error;
	uint64_t commits;
	bool dirty_logging;		/* migrate.c: viommu_recon_dirty_start() was called */
};

/* ---- what a source calls -------------------------------------------------- */

/* A reconciler over @src with checked options; NULL with errno EINVAL or ENOMEM. */
struct viommu_recon *vi_recon_alloc(struct viommu_memory *m, const struct viommu_recon_opts *opts,
				    const struct vi_recon_source_ops *src, const char *who);
/* Free what vi_recon_alloc made (after the source is gone). */
void vi_recon_release(struct viommu_recon *r);

/* Start collecting the changed ranges of one change. */
void vi_recon_dirty_reset(struct viommu_recon *r);
/* Note IOVA [first, last] as changed (any order; merged by vi_recon_apply). */
void vi_recon_dirty_add(struct viommu_recon *r, uint64_t first, uint64_t last);
/* One change applied (counted): reconcile every backend over the collected ranges (nothing if none). */
void vi_recon_apply(struct viommu_recon *r);

/* The index of the first section of @v with last >= @addr (the count if none); @v may be NULL. */
size_t vi_recon_section_from(const struct viommu_flatview *v, uint64_t addr);
/*
 * The lowest region boundary of @v in [first, last] that lands on a page
 * boundary once @shift is added (the IOVA of a guest-physical address): true
 * with it in *cut, false if none.
 */
bool vi_recon_view_cut(const struct viommu_flatview *v, uint64_t pm, uint64_t shift, uint64_t first,
		       uint64_t last, uint64_t *cut);

/* ---- the engine's host calls, for the naive policy --------------------- */

/*
 * Unmap [first, last] (page aligned, holding recorded extents) with one host
 * call, as QEMU's listener does for a section. @keep: bytes of unchanged
 * translation it removes (a window).
 */
void vi_recon_unmap_span(struct viommu_recon *r, struct vi_recon_backend *b, uint64_t first, uint64_t last,
			 uint64_t keep, const struct viommu_mr *mr);
/* Map what the desired mapping has in [first, last] and the record lacks. */
void vi_recon_map_missing(struct viommu_recon *r, struct vi_recon_backend *b, uint64_t first, uint64_t last);

#endif

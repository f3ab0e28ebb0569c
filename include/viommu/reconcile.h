/* SPDX-License-Identifier: MIT */
/*
 * viommu reconciler: keeps one or more host IOMMU backends equal to what an
 * address space's flat view says is DMA-mappable (RAM and RAM-device
 * sections, IOVA = guest-physical address), with the fewest host operations.
 *
 * It fixes QEMU's VFIO listener (semantics.md §1.3, §1.5, §4):
 *  - Only the real difference is applied. A range whose translation did not
 *    change (A + B merged into A', a rename, a re-parent) costs nothing.
 *  - A host mapping is only ever unmapped whole (no bisect) and only when its
 *    translation changed somewhere. Where a change touches part of a host
 *    mapping, the mapping is unmapped and its unchanged remainder re-mapped at
 *    once: that is the one unavoidable window, and it is counted.
 *  - Host extents follow flat-view sections (pieces of one region), further
 *    split at a configurable granule, so later changes rarely touch part of
 *    one; unmergeable regions (hot-plug blocks) always get their own mappings.
 *  - A RAM-device range not aligned to the backend's smallest page is skipped
 *    with a non-fatal report; RAM that cannot be mapped (misaligned, in a
 *    reserved window, refused by the backend) is an error with its exact range.
 *  - Several backends at once; one attached later is given the full current
 *    mapping from the model, never a replay of history.
 *  - A backend failure mid-commit leaves the recorded state equal to what the
 *    backend holds; viommu_recon_resync() repairs the difference later.
 *
 * Concurrency: a reconciler is driven by its memory model's commits and must
 * be used under the same exclusion as the model.
 */
#ifndef VIOMMU_RECONCILE_H
#define VIOMMU_RECONCILE_H

#include <viommu/common.h>
#include <viommu/host.h>
#include <viommu/memory.h>

#ifdef __cplusplus
extern "C" {
#endif

struct viommu_recon;

enum viommu_recon_policy {
	/* Apply only the real difference (the default). */
	VIOMMU_RECON_MINIMAL = 0,
	/*
	 * QEMU's VFIO listener, for comparison: every old section that is not
	 * identical in the new view is unmapped (region_del), every new one
	 * that was not identical before is mapped (region_add).
	 */
	VIOMMU_RECON_NAIVE = 1,
};

/* What a report is about. */
enum viommu_recon_report_kind {
	/* RAM device not aligned to the backend's page size: skipped, P2P
	 * to it will not work (non-fatal, as in QEMU, but reported). */
	VIOMMU_RECON_SKIP_UNALIGNED_DEVICE = 1,
	/* RAM device inside a reserved IOVA window: skipped (non-fatal). */
	VIOMMU_RECON_SKIP_RESERVED_DEVICE,
	/* RAM whose edges are not page aligned: the partial pages are not
	 * mapped (error). */
	VIOMMU_RECON_ERR_UNALIGNED_RAM,
	/* RAM inside a reserved IOVA window: not mapped (error). */
	VIOMMU_RECON_ERR_RESERVED_RAM,
	/* A backend map or unmap failed (error; @err is its errno). */
	VIOMMU_RECON_ERR_BACKEND,
};

struct viommu_recon_report {
	enum viommu_recon_report_kind kind;
	int err;			/* negative errno */
	uint64_t first, last;		/* the exact IOVA range concerned */
	struct viommu_host *backend;	/* NULL when not backend specific */
	const char *region;		/* the region's name, valid during the callback */
	bool is_unmap;			/* ERR_BACKEND: the failing call was an unmap */
};

typedef void (*viommu_recon_report_fn)(void *ctx, const struct viommu_recon_report *r);

struct viommu_recon_opts {
	size_t sz;			/* sizeof(struct viommu_recon_opts) */
	enum viommu_recon_policy policy;
	/*
	 * Host extents never cross a multiple of this (a power of two, at least
	 * the backend page size; 0: no split). Use the unplug granularity of a
	 * large region (DPDK's chunk size) so an unplug never bisects.
	 */
	uint64_t extent_granule;
	/*
	 * Map adjacent mappable sections whose host memory is contiguous (and
	 * that are not unmergeable) as one host mapping, to stay inside the
	 * mapping budget. Off by default: a later change to one of them opens a
	 * window over the others.
	 */
	bool coalesce;
	/* Leave RAM-device sections (BARs) unmapped: no peer-to-peer DMA. */
	bool skip_ram_device;
	viommu_recon_report_fn report;	/* every report, as it happens (may be NULL) */
	void *report_ctx;
};

/*
 * A reconciler for address space @as of model @m. It registers a listener on
 * @as (receiving the current state at once; with no backend yet that costs
 * nothing). Returns NULL with errno EINVAL or ENOMEM.
 */
VIOMMU_API struct viommu_recon *viommu_recon_new(struct viommu_memory *m, struct viommu_as *as,
						 const struct viommu_recon_opts *opts);
/* Unregister and free. The backends keep their mappings (detach first to unmap). NULL is allowed. */
VIOMMU_API void viommu_recon_free(struct viommu_recon *r);

/*
 * Attach a backend and give it the full current mapping. Returns 0, or the
 * first error (the backend stays attached with what did get mapped; see
 * viommu_recon_resync()). -EEXIST if already attached, -EINVAL.
 */
VIOMMU_API int viommu_recon_attach(struct viommu_recon *r, struct viommu_host *h);
/* Detach a backend, unmapping everything the reconciler mapped in it if @unmap. 0, -ENOENT, or an unmap error. */
VIOMMU_API int viommu_recon_detach(struct viommu_recon *r, struct viommu_host *h, bool unmap);

/*
 * The errors of the most recent commit (or attach/resync): 0 if none, else the
 * first error's negative errno, with its report copied to *first_error (may
 * be NULL; its region pointer is then NULL).
 */
VIOMMU_API int viommu_recon_status(const struct viommu_recon *r, struct viommu_recon_report *first_error);

/*
 * Bring every backend back to the desired state over the whole space (after a
 * failure, or to be safe). Uses the same rule as a commit: a host mapping is
 * kept if it translates exactly as desired. Returns 0 or the first error.
 */
VIOMMU_API int viommu_recon_resync(struct viommu_recon *r);

struct viommu_recon_stats {
	size_t sz;			/* sizeof(struct viommu_recon_stats) */
	uint64_t commits;		/* commits that changed the view */
	uint64_t map_ops, unmap_ops;	/* host calls made (failed ones included) */
	uint64_t map_bytes, unmap_bytes;
	uint64_t windows;		/* unmaps that removed an unchanged translation */
	uint64_t window_bytes;		/* bytes of unchanged translation unmapped */
	uint64_t skipped;		/* non-fatal reports */
	uint64_t errors;		/* error reports */
	uint64_t mappings;		/* host mappings held now (all backends) */
	uint64_t max_mappings;		/* the most held at once by one backend */
};

/* Totals for backend @h, or for all backends when @h is NULL. 0, -ENOENT, -EINVAL. */
VIOMMU_API int viommu_recon_get_stats(const struct viommu_recon *r, const struct viommu_host *h,
				      struct viommu_recon_stats *st);

/*
 * Invariant check of a simulated backend: every IOVA the flat view says is
 * mappable (and the reconciler could map) translates in @h to the host
 * address the view gives, with the right permissions, and nothing else is
 * mapped; the reconciler's record equals the backend's mappings. Returns 0;
 * -EINVAL (not attached or not simulated); -EIO if the record differs from
 * the backend or a mapping translates otherwise than the view (a bug, never
 * legitimate); -ENOENT if something mappable is not mapped (legitimate only
 * after a reported error, e.g. ENOSPC). The first difference's range goes
 * to *where (may be NULL).
 */
VIOMMU_API int viommu_recon_check(struct viommu_recon *r, struct viommu_host *h, struct viommu_recon_report *where);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_RECONCILE_H */

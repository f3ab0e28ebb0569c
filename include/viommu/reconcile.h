/* SPDX-License-Identifier: MIT */
/*
 * viommu reconciler: one engine that keeps one or more host IOMMU backends
 * equal to a *desired mapping* with the fewest host operations. The desired
 * mapping comes from one of two sources:
 *  - viommu_recon_new(): an address space's flat view, every RAM and
 *    RAM-device section DMA-mappable at IOVA = guest-physical address (a
 *    device without a vIOMMU; QEMU's VFIO memory listener,
 *    hw/vfio/listener.c, does this job);
 *  - viommu_recon_new_iommu(): an IOMMU address space's shadow (IOVA ->
 *    guest-physical, include/viommu/iommu.h) composed with the system address
 *    space's flat view (guest-physical -> host address): a passthrough device
 *    behind a vIOMMU (QEMU's vfio_iommu_map_notify does this job).
 * Whatever the source, the rules are the same (docs/design.md, "The
 * reconciler"; docs/reference.md for the kernel rules they rest on):
 *  - Only the real difference is applied. A range whose translation did not
 *    change (A + B merged into A', a rename, a re-parent, a memory commit no
 *    IOMMU translation points at) costs nothing.
 *  - A host mapping is only ever unmapped whole (VFIO type1 v2 refuses to
 *    bisect one) and only when its translation changed somewhere. Where a
 *    change touches part of a host mapping, the mapping is unmapped and its
 *    unchanged remainder re-mapped at once: that is the one unavoidable
 *    window (no kernel uAPI replaces a mapping in place), and it is counted.
 *  - Host mappings follow the source's pieces (flat-view sections; IOMMU
 *    extents cut where their output crosses sections), cut at region
 *    boundaries and at a configurable granule, so later changes rarely touch
 *    part of one; unmergeable regions (hot-plug blocks) always get their own.
 *  - Only whole pages inside the backend's usable IOVA ranges are mapped; the
 *    rest is reported with its exact range: skipped (RAM devices, IOMMU
 *    translations onto MMIO or holes) or an error (RAM).
 *  - Several backends at once; one attached later is given the full current
 *    mapping from the source, never a replay of history.
 *  - A backend failure mid-change leaves each backend's record equal to what
 *    the backend holds (a failed unmap is recorded as "still mapped");
 *    viommu_recon_resync() repairs the difference later.
 *
 * Concurrency: a reconciler is driven by its memory model's commits (and, on
 * the IOMMU path, by its IOMMU address space's syncs) and must be used under
 * the same exclusion as those.
 */
#ifndef VIOMMU_RECONCILE_H
#define VIOMMU_RECONCILE_H

#include <viommu/common.h>
#include <viommu/host.h>
#include <viommu/iommu.h>
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
	/*
	 * A backend map or unmap failed (error; @err is its errno), or an unmap
	 * removed other than the bytes recorded there (@err -EIO).
	 */
	VIOMMU_RECON_ERR_BACKEND,
	/*
	 * IOMMU path: the IOMMU translates the IOVA range to guest-physical
	 * addresses that are not RAM or a RAM device (MMIO, nothing): not
	 * mapped, DMA there faults (non-fatal: it is the guest's choice).
	 */
	VIOMMU_RECON_SKIP_NOT_RAM,
};

struct viommu_recon_report {
	enum viommu_recon_report_kind kind;
	int err;			/* negative errno */
	uint64_t first, last;		/* the exact IOVA range concerned */
	struct viommu_host *backend;	/* NULL when not backend specific */
	const char *region;		/* the region's name, valid during the callback; may be NULL */
	bool is_unmap;			/* ERR_BACKEND: the failing call was an unmap */
	uint64_t out;			/* guest-physical address of @first (= @first on the flat-view path) */
};

typedef void (*viommu_recon_report_fn)(void *ctx, const struct viommu_recon_report *r);

struct viommu_recon_opts {
	size_t sz;			/* sizeof(struct viommu_recon_opts) */
	enum viommu_recon_policy policy;	/* NAIVE: flat-view path only */
	/*
	 * Host extents never cross a multiple of this (a power of two, at least
	 * the backend page size; 0: no split). Use the unplug granularity of a
	 * large region (DPDK's chunk size) so an unplug never bisects.
	 */
	uint64_t extent_granule;
	/*
	 * Map adjacent mappable pieces (sections; IOMMU extents) whose host
	 * memory is contiguous, with equal permissions and not unmergeable, as
	 * one host mapping, to stay inside the mapping budget. Off by default: a
	 * later change to one of them opens a window over the others.
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
 * nothing). @opts is checked by the options rule (its sz first; an older,
 * smaller struct works, unknown non-zero bytes are refused). Returns NULL
 * with errno EINVAL (bad arguments or options, logged) or ENOMEM. Cost:
 * O(sections) for the registration. Per memory commit of @as (minimal
 * policy), worst case O((d + k + c) log n) for d changed ranges, k host
 * mappings they touch and c region boundaries inside the new mappings, n
 * the sections and boundaries of the view (one descent each:
 * viommu_flatview_lower, viommu_flatview_next_boundary), never O(n) per
 * commit; the naive policy is O(n log n) per commit (QEMU's listener).
 */
VIOMMU_API struct viommu_recon *viommu_recon_new(struct viommu_memory *m, struct viommu_as *as,
						 const struct viommu_recon_opts *opts);
/*
 * A reconciler for IOMMU address space @ias (IOVA -> guest-physical) whose
 * outputs are resolved in @sys, an address space of model @m. It listens to
 * both: an IOMMU event reconciles the event's extent; a memory commit
 * reconciles exactly the IOVA ranges whose output the commit changed, found
 * through an index from output address to IOVA extents, so it costs
 * O((d + k) log n) for d changed ranges touching k extents of n, and nothing
 * at all when no extent points at what changed. Policy must be
 * VIOMMU_RECON_MINIMAL. Free the reconciler before @ias and @sys, and not from
 * inside one of their callbacks. NULL with errno EINVAL or ENOMEM (or the
 * error of a listener registration). Cost: O(n log n + sections) for the
 * registrations.
 */
VIOMMU_API struct viommu_recon *viommu_recon_new_iommu(struct viommu_memory *m, struct viommu_as *sys,
						       struct viommu_iommu_as *ias,
						       const struct viommu_recon_opts *opts);
/*
 * Unregister and free. The backends keep their mappings (detach first to
 * unmap). NULL is allowed. Cost: O(n) in the records and the source's index.
 */
VIOMMU_API void viommu_recon_free(struct viommu_recon *r);

/*
 * Attach a backend and give it the full current mapping. Returns 0, or the
 * first error (the backend stays attached with what did get mapped; see
 * viommu_recon_resync()). -EEXIST if already attached, -EINVAL (also for a
 * backend page smaller than 8 bytes or above the granule, logged). Cost:
 * O(p log m) for p pieces of the desired mapping and m mappings made.
 */
VIOMMU_API int viommu_recon_attach(struct viommu_recon *r, struct viommu_host *h);
/*
 * Detach a backend, unmapping everything the reconciler mapped in it if
 * @unmap (one call per host mapping). 0, -ENOENT, or an unmap error (the
 * backend then stays attached, its record exact). Cost: O(m log m).
 */
VIOMMU_API int viommu_recon_detach(struct viommu_recon *r, struct viommu_host *h, bool unmap);

/*
 * The errors of the most recent commit (or attach/resync): 0 if none, else the
 * first error's negative errno, with its report copied to *first_error (may
 * be NULL; its region pointer is then NULL). O(1).
 */
VIOMMU_API int viommu_recon_status(const struct viommu_recon *r, struct viommu_recon_report *first_error);

/*
 * Bring every backend back to the desired state over the whole space (after a
 * failure, or to be safe). Uses the same rule as a commit: a host mapping is
 * kept if it translates exactly as desired; one whose unmap failed is
 * unmapped again. Returns 0 or the first error. Cost: O(p log m) per backend.
 */
VIOMMU_API int viommu_recon_resync(struct viommu_recon *r);

struct viommu_recon_stats {
	size_t sz;			/* sizeof(struct viommu_recon_stats) */
	uint64_t commits;		/* changes applied: memory commits that changed the view, IOMMU events */
	uint64_t map_ops, unmap_ops;	/* host calls made (failed ones included) */
	uint64_t map_bytes, unmap_bytes;
	uint64_t windows;		/* unmaps that removed an unchanged translation */
	uint64_t window_bytes;		/* bytes of unchanged translation unmapped */
	uint64_t skipped;		/* non-fatal reports */
	uint64_t errors;		/* error reports */
	uint64_t mappings;		/* host mappings held now (all backends) */
	uint64_t max_mappings;		/* the most held at once by one backend */
};

/*
 * Totals for backend @h, or for all backends when @h is NULL, written by the
 * options rule (min(st->sz, known) bytes). 0, -ENOENT, -EINVAL.
 */
VIOMMU_API int viommu_recon_get_stats(const struct viommu_recon *r, const struct viommu_host *h,
				      struct viommu_recon_stats *st);

/*
 * Invariant check of a simulated backend: every IOVA the desired mapping
 * says is mappable (and the reconciler could map) translates in @h to the
 * host address the source gives, with the right permissions, and nothing
 * else is mapped; the reconciler's record equals the backend's mappings.
 * Returns 0;
 *  -EINVAL  not attached or not simulated;
 *  -EIO     the record differs from the backend, or a mapping the record
 *           holds as good translates otherwise than desired (a bug, never
 *           legitimate; takes precedence over the others);
 *  -ESTALE  a mapping whose unmap failed is still held, exactly as the record
 *           says (legitimate after that reported failure, until a resync);
 *  -ENOENT  something mappable is not mapped (legitimate only after a
 *           reported error, e.g. ENOSPC).
 * The first such range goes to *where (may be NULL). Cost: O(n) in the
 * backend's mappings and the desired mapping's pieces.
 */
VIOMMU_API int viommu_recon_check(struct viommu_recon *r, struct viommu_host *h, struct viommu_recon_report *where);

/*
 * The same check limited to [first, last], for a caller that checks after
 * every change only where the change was: the record's entries overlapping
 * the range equal the desired mapping and translate so in @h; every leaf of
 * the simulator's page table in the range is a translation the record holds;
 * every mappable page of the range is mapped; and the backend holds as many
 * mappings as the record (boundaries between adjacent host mappings outside
 * a walk of all of them are left to viommu_recon_check). Same returns, plus
 * -EINVAL for first > last. Cost: O(k log n) for the k record entries, page
 * table leaves and desired pieces overlapping the range, n the record's size.
 */
VIOMMU_API int viommu_recon_check_range(struct viommu_recon *r, struct viommu_host *h, uint64_t first,
					uint64_t last, struct viommu_recon_report *where);

/* ---- live migration and live update (src/reconcile/migrate.c) ---------- */

/*
 * Start / stop dirty logging on every attached backend (type1
 * VFIO_IOMMU_DIRTY_PAGES, iommufd IOMMU_HWPT_SET_DIRTY_TRACKING). A backend
 * that cannot track (type1 v1: EACCES; an iommufd domain without dirty ops:
 * EOPNOTSUPP) is not an error: every page it maps counts as dirty in the log,
 * as QEMU counts every mapped page when nothing can track. 0, or the first
 * other error of a backend (the others are still started). O(backends).
 */
VIOMMU_API int viommu_recon_dirty_start(struct viommu_recon *r);
VIOMMU_API int viommu_recon_dirty_stop(struct viommu_recon *r);

/* What a viommu_recon_dirty_log() call found (an output struct under the size rule). */
struct viommu_recon_dirty {
	size_t sz;
	uint64_t pages;			/* guest pages newly marked in the caller's bitmap */
	uint64_t host_calls;		/* dirty reads made */
	uint32_t untracked;		/* backends that cannot track: all their mapped pages counted */
	uint64_t unattributed;		/* dirty IOVA bytes no desired translation explains (after an error) */
};

/*
 * The guest pages the devices may have written since the last call (or the
 * start): bit i of @bitmap (64-bit words) stands for the 4 KiB guest page at
 * @gpa + i * 4096, for @npages pages; bits are set, never cleared (the
 * caller clears what it has sent). Each backend's dirty bits are read over
 * its host mappings, in windows of back-to-back mappings (type1 reads every
 * mapped page as dirty: the kernel cannot see a device's writes; iommufd on a
 * domain that tracks reads what the IOMMU saw written), and carried back to
 * guest-physical addresses through the desired mapping (flat-view path:
 * IOVA = guest-physical; IOMMU path: through the IOMMU translation the
 * mapping came from). @out (may be NULL) gets the counts. 0, -EINVAL (not
 * started, gpa not page aligned, npages 0 or past 2^64), or the first
 * backend's read error. Cost: O(m + mapped pages / 64) for m host mappings,
 * with one host call per window of at most 2^15 pages.
 */
VIOMMU_API int viommu_recon_dirty_log(struct viommu_recon *r, uint64_t gpa, uint64_t npages, uint64_t *bitmap,
				      struct viommu_recon_dirty *out);

/*
 * Live update (QEMU's CPR): the host memory [old_first, old_last] is now
 * reachable at @new_first as well (the same pages, e.g. a memfd mapped a
 * second time). Every host mapping whose user range lies inside it gets the
 * new user address without being unmapped: type1 VFIO_DMA_UNMAP_FLAG_VADDR
 * over each run of them, then VFIO_DMA_MAP_FLAG_VADDR per mapping. The IOMMU
 * keeps translating to the pinned pages throughout, so device DMA never
 * stops. The records follow, so call it right before (or inside the
 * transaction of) the commit that moves the regions to the new host
 * addresses: that commit finds every mapping already as desired and makes no
 * host call. Returns the number of host calls made, or a negative errno with
 * nothing done: -EOPNOTSUPP if a backend has no user-address update (iommufd,
 * whose live update is IOMMU_IOAS_CHANGE_PROCESS for file mappings only),
 * -EINVAL if a mapping straddles the range's edge (it cannot be split), the
 * move is not a multiple of the IOMMU page or the range wraps; or a
 * backend's error (reported; the mappings still invalid get their old
 * address back). Cost: O(m) over the m host mappings of every backend.
 */
VIOMMU_API long viommu_recon_update_vaddr(struct viommu_recon *r, uint64_t old_first, uint64_t old_last,
					  uint64_t new_first);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_RECONCILE_H */

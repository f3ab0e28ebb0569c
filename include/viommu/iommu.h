/* SPDX-License-Identifier: MIT */
/*
 * viommu IOMMU events and shadowing: the layer between a vIOMMU model (whose
 * guest writes page tables and issues invalidations) and the consumers of its
 * translations: the reconcile engine for passthrough devices
 * (viommu_recon_new_iommu, include/viommu/reconcile.h), vhost-style device
 * IOTLBs, emulated devices. It does what QEMU's IOMMU notifiers
 * (include/exec/memory.h: IOMMUNotifier, memory_region_notify_iommu) do, less
 * their two defects (docs/reference.md, "IOMMU notifiers"): no event for a
 * live translation replaced, and every range split into power-of-two pieces.
 *
 * An IOMMU address space (struct viommu_iommu_as, one per device / PASID)
 * keeps a shadow: the translations its listeners have been told, as a set of
 * disjoint *extents* [first, last] -> out, perm. viommu_iommu_sync() reads the
 * guest's current view of a range through a read-view callback and tells the
 * listeners the minimal difference:
 *   identical -> nothing; new -> MAP; gone -> UNMAP of the recorded extent;
 *   changed -> one CHANGE over the recorded extent carrying the old
 *   translation and the new pieces (never an UNMAP that bisects it).
 *
 * Extents. A recorded extent is only ever announced, changed or removed
 * whole, so a consumer that maps each event's range as one host mapping never
 * has to bisect one (VFIO type1 v2 refuses that: drivers/vfio/vfio_iommu_type1.c,
 * vfio_dma_do_unmap). New guest leaves that are contiguous in input and output
 * with equal permissions are merged into one extent when they appear in one
 * sync. Extents are never merged after they were announced (not in replay
 * either): a later change to one of them would otherwise have to undo more
 * than it changed.
 *
 * CHANGE. One CHANGE event is about exactly one recorded extent O (the event's
 * [first, last], out, perm are O's old translation). Its new pieces
 * (ev->pieces, ev->npieces, or viommu_iommu_event_for_each_new()) are the
 * guest's translation runs inside O: sorted, disjoint, within [first, last],
 * at least one, possibly with holes between them (addresses of O not covered
 * by a piece are now unmapped). After the event the pieces are the recorded
 * extents in place of O. A change that covers two old extents is two CHANGE
 * events.
 *
 * Delivery to a listener, per event, in this order of steps:
 *   1. crop to the listener's [first, last] (a CHANGE whose crop no longer
 *      differs is dropped; one with no new piece left in the crop becomes an
 *      UNMAP of the crop);
 *   2. without VIOMMU_IOMMU_CAP_CHANGE, a CHANGE becomes UNMAP of the old
 *      extent followed by MAP of every new piece: the DMA window this opens is
 *      counted in the statistics (windows);
 *   3. without VIOMMU_IOMMU_CAP_ARBITRARY, every range (the event's and every
 *      new piece's) is lowered to its minimal cover by naturally aligned
 *      power-of-two blocks (viommu_pow2_*): one event per block, a CHANGE per
 *      block of the old extent with the new pieces inside that block.
 *   4. only kinds in the listener's mask are delivered.
 * Lowering is a function of the extent alone, so the pieces an UNMAP or
 * CHANGE names are exactly pieces the listener was given before. After the
 * events of one sync, unmap_all or registration replay, each listener that
 * got at least one has its commit callback called (if set): a consumer can
 * apply a whole invalidation at once.
 *
 * Interrupt window: with opts.msi_window set, bytes whose input or output
 * address lies in [msi_first, msi_last] are treated as holes of the guest view
 * (x86 remaps interrupts there, Intel VT-d spec 3.15 "Handling Requests to
 * Interrupt Address Range"): they are never recorded nor delivered. A leaf
 * crossing the window is clipped, not refused. Listener ranges are not split
 * by it.
 *
 * Concurrency: none inside; one thread at a time per IOMMU address space.
 * Listener callbacks run inside sync/register and must not call back into the
 * same IOMMU address space (such calls fail with -EBUSY), except for the
 * lookups.
 */
#ifndef VIOMMU_IOMMU_H
#define VIOMMU_IOMMU_H
#include <viommu/common.h>
#include <viommu/pgtable.h>
#ifdef __cplusplus
extern "C" {
#endif

struct viommu_iommu_as;

/* Event kinds; also the bits of a listener's kinds mask. */
#define VIOMMU_IOMMU_EV_MAP		0x1u	/* a new translation */
#define VIOMMU_IOMMU_EV_UNMAP		0x2u	/* a translation removed */
#define VIOMMU_IOMMU_EV_CHANGE		0x4u	/* a live translation replaced */
#define VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP	0x8u	/* device-TLB invalidation (no shadow change) */
#define VIOMMU_IOMMU_EV_ALL		0xfu

/* Listener capabilities. */
#define VIOMMU_IOMMU_CAP_ARBITRARY	0x1u	/* takes any range, not only aligned 2^n blocks */
#define VIOMMU_IOMMU_CAP_CHANGE		0x2u	/* takes CHANGE events */

/* One translation run: input [first, last] -> output out.., permissions. */
struct viommu_iommu_xlat {
	uint64_t first;
	uint64_t last;
	uint64_t out;		/* output address of @first */
	unsigned perm;		/* VIOMMU_PERM_* (common.h); neither bit: a hole */
};

/*
 * One event, valid during the callback only. [first, last] is the input
 * range; out/perm its translation (MAP: new; UNMAP: the one removed; CHANGE:
 * the old one; DEVIOTLB_UNMAP: 0).
 */
struct viommu_iommu_event {
	unsigned kind;				/* one VIOMMU_IOMMU_EV_* bit */
	uint64_t first;
	uint64_t last;
	uint64_t out;
	unsigned perm;
	struct viommu_iommu_as *source;
	uint32_t source_id;			/* opts.source_id (e.g. the requester id) */
	/*
	 * CHANGE: the new pieces, cropped to [first, last] and, for a listener
	 * without VIOMMU_IOMMU_CAP_ARBITRARY, lowered; at least one. Other
	 * kinds: NULL and 0.
	 */
	const struct viommu_iommu_xlat *pieces;
	size_t npieces;
};

/* A cursor over the new pieces of a CHANGE event (ev->pieces in order). */
struct viommu_iommu_piece_iter {
	struct viommu_iommu_xlat piece;		/* the current piece, while @valid */
	const struct viommu_iommu_event *ev;	/* the event walked */
	size_t idx;				/* @piece is ev->pieces[idx] */
	bool valid;				/* false once past the last piece */
};
/* Position on the first new piece; false if there is none (not a CHANGE). O(1). */
VIOMMU_API bool viommu_iommu_piece_start(struct viommu_iommu_piece_iter *it, const struct viommu_iommu_event *ev);
/* Step to the next piece; false at the end. O(1). */
VIOMMU_API bool viommu_iommu_piece_next(struct viommu_iommu_piece_iter *it);
/* Declares nothing, so it nests (with another iterator) without -Wshadow warnings. */
#define viommu_iommu_event_for_each_new(it, ev)						\
	for (viommu_iommu_piece_start((it), (ev)); (it)->valid; viommu_iommu_piece_next(it))

struct viommu_iommu_listener;
typedef void (*viommu_iommu_notify_fn)(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev);

/*
 * A listener: the struct belongs to the caller and must stay valid while
 * registered; its fields are read once, at registration (options rule: an
 * older caller's smaller struct works, unknown non-zero bytes are refused).
 * @first..@last is the input range it cares about.
 */
struct viommu_iommu_listener {
	size_t sz;			/* sizeof(struct viommu_iommu_listener) */
	uint64_t first;
	uint64_t last;
	unsigned kinds;			/* VIOMMU_IOMMU_EV_* mask */
	unsigned caps;			/* VIOMMU_IOMMU_CAP_* */
	viommu_iommu_notify_fn notify;
	void *opaque;
	/* After the events of one operation (sync, unmap_all, replay), if any reached it; may be NULL. */
	void (*commit)(struct viommu_iommu_listener *l);
};

/*
 * The guest's view, filled by a read-view callback with
 * viommu_iommu_view_add(). Opaque.
 */
struct viommu_iommu_view;

/*
 * Report the guest's translations overlapping [first, last] by calling
 * viommu_iommu_view_add() once per leaf in ascending order (holes are simply
 * not reported; leaves may extend beyond the range, they are clipped).
 * Return 0, or a negative errno (a guest table that cannot be read or is
 * malformed): sync then changes nothing and returns that error.
 */
typedef int (*viommu_iommu_read_fn)(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *view);

/*
 * Add one leaf [first, last] -> out with @perm (0: a hole, ignored).
 * Returns 0; -EINVAL if first > last, the leaf is not aligned to the page
 * size (first, last + 1, out), perm has unknown bits, out + size wraps, or it
 * overlaps or precedes the previous leaf. An error also poisons the view:
 * the sync that asked fails with -EINVAL and changes nothing. Refusals are
 * logged at debug level (the guest controls them). Amortised O(1).
 */
VIOMMU_API int viommu_iommu_view_add(struct viommu_iommu_view *view, uint64_t first, uint64_t last,
				     uint64_t out, unsigned perm);

/*
 * A ready-made read view over page tables in guest memory: pass
 * viommu_iommu_read_pgtable as opts.read and a viommu_iommu_pgtable_source as
 * opts.read_ctx. The tables are walked with viommu_pgtable_walk() (format in
 * @opts, root table at @root, entries read with @read); update @root when the
 * guest points the device at other tables (then sync the whole space). One
 * walk per leaf or hole; a missing entry skips all it covers. A table that
 * cannot be walked (read error, reserved bits, addresses beyond the widths)
 * fails with -EFAULT, so the sync changes nothing. Leaves report READ/WRITE
 * (the SNOOP attribute is not part of a translation here). Cost: one walk
 * (at most the format's levels of reads) per leaf or hole in the range.
 */
struct viommu_iommu_pgtable_source {
	const struct viommu_pgtable_opts *opts;
	uint64_t root;
	viommu_pt_read_fn read;
	void *ctx;
};
VIOMMU_API int viommu_iommu_read_pgtable(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *view);

struct viommu_iommu_as_opts {
	size_t sz;			/* sizeof(struct viommu_iommu_as_opts) */
	viommu_iommu_read_fn read;	/* required */
	void *read_ctx;
	unsigned page_shift;		/* granule of leaves: 2..30, default 12 */
	uint32_t source_id;
	/*
	 * Contiguous guest leaves are merged into one extent, but never across
	 * a multiple of this (a power of two, at least the page size; 0: no
	 * limit). A change inside an extent is a CHANGE of the whole extent,
	 * and a host-bound listener has to unmap all of it: 2M keeps such a
	 * window at most 2M.
	 */
	uint64_t merge_granule;
	bool msi_window;		/* treat [msi_first, msi_last] as never mapped */
	uint64_t msi_first, msi_last;	/* default (both 0): VIOMMU_X86_MSI_FIRST..LAST (common.h) */
};

/*
 * A new IOMMU address space with an empty shadow; NULL with errno EINVAL
 * (bad options, logged) or ENOMEM. O(1).
 */
VIOMMU_API struct viommu_iommu_as *viommu_iommu_as_new(const struct viommu_iommu_as_opts *opts);
/*
 * Free (listeners are dropped without events; a reconciler on it must be
 * freed first). NULL is allowed. O(n / 64 + listeners) for n extents.
 */
VIOMMU_API void viommu_iommu_as_free(struct viommu_iommu_as *ias);

/*
 * Register @l and replay the current shadow to it: one MAP per recorded
 * extent inside its range (cropped, lowered), never a walk of the space.
 * 0; -EINVAL (bad size, first > last, no notify, unknown kinds or caps,
 * CAP_CHANGE without EV_CHANGE in kinds; logged); -EEXIST; -EBUSY; -ENOMEM.
 * Cost: O(n log n) for n extents in its range.
 */
VIOMMU_API int viommu_iommu_listener_register(struct viommu_iommu_as *ias, struct viommu_iommu_listener *l);
/* Unregister (no events). 0, -ENOENT, -EBUSY. O(listeners). */
VIOMMU_API int viommu_iommu_listener_unregister(struct viommu_iommu_as *ias, struct viommu_iommu_listener *l);

/*
 * Bring the listeners up to date with the guest over [first, last] (an
 * invalidation). The guest view is read once, over exactly [first, last].
 * A recorded extent reaching outside the range is changed or removed whole
 * (never bisected); outside the range it keeps its translation, since the
 * guest did not invalidate that part. Returns the number of events generated
 * before lowering (>= 0); -EINVAL (first > last); -EBUSY (inside a callback);
 * the read-view callback's error or -EINVAL for a malformed view (nothing
 * changed, nothing delivered); -ENOMEM (possibly part-applied: the shadow
 * still equals exactly what listeners were told, and the next sync also
 * re-reads everything this one could have touched, so syncing again repairs
 * it). Cost: O((v + k) log n) for v leaves read and k extents touched, plus
 * the listeners' share (lowering: at most 128 events per range). The common
 * invalidation of one whole extent (a view of one run over [first, last]
 * where nothing or exactly one extent [first, last] is recorded, or an empty
 * view over exactly one recorded extent) is one descent of the shadow:
 * O(log n) and one event.
 */
VIOMMU_API int viommu_iommu_sync(struct viommu_iommu_as *ias, uint64_t first, uint64_t last);

/*
 * Remove every recorded extent in [first, last] (widened to whole extents)
 * as UNMAP events, without reading the guest (translation disabled, device
 * detached). Returns the number of extents removed or -EINVAL/-EBUSY/-ENOMEM.
 * Cost: O(k log n) for k extents removed, plus the listeners' share.
 */
VIOMMU_API int viommu_iommu_unmap_all(struct viommu_iommu_as *ias, uint64_t first, uint64_t last);

/*
 * Deliver a DEVIOTLB_UNMAP event over [first, last] (the shadow is not
 * involved). 0, -EINVAL, -EBUSY. Cost: per listener one event, or at most 128
 * power-of-two pieces for one that needs them.
 */
VIOMMU_API int viommu_iommu_deviotlb_unmap(struct viommu_iommu_as *ias, uint64_t first, uint64_t last);

/* The recorded extent containing @addr, if any. O(log n). */
VIOMMU_API bool viommu_iommu_lookup(const struct viommu_iommu_as *ias, uint64_t addr, struct viommu_iommu_xlat *out);
/*
 * The lowest recorded extent with last >= @addr, if any (a walk of the shadow
 * in address order; callable from a listener callback). O(log n).
 */
VIOMMU_API bool viommu_iommu_lookup_next(const struct viommu_iommu_as *ias, uint64_t addr,
					 struct viommu_iommu_xlat *out);

struct viommu_iommu_stats {
	size_t sz;			/* sizeof(struct viommu_iommu_stats) */
	uint64_t syncs;			/* successful syncs */
	uint64_t read_errors;		/* syncs refused because of the read view */
	uint64_t extents;		/* recorded extents now */
	uint64_t maps, unmaps, changes, deviotlb_unmaps;	/* events delivered (after lowering) */
	uint64_t windows;		/* CHANGEs lowered to UNMAP + MAP (per listener) */
	uint64_t window_bytes;		/* bytes those unmapped although their translation did not change */
	uint64_t pieces;		/* events produced by pow2 lowering */
};
/* Statistics, written by the options rule (min(st->sz, known) bytes); -EINVAL. O(1). */
VIOMMU_API int viommu_iommu_get_stats(const struct viommu_iommu_as *ias, struct viommu_iommu_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_IOMMU_H */

/* SPDX-License-Identifier: MIT */
/*
 * viommu device IOTLB: the translation cache a device (a vhost or
 * vhost-user backend, an ATS-capable device model) keeps of what the IOMMU
 * told it, IOVA -> user address, filled on demand and emptied by
 * invalidations of arbitrary ranges.
 *
 * Entries: [first, last] (closed, any alignment, anywhere in the 64-bit
 * space) -> the user address of byte @first and a permission
 * (VIOMMU_PERM_READ / VIOMMU_PERM_WRITE; 0 caches "no access"). Entries are
 * disjoint: an update removes every entry it overlaps, whole, then inserts
 * itself (a cache may always forget; what it forgot misses and is asked
 * again). This is what a vhost-user UPDATE means, and unlike DPDK's
 * lib/vhost/iotlb.c (an update whose iova equals a cached entry's is
 * dropped) a changed translation is never shadowed by a stale one.
 *
 * Misses: viommu_devtlb_translate() reports the first byte it cannot
 * translate and whether the caller should ask for it now: one report per
 * page (of 2^page_shift bytes) and permission until the page is answered
 * (an update covering it, or viommu_devtlb_pending_clear()), so a device
 * that retries does not flood the IOMMU with the same MISS.
 *
 * Capacity: at most @capacity entries (default 2048, the default of both
 * Linux's vhost, drivers/vhost/vhost.c max_iotlb_entries, and DPDK,
 * lib/vhost/iotlb.c IOTLB_CACHE_SIZE). A full cache retires its oldest
 * entry to make room, as Linux's VHOST_IOTLB_FLAG_RETIRE does; with
 * VIOMMU_DEVTLB_NO_RETIRE it refuses the update instead (-ENOSPC, logged).
 * At most @pending_capacity pages are tracked as pending; when that table is
 * full it is emptied (logged), so some page may be reported twice.
 *
 * Costs (n entries, k entries touched, p pages pending, q of them answered):
 * translate O(log n + k); update and invalidate O(log n + k + log p + q)
 * each on two copies of the index, plus the wait for translations already
 * in the copy they change (each bounded as translate is); memory two range
 * maps (include/viommu/rangemap.h) plus 64 bytes per entry. Each entry point
 * states its own below.
 *
 * Concurrency: every function except viommu_devtlb_free may be called from
 * any thread at any time. A translation that hits takes no lock, never
 * waits and never retries (left-right over two copies of the index:
 * docs/design.md, "The device IOTLB"); updates, invalidations and the
 * bookkeeping of a miss serialise on a mutex, and an update or invalidation waits until translations that
 * started before it have left the copy it changes. Guarantee: once an
 * update or invalidate call has returned, no translation that starts
 * afterwards (in any thread ordered after the return) returns an entry it
 * removed; a translation running at the same time may return it, as a
 * device may use a translation until its invalidation completes.
 */
#ifndef VIOMMU_DEVTLB_H
#define VIOMMU_DEVTLB_H

#include <viommu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct viommu_devtlb;

#define VIOMMU_DEVTLB_DEFAULT_CAPACITY	2048u
#define VIOMMU_DEVTLB_MAX_CAPACITY	(1u << 24)
#define VIOMMU_DEVTLB_DEFAULT_PENDING	256u

/* opts->flags: refuse an update into a full cache instead of retiring the oldest entry. */
#define VIOMMU_DEVTLB_NO_RETIRE		0x1u

struct viommu_devtlb_opts {
	size_t sz;			/* sizeof(struct viommu_devtlb_opts) */
	uint32_t capacity;		/* entries; 0: VIOMMU_DEVTLB_DEFAULT_CAPACITY; at most _MAX_CAPACITY */
	uint32_t pending_capacity;	/* pages with a reported miss; 0: VIOMMU_DEVTLB_DEFAULT_PENDING */
	uint32_t page_shift;		/* miss-tracking granule 2^page_shift; 0: 12; 12..30 */
	uint32_t flags;			/* VIOMMU_DEVTLB_NO_RETIRE */
};

/* A new empty cache (opts may be NULL: defaults). NULL with errno EINVAL or ENOMEM. O(1). */
VIOMMU_API struct viommu_devtlb *viommu_devtlb_new(const struct viommu_devtlb_opts *opts);
/* Free the cache. No other call may be running on it. NULL is allowed. O(n + p). */
VIOMMU_API void viommu_devtlb_free(struct viommu_devtlb *t);

/*
 * The closed range of a message in (iova, size) form, as vhost's IOTLB
 * messages carry it: [iova, iova + size - 1]. A range that ends exactly at
 * 2^64 (iova + size wraps to 0) is valid and ends at 2^64-1. Returns 0, or
 * -EINVAL if size is 0 or the range would go past 2^64. O(1).
 */
VIOMMU_API int viommu_devtlb_range(uint64_t iova, uint64_t size, uint64_t *first, uint64_t *last);

/*
 * Cache [first, last] -> @uaddr (the user address of byte @first) with
 * @perm. Every entry overlapping the range is removed first; pending misses
 * on pages the range touches are answered. Returns 0; -EINVAL (first >
 * last, unknown perm bits, or uaddr + (last - first) past 2^64-1); -ENOSPC
 * (full and VIOMMU_DEVTLB_NO_RETIRE; nothing changed); -ENOMEM (the new
 * entry is not cached; entries it overlapped may be gone). Refusals are
 * logged with the range and the reason. Cost: O(log n + k + log p + q) for
 * the k entries it removes (overlapped, or the one retired: the oldest it
 * does not overlap, found past at most k others) and the q pending pages it
 * answers, plus one malloc and the wait for translations in flight.
 */
VIOMMU_API int viommu_devtlb_update(struct viommu_devtlb *t, uint64_t first, uint64_t last, uint64_t uaddr,
				    unsigned perm);

/*
 * Remove every entry overlapping [first, last] (an entry partly inside goes
 * whole). Returns the number removed, or -EINVAL if first > last.
 * Cost: O(log n + k) for the k entries removed, however large the range,
 * plus the wait for translations in flight.
 */
VIOMMU_API long viommu_devtlb_invalidate(struct viommu_devtlb *t, uint64_t first, uint64_t last);

/* One contiguous piece of a translation: @len bytes at user address @uaddr. */
struct viommu_devtlb_seg {
	uint64_t uaddr;
	uint64_t len;
};

/* Why a translation missed (filled when translate returns -EAGAIN). */
struct viommu_devtlb_miss {
	uint64_t iova;			/* the first byte not cached */
	unsigned perm;			/* the permission asked for */
	bool report;			/* true: the caller should send a MISS for it now */
};

/*
 * Translate [iova, iova + len - 1] for @perm (VIOMMU_PERM_READ and/or
 * _WRITE; 0 only checks presence) into at most @max_segs segments in
 * address order; neighbouring entries whose user addresses are contiguous
 * come back as one segment. Returns the number of segments (>= 1);
 * -EAGAIN: a byte is not cached (*miss says which, and whether to report
 * it; miss may be NULL); -EACCES: a cached entry lacks @perm; -E2BIG: more
 * than @max_segs segments; -EINVAL: len 0, the range past 2^64, unknown perm
 * bits, segs NULL or max_segs 0. Cost O(log n + k) for k entries, no lock
 * on a hit; a miss adds O(log p) under the mutex to note the pending page,
 * or O(p) once when the pending table is full and is emptied.
 */
VIOMMU_API int viommu_devtlb_translate(struct viommu_devtlb *t, uint64_t iova, uint64_t len, unsigned perm,
				       struct viommu_devtlb_seg *segs, unsigned max_segs,
				       struct viommu_devtlb_miss *miss);

/*
 * Forget the pending misses of every page overlapping [first, last] (the
 * IOMMU said it cannot answer them), so the next miss there is reported
 * again. Returns the number of pages forgotten, or -EINVAL. O(log p + q)
 * for the q pages forgotten.
 */
VIOMMU_API long viommu_devtlb_pending_clear(struct viommu_devtlb *t, uint64_t first, uint64_t last);

struct viommu_devtlb_stats {
	size_t sz;			/* sizeof(struct viommu_devtlb_stats) */
	uint64_t translations;		/* translate calls */
	uint64_t hits;			/* ... that translated the whole range */
	uint64_t misses;		/* ... that returned -EAGAIN */
	uint64_t denied;		/* ... that returned -EACCES */
	uint64_t miss_reports;		/* misses the caller was told to report */
	uint64_t updates;		/* entries cached by update calls */
	uint64_t replaced;		/* entries removed because an update overlapped them */
	uint64_t retired;		/* oldest entries removed to make room */
	uint64_t invalidations;		/* invalidate calls */
	uint64_t invalidated;		/* entries removed by them */
	uint64_t refused;		/* update and invalidate calls refused */
	uint64_t pending_dropped;	/* pending pages forgotten because the table was full */
	uint64_t entries;		/* cached now */
	uint64_t pending;		/* pages with a pending miss now */
	uint64_t capacity;
	uint64_t bytes;			/* memory held, structure included */
};

/*
 * Copy the counters to *st (st->sz set by the caller; fields beyond it are
 * not written). Translations running concurrently may or may not be
 * counted. Returns 0 or -EINVAL. O(1): fixed counter stripes and the mutex
 * once.
 */
VIOMMU_API int viommu_devtlb_get_stats(struct viommu_devtlb *t, struct viommu_devtlb_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_DEVTLB_H */

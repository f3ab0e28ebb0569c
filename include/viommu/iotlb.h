/* SPDX-License-Identifier: MIT */
/*
 * viommu IOTLB: a bounded translation cache for an emulated IOMMU.
 *
 * An entry caches one leaf of a walk: the requester (source id: PCI
 * requester id, SMMU stream id), the address-space tag (domain: VT-d domain
 * id, SMMU ASID/VMID, PASID, as the caller chooses), the leaf's IOVA aligned
 * to its size, the size as a power of two (2^12 .. 2^63: 4K, 2M, 1G, and any
 * other power of two for formats that have it), the output address of the
 * leaf's first byte and the permissions (VIOMMU_PERM_*).
 *
 * Tagging: a lookup hits only entries inserted with the same (source,
 * domain) pair. Invalidation by domain removes the entries of every source
 * in the domain; by source, those of every domain of the source. This is
 * how QEMU keys its VT-d IOTLB (hw/i386/intel_iommu.c, vtd_lookup_iotlb():
 * by source id, the domain id stored in the entry). A model whose TLB is
 * shared by every device of a domain (the VT-d specification tags IOTLB
 * entries with the domain id only) passes one fixed source value, e.g. 0,
 * for all devices.
 *
 * Within one (source, domain) the entries are disjoint: inserting an entry
 * first removes every cached entry of that pair that it overlaps (counted as
 * "replaced"), so a lookup finds at most one entry and a re-walk after a
 * mapping change never leaves a stale neighbour.
 *
 * When full, an insert evicts exactly one entry, chosen by CLOCK (second
 * chance: an entry hit since the hand last passed it is spared once).
 *
 * Costs, with n entries cached, P distinct leaf sizes cached (1 to 3 for
 * VT-d), k the entries a call removes, C the live (source, domain) pairs it
 * visits; "expected" because the table and the per-pair trees are keyed by
 * random values drawn at creation, which a guest choosing addresses cannot
 * predict:
 *  - lookup: expected O(P) table probes, no lock;
 *  - insert: expected O(P + log n) plus what it replaces, no allocation;
 *  - invalidate_range: expected O(C log n + k), C = the pairs of the domain;
 *    invalidate_range_all_domains the same with C = every live pair;
 *  - invalidate_domain / invalidate_source: O(C + k);
 *  - invalidate_all: O(n); get_stats: O(1); new: O(1) plus zeroed memory for
 *    capacity entries (150 to 230 bytes each), touched as it is used.
 * No call ever scans the cache for what it does not remove.
 *
 * Concurrency: every function may be called from any thread at any time
 * (except viommu_iotlb_free). Lookups take no lock and write no shared cache
 * line other than an entry's referenced bit (written only when it is clear)
 * and the calling thread's statistics stripe; inserts and invalidations
 * serialise on a mutex, and a lookup that meets one in progress waits for
 * that one update (bounded as above) and retries. Guarantee: once an
 * invalidate call, or an insert that replaced an entry, has returned, no
 * lookup that starts afterwards (in any thread, ordered by any
 * synchronisation with that thread) returns an entry it removed. A lookup
 * that runs concurrently with an invalidation may return the entry as it was
 * before, exactly as a hardware IOTLB may serve a translation until the
 * invalidation completes.
 */
#ifndef VIOMMU_IOTLB_H
#define VIOMMU_IOTLB_H

#include <viommu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct viommu_iotlb;

#define VIOMMU_IOTLB_MIN_ORDER	12
#define VIOMMU_IOTLB_MAX_ORDER	63

/* One cached leaf. */
struct viommu_iotlb_entry {
	uint32_t source;	/* requester id / stream id */
	uint32_t domain;	/* domain id / ASID / PASID */
	uint64_t iova;		/* first byte of the leaf, aligned to 2^order */
	uint64_t output;	/* output address of the leaf's first byte */
	uint8_t order;		/* size is 2^order bytes, VIOMMU_IOTLB_MIN_ORDER..MAX_ORDER */
	uint8_t perm;		/* VIOMMU_PERM_READ | VIOMMU_PERM_WRITE (0 allowed: a cached no-access leaf) */
};

/*
 * Called once for each entry the replacement policy evicts (not for
 * invalidated or replaced entries), on the inserting thread, after the
 * insert has finished its update and released the cache's lock and before
 * viommu_iotlb_insert() returns: lookups on other threads proceed while it
 * runs, however long it takes, and it may call any function of the same
 * cache except viommu_iotlb_free(). An insert it makes that evicts in turn
 * calls it again, nested, on the same thread. Callbacks of inserts on
 * different threads may run at the same time. @e is a copy, valid for the
 * call.
 */
typedef void (*viommu_iotlb_evict_fn)(const struct viommu_iotlb_entry *e, void *ctx);

struct viommu_iotlb_opts {
	size_t sz;			/* sizeof(struct viommu_iotlb_opts) */
	size_t capacity;		/* entries held at most; 0: 4096; at most 2^28 */
	viommu_iotlb_evict_fn on_evict;	/* may be NULL */
	void *evict_ctx;
};

/*
 * A new empty cache (opts may be NULL: defaults). NULL with errno EINVAL
 * (opts->sz or capacity refused, with the reason in the log) or ENOMEM.
 * Cost: O(1) calls plus zeroed memory for capacity entries (the kernel
 * supplies zero pages as they are first touched).
 */
VIOMMU_API struct viommu_iotlb *viommu_iotlb_new(const struct viommu_iotlb_opts *opts);
/* Free the cache. No other call may be running on it. NULL is allowed. O(1): a fixed number of frees. */
VIOMMU_API void viommu_iotlb_free(struct viommu_iotlb *c);

/*
 * Cache @e. Entries of the same (source, domain) overlapping it are removed
 * first (the same leaf again is refreshed in place); if the cache is then
 * full, one entry is evicted and on_evict runs (see above). Returns 0, or
 * -EINVAL (NULL argument, order out of range, iova not aligned to 2^order,
 * unknown perm bits; logged, nothing changed). Never allocates.
 * Cost: expected O(P + log n) plus O(1) for each entry it replaces, under the
 * cache's mutex; the eviction callback runs after the mutex is released, so
 * its time is the caller's own, never a lookup's.
 */
VIOMMU_API int viommu_iotlb_insert(struct viommu_iotlb *c, const struct viommu_iotlb_entry *e);

/*
 * The entry of (@source, @domain) containing @iova, whatever its size,
 * copied to *out (may be NULL). Counts a hit or a miss. False for a NULL
 * cache. Cost: expected O(P) table probes, no lock; a lookup that meets an
 * insert or invalidation in progress waits for that one update (bounded as
 * those are) and retries.
 */
VIOMMU_API bool viommu_iotlb_lookup(struct viommu_iotlb *c, uint32_t source, uint32_t domain, uint64_t iova,
				    struct viommu_iotlb_entry *out);

/*
 * Remove every entry of @domain (any source) overlapping [first, last]
 * (closed, any alignment: a leaf partly inside is removed whole). Returns
 * the number removed, or -EINVAL if first > last (logged). Cost: expected
 * O(C log n + k) for the C live pairs of the domain and k entries removed,
 * however large the range.
 */
VIOMMU_API long viommu_iotlb_invalidate_range(struct viommu_iotlb *c, uint32_t domain, uint64_t first,
					      uint64_t last);
/* The same for every domain: expected O(C log n + k), C = every live pair. */
VIOMMU_API long viommu_iotlb_invalidate_range_all_domains(struct viommu_iotlb *c, uint64_t first,
							  uint64_t last);
/* Remove every entry of @domain; returns the number removed. O(C + k), C its live pairs. */
VIOMMU_API long viommu_iotlb_invalidate_domain(struct viommu_iotlb *c, uint32_t domain);
/* Remove every entry of @source; returns the number removed. O(C + k), C its live pairs. */
VIOMMU_API long viommu_iotlb_invalidate_source(struct viommu_iotlb *c, uint32_t source);
/* Remove every entry; returns the number removed. O(n). */
VIOMMU_API long viommu_iotlb_invalidate_all(struct viommu_iotlb *c);

struct viommu_iotlb_stats {
	size_t sz;			/* sizeof(struct viommu_iotlb_stats) */
	uint64_t hits, misses;		/* lookups */
	uint64_t inserts;		/* successful inserts */
	uint64_t evictions;		/* entries removed by the replacement policy */
	uint64_t replaced;		/* entries removed because an insert overlapped them */
	uint64_t invalidated;		/* entries removed by invalidate calls */
	uint64_t invalidations;		/* invalidate calls */
	uint64_t entries;		/* entries cached now */
	uint64_t capacity;
};

/*
 * Copy the counters to *st (st->sz set by the caller; fields beyond it are
 * not written, bytes it has beyond this library's struct are zeroed).
 * Lookups running concurrently may or may not be counted. Returns 0 or
 * -EINVAL (NULL argument, sz too small; logged). O(1): a fixed 64 counter
 * stripes and the mutex once.
 */
VIOMMU_API int viommu_iotlb_get_stats(struct viommu_iotlb *c, struct viommu_iotlb_stats *st);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_IOTLB_H */

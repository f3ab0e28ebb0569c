/* SPDX-License-Identifier: MIT */
/*
 * viommu range map: an ordered map of disjoint closed intervals [first, last]
 * over the whole 64-bit space (last may be 2^64-1), each carrying a 64-bit
 * caller payload.
 *
 * It is the one interval structure of the project: the page-table test oracle,
 * the reconciler's record of host mappings, the shadow of what IOMMU listeners
 * were told and the device models all use it.
 *
 * Payload: a fixed uint64_t stored inline (an address, a packed address and
 * permission bits, or a pointer cast through uintptr_t). Larger payloads are
 * kept by the caller and referenced by pointer.
 *
 * Cost (worst case, n entries; each declaration below repeats its own):
 * insert, remove, find, find_overlap, first/last/next/prev, set_value
 * O(log n); remove_inside of k entries O((1 + k/32) log n); iterating k
 * entries O(log n + k); clear and free O(n / 32) (they free nodes and leaf
 * chunks, not entries); count and bytes O(1). Insert and remove include one
 * bounded step of the writer-side relayout that keeps leaves in key order
 * in memory (two extra descents at most). Nothing loops without a bound.
 * See docs/design.md ("The range map") for the structure, the measurements
 * and bytes per entry.
 *
 * Concurrency: none inside. Calls that take a const map may run concurrently
 * with each other; anything else needs the caller's exclusion.
 */
#ifndef VIOMMU_RANGEMAP_H
#define VIOMMU_RANGEMAP_H

#include <viommu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct viommu_rangemap;

/* One entry, returned by value. */
struct viommu_range_entry {
	uint64_t first;
	uint64_t last;		/* inclusive; first <= last */
	uint64_t value;
};

/* A new empty map (no nodes), or NULL with errno = ENOMEM. O(1). */
VIOMMU_API struct viommu_rangemap *viommu_rangemap_new(void);
/* Free the map and every entry. NULL is allowed. O(n / 32). */
VIOMMU_API void viommu_rangemap_free(struct viommu_rangemap *m);
/* Remove every entry. O(n / 32). */
VIOMMU_API void viommu_rangemap_clear(struct viommu_rangemap *m);
/* Number of entries. O(1). */
VIOMMU_API size_t viommu_rangemap_count(const struct viommu_rangemap *m);
/* Bytes of memory the map holds, structure included. O(1). */
VIOMMU_API size_t viommu_rangemap_bytes(const struct viommu_rangemap *m);

/*
 * Insert [first, last] -> value.
 * Returns 0; -EINVAL if first > last; -EEXIST if any existing entry overlaps
 * (the map is then unchanged); -ENOMEM (unchanged too: everything the
 * insert needs is allocated before the map is touched). O(log n), at most
 * height + 2 allocations (inner nodes, a new root, a leaf chunk).
 */
VIOMMU_API int viommu_rangemap_insert(struct viommu_rangemap *m, uint64_t first, uint64_t last,
				      uint64_t value);

/*
 * Remove the entry that is exactly [first, last]; its payload is stored in
 * *value if value is not NULL. Returns 0, or -ENOENT if no entry has exactly
 * these bounds (the map is then unchanged). O(log n); never allocates.
 */
VIOMMU_API int viommu_rangemap_remove(struct viommu_rangemap *m, uint64_t first, uint64_t last,
				      uint64_t *value);

/* Called once per removed entry, in ascending order. */
typedef void (*viommu_rangemap_fn)(const struct viommu_range_entry *e, void *ctx);

/*
 * Remove every entry lying wholly inside [first, last]; entries that only
 * partly overlap stay. @fn (may be NULL) sees each removed entry. Returns the
 * number removed, or -EINVAL if first > last. O((1 + k/32) log n) for k
 * removed entries, plus k calls of @fn; never allocates.
 */
VIOMMU_API long viommu_rangemap_remove_inside(struct viommu_rangemap *m, uint64_t first, uint64_t last,
					      viommu_rangemap_fn fn, void *ctx);

/* The entry containing @addr, copied to *out (out may be NULL). O(log n). */
VIOMMU_API bool viommu_rangemap_find(const struct viommu_rangemap *m, uint64_t addr,
				     struct viommu_range_entry *out);

/* The lowest entry overlapping [first, last] (first <= last), if any. O(log n). */
VIOMMU_API bool viommu_rangemap_find_overlap(const struct viommu_rangemap *m, uint64_t first, uint64_t last,
					     struct viommu_range_entry *out);

/* The lowest / highest entry. O(log n). */
VIOMMU_API bool viommu_rangemap_first(const struct viommu_rangemap *m, struct viommu_range_entry *out);
VIOMMU_API bool viommu_rangemap_last(const struct viommu_rangemap *m, struct viommu_range_entry *out);
/* The lowest entry with first > @addr; the highest entry with last < @addr. O(log n). */
VIOMMU_API bool viommu_rangemap_next(const struct viommu_rangemap *m, uint64_t addr,
				     struct viommu_range_entry *out);
VIOMMU_API bool viommu_rangemap_prev(const struct viommu_rangemap *m, uint64_t addr,
				     struct viommu_range_entry *out);

/*
 * Replace the payload of the entry containing @addr without restructuring.
 * Returns 0 or -ENOENT. O(log n).
 */
VIOMMU_API int viommu_rangemap_set_value(struct viommu_rangemap *m, uint64_t addr, uint64_t value);

/*
 * A cursor over the entries overlapping [first, last] in ascending order.
 * The fields are private except @entry, the current entry. Any change to the
 * map other than viommu_rangemap_iter_set_value() invalidates the cursor.
 *
 *	struct viommu_rangemap_iter it;
 *	viommu_rangemap_for_each(&it, map, 0x1000, UINT64_MAX)
 *		use(it.entry.first, it.entry.last, it.entry.value);
 *
 * Loops over different cursors nest. The cursor carries a window onto the
 * leaf it is in (three arrays of up to 64 sorted entries, set by the calls
 * below) so that viommu_rangemap_for_each steps inside a leaf without a
 * call; it calls viommu_rangemap_iter_next() only to change leaves.
 */
struct viommu_rangemap_iter {
	struct viommu_range_entry entry;
	/* private */
	const uint64_t *win_first, *win_last, *win_value;	/* the current leaf's entries */
	unsigned idx, win_n;		/* current slot, slots in the window */
	bool valid;			/* the loop's condition: on an entry */
	const struct viommu_rangemap *map;
	void *node;
	uint64_t first, last;
};

/* Position on the first entry overlapping [first, last]; false if none. O(log n). */
VIOMMU_API bool viommu_rangemap_iter_start(struct viommu_rangemap_iter *it, const struct viommu_rangemap *m,
					   uint64_t first, uint64_t last);
/* Advance to the next overlapping entry; false at the end (the cursor then stays). O(1). */
VIOMMU_API bool viommu_rangemap_iter_next(struct viommu_rangemap_iter *it);
/* Step back to the previous overlapping entry; false at the start. O(1). */
VIOMMU_API bool viommu_rangemap_iter_prev(struct viommu_rangemap_iter *it);
/* Replace the current entry's payload (the cursor stays valid). O(1). */
VIOMMU_API void viommu_rangemap_iter_set_value(struct viommu_rangemap_iter *it, uint64_t value);

/*
 * The step of viommu_rangemap_for_each: the next slot of the window if it
 * still overlaps the range (entries are disjoint and sorted, so the next one
 * overlaps iff it starts at or below last), else viommu_rangemap_iter_next().
 * O(1).
 */
static inline bool viommu_rangemap_iter_step(struct viommu_rangemap_iter *it)
{
	unsigned i = it->idx + 1;

	if (i < it->win_n && it->win_first[i] <= it->last) {
		it->idx = i;
		it->entry.first = it->win_first[i];
		it->entry.last = it->win_last[i];
		it->entry.value = it->win_value[i];
		return true;
	}
	return viommu_rangemap_iter_next(it);
}

/* The loop declares nothing, so loops over different cursors nest; @it is evaluated more than once. */
#define viommu_rangemap_for_each(it, m, first, last)							\
	for ((it)->valid = viommu_rangemap_iter_start((it), (m), (first), (last)); (it)->valid;	\
	     (it)->valid = viommu_rangemap_iter_step(it))

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_RANGEMAP_H */

/* SPDX-License-Identifier: MIT */
/*
 * viommu memory: a model of a machine's physical address spaces.
 *
 * A memory model (struct viommu_memory) owns regions and address spaces. It is
 * what QEMU's global memory API is, but not global: several machines may live
 * in one process. Regions form a tree (containers hold subregions at offsets
 * with priorities; aliases are windows into other regions). An address space
 * names a root region; each commit renders every address space into a flat
 * view: sorted, disjoint closed ranges, each naming the terminal region (RAM,
 * RAM device, MMIO or IOMMU) and the offset into it. Listeners receive, per
 * commit, the exact difference between the old and the new flat view.
 *
 * Sizes: a size is a uint64_t where 0 means 2^64 (a region covering the whole
 * 64-bit space). Addresses in flat views and diffs are closed ranges
 * [first, last]. RAM and RAM-device regions cannot be 2^64 bytes (size 0 is
 * refused for them).
 *
 * Overlap: a subregion with a higher priority hides lower ones where it maps
 * something (holes in a higher container or alias let lower ones show
 * through). Among equal priorities the most recently added (or moved)
 * subregion is on top, as in QEMU. A region that has subregions but is not a
 * container (RAM, MMIO, ...) backs every address its subregions leave free.
 *
 * Transactions: viommu_memory_begin()/viommu_memory_commit() nest; flat views
 * are re-rendered and listeners told once per outermost commit. A mutation
 * outside a transaction is its own transaction.
 *
 * Concurrency: every call that changes the model (region constructors and
 * setters, subregion add/del, address space and listener add/del, begin,
 * commit, free) needs the caller's exclusion: one thread at a time per
 * model. Readers never need it: a flat view obtained with
 * viommu_as_get_flatview() is immutable and reference counted, and
 * viommu_as_read/write/map may run in any thread concurrently with a commit
 * (they see either the old or the new view, never a mix). A region must not
 * be freed while a view reference taken before its removal is still held.
 * Listener callbacks run inside the commit and must not change the model
 * (such calls fail with -EBUSY).
 *
 * Costs (each function below states its worst case in these terms): n is
 * the number of sections of the view concerned, b its region boundaries
 * (at most 2 per region window in the tree), R the regions of the
 * model, A its address spaces, L its listeners, c the subregions of the
 * parent concerned, P the pieces a full render of an address space visits
 * (at most 2^24: a render that would need more fails with -ENOMEM). A
 * change is recorded as the address windows it can reach (its placements
 * through parents and aliases, at most 1,024 steps per mutation); a commit
 * renders only those windows and splices them into the old view, which
 * shares every untouched node: O(w log w + k log n + d) for w pieces in the
 * windows, k sections replaced and d diff entries. A change that reaches
 * more than 1,024 placements, or more than 16 + n/32 windows of one
 * address space, renders that space in full: O(P log P), where QEMU's
 * painter is O(P^2).
 */
#ifndef VIOMMU_MEMORY_H
#define VIOMMU_MEMORY_H

#include <viommu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct viommu_memory;
struct viommu_mr;
struct viommu_as;
struct viommu_flatview;

enum viommu_mr_kind {
	VIOMMU_MR_RAM = 1,	/* host memory; DMA-mappable */
	VIOMMU_MR_RAM_DEVICE,	/* a device BAR backed by host memory; DMA-mappable for P2P */
	VIOMMU_MR_MMIO,		/* read/write callbacks; not DMA-mappable */
	VIOMMU_MR_IOMMU,	/* translates through a vIOMMU (struct viommu_mr_iommu_ops) */
	VIOMMU_MR_ALIAS,	/* a window into another region */
	VIOMMU_MR_CONTAINER,	/* subregions only */
};

/*
 * MMIO callbacks. @offset is relative to the region; @len is the part of the
 * access that falls in this region (any size: a device that needs naturally
 * sized accesses splits it). Return 0 or -errno.
 */
struct viommu_mr_ops {
	size_t sz;		/* sizeof(struct viommu_mr_ops) */
	int (*read)(void *opaque, uint64_t offset, void *buf, size_t len);
	int (*write)(void *opaque, uint64_t offset, const void *buf, size_t len);
};

/*
 * One translation of an IOMMU region, filled by its translate hook: the
 * region offsets [iova_first, iova_last] (which contain the offset asked for)
 * map to target address space @target starting at @target_first.
 */
struct viommu_mr_iotlb {
	struct viommu_as *target;
	uint64_t iova_first;
	uint64_t iova_last;
	uint64_t target_first;
	bool readable;
	bool writable;
};

/* The hook a vIOMMU device model fills. Return 0 or -errno (a fault). */
struct viommu_mr_iommu_ops {
	size_t sz;		/* sizeof(struct viommu_mr_iommu_ops) */
	int (*translate)(void *opaque, uint64_t offset, bool write, struct viommu_mr_iotlb *out);
};

/*
 * One range of a flat view. @mr is the terminal region (never an alias or a
 * container). @offset is the offset in @mr of byte @first; @host is the host
 * address of byte @first for RAM and RAM-device sections, NULL otherwise.
 * @readonly and @unmergeable are inherited: set if any region on the path
 * from the root (aliases and containers included) has them.
 */
struct viommu_mr_section {
	uint64_t first;
	uint64_t last;
	const struct viommu_mr *mr;
	uint64_t offset;
	void *host;
	enum viommu_mr_kind kind;
	bool readonly;
	bool unmergeable;
};

/*
 * One entry of the difference between two flat views: over [first, last] the
 * old view had @before (if has_before) and the new view has @after (if
 * has_after), both clipped to [first, last]. @changed is false iff both are
 * present and their translation is equal at every byte: same kind and
 * permissions, and for RAM and RAM devices the same host address, for MMIO
 * and IOMMU the same region and offset. Entries are sorted, disjoint, and
 * never both absent. A range over which both views show the same region at
 * the same offsets with the same flags is not an entry: a diff lists only
 * what changed, so @changed is false only where one region replaced another
 * with the same translation (two RAM regions over contiguous host memory
 * merged into one).
 */
struct viommu_mr_diff {
	uint64_t first;
	uint64_t last;
	struct viommu_mr_section before;
	struct viommu_mr_section after;
	bool has_before;
	bool has_after;
	bool changed;
};

/*
 * A listener. The struct belongs to the caller and must stay valid while
 * registered; the library keeps no pointer into it other than itself.
 * Per commit that changed an address space's flat view (and at registration,
 * as a replay of the current state against an empty view, and at
 * unregistration or address-space removal, as the removal of everything):
 *   begin; then diff (one call with every entry) if set, otherwise the
 *   QEMU-style adaptor: region_del for the old side of each changed entry
 *   (all of them first), then in address order region_add for the new side of
 *   each changed entry and region_nop for each unchanged entry; then commit.
 *   Unlike QEMU, which calls region_nop for every section that survived a
 *   commit, region_nop here comes only for the entries of the diff that kept
 *   their translation under another region (a range the commit did not touch
 *   is not reported at all); a listener that needs the whole view reads it
 *   with viommu_as_get_flatview(). Cost per commit: O(d) calls per listener
 *   for d diff entries.
 * Any callback may be NULL. Listeners run in ascending @priority (equal:
 * registration order), except the delete pass, which runs in descending order.
 * A listener filtered to an address space is unregistered when that space is
 * freed (after it has seen the removal of everything).
 */
struct viommu_memory_listener {
	size_t sz;		/* sizeof(struct viommu_memory_listener) */
	struct viommu_as *as;	/* only this address space; NULL: every one */
	int priority;
	void *opaque;
	void (*begin)(struct viommu_memory_listener *l, struct viommu_as *as);
	void (*diff)(struct viommu_memory_listener *l, struct viommu_as *as,
		     const struct viommu_mr_diff *d, size_t n);
	void (*region_add)(struct viommu_memory_listener *l, struct viommu_as *as,
			   const struct viommu_mr_section *s);
	void (*region_del)(struct viommu_memory_listener *l, struct viommu_as *as,
			   const struct viommu_mr_section *s);
	void (*region_nop)(struct viommu_memory_listener *l, struct viommu_as *as,
			   const struct viommu_mr_section *s);
	void (*commit)(struct viommu_memory_listener *l, struct viommu_as *as);
};

/* ---- the model and transactions ---- */

/* A new empty model, or NULL with errno = ENOMEM. O(1). */
VIOMMU_API struct viommu_memory *viommu_memory_new(void);
/*
 * Free the model with every region, address space and listener node (no
 * callbacks run). No reader may still hold one of its views. NULL is allowed.
 * O(R + A + L + the nodes of the views still alive).
 */
VIOMMU_API void viommu_memory_free(struct viommu_memory *m);
/* Open a (nested) transaction. 0, or -EBUSY inside a listener callback. O(1). */
VIOMMU_API int viommu_memory_begin(struct viommu_memory *m);
/*
 * Close a transaction; the outermost commit re-renders the flat views and
 * notifies listeners. 0; -EINVAL without a matching begin; -EBUSY inside a
 * listener callback; -ENOMEM or -ELOOP (a tree deeper than
 * VIOMMU_MEMORY_MAX_DEPTH) when rendering failed: the transaction is closed,
 * the views and listeners stay at the previous state and the next commit
 * retries. O(1) unless outermost; the outermost commit costs the render of
 * the windows the transaction's changes reached (see Costs above), O(A + L)
 * to find them and the listeners, and the listeners' callbacks.
 */
VIOMMU_API int viommu_memory_commit(struct viommu_memory *m);
/* Number of successful outermost commits that had changes to apply (whether or not a view changed). O(1). */
VIOMMU_API uint64_t viommu_memory_generation(const struct viommu_memory *m);

#define VIOMMU_MEMORY_MAX_DEPTH 64

/* ---- regions ---- */

/*
 * Constructors return a detached, enabled region, or NULL with errno set:
 * EINVAL (NULL model, NULL name, NULL host for RAM, size 0 for RAM, an alias
 * window that does not fit its target), ENOMEM. The name is copied.
 * O(1) plus the name's length.
 */
VIOMMU_API struct viommu_mr *viommu_mr_new_ram(struct viommu_memory *m, const char *name, uint64_t size,
					       void *host);
VIOMMU_API struct viommu_mr *viommu_mr_new_ram_device(struct viommu_memory *m, const char *name,
						      uint64_t size, void *host);
VIOMMU_API struct viommu_mr *viommu_mr_new_mmio(struct viommu_memory *m, const char *name, uint64_t size,
						const struct viommu_mr_ops *ops, void *opaque);
VIOMMU_API struct viommu_mr *viommu_mr_new_iommu(struct viommu_memory *m, const char *name, uint64_t size,
						 const struct viommu_mr_iommu_ops *ops, void *opaque);
VIOMMU_API struct viommu_mr *viommu_mr_new_alias(struct viommu_memory *m, const char *name,
						 struct viommu_mr *target, uint64_t offset, uint64_t size);
VIOMMU_API struct viommu_mr *viommu_mr_new_container(struct viommu_memory *m, const char *name, uint64_t size);

/*
 * Free a region. 0; -EBUSY if it is still a subregion, has subregions, is an
 * alias target or an address-space root. NULL is allowed (returns 0). Inside
 * a transaction (or with a failed commit pending) the memory is released at
 * the next successful commit, so listeners of that commit may still look at
 * the region through old sections. O(1).
 */
VIOMMU_API int viommu_mr_free(struct viommu_mr *mr);

/*
 * Make @sub a subregion of @parent at @offset with @priority. Parts beyond
 * the parent's end are clipped. 0; -EINVAL (NULL, different models, parent is
 * an alias); -EBUSY (sub already has a parent, or inside a listener);
 * -ELOOP (the tree would contain a cycle or exceed the depth limit);
 * -ENOMEM from the implied commit. A failed implied commit undoes the add.
 * Cost: the cycle and depth check visits each region and link below @sub
 * once, however many alias paths lead to it (O(S) for S of them); O(log c)
 * to insert; recording the change at most 1,024 steps times A; plus the
 * implied commit outside a transaction.
 */
VIOMMU_API int viommu_mr_add_subregion(struct viommu_mr *parent, uint64_t offset, struct viommu_mr *sub,
				       int priority);
/*
 * Detach @sub from @parent. 0; -ENOENT if it is not a subregion of @parent;
 * -EBUSY; -ENOMEM. O(log c), recording the change, and the implied commit.
 */
VIOMMU_API int viommu_mr_del_subregion(struct viommu_mr *parent, struct viommu_mr *sub);

/*
 * Setters: 0, -EINVAL, -EBUSY (inside a listener), or the implied commit's
 * error. Each costs O(log c) (size and address re-index the region in its
 * parent), recording the change (at most 1,024 steps times A), and the
 * implied commit outside a transaction.
 */
VIOMMU_API int viommu_mr_set_enabled(struct viommu_mr *mr, bool enabled);
VIOMMU_API int viommu_mr_set_readonly(struct viommu_mr *mr, bool readonly);
VIOMMU_API int viommu_mr_set_unmergeable(struct viommu_mr *mr, bool unmergeable);
/* Rename; no effect on any flat view. -ENOMEM. O(the name's length). */
VIOMMU_API int viommu_mr_set_name(struct viommu_mr *mr, const char *name);
/* Resize (0 = 2^64; RAM and RAM devices need a non-zero size). */
VIOMMU_API int viommu_mr_set_size(struct viommu_mr *mr, uint64_t size);
/* Move within the parent; the region becomes the newest among its priority (as in QEMU). */
VIOMMU_API int viommu_mr_set_address(struct viommu_mr *mr, uint64_t offset);
/* Point an alias at another offset of its target. -EINVAL if not an alias. */
VIOMMU_API int viommu_mr_set_alias_offset(struct viommu_mr *mr, uint64_t offset);

/* Getters: O(1). */
VIOMMU_API const char *viommu_mr_name(const struct viommu_mr *mr);
VIOMMU_API enum viommu_mr_kind viommu_mr_kind(const struct viommu_mr *mr);
/* Size, 0 meaning 2^64. */
VIOMMU_API uint64_t viommu_mr_size(const struct viommu_mr *mr);
/* Offset in the parent (0 when detached). */
VIOMMU_API uint64_t viommu_mr_address(const struct viommu_mr *mr);
VIOMMU_API void *viommu_mr_opaque(const struct viommu_mr *mr);
VIOMMU_API bool viommu_mr_is_enabled(const struct viommu_mr *mr);

/* ---- address spaces ---- */

/*
 * A new address space rooted at @root (at address 0), or NULL with errno
 * (EINVAL, EBUSY, ENOMEM). Renders it in full: O(P log P) outside a
 * transaction, at the outermost commit inside one.
 */
VIOMMU_API struct viommu_as *viommu_as_new(struct viommu_memory *m, const char *name, struct viommu_mr *root);
/*
 * Remove and free; listeners see everything removed first. NULL allowed. 0
 * or -EBUSY. O(n) for the removal diff, O(n) calls per listener, O(A + L).
 */
VIOMMU_API int viommu_as_free(struct viommu_as *as);
VIOMMU_API const char *viommu_as_name(const struct viommu_as *as);
VIOMMU_API struct viommu_mr *viommu_as_root(const struct viommu_as *as);

/*
 * The current (last committed) flat view, referenced; never NULL for a valid
 * as. O(1) (a per-space mutex guards only the reference against the swap).
 */
VIOMMU_API struct viommu_flatview *viommu_as_get_flatview(struct viommu_as *as);
/* Drop a reference. O(1); the memory goes at a later commit of the writer. */
VIOMMU_API void viommu_flatview_put(struct viommu_flatview *v);
/* Number of sections. O(1). */
VIOMMU_API size_t viommu_flatview_count(const struct viommu_flatview *v);
/*
 * Section @i in address order, or NULL if i >= count. Worst case O(log n)
 * (one descent); O(1) amortised when the same thread asked for section i or
 * i - 1 of the same view last (a loop over the sections is O(n)). Do not
 * binary-search with it (that is O(log^2 n)): viommu_flatview_lower()
 * finds a section by address in one descent. The pointer is valid while the
 * view is.
 */
VIOMMU_API const struct viommu_mr_section *viommu_flatview_section(const struct viommu_flatview *v, size_t i);
/*
 * The region boundaries of the view: every address at which some region's
 * window in the tree starts, or ends + 1, whether the region is visible,
 * hidden or disabled; sorted and unique, stored in *bounds (valid while the
 * view is). Sections merge pieces of one region reached through different
 * paths (an alias over its own target, a PAM window in RAM mode), so these
 * are the points where the tree can change independently: a consumer that
 * keeps state per range (host mappings) should not let one piece span them.
 * Returns the count; 0 with errno ENOMEM when the array cannot be made.
 * Worst case O(b) time and memory at the first call on a view (it makes the
 * array once), O(1) after. Every commit makes a new view, so a caller that
 * looks at a few boundaries per commit uses viommu_flatview_next_boundary()
 * instead (else each commit costs O(b)).
 */
VIOMMU_API size_t viommu_flatview_boundaries(const struct viommu_flatview *v, const uint64_t **bounds);

/*
 * The first region boundary at or after @addr: the smallest b >= addr in
 * the set viommu_flatview_boundaries() lists, in *out. 0; -ENOENT if none;
 * -EINVAL. Worst case O(log b): one descent of the view's boundary tree;
 * unlike viommu_flatview_boundaries() it never makes the whole array.
 */
VIOMMU_API int viommu_flatview_next_boundary(const struct viommu_flatview *v, uint64_t addr, uint64_t *out);

/* Index of the first section whose last byte is >= @addr (the count if none). Worst case O(log n): one descent. */
VIOMMU_API size_t viommu_flatview_lower(const struct viommu_flatview *v, uint64_t addr);

/* The section containing @addr, or NULL for a hole. Worst case O(log n): one descent. */
VIOMMU_API const struct viommu_mr_section *viommu_flatview_lookup(const struct viommu_flatview *v,
								  uint64_t addr);

/*
 * Guest-physical accessors. Copy @len bytes at @addr. RAM is copied, MMIO
 * dispatched to the region's callbacks, IOMMU regions translated through
 * their hook into the target address space (at most 4 nested translations).
 * The whole range is checked before any byte moves: -EFAULT if any byte is a
 * hole, an MMIO region without the callback, or the range wraps past
 * 2^64-1; -EACCES for a write to a read-only section. Errors from callbacks
 * and translations are returned as is (bytes before them were transferred).
 * len 0 returns 0. O(log n + s + len) for s sections crossed, plus the
 * callbacks and up to 4 nested translations.
 */
VIOMMU_API int viommu_as_read(struct viommu_as *as, uint64_t addr, void *buf, size_t len);
VIOMMU_API int viommu_as_write(struct viommu_as *as, uint64_t addr, const void *buf, size_t len);
VIOMMU_API int viommu_flatview_read(const struct viommu_flatview *v, uint64_t addr, void *buf, size_t len);
VIOMMU_API int viommu_flatview_write(const struct viommu_flatview *v, uint64_t addr, const void *buf,
				     size_t len);

/*
 * The host pointer of @addr and the contiguous length (at most @len) behind
 * it in one RAM or RAM-device section. 0; -EINVAL (len 0); -EFAULT (hole);
 * -ENXIO (MMIO or IOMMU: not directly mappable); -EACCES (write to a
 * read-only section). The pointer stays valid while the region's host memory
 * does; viommu_flatview_map ties it to a view the caller holds. O(log n).
 */
VIOMMU_API int viommu_as_map(struct viommu_as *as, uint64_t addr, uint64_t len, bool write, void **host,
			     uint64_t *maplen);
VIOMMU_API int viommu_flatview_map(const struct viommu_flatview *v, uint64_t addr, uint64_t len, bool write,
				   void **host, uint64_t *maplen);

/* Do two sections have the same translation at every byte where they overlap? O(1). */
VIOMMU_API bool viommu_mr_section_same_translation(const struct viommu_mr_section *a,
						   const struct viommu_mr_section *b);

/* ---- listeners ---- */

/*
 * Register @l; it immediately receives the current state of every matching
 * address space (a replay as adds). 0; -EINVAL (bad size, or an address
 * space of another model); -EEXIST (already registered); -EBUSY; -ENOMEM
 * (the listener is then not registered, though it may have seen the replay of
 * some address spaces). O(L) plus the replay: O(n) per matching space.
 */
VIOMMU_API int viommu_memory_listener_register(struct viommu_memory *m, struct viommu_memory_listener *l);
/* Unregister; @l first sees the removal of everything. 0, -ENOENT, -EBUSY. O(L + n per matching space). */
VIOMMU_API int viommu_memory_listener_unregister(struct viommu_memory *m, struct viommu_memory_listener *l);

/*
 * The difference between two flat views (either may be NULL: empty), as a
 * malloc'd array in *out (free() it) with its length in *n, entries as
 * struct viommu_mr_diff describes. 0, -EINVAL or -ENOMEM.
 * O(n_old + n_new).
 */
VIOMMU_API int viommu_flatview_diff(const struct viommu_flatview *old_view, const struct viommu_flatview *new_view,
				    struct viommu_mr_diff **out, size_t *n);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_MEMORY_H */

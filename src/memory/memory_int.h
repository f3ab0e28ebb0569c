/* SPDX-License-Identifier: MIT */
/* Internals of the memory model shared by memory.c, render.c and access.c. */
#ifndef VI_MEMORY_INT_H
#define VI_MEMORY_INT_H

#include <pthread.h>
#include <viommu/memory.h>

/*
 * A region. Locking: every field is written only under the model's
 * exclusion (see memory.h). The flat views refer to terminal regions by
 * pointer and read only the immutable fields (kind, ops, iommu_ops, opaque,
 * host) without exclusion.
 * Invariants: last = size - 1 (mod 2^64); children sorted by priority
 * descending, newest first among equal priorities; an alias has no children;
 * alias_target's alias_users counts this alias; the region graph (children
 * and alias targets) is acyclic.
 */
struct viommu_mr {
	struct viommu_memory *m;
	char *name;
	enum viommu_mr_kind kind;
	uint64_t last;
	bool enabled, readonly, unmergeable;

	struct viommu_mr *parent;
	uint64_t addr;			/* offset in parent */
	int priority;
	struct viommu_mr *prev_sib, *next_sib;
	struct viommu_mr *child_head, *child_tail;
	size_t nchildren;

	void *host;				/* RAM, RAM device */
	struct viommu_mr_ops ops;		/* MMIO */
	struct viommu_mr_iommu_ops iommu_ops;	/* IOMMU */
	void *opaque;
	struct viommu_mr *alias_target;
	uint64_t alias_offset;
	unsigned alias_users;
	unsigned as_users;

	struct viommu_mr *all_prev, *all_next;	/* the model's list of regions */
};

/*
 * A flat view: immutable once published. refs is atomic; the last put frees.
 * Sections are sorted, disjoint and maximally merged (see render.c).
 */
struct viommu_flatview {
	unsigned long refs;
	size_t n;
	uint64_t *keys;		/* keys[i] = s[i].last, stored after s[] */
	size_t nbounds;
	uint64_t *bounds;	/* region boundaries, sorted and unique, stored after keys[] */
	struct viommu_mr_section s[];
};

struct vi_occ;

/* Buffers reused by every render of a model (commit runs under exclusion). */
struct vi_scratch {
	struct vi_occ *occ, *tmp;
	size_t occ_cap, tmp_cap;
	size_t *aux;
	size_t aux_cap;
	uint64_t *bounds;
	size_t bounds_cap;
};

/*
 * An address space. @view is replaced only by commit (under the model's
 * exclusion) and read by viommu_as_get_flatview under @view_lock, which only
 * guards the pointer swap against the reference increment.
 */
struct viommu_as {
	struct viommu_memory *m;
	char *name;
	struct viommu_mr *root;
	pthread_mutex_t view_lock;
	struct viommu_flatview *view;
	struct viommu_flatview *next_view;	/* rendered, not yet published */
	bool dirty;				/* a change may have reached this space */
	struct viommu_mr_diff *diff;		/* its diff (reused buffer) */
	size_t diff_cap, ndiff;
	bool has_diff;
	struct viommu_as *prev, *next;
};

/* A registration: the caller owns @l; the node is ours. Sorted by (priority, seq). */
struct vi_listener_node {
	struct viommu_memory_listener *l;
	unsigned long seq;
	struct vi_listener_node *prev, *next;
};

/*
 * The model. Every field is under the caller's exclusion (see memory.h).
 * Invariants: depth counts open transactions; pending is set by any change
 * not yet rendered and cleared only by a successful render; notifying is set
 * while listener callbacks run (mutations then fail with -EBUSY); dirty flags
 * (here and per address space) are cleared only by a successful render;
 * zombies are regions freed since the last successful render.
 */
struct viommu_memory {
	unsigned depth;
	bool pending;
	bool notifying;
	uint64_t generation;
	struct vi_scratch scratch;
	unsigned long listener_seq;
	bool all_dirty;				/* a change may have reached any space */
	struct viommu_mr *regions;
	struct viommu_mr *zombies;		/* freed while a view may still name them */
	struct viommu_as *as_head, *as_tail;
	struct vi_listener_node *lst_head, *lst_tail;	/* ascending priority, then seq */
};

/* Render @as's root into a new view (refs 1); @hint: expected sections. 0, -ENOMEM, -ELOOP. */
int vi_flatview_render(const struct viommu_as *as, struct vi_scratch *sc, size_t hint,
		       struct viommu_flatview **out);
void vi_scratch_free(struct vi_scratch *sc);
/* Diff into *buf (grown as needed, capacity *bufcap). 0 or -ENOMEM. */
int vi_flatview_diff_into(const struct viommu_flatview *ov, const struct viommu_flatview *nv,
			  struct viommu_mr_diff **buf, size_t *bufcap, size_t *nout);
struct viommu_flatview *vi_flatview_empty(void);
struct viommu_flatview *vi_flatview_ref(struct viommu_flatview *v);
/* Index of the first section with last >= addr (n if none). */
size_t vi_flatview_index(const struct viommu_flatview *v, uint64_t addr);

#endif

/* SPDX-License-Identifier: MIT */
/* Internals of the memory model shared by memory.c, render.c and access.c. */
#ifndef VI_MEMORY_INT_H
#define VI_MEMORY_INT_H

#include <pthread.h>
#include <viommu/memory.h>

#include "memory/kidx.h"
#include "memory/ptree.h"

/*
 * A region. Locking: every field is written only under the model's
 * exclusion (see memory.h). The flat views refer to terminal regions by
 * pointer and read only the immutable fields (kind, ops, iommu_ops, opaque,
 * host) without exclusion.
 *
 * Children live in the interval index @kids (kidx.h), keyed by (addr,
 * seq) with their window ends, so the children overlapping an address
 * window are found in O(log n + k). Precedence among siblings is (priority
 * descending, seq descending): seq grows with every (re)insertion, so the
 * newest of a priority is on top, as in QEMU.
 *
 * Invariants: last = size - 1 (mod 2^64); an alias has no children;
 * alias_target's alias_users list holds this alias (nalias_users counts
 * them); the region graph (children and alias targets) is acyclic; mark and
 * mark_height are only meaningful while mark equals the model's epoch.
 */
struct viommu_mr {
	/* first cache line: what every render and change of the region reads */
	uint64_t last;
	uint64_t addr;			/* offset in parent */
	struct viommu_mr *parent;
	struct vi_kx_node *kids;	/* this region's children */
	uint64_t seq;			/* (re)insertion order among all links */
	void *host;			/* RAM, RAM device (a render's sweep reads it with kind) */
	int priority;
	enum viommu_mr_kind kind;
	bool enabled, readonly, unmergeable;

	struct viommu_memory *m;
	struct viommu_mr *alias_target;
	uint64_t alias_offset;
	struct viommu_mr *alias_users;		/* aliases whose target this is */
	struct viommu_mr *alias_prev, *alias_next;	/* in alias_target's list */
	unsigned nalias_users;
	unsigned as_users;
	size_t nchildren;
	char *name;
	struct viommu_mr_ops ops;		/* MMIO */
	struct viommu_mr_iommu_ops iommu_ops;	/* IOMMU */
	void *opaque;

	uint64_t mark;			/* the cycle check that last finished this region */
	unsigned mark_height;		/* then: the longest path below it */

	struct viommu_mr *all_prev, *all_next;	/* the model's list of regions */
};

/*
 * A flat view: immutable once published. Sections (sorted, disjoint,
 * maximally merged; see render.c) are the items of the persistent tree @sec
 * keyed by their last byte; region boundaries the keys of @bnd.
 * Consecutive views of an address space share every node a commit did not
 * touch. @bcache is the boundaries as one array, made on the first
 * viommu_flatview_boundaries() call and installed with a compare-and-swap
 * (readers in several threads may race to make it).
 *
 * Lifetime: refs is atomic; a reader's last put only drops the count. The
 * views of an address space form a chain, oldest to newest (@newer); the
 * nodes a view has that its successor does not are on @dying (or all of
 * them, @dies_whole, when the successor was built from scratch). The writer
 * frees dead views from the old end of the chain at each commit: a dead view
 * with no live older one can take its dying nodes with it, since no live
 * view still reaches them.
 */
struct viommu_flatview {
	unsigned long refs;
	uint64_t id;			/* unique in the process: keys the per-thread cursor */
	size_t n;
	size_t nbounds;
	struct vi_pnode *sec;
	struct vi_pnode *bnd;
	uint64_t *bcache;
	struct viommu_flatview *newer;
	struct vi_pnode *dying;
	bool dies_whole;
};

#define VI_SEC_ESZ sizeof(struct viommu_mr_section)

struct vi_occ;

/* A region rendered at one placement, for one render (valid while gen matches). */
struct vi_seen {
	const struct viommu_mr *mr;
	uint64_t delta, first, last;
	unsigned depth;
	uint64_t gen;
};

/* Buffers reused by every render of a model (commit runs under exclusion). */
struct vi_scratch {
	struct vi_seen *seen;			/* alias targets rendered: an open-addressing set */
	size_t seen_cap, seen_n;
	uint64_t seen_gen;
	struct vi_occ *occ, *tmp;
	size_t occ_cap, tmp_cap;
	size_t *aux;
	size_t aux_cap;
	uint64_t *bounds;
	size_t bounds_cap;
	struct vi_kx_hit *kids, *kids_tmp;	/* children of the regions on the render path */
	size_t kids_cap, kids_tmp_cap;
	struct viommu_mr_section *secs;		/* one render's sections */
	size_t secs_cap;
	struct viommu_mr_section *old;		/* the sections a window replaces */
	size_t old_cap;
	uint64_t *keys;				/* keys of a tree update */
	size_t keys_cap;
	uint64_t *obounds;			/* the boundaries a window replaces */
	size_t obounds_cap;
};

/*
 * An address window [first, last] whose rendering may have changed, and
 * whether its region boundaries may have (not for a flag change of a region
 * without subregions: boundaries are window edges, enabled or not).
 */
struct vi_win {
	uint64_t first, last;
	bool bounds;
};

/*
 * An address space. @view is replaced only by commit (under the model's
 * exclusion) and read by viommu_as_get_flatview under @view_lock, which only
 * guards the pointer swap against the reference increment. @win lists the
 * windows changed since the last successful render (unsorted, may overlap);
 * @full means render everything instead.
 */
struct viommu_as {
	struct viommu_memory *m;
	char *name;
	struct viommu_mr *root;
	pthread_mutex_t view_lock;
	struct viommu_flatview *view;		/* the newest of the chain */
	struct viommu_flatview *oldest;		/* the oldest not yet freed */
	struct viommu_flatview *next_view;	/* rendered, not yet published */
	struct vi_pt_txn txn;			/* the nodes next_view was made with */
	bool next_full;				/* next_view shares nothing with view */
	bool full;
	struct vi_win *win;
	size_t nwin, win_cap;
	struct viommu_mr_diff *diff;		/* its diff (reused buffer) */
	size_t diff_cap, ndiff;
	bool has_diff;
	struct viommu_as *prev, *next;
};

/*
 * A registration: the caller owns @l and gets it back in callbacks; @cfg is
 * the copy taken at registration (opts.h rules). Sorted by (priority, seq).
 */
struct vi_listener_node {
	struct viommu_memory_listener *l;
	struct viommu_memory_listener cfg;
	unsigned long seq;
	struct vi_listener_node *prev, *next;
};

/*
 * Work counters, for the cost budgets of the tests and the fuzz target: each
 * counts the units of one loop whose bound memory.h documents.
 */
struct vi_memory_work {
	uint64_t check;		/* regions the cycle and depth check finished */
	uint64_t touch;		/* placement steps finding the windows a change reaches */
	uint64_t render;	/* regions entered by renders */
	uint64_t windows;	/* windows rendered */
	uint64_t full;		/* whole address spaces rendered */
	uint64_t sections;	/* sections written into new views */
	uint64_t fallbacks;	/* windowed renders redone in full (a bug if ever non-zero) */
};

/*
 * The model. Every field is under the caller's exclusion (see memory.h).
 * Invariants: depth counts open transactions; pending is set by any change
 * not yet rendered and cleared only by a successful render; notifying is set
 * while listener callbacks run (mutations then fail with -EBUSY); windows
 * and full flags (here and per address space) are cleared only by a
 * successful render; zombies are regions freed since the last successful
 * render.
 */
struct viommu_memory {
	unsigned depth;
	bool pending;
	bool notifying;
	uint64_t generation;
	struct vi_scratch scratch;
	unsigned long listener_seq;
	bool all_full;				/* a change may have reached anything */
	uint64_t seq;				/* link counter (viommu_mr.seq) */
	uint64_t epoch;				/* cycle-check marks */
	size_t render_limit;			/* pieces per render; 0: VI_RENDER_MAX_OCC (tests lower it) */
	struct vi_memory_work work;
	struct viommu_mr *regions;
	struct viommu_mr *zombies;		/* freed while a view may still name them */
	struct viommu_as *as_head, *as_tail;
	struct viommu_flatview *grave;		/* views of freed address spaces, oldest first */
	struct vi_listener_node *lst_head, *lst_tail;	/* ascending priority, then seq */
};

/*
 * Render what changed in @as into as->next_view (NULL if nothing did), and,
 * if @want_diff, the listener diff into as->diff (as->has_diff). 0,
 * -ENOMEM or -ELOOP (nothing published; the caller drops next_view).
 */
int vi_as_render(struct viommu_as *as, bool want_diff);
void vi_scratch_free(struct vi_scratch *sc);
struct viommu_flatview *vi_flatview_empty(void);
struct viommu_flatview *vi_flatview_ref(struct viommu_flatview *v);
/* Publish as->next_view (made by vi_as_render) as the newest view of the chain. */
void vi_as_publish_next(struct viommu_as *as);
/* Drop as->next_view and what it was made of. */
void vi_as_drop_next(struct viommu_as *as);
/* Make @nv (sharing nothing with the current view) the newest view of @as's chain. */
void vi_as_publish_whole(struct viommu_as *as, struct viommu_flatview *nv);
/*
 * Free the dead views at the old end of a chain, stopping at a live one and,
 * if @keep_newest, at the last one. Returns the new oldest.
 */
struct viommu_flatview *vi_views_reclaim(struct viommu_flatview *oldest, bool keep_newest);
/* Free a whole chain, live or not (the model is going away). */
void vi_views_free_all(struct viommu_flatview *oldest);

/* Tests and fuzz: compare every published view with a fresh full render. 0 or -EIO. */
int vi_memory_verify(struct viommu_memory *m);
/* Tests and fuzz: the work counters. */
const struct vi_memory_work *vi_memory_work(const struct viommu_memory *m);


/* Window end of a child in its parent's offsets, saturated at 2^64-1. */
static inline uint64_t vi_mr_end(const struct viommu_mr *c)
{
	uint64_t e = c->addr + c->last;

	return e < c->addr ? UINT64_MAX : e;
}

#endif

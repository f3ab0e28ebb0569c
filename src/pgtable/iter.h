/* SPDX-License-Identifier: MIT */
/*
 * The one way to walk a table: a position (struct vi_pt_walk) and a loop
 * (vi_pt_walk_for_each) that every traversal uses — map, unmap, lookup,
 * iterate, cut, free, and the guest walk — so the index arithmetic of a
 * radix table is written here once.
 *
 * The idea is Linux generic_pt's (drivers/iommu/generic_pt/pt_iter.h: struct
 * pt_state and for_each_pt_level_entry): the state of a level is a table, the
 * entry the walk is on, and the end of the range inside that table; moving on
 * is an increment. Here the walk holds that state for every level of the
 * current path at once, so it can move from the last entry of one table to
 * the next table, or from a run of small pages to a large one, by climbing
 * only as far as needed instead of starting again from the root: the walk
 * keeps its position across many entries, which is where generic_pt's speed
 * over the old io-pgtable code comes from (its cover letter, "iommupt: Add
 * the AMD IOMMU v1 page table format").
 *
 * Geometry (pt.h): level 0 holds the smallest pages; the table at level l
 * indexes bits [shift(l), shift(l) + level_bits(l)) of the IOVA; the root is
 * at level levels - 1. A walk covers a closed range [first, last] that the
 * caller has checked against the input width; for the state of a level,
 * entries [index, end) are those overlapping the range.
 *
 * The loop visits entries in address order. Inside it, vi_pt_walk_down()
 * enters the table the current entry points to (the next step is then that
 * table's first entry in range); when a table's entries are done, the walk
 * climbs back to the entry pointing to it and reports VI_PT_STEP_UP, so
 * post-order work (freeing, reclaiming emptied tables) happens there; the
 * loop ends when the level the walk started at is done.
 *
 *	vi_pt_walk_init(&w, c, root, c->levels - 1, 0, first, last);
 *	vi_pt_walk_for_each(&w, st) {
 *		if (st == VI_PT_STEP_UP)
 *			continue;		// back from a table
 *		e = *vi_pt_walk_ptep(&w);
 *		if (is a table)
 *			vi_pt_walk_down(&w, its address);
 *		else
 *			use the leaf at vi_pt_walk_va(&w), size vi_pt_walk_size(&w);
 *	}
 *
 * Table addresses are plain numbers: a host pointer for owned tables
 * (vi_pt_walk_ptep), a guest-physical address for the guest walk, which reads
 * vi_pt_walk_entry_addr() through its callback.
 */
#ifndef VI_PGTABLE_ITER_H
#define VI_PGTABLE_ITER_H

#include "pgtable/pt.h"

/* Where a walk is inside one table. */
struct vi_pt_state {
	uint64_t table;		/* the table's address */
	uint64_t base;		/* the IOVA its entry 0 translates */
	unsigned index;		/* the current entry */
	unsigned end;		/* one past the last entry overlapping the walk's range */
};

/*
 * A walk over [first, last]. s[l] is valid for l in [level, top]: the tables
 * on the path from where the walk started down to the current entry, each
 * state's index on the entry leading to the level below.
 */
struct vi_pt_walk {
	const struct vi_pt_cfg *c;
	uint64_t first, last;
	unsigned level;		/* level of the current entry */
	unsigned top;		/* the level the walk started at; it ends there */
	bool entered;		/* vi_pt_walk_down() since the last step */
	struct vi_pt_state s[VI_PT_MAX_LEVELS];
};

enum vi_pt_step {
	VI_PT_STEP_END = 0,	/* the range is done */
	VI_PT_STEP_ENTRY,	/* on the next entry in address order */
	VI_PT_STEP_UP,		/* a table is done: back on the entry that points to it */
};

/* Point the state of @level at @table, whose entry 0 translates @base, clipped to the walk's range. */
static inline void vi_pt_state_set(struct vi_pt_walk *w, unsigned level, uint64_t table, uint64_t base)
{
	const struct vi_pt_cfg *c = w->c;
	struct vi_pt_state *s = &w->s[level];

	s->table = table;
	s->base = base;
	s->index = w->first > base ? vi_pt_index(c, level, w->first) : 0;
	s->end = vi_pt_same_table(c, level, w->last, base) ? vi_pt_index(c, level, w->last) + 1
							  : vi_pt_entries(c, level);
}

/*
 * Start a walk of [first, last] at @table of @level, whose entry 0 translates
 * @base (the root: level levels - 1, base 0). The range must overlap the
 * table.
 */
static inline void vi_pt_walk_init(struct vi_pt_walk *w, const struct vi_pt_cfg *c, uint64_t table, unsigned level,
				   uint64_t base, uint64_t first, uint64_t last)
{
	w->c = c;
	w->first = first;
	w->last = last;
	w->level = w->top = level;
	w->entered = false;
	vi_pt_state_set(w, level, table, base);
}

static inline unsigned vi_pt_walk_shift(const struct vi_pt_walk *w)
{
	return vi_pt_shift(w->c, w->level);
}

/* Bytes one entry of the current level translates. */
static inline uint64_t vi_pt_walk_size(const struct vi_pt_walk *w)
{
	return UINT64_C(1) << vi_pt_walk_shift(w);
}

/* The first IOVA the current entry translates. */
static inline uint64_t vi_pt_walk_va(const struct vi_pt_walk *w)
{
	const struct vi_pt_state *s = &w->s[w->level];

	return s->base + ((uint64_t)s->index << vi_pt_walk_shift(w));
}

/* The current entry of an owned table. */
static inline uint64_t *vi_pt_walk_ptep(const struct vi_pt_walk *w)
{
	const struct vi_pt_state *s = &w->s[w->level];

	return (uint64_t *)(uintptr_t)s->table + s->index;
}

/* Where the current entry is, for a walk that reads entries through a callback. */
static inline uint64_t vi_pt_walk_entry_addr(const struct vi_pt_walk *w)
{
	const struct vi_pt_state *s = &w->s[w->level];

	return s->table + (uint64_t)s->index * sizeof(uint64_t);
}

/* Entries from the current one to the end of the range in this table (at least 1 inside the loop). */
static inline unsigned vi_pt_walk_left(const struct vi_pt_walk *w)
{
	const struct vi_pt_state *s = &w->s[w->level];

	return s->end - s->index;
}

/* The caller handled the current entry and the @n - 1 after it; the next step moves past them. */
static inline void vi_pt_walk_consume(struct vi_pt_walk *w, unsigned n)
{
	w->s[w->level].index += n - 1;
}

/*
 * Enter the table at @level (below the current one; more than one below only
 * where a format lets a pointer skip levels) that the current entry points
 * to. The table translates from the current entry's first IOVA.
 */
static inline void vi_pt_walk_down_to(struct vi_pt_walk *w, unsigned level, uint64_t table)
{
	uint64_t va = vi_pt_walk_va(w);

	w->level = level;
	vi_pt_state_set(w, level, table, va);
	w->entered = true;
}

static inline void vi_pt_walk_down(struct vi_pt_walk *w, uint64_t table)
{
	vi_pt_walk_down_to(w, w->level - 1, table);
}

/*
 * A walk of the single address @va (a lookup) has one entry per level, so
 * its states need no range arithmetic: generic_pt's pt_load_single_entry()
 * case. vi_pt_walk_init_at() starts one, vi_pt_walk_down_at() enters the
 * table the current entry points to; the rest of the walk's functions work
 * on it as on any walk.
 */
static inline void vi_pt_walk_init_at(struct vi_pt_walk *w, const struct vi_pt_cfg *c, uint64_t table,
				      unsigned level, uint64_t va)
{
	struct vi_pt_state *s = &w->s[level];

	w->c = c;
	w->first = w->last = va;
	w->level = w->top = level;
	w->entered = false;
	s->table = table;
	s->base = va & ~c->span_mask[level];
	s->index = vi_pt_index(c, level, va);
	s->end = s->index + 1;
}

static inline void vi_pt_walk_down_at(struct vi_pt_walk *w, uint64_t table)
{
	const struct vi_pt_cfg *c = w->c;
	unsigned level = --w->level;
	struct vi_pt_state *s = &w->s[level];

	s->table = table;
	s->base = w->first & ~c->span_mask[level];
	s->index = vi_pt_index(c, level, w->first);
	s->end = s->index + 1;
	w->entered = true;
}

/*
 * Move to the entry containing @va (in the walk's range) at the lowest level
 * at or above @level whose table on the current path contains it: a bulk
 * operation moving on through the range climbs only out of the tables it has
 * finished. The caller then descends to @level itself.
 */
static inline void vi_pt_walk_seek(struct vi_pt_walk *w, uint64_t va, unsigned level)
{
	const struct vi_pt_cfg *c = w->c;
	unsigned l = w->level;

	while (l < w->top && (l < level || !vi_pt_same_table(c, l, va, w->s[l].base)))
		l++;
	w->level = l;
	w->s[l].index = vi_pt_index(c, l, va);
	w->entered = false;
}

/* One step in address order (see the top of this file). */
static inline enum vi_pt_step vi_pt_walk_step(struct vi_pt_walk *w)
{
	struct vi_pt_state *s;

	if (w->entered) {
		w->entered = false;
		return VI_PT_STEP_ENTRY;
	}
	s = &w->s[w->level];
	if (++s->index < s->end)
		return VI_PT_STEP_ENTRY;
	if (w->level == w->top)
		return VI_PT_STEP_END;
	w->level++;
	return VI_PT_STEP_UP;
}

/* The loop: @st (an enum vi_pt_step the loop declares) says how the walk got to the current entry. */
#define vi_pt_walk_for_each(w, st) \
	for (enum vi_pt_step st = VI_PT_STEP_ENTRY; st != VI_PT_STEP_END; st = vi_pt_walk_step(w))

#endif

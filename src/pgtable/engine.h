/* SPDX-License-Identifier: MIT */
/* The owned-table object and the gather / flush queue shared by engine.c and flushq.c. */
#ifndef VI_PGTABLE_ENGINE_H
#define VI_PGTABLE_ENGINE_H

#include "pgtable/pt.h"

#define VI_PT_GATHER_RANGES 4

/*
 * What one operation must invalidate and free. Freed table pages are chained
 * through their first entry: a page-aligned pointer there reads as
 * not-present in every format (its low bits are zero), so a hardware or
 * lock-free walker that still holds the page sees only holes until the flush.
 */
struct vi_pt_gather {
	struct viommu_pt_range ranges[VI_PT_GATHER_RANGES];
	unsigned nranges;
	void *pages;		/* head of the freed-page chain */
	void *pages_tail;
	uint64_t npages;
};

/*
 * Lazy-mode queue: operations whose invalidation was deferred. All of it is
 * released by one flush of the bounding range. Writer-only state.
 */
struct vi_pt_fq {
	unsigned nops;
	uint64_t oldest_ns;
	uint64_t first, last;	/* bounding range of queued invalidations (nops > 0) */
	bool has_range;
	void *pages, *pages_tail;
	uint64_t npages;
};

/*
 * One owned page table. cfg, root and the mem hooks are immutable after
 * creation; everything else is writer state (single writer, see pgtable.h).
 * Table entries are read and written with __atomic accessors so lock-free
 * readers are well defined.
 */
struct viommu_pgtable {
	struct vi_pt_cfg c;
	enum viommu_pt_unmap_policy unmap_policy;
	enum viommu_pt_inval_mode inval_mode;
	viommu_pt_flush_fn flush;
	void *flush_ctx;
	unsigned fq_entries;
	uint64_t fq_timeout_ns;
	viommu_pt_clock_fn clock;
	void *clock_ctx;
	struct viommu_pt_mem_ops mem;
	bool has_mem;
	uint64_t *root;
	uint64_t root_phys;
	uint64_t table_pages;
	uint64_t flushes;
	uint64_t pages_freed;
	struct vi_pt_fq fq;
	/* Flushed empty table pages kept for reuse (only without mem hooks):
	 * all zero except the chain link in entry 0, so no memset on reuse. */
	void *pool;
	unsigned pool_n, pool_max;
	uint64_t table_bits[VI_PT_MAX_LEVELS];	/* cached fmt->table_bits() per level (1..levels-1) */
	/* Owned tables hold only two kinds of entries: leaves and the pointers
	 * this engine wrote with table_bits[l]. So at level l an owned entry is
	 * a table iff its kind field equals that of table_bits[l] — one mask
	 * compare for the unmap hot loop, exact for owned tables (checked at
	 * creation); the format's general kind bitmap is used everywhere else. */
	uint64_t kind_field;			/* kind_mask << kind_shift */
	uint64_t table_kind[VI_PT_MAX_LEVELS];	/* table_bits[l] & kind_field */
};

static inline void vi_pt_gather_init(struct vi_pt_gather *g)
{
	g->nranges = 0;
	g->pages = g->pages_tail = NULL;
	g->npages = 0;
}

/* Add [first, last] to the ranges to invalidate; merges with the previous range when adjacent. */
static inline void vi_pt_gather_range(struct vi_pt_gather *g, uint64_t first, uint64_t last)
{
	if (g->nranges) {
		struct viommu_pt_range *r = &g->ranges[g->nranges - 1];
		if (first <= r->last + 1 && last + 1 >= r->first) {
			r->first = VI_MIN(r->first, first);
			r->last = VI_MAX(r->last, last);
			return;
		}
		if (g->nranges == VI_PT_GATHER_RANGES) {
			/* Over-invalidation is always safe; running out of slots is not. */
			r->first = VI_MIN(r->first, first);
			r->last = VI_MAX(r->last, last);
			return;
		}
	}
	g->ranges[g->nranges].first = first;
	g->ranges[g->nranges].last = last;
	g->nranges++;
}

/* Queue a table page that is no longer reachable; freed after the flush. */
void vi_pt_gather_page(struct vi_pt_gather *g, void *page);
/* End of an operation: strict flush-and-free, or hand over to the flush queue. */
void vi_pt_gather_finish(struct viommu_pgtable *pt, struct vi_pt_gather *g);
/* Lazy mode: drain if the oldest queued operation timed out. */
void vi_pt_fq_poll(struct viommu_pgtable *pt);
/* Lazy mode: drain if [first, last] overlaps a queued invalidation. */
void vi_pt_fq_check_overlap(struct viommu_pgtable *pt, uint64_t first, uint64_t last);
/* Flush and free everything queued. */
void vi_pt_fq_drain(struct viommu_pgtable *pt);
/* Return a table page to the allocator. */
void vi_pt_page_release(struct viommu_pgtable *pt, void *page);
/* A flushed, empty table page: to the reuse pool, or the allocator. */
void vi_pt_page_recycle(struct viommu_pgtable *pt, void *page);

#endif

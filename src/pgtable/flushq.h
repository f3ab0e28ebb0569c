/* SPDX-License-Identifier: MIT */
/*
 * Invalidation of owned tables: the gather one operation fills, and the flush
 * queue of lazy mode.
 *
 * An operation collects the IOVA ranges the IOTLB must drop and the table
 * pages it unlinked (struct vi_pt_gather), then hands both over at its end
 * (vi_pt_gather_finish): strict mode calls the flush callback and frees the
 * pages; lazy mode queues them, and the queue drains by size, by age, on a map
 * over a queued range, or on request. A page is never freed before the flush
 * that covers it has returned, so it is never reused while an IOTLB or walk
 * cache may still hold it. This is the contract of Linux's flush queue
 * (drivers/iommu/dma-iommu.c: IOVA_FQ_SIZE 256 entries, IOVA_FQ_TIMEOUT 10 ms)
 * and of its freelist of table pages (include/linux/iommu.h, struct
 * iommu_iotlb_gather).
 *
 * Single writer: every function here runs in the table's writer.
 */
#ifndef VI_PGTABLE_FLUSHQ_H
#define VI_PGTABLE_FLUSHQ_H

#include "pgtable/pages.h"
#include "util/compiler.h"

#define VI_PT_GATHER_RANGES 4

/*
 * What one operation must invalidate and free. Over-invalidation is always
 * safe, so when the slots run out the last range grows instead.
 */
struct vi_pt_gather {
	struct viommu_pt_range ranges[VI_PT_GATHER_RANGES];
	unsigned nranges;
	void *pages;		/* head of the unlinked-page chain */
	void *pages_tail;
	uint64_t npages;
};

/*
 * The flush callback, the mode, and lazy mode's queue. Invariant: nops == 0
 * iff nothing is queued (no range, no page).
 */
struct vi_pt_fq {
	enum viommu_pt_inval_mode mode;
	viommu_pt_flush_fn flush;	/* may be NULL: invalidation is a no-op */
	void *flush_ctx;
	viommu_pt_clock_fn clock;	/* may be NULL: CLOCK_MONOTONIC */
	void *clock_ctx;
	unsigned max_ops;		/* drain at this many queued operations */
	uint64_t timeout_ns;		/* ... or when the oldest is this old */
	struct vi_pt_pages *pages;	/* where flushed pages go */
	uint64_t flushes;		/* flush callback invocations */
	/* the queue */
	unsigned nops;
	uint64_t oldest_ns;
	uint64_t first, last;		/* bounding range of queued invalidations (has_range) */
	bool has_range;
	void *head, *tail;		/* queued pages */
	uint64_t npages;
};

static inline void vi_pt_gather_init(struct vi_pt_gather *g)
{
	g->nranges = 0;
	g->pages = g->pages_tail = NULL;
	g->npages = 0;
}

/* Add [first, last] to the ranges to invalidate; merges with the previous range when they touch. */
static inline void vi_pt_gather_range(struct vi_pt_gather *g, uint64_t first, uint64_t last)
{
	if (g->nranges) {
		struct viommu_pt_range *r = &g->ranges[g->nranges - 1];

		/* Touching or overlapping, written so that 2^64-1 cannot wrap. */
		bool touch = (first <= r->last || first - r->last == 1) && (last >= r->first || r->first - last == 1);

		if (touch || g->nranges == VI_PT_GATHER_RANGES) {
			r->first = VI_MIN(r->first, first);
			r->last = VI_MAX(r->last, last);
			return;
		}
	}
	g->ranges[g->nranges].first = first;
	g->ranges[g->nranges].last = last;
	g->nranges++;
}

/* Queue a table page that is no longer reachable; it is freed after the flush. */
void vi_pt_gather_page(struct vi_pt_gather *g, void *page);
/* End of an operation: strict flush-and-free, or hand everything to the queue. */
void vi_pt_gather_finish(struct vi_pt_fq *q, struct vi_pt_gather *g);
/* Lazy mode: drain if the oldest queued operation timed out. */
void vi_pt_fq_poll(struct vi_pt_fq *q);
/* Lazy mode: drain if [first, last] overlaps a queued invalidation. */
void vi_pt_fq_check_overlap(struct vi_pt_fq *q, uint64_t first, uint64_t last);
/* Flush and free everything queued. */
void vi_pt_fq_drain(struct vi_pt_fq *q);

#endif

// SPDX-License-Identifier: MIT
/*
 * Invalidation: the per-operation gather and the lazy flush queue
 * (semantics.md §2.3, §2.4). Table pages are freed only after the flush
 * callback that covers them has returned, so they are never reused while an
 * IOTLB or walk cache may still hold them.
 */
#include <stdlib.h>
#include <time.h>

#include "pgtable/engine.h"

static void chain_set_next(void *page, void *next)
{
	__atomic_store_n((uint64_t *)page, (uint64_t)(uintptr_t)next, __ATOMIC_RELAXED);
}

static void *chain_next(void *page)
{
	return (void *)(uintptr_t)__atomic_load_n((uint64_t *)page, __ATOMIC_RELAXED);
}

void vi_pt_gather_page(struct vi_pt_gather *g, void *page)
{
	chain_set_next(page, NULL);
	if (g->pages_tail)
		chain_set_next(g->pages_tail, page);
	else
		g->pages = page;
	g->pages_tail = page;
	g->npages++;
}

void vi_pt_page_release(struct viommu_pgtable *pt, void *page)
{
	if (pt->has_mem)
		pt->mem.free(pt->mem.ctx, page, vi_pt_page_size(&pt->c));
	else
		free(page);
	pt->pages_freed++;
}

void vi_pt_page_recycle(struct viommu_pgtable *pt, void *page)
{
	if (pt->pool_n < pt->pool_max) {
		chain_set_next(page, pt->pool);
		pt->pool = page;
		pt->pool_n++;
		pt->pages_freed++;
		return;
	}
	vi_pt_page_release(pt, page);
}

static void free_chain(struct viommu_pgtable *pt, void *page)
{
	while (page) {
		void *next = chain_next(page);
		vi_pt_page_recycle(pt, page);
		page = next;
	}
}

static uint64_t now_ns(const struct viommu_pgtable *pt)
{
	struct timespec ts;

	if (pt->clock)
		return pt->clock(pt->clock_ctx);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vi_pt_fq_drain(struct viommu_pgtable *pt)
{
	struct vi_pt_fq *q = &pt->fq;

	if (!q->nops)
		return;
	if (q->has_range && pt->flush) {
		struct viommu_pt_range r = { q->first, q->last };
		pt->flush(pt->flush_ctx, &r, 1);
		pt->flushes++;
	}
	free_chain(pt, q->pages);
	q->pages = q->pages_tail = NULL;
	q->npages = 0;
	q->nops = 0;
	q->has_range = false;
}

void vi_pt_fq_poll(struct viommu_pgtable *pt)
{
	if (pt->fq.nops && now_ns(pt) - pt->fq.oldest_ns >= pt->fq_timeout_ns)
		vi_pt_fq_drain(pt);
}

void vi_pt_fq_check_overlap(struct viommu_pgtable *pt, uint64_t first, uint64_t last)
{
	/* A new mapping where a deferred invalidation is pending could be
	 * shadowed by the stale IOTLB entry: flush first. */
	if (pt->fq.has_range && first <= pt->fq.last && last >= pt->fq.first)
		vi_pt_fq_drain(pt);
}

void vi_pt_gather_finish(struct viommu_pgtable *pt, struct vi_pt_gather *g)
{
	struct vi_pt_fq *q = &pt->fq;

	if (!g->nranges && !g->npages)
		return;
	if (pt->inval_mode == VIOMMU_PT_INVAL_STRICT) {
		if (g->nranges && pt->flush) {
			pt->flush(pt->flush_ctx, g->ranges, g->nranges);
			pt->flushes++;
		}
		free_chain(pt, g->pages);
		vi_pt_gather_init(g);
		return;
	}
	if (!q->nops)
		q->oldest_ns = now_ns(pt);
	q->nops++;
	for (unsigned i = 0; i < g->nranges; i++) {
		if (!q->has_range) {
			q->first = g->ranges[i].first;
			q->last = g->ranges[i].last;
			q->has_range = true;
		} else {
			q->first = VI_MIN(q->first, g->ranges[i].first);
			q->last = VI_MAX(q->last, g->ranges[i].last);
		}
	}
	if (g->pages) {
		if (q->pages_tail)
			chain_set_next(q->pages_tail, g->pages);
		else
			q->pages = g->pages;
		q->pages_tail = g->pages_tail;
		q->npages += g->npages;
	}
	vi_pt_gather_init(g);
	if (q->nops >= pt->fq_entries)
		vi_pt_fq_drain(pt);
	else
		vi_pt_fq_poll(pt);
}

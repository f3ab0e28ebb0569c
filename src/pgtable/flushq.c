// SPDX-License-Identifier: MIT
/* The per-operation gather and lazy mode's flush queue (flushq.h). */
#include <time.h>

#include "pgtable/flushq.h"

void vi_pt_gather_page(struct vi_pt_gather *g, void *page)
{
	vi_pt_page_set_next(page, NULL);
	if (g->pages_tail)
		vi_pt_page_set_next(g->pages_tail, page);
	else
		g->pages = page;
	g->pages_tail = page;
	g->npages++;
}

static void free_chain(struct vi_pt_fq *q, void *page)
{
	while (page) {
		void *next = vi_pt_page_next(page);

		vi_pt_page_recycle(q->pages, page);
		page = next;
	}
}

static uint64_t now_ns(const struct vi_pt_fq *q)
{
	struct timespec ts;

	if (q->clock)
		return q->clock(q->clock_ctx);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vi_pt_fq_drain(struct vi_pt_fq *q)
{
	if (!q->nops)
		return;
	if (q->has_range && q->flush) {
		struct viommu_pt_range r = { q->first, q->last };

		q->flush(q->flush_ctx, &r, 1);
		q->flushes++;
	}
	free_chain(q, q->head);
	q->head = q->tail = NULL;
	q->npages = 0;
	q->nops = 0;
	q->has_range = false;
}

void vi_pt_fq_poll(struct vi_pt_fq *q)
{
	if (q->nops && now_ns(q) - q->oldest_ns >= q->timeout_ns)
		vi_pt_fq_drain(q);
}

void vi_pt_fq_check_overlap(struct vi_pt_fq *q, uint64_t first, uint64_t last)
{
	/* A new mapping where a deferred invalidation is pending could be
	 * shadowed by the stale IOTLB entry: flush first. */
	if (q->has_range && first <= q->last && last >= q->first)
		vi_pt_fq_drain(q);
}

void vi_pt_gather_finish(struct vi_pt_fq *q, struct vi_pt_gather *g)
{
	if (!g->nranges && !g->npages)
		return;
	if (q->mode == VIOMMU_PT_INVAL_STRICT) {
		if (g->nranges && q->flush) {
			q->flush(q->flush_ctx, g->ranges, g->nranges);
			q->flushes++;
		}
		free_chain(q, g->pages);
		vi_pt_gather_init(g);
		return;
	}
	if (!q->nops)
		q->oldest_ns = now_ns(q);
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
		if (q->tail)
			vi_pt_page_set_next(q->tail, g->pages);
		else
			q->head = g->pages;
		q->tail = g->pages_tail;
		q->npages += g->npages;
	}
	vi_pt_gather_init(g);
	if (q->nops >= q->max_ops)
		vi_pt_fq_drain(q);
	else
		vi_pt_fq_poll(q);
}

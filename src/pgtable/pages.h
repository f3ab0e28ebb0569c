/* SPDX-License-Identifier: MIT */
/*
 * Table pages of owned tables: where they come from and where they go.
 *
 * A table page is one granule, aligned to its size, zero-filled when handed
 * out. It comes from the caller's allocation hooks (viommu_pt_mem_ops) or,
 * without hooks, from aligned_alloc(), in which case the "physical" address a
 * descriptor holds is the page's host virtual address.
 *
 * Pages that are no longer linked are chained through their entry 0 (a
 * page-aligned pointer there reads as not-present in every format, so a
 * straggling walker of a retired page sees holes). Flushed empty pages are
 * kept in a small pool for reuse when there are no hooks: they are zero
 * except the link, so reuse costs no memset.
 *
 * Single writer: every function here runs in the table's writer.
 */
#ifndef VI_PGTABLE_PAGES_H
#define VI_PGTABLE_PAGES_H

#include <stdbool.h>
#include <stdint.h>

#include <viommu/pgtable.h>

struct vi_pt_pages {
	struct viommu_pt_mem_ops mem;
	bool has_mem;
	size_t size;		/* bytes per page: one granule */
	uint64_t addr_mask;	/* a page's address must fit a descriptor's address field */
	void *pool;		/* flushed empty pages, chained through entry 0 */
	unsigned pool_n, pool_max;
	uint64_t freed;		/* pages released to the allocator or the pool */
};

/* @mem may be NULL (aligned_alloc); it is copied. */
void vi_pt_pages_init(struct vi_pt_pages *pp, const struct viommu_pt_mem_ops *mem, size_t size, uint64_t addr_mask);
/* Free the pool (the table's pages must have been released first). */
void vi_pt_pages_fini(struct vi_pt_pages *pp);

/* A zeroed page and its descriptor address, or NULL (no memory, or an address the format cannot hold). */
void *vi_pt_page_alloc(struct vi_pt_pages *pp, uint64_t *phys);
/* Give a page back to the allocator now. */
void vi_pt_page_release(struct vi_pt_pages *pp, void *page);
/* A flushed page that holds only zeros (and maybe a chain link): to the pool, or the allocator. */
void vi_pt_page_recycle(struct vi_pt_pages *pp, void *page);

/* The host address of the table whose descriptor address is @phys. */
static inline uint64_t *vi_pt_page_va(const struct vi_pt_pages *pp, uint64_t phys)
{
	if (pp->has_mem)
		return pp->mem.phys_to_virt(pp->mem.ctx, phys);
	return (uint64_t *)(uintptr_t)phys;
}

/* The chain of unlinked pages, through entry 0 (atomic: a late walker may still read it). */
static inline void vi_pt_page_set_next(void *page, void *next)
{
	__atomic_store_n((uint64_t *)page, (uint64_t)(uintptr_t)next, __ATOMIC_RELAXED);
}

static inline void *vi_pt_page_next(void *page)
{
	return (void *)(uintptr_t)__atomic_load_n((uint64_t *)page, __ATOMIC_RELAXED);
}

#endif

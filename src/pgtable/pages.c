// SPDX-License-Identifier: MIT
/* Table pages of owned tables (pages.h). */
#include <stdlib.h>
#include <string.h>

#include "pgtable/pages.h"

void vi_pt_pages_init(struct vi_pt_pages *pp, const struct viommu_pt_mem_ops *mem, size_t size, uint64_t addr_mask)
{
	memset(pp, 0, sizeof(*pp));
	if (mem) {
		pp->mem = *mem;
		pp->has_mem = true;
	}
	pp->size = size;
	pp->addr_mask = addr_mask;
	/* 256 KiB of pages per table, at least 4; none with hooks (their pages are the caller's). */
	pp->pool_max = pp->has_mem ? 0 : (unsigned)((256u << 10) / size > 4 ? (256u << 10) / size : 4);
}

void vi_pt_pages_fini(struct vi_pt_pages *pp)
{
	while (pp->pool) {
		void *p = pp->pool;

		pp->pool = vi_pt_page_next(p);
		free(p);
	}
	pp->pool_n = 0;
}

void *vi_pt_page_alloc(struct vi_pt_pages *pp, uint64_t *phys)
{
	uint64_t *p;
	uint64_t pa;

	if (pp->has_mem) {
		p = pp->mem.alloc(pp->mem.ctx, pp->size);
		if (!p)
			return NULL;
		pa = pp->mem.virt_to_phys(pp->mem.ctx, p);
	} else if (pp->pool) {
		p = pp->pool;
		pp->pool = vi_pt_page_next(p);
		pp->pool_n--;
		p[0] = 0;
		pa = (uint64_t)(uintptr_t)p;
	} else {
		p = aligned_alloc(pp->size, pp->size);
		if (!p)
			return NULL;
		memset(p, 0, pp->size);
		pa = (uint64_t)(uintptr_t)p;
	}
	/* The page must be addressable by a descriptor of this format. */
	if (pa & ~pp->addr_mask) {
		if (pp->has_mem)
			pp->mem.free(pp->mem.ctx, p, pp->size);
		else
			free(p);
		return NULL;
	}
	*phys = pa;
	return p;
}

void vi_pt_page_release(struct vi_pt_pages *pp, void *page)
{
	if (pp->has_mem)
		pp->mem.free(pp->mem.ctx, page, pp->size);
	else
		free(page);
	pp->freed++;
}

void vi_pt_page_recycle(struct vi_pt_pages *pp, void *page)
{
	if (pp->pool_n < pp->pool_max) {
		vi_pt_page_set_next(page, pp->pool);
		pp->pool = page;
		pp->pool_n++;
		pp->freed++;
		return;
	}
	vi_pt_page_release(pp, page);
}

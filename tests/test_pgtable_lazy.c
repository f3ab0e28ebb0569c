// SPDX-License-Identifier: MIT
/*
 * Invalidation modes (Linux drivers/iommu/dma-iommu.c, the flush queue:
 * IOVA_FQ_SIZE, IOVA_FQ_TIMEOUT; table pages freed only after the flush, as
 * iommu_iotlb_gather's freelist does): strict flushes exactly the
 * unmapped ranges before returning and frees table pages only after the
 * flush; lazy queues ranges and pages, drains at the entry bound (Linux: 256)
 * and at the time bound (Linux: 10 ms), and never frees a table page before
 * the flush that covers it.
 */
#include <viommu/pgtable.h>

#include "pt_common.h"
#include "test.h"

struct env {
	struct pt_mem_counter mc;
	uint64_t now;
	unsigned flushes;
	long live_at_flush;		/* table pages alive while the flush ran */
	struct viommu_pt_range last[4];
	size_t nlast;
};

static void env_flush(void *ctx, const struct viommu_pt_range *r, size_t n)
{
	struct env *e = ctx;
	e->flushes++;
	e->live_at_flush = e->mc.live;
	e->nlast = n < 4 ? n : 4;
	memcpy(e->last, r, e->nlast * sizeof(*r));
}

static uint64_t env_clock(void *ctx)
{
	return ((struct env *)ctx)->now;
}

/* VT-d 4 levels, then AMD mode 4: the same geometry, so the same counts. */
static const struct pt_case *cur_case;

static struct viommu_pgtable *make(struct env *e, struct viommu_pt_mem_ops *mem, enum viommu_pt_inval_mode mode)
{
	struct viommu_pgtable_opts o = pt_opts(cur_case);	/* 4 levels of 4K tables */

	memset(e, 0, sizeof(*e));
	*mem = (struct viommu_pt_mem_ops){ pt_cnt_alloc, pt_cnt_free, pt_cnt_v2p, pt_cnt_p2v, &e->mc };
	o.mem = mem;
	o.inval_mode = mode;
	o.flush = env_flush;
	o.flush_ctx = e;
	o.clock = env_clock;
	o.clock_ctx = e;
	o.fq_entries = 4;
	o.fq_timeout_ns = 1000;
	return viommu_pgtable_new(&o);
}

static struct viommu_pgtable_stats stats(struct viommu_pgtable *pt)
{
	struct viommu_pgtable_stats st;
	viommu_pgtable_get_stats(pt, &st);
	return st;
}

static void test_strict(void)
{
	struct env e;
	struct viommu_pt_mem_ops mem;
	struct viommu_pgtable *pt = make(&e, &mem, VIOMMU_PT_INVAL_STRICT);
	uint64_t done;

	/* Mapping into empty space needs no invalidation. */
	T_EQ(viommu_pgtable_map(pt, 0x200000, 0, 0x3000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(e.flushes, 0);
	T_EQ(e.mc.live, 4);
	/* A partial unmap flushes exactly the removed page; no table freed. */
	T_EQ(viommu_pgtable_unmap(pt, 0x201000, 0x1000, &done), 0);
	T_EQ(e.flushes, 1);
	T_EQ(e.nlast, 1);
	T_EQ_U64(e.last[0].first, 0x201000);
	T_EQ_U64(e.last[0].last, 0x201fff);
	/* Unmapping holes too: two separate ranges, then the emptied tables' spans. */
	T_EQ(viommu_pgtable_unmap(pt, 0x200000, 0x3000, &done), 0);
	T_EQ_U64(done, 0x2000);
	T_EQ(e.flushes, 2);
	/* The level-1, -2 and -3 tables were still alive during the flush. */
	T_EQ(e.live_at_flush, 4);
	T_EQ(e.mc.live, 1);
	/* The flushed ranges cover both pages and every freed table's span (512G). */
	T_EQ_U64(e.last[e.nlast - 1].first, 0);
	T_EQ_U64(e.last[e.nlast - 1].last, UINT64_C(0x7fffffffff));
	T_EQ(stats(pt).flushes, 2);
	T_EQ(stats(pt).pages_freed, 3);
	/* Nothing to unmap: no flush. */
	T_EQ(viommu_pgtable_unmap(pt, 0x200000, 0x3000, &done), 0);
	T_EQ(e.flushes, 2);
	viommu_pgtable_free(pt);
	T_EQ(e.mc.live, 0);
}

static void test_lazy_size(void)
{
	struct env e;
	struct viommu_pt_mem_ops mem;
	struct viommu_pgtable *pt = make(&e, &mem, VIOMMU_PT_INVAL_LAZY);
	uint64_t done;

	/* Four 4K pages in four different 2M regions: each has its own leaf table. */
	for (uint64_t i = 0; i < 5; i++)
		T_EQ(viommu_pgtable_map(pt, i << 21, i << 12, 0x1000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(e.mc.live, 1 + 2 + 5);
	for (uint64_t i = 0; i < 3; i++) {
		T_EQ(viommu_pgtable_unmap(pt, i << 21, 0x1000, &done), 0);
		T_EQ_U64(done, 0x1000);
		/* Queued, not flushed, nothing freed. */
		T_EQ(e.flushes, 0);
		T_EQ(stats(pt).pending_ops, i + 1);
		T_EQ(stats(pt).pending_pages, i + 1);
		T_EQ(e.mc.live, 8);
		T_EQ(stats(pt).table_pages, 8 - (i + 1));
	}
	/* The fourth operation reaches the bound: one flush of the bounding range. */
	T_EQ(viommu_pgtable_unmap(pt, UINT64_C(3) << 21, 0x1000, &done), 0);
	T_EQ(e.flushes, 1);
	T_EQ(e.nlast, 1);
	T_EQ_U64(e.last[0].first, 0);
	T_EQ_U64(e.last[0].last, (UINT64_C(4) << 21) - 1);
	T_EQ(e.live_at_flush, 8);
	T_EQ(e.mc.live, 4);
	T_EQ(stats(pt).pending_ops, 0);
	T_EQ(stats(pt).pending_pages, 0);
	viommu_pgtable_free(pt);
	T_EQ(e.mc.live, 0);
}

static void test_lazy_time(void)
{
	struct env e;
	struct viommu_pt_mem_ops mem;
	struct viommu_pgtable *pt = make(&e, &mem, VIOMMU_PT_INVAL_LAZY);
	uint64_t done;

	T_EQ(viommu_pgtable_map(pt, 0, 0, 0x2000, VIOMMU_PERM_READ, &done), 0);
	e.now = 100;
	T_EQ(viommu_pgtable_unmap(pt, 0, 0x1000, &done), 0);
	T_EQ(stats(pt).pending_ops, 1);
	e.now = 1099;	/* 999 ns old: still queued */
	viommu_pgtable_flush_poll(pt);
	T_EQ(e.flushes, 0);
	T_EQ(viommu_pgtable_map(pt, 1UL << 30, 0, 0x1000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(e.flushes, 0);
	e.now = 1100;	/* 1000 ns: due */
	viommu_pgtable_flush_poll(pt);
	T_EQ(e.flushes, 1);
	T_EQ_U64(e.last[0].first, 0);
	T_EQ_U64(e.last[0].last, 0xfff);
	T_EQ(stats(pt).pending_ops, 0);

	/* Any operation checks the age too. */
	T_EQ(viommu_pgtable_unmap(pt, 0x1000, 0x1000, &done), 0);
	T_EQ(e.flushes, 1);
	/* The 4K and 2M tables under 0 emptied; the 1G table still holds 1G. */
	T_EQ(stats(pt).pending_pages, 2);
	T_EQ(e.mc.live, 6);
	e.now = 5000;
	T_EQ(viommu_pgtable_unmap(pt, 0x5000, 0x1000, &done), 0);
	T_EQ(e.flushes, 2);
	T_EQ(e.live_at_flush, 6);
	T_EQ(e.mc.live, 4);

	/* Mapping where an invalidation is still queued drains the queue first. */
	T_EQ(viommu_pgtable_unmap(pt, 1UL << 30, 0x1000, &done), 0);
	T_EQ(e.flushes, 2);
	T_EQ(viommu_pgtable_map(pt, 1UL << 30, 0x9000, 0x1000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(e.flushes, 3);
	T_EQ_U64(viommu_pgtable_iova_to_phys(pt, 1UL << 30), 0x9000);

	/* Explicit flush, and free with a pending queue flushes before freeing. */
	T_EQ(viommu_pgtable_unmap(pt, 1UL << 30, 0x1000, &done), 0);
	viommu_pgtable_flush(pt);
	T_EQ(e.flushes, 4);
	viommu_pgtable_flush(pt);
	T_EQ(e.flushes, 4);
	T_EQ(viommu_pgtable_map(pt, 0, 0, 0x1000, VIOMMU_PERM_READ, &done), 0);
	T_EQ(viommu_pgtable_unmap(pt, 0, 0x1000, &done), 0);
	viommu_pgtable_free(pt);
	T_EQ(e.flushes, 5);
	T_EQ(e.mc.live, 0);
}

int main(void)
{
	static const unsigned cases[] = { PT_CASE_VTD4, PT_CASE_AMD4 };

	for (unsigned i = 0; i < 2; i++) {
		cur_case = &pt_cases[cases[i]];
		test_strict();
		test_lazy_size();
		test_lazy_time();
	}
	return t_done();
}

// SPDX-License-Identifier: MIT
/*
 * The reconciler's live-migration and live-update calls on simulated
 * backends (src/reconcile/migrate.c): the dirty log in guest-physical pages
 * on the flat-view path and on the IOMMU path, for a backend that reports
 * every mapped page (type1), one that tracks what a device wrote (iommufd
 * with VIOMMU_HOST_SIM_DIRTY_HW, the device's writes made with
 * viommu_host_sim_access) and one that cannot track at all (iommufd without
 * dirty ops); and the user-address handover, which must move every host
 * mapping to its new address with no unmap, so that the commit moving the
 * regions makes no host call and opens no window, refusing (and changing
 * nothing) where it cannot.
 */
#include <viommu/host.h>
#include <viommu/memory.h>
#include <viommu/reconcile.h>

#include "iommu_model.h"

#define PG UINT64_C(0x1000)
#define M1 UINT64_C(0x100000)
#define GPA_A (16 * M1)
#define GPA_B (17 * M1)
#define H1 UINT64_C(0x100000000000)	/* old host addresses (2M aligned, synthetic) */
#define H2 UINT64_C(0x200000000000)	/* the same memory at its new addresses */

struct fix {
	struct viommu_memory *m;
	struct viommu_mr *root, *a1, *b1, *a2, *b2;
	struct viommu_as *as;
	struct viommu_recon *r;
	unsigned backend_errors;
};

static void on_report(void *ctx, const struct viommu_recon_report *rep)
{
	struct fix *f = ctx;

	f->backend_errors += rep->kind == VIOMMU_RECON_ERR_BACKEND;
}

/* RAM A and B (1 MiB each, back to back) at H1; A2 and B2 the same at H2, not yet in the map. */
static void setup(struct fix *f)
{
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .report = on_report, .report_ctx = f };

	memset(f, 0, sizeof(*f));
	f->m = viommu_memory_new();
	f->root = viommu_mr_new_container(f->m, "system", 0);
	f->a1 = viommu_mr_new_ram(f->m, "A", M1, (void *)(uintptr_t)H1);
	f->b1 = viommu_mr_new_ram(f->m, "B", M1, (void *)(uintptr_t)(H1 + M1));
	f->a2 = viommu_mr_new_ram(f->m, "A'", M1, (void *)(uintptr_t)H2);
	f->b2 = viommu_mr_new_ram(f->m, "B'", M1, (void *)(uintptr_t)(H2 + M1));
	if (!f->root || !f->a1 || !f->b1 || !f->a2 || !f->b2)
		T_FATAL("regions");
	T_EQ(viommu_mr_add_subregion(f->root, GPA_A, f->a1, 0), 0);
	T_EQ(viommu_mr_add_subregion(f->root, GPA_B, f->b1, 0), 0);
	f->as = viommu_as_new(f->m, "dma", f->root);
	f->r = viommu_recon_new(f->m, f->as, &ro);
	if (!f->as || !f->r)
		T_FATAL("reconciler");
}

static void teardown(struct fix *f)
{
	viommu_recon_free(f->r);
	viommu_memory_free(f->m);
}

static struct viommu_host *sim(enum viommu_host_semantics sem, unsigned flags)
{
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = sem, .flags = flags };
	struct viommu_host *h = viommu_host_sim_new(&o);

	if (!h)
		T_FATAL("sim");
	return h;
}

/* Bits set in the first @words words. */
static uint64_t popcount(const uint64_t *b, size_t words)
{
	uint64_t n = 0;

	for (size_t i = 0; i < words; i++)
		n += (uint64_t)__builtin_popcountll(b[i]);
	return n;
}

/* The log is in guest pages from 16 MiB: 512 pages cover A and B. */
#define LOG_PAGES 1024
static uint64_t bm[LOG_PAGES / 64];

static void test_dirty_type1(void)
{
	struct fix f;
	struct viommu_host *h = sim(VIOMMU_HOST_TYPE1V2, 0);
	struct viommu_recon_dirty st = { .sz = sizeof(st) };

	setup(&f);
	T_EQ(viommu_recon_attach(f.r, h), 0);
	memset(bm, 0, sizeof(bm));
	T_EQ(viommu_recon_dirty_log(f.r, GPA_A, LOG_PAGES, bm, &st), -EINVAL);	/* not started */
	T_EQ(viommu_recon_dirty_start(f.r), 0);
	T_EQ(viommu_recon_dirty_log(f.r, GPA_A, LOG_PAGES, bm, &st), 0);
	/* type1 reads every mapped page dirty: A and B, nothing beyond */
	T_EQ_U64(st.pages, 512);
	T_EQ_U64(popcount(bm, LOG_PAGES / 64), 512);
	T_EQ_U64(bm[0], UINT64_MAX);
	T_EQ_U64(bm[7], UINT64_MAX);
	T_EQ_U64(bm[8], 0);
	T_EQ_U64(st.host_calls, 1);	/* A and B are back to back: one window */
	T_EQ(st.untracked, 0);
	T_EQ_U64(st.unattributed, 0);
	/* and again on the next call (the kernel cannot see writes) */
	memset(bm, 0, sizeof(bm));
	T_EQ(viommu_recon_dirty_log(f.r, GPA_A, LOG_PAGES, bm, &st), 0);
	T_EQ_U64(st.pages, 512);
	/* a log window that starts inside B only sees B's pages from there */
	memset(bm, 0, sizeof(bm));
	T_EQ(viommu_recon_dirty_log(f.r, GPA_B + 128 * PG, 64, bm, &st), 0);
	T_EQ_U64(st.pages, 64);
	T_EQ_U64(bm[0], UINT64_MAX);
	/* bad arguments */
	T_EQ(viommu_recon_dirty_log(f.r, GPA_A + 1, 8, bm, NULL), -EINVAL);
	T_EQ(viommu_recon_dirty_log(f.r, GPA_A, 0, bm, NULL), -EINVAL);
	T_EQ(viommu_recon_dirty_log(f.r, UINT64_MAX - PG + 1, 2, bm, NULL), -EINVAL);
	T_EQ(viommu_recon_dirty_log(f.r, GPA_A, 8, NULL, NULL), -EINVAL);
	T_EQ(viommu_recon_dirty_stop(f.r), 0);
	T_EQ(viommu_recon_dirty_log(f.r, GPA_A, 8, bm, NULL), -EINVAL);
	T_EQ(viommu_recon_detach(f.r, h, true), 0);
	viommu_host_free(h);
	teardown(&f);
}

/* iommufd with a tracking domain: exactly the pages the device wrote, once. */
static void test_dirty_tracked(void)
{
	struct fix f;
	struct viommu_host *h = sim(VIOMMU_HOST_IOMMUFD, VIOMMU_HOST_SIM_DIRTY_HW);
	struct viommu_recon_dirty st = { .sz = sizeof(st) };

	setup(&f);
	T_EQ(viommu_recon_attach(f.r, h), 0);
	T_EQ(viommu_recon_dirty_start(f.r), 0);
	memset(bm, 0, sizeof(bm));
	T_EQ(viommu_recon_dirty_log(f.r, GPA_A, LOG_PAGES, bm, &st), 0);
	T_EQ_U64(st.pages, 0);		/* started clean */
	/* the device writes 8 bytes of A's page 3 and two pages of B across a page edge */
	T_EQ(viommu_host_sim_access(h, GPA_A + 3 * PG + 16, 8, VIOMMU_PERM_WRITE, NULL), 0);
	T_EQ(viommu_host_sim_access(h, GPA_B + 10 * PG - 4, 8, VIOMMU_PERM_WRITE, NULL), 0);
	/* a read leaves no mark */
	T_EQ(viommu_host_sim_access(h, GPA_B + 100 * PG, 8, VIOMMU_PERM_READ, NULL), 0);
	T_EQ(viommu_recon_dirty_log(f.r, GPA_A, LOG_PAGES, bm, &st), 0);
	T_EQ_U64(st.pages, 3);
	T_EQ_U64(bm[0], UINT64_C(1) << 3);
	T_EQ_U64(bm[256 / 64], UINT64_C(3) << (9 % 64));
	T_EQ_U64(popcount(bm, LOG_PAGES / 64), 3);
	/* cleared by the read: the next call is empty */
	memset(bm, 0, sizeof(bm));
	T_EQ(viommu_recon_dirty_log(f.r, GPA_A, LOG_PAGES, bm, &st), 0);
	T_EQ_U64(st.pages, 0);
	T_EQ(viommu_recon_dirty_stop(f.r), 0);
	T_EQ(viommu_recon_detach(f.r, h, true), 0);
	viommu_host_free(h);
	teardown(&f);
}

/* A domain without dirty ops is not an error: all its mapped pages count. */
static void test_dirty_untracked(void)
{
	struct fix f;
	struct viommu_host *h = sim(VIOMMU_HOST_IOMMUFD, 0), *t = sim(VIOMMU_HOST_TYPE1V1, 0);
	struct viommu_recon_dirty st = { .sz = sizeof(st) };

	setup(&f);
	T_EQ(viommu_recon_attach(f.r, h), 0);
	T_EQ(viommu_recon_attach(f.r, t), 0);
	T_EQ(viommu_recon_dirty_start(f.r), 0);
	memset(bm, 0, sizeof(bm));
	T_EQ(viommu_recon_dirty_log(f.r, GPA_A, LOG_PAGES, bm, &st), 0);
	T_EQ(st.untracked, 2);		/* iommufd without dirty ops; type1 v1 (EACCES) */
	T_EQ_U64(st.pages, 512);
	T_EQ_U64(st.host_calls, 0);
	T_EQ(viommu_recon_dirty_stop(f.r), 0);
	T_EQ(viommu_recon_detach(f.r, h, true), 0);
	T_EQ(viommu_recon_detach(f.r, t, true), 0);
	viommu_host_free(h);
	viommu_host_free(t);
	teardown(&f);
}

/* The IOMMU path: a device write at an IOVA lands in the guest page the IOMMU points at. */
static void test_dirty_iommu_path(void)
{
	static struct guest g;
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "system", 0);
	struct viommu_mr *ram = viommu_mr_new_ram(m, "ram", 64 * M1, (void *)(uintptr_t)H1);
	struct viommu_iommu_as_opts io = { .sz = sizeof(io), .read = guest_read, .read_ctx = &g };
	struct viommu_recon_opts ro = { .sz = sizeof(ro) };
	struct viommu_host *h = sim(VIOMMU_HOST_IOMMUFD, VIOMMU_HOST_SIM_DIRTY_HW);
	struct viommu_recon_dirty st = { .sz = sizeof(st) };
	struct viommu_iommu_as *ias;
	struct viommu_as *sys;
	struct viommu_recon *r;

	g.leaves = viommu_rangemap_new();
	T_OK(m && root && ram && g.leaves);
	T_EQ(viommu_mr_add_subregion(root, 0, ram, 0), 0);
	sys = viommu_as_new(m, "memory", root);
	ias = viommu_iommu_as_new(&io);
	r = viommu_recon_new_iommu(m, sys, ias, &ro);
	T_OK(sys && ias && r);
	if (!r)
		return;
	T_EQ(viommu_recon_attach(r, h), 0);
	/* IOVA 0x40000000 -> guest-physical 0x1230000, four pages; and a second extent elsewhere */
	guest_map(&g, 0x40000000, 4 * PG, 0x1230000, 3);
	guest_map(&g, 0x50000000, PG, 0x2000000, 3);
	T_EQ(viommu_iommu_sync(ias, 0, UINT64_MAX), 2);
	T_EQ(viommu_recon_dirty_start(r), 0);
	T_EQ(viommu_host_sim_access(h, 0x40000000 + 2 * PG, 4, VIOMMU_PERM_WRITE, NULL), 0);
	T_EQ(viommu_host_sim_access(h, 0x50000000, 4, VIOMMU_PERM_WRITE, NULL), 0);
	memset(bm, 0, sizeof(bm));
	T_EQ(viommu_recon_dirty_log(r, 0x1200000, LOG_PAGES, bm, &st), 0);
	T_EQ_U64(st.pages, 1);		/* 0x2000000 is outside this log window */
	T_EQ_U64(bm[(0x1232000 - 0x1200000) / PG / 64], UINT64_C(1) << ((0x1232000 - 0x1200000) / PG % 64));
	/* a second window sees the other write (the first read cleared it: write again) */
	T_EQ(viommu_host_sim_access(h, 0x50000000, 4, VIOMMU_PERM_WRITE, NULL), 0);
	memset(bm, 0, sizeof(bm));
	T_EQ(viommu_recon_dirty_log(r, 0x2000000, 1, bm, &st), 0);
	T_EQ_U64(st.pages, 1);
	T_EQ_U64(bm[0], 1);
	T_EQ(viommu_recon_detach(r, h, true), 0);
	viommu_recon_free(r);
	viommu_iommu_as_free(ias);
	viommu_host_free(h);
	viommu_memory_free(m);
	viommu_rangemap_free(g.leaves);
}

struct vcheck { uint64_t base; int bad; long n; };

static void check_vaddr(const struct viommu_host_mapping *mp, void *ctx)
{
	struct vcheck *c = ctx;

	c->n++;
	c->bad += mp->vaddr_invalid || mp->vaddr != c->base + (mp->iova - GPA_A);
}

static void collect_mappings(const struct viommu_host_mapping *mp, void *ctx)
{
	struct viommu_host_mapping *v = ctx;

	v[(mp->iova - GPA_A) / M1] = *mp;
}

/* Move A and B to H2: no unmap, no map, no window, and the commit makes no host call. */
static void swap_regions(struct fix *f, bool to2)
{
	T_EQ(viommu_memory_begin(f->m), 0);
	T_EQ(viommu_mr_del_subregion(f->root, to2 ? f->a1 : f->a2), 0);
	T_EQ(viommu_mr_del_subregion(f->root, to2 ? f->b1 : f->b2), 0);
	T_EQ(viommu_mr_add_subregion(f->root, GPA_A, to2 ? f->a2 : f->a1, 0), 0);
	T_EQ(viommu_mr_add_subregion(f->root, GPA_B, to2 ? f->b2 : f->b1, 0), 0);
	T_EQ(viommu_memory_commit(f->m), 0);
}

static void test_update_vaddr(void)
{
	struct fix f;
	struct viommu_host *h = sim(VIOMMU_HOST_TYPE1V2, 0), *h2 = sim(VIOMMU_HOST_TYPE1V1, 0);
	struct viommu_recon_stats s0 = { .sz = sizeof(s0) }, s1 = { .sz = sizeof(s1) };
	struct vcheck c = { H1, 0, 0 };

	setup(&f);
	T_EQ(viommu_recon_attach(f.r, h), 0);
	T_EQ(viommu_recon_attach(f.r, h2), 0);
	T_EQ(viommu_recon_get_stats(f.r, NULL, &s0), 0);
	for (int round = 0; round < 4; round++) {
		bool to2 = !(round & 1);
		uint64_t from = to2 ? H1 : H2, to = to2 ? H2 : H1;

		/* per backend: one UNMAP_VADDR over A and B (back to back), one MAP_VADDR each */
		T_EQ(viommu_recon_update_vaddr(f.r, from, from + 2 * M1 - 1, to), 6);
		viommu_host_sim_timeline_clear(h);
		swap_regions(&f, to2);
		T_EQ(viommu_host_sim_timeline_count(h), 0);	/* the commit made no host call */
		c = (struct vcheck){ to, 0, 0 };
		T_EQ(viommu_host_sim_mappings(h, check_vaddr, &c), 2);
		T_EQ(c.bad, 0);
		c = (struct vcheck){ to, 0, 0 };
		T_EQ(viommu_host_sim_mappings(h2, check_vaddr, &c), 2);
		T_EQ(c.bad, 0);
		T_EQ(viommu_recon_check(f.r, h, NULL), 0);
		T_EQ(viommu_recon_check(f.r, h2, NULL), 0);
	}
	T_EQ(viommu_recon_get_stats(f.r, NULL, &s1), 0);
	T_EQ_U64(s1.map_ops, s0.map_ops);
	T_EQ_U64(s1.unmap_ops, s0.unmap_ops);
	T_EQ_U64(s1.windows, 0);
	/* a range that straddles a mapping: refused, nothing touched */
	viommu_host_sim_timeline_clear(h);
	T_EQ(viommu_recon_update_vaddr(f.r, H1, H1 + M1 + PG - 1, H2), -EINVAL);
	T_EQ(viommu_host_sim_timeline_count(h), 0);
	/* a move that is not a multiple of the IOMMU page */
	T_EQ(viommu_recon_update_vaddr(f.r, H1, H1 + 2 * M1 - 1, H2 + 8), -EINVAL);
	T_EQ(viommu_recon_update_vaddr(f.r, H1, H1 - 1, H2), -EINVAL);
	T_EQ(viommu_recon_update_vaddr(f.r, 1, UINT64_MAX, 2), -EINVAL);
	/* nothing in the range: no call */
	T_EQ(viommu_recon_update_vaddr(f.r, H2 + 64 * M1, H2 + 65 * M1 - 1, H1), 0);
	/* the second MAP_VADDR fails: the one still invalid gets its old address back */
	T_EQ(viommu_host_sim_inject(h, 3, EIO), 0);
	T_EQ(viommu_recon_update_vaddr(f.r, H1, H1 + 2 * M1 - 1, H2), -EIO);
	T_EQ(f.backend_errors, 1);	/* reported with its range */
	{
		struct viommu_host_mapping got[2];
		long n = viommu_host_sim_mappings(h, collect_mappings, got);

		T_EQ(n, 2);
		T_OK(!got[0].vaddr_invalid && !got[1].vaddr_invalid);	/* nothing left invalid */
		T_EQ_U64(got[0].vaddr, H2);		/* A moved */
		T_EQ_U64(got[1].vaddr, H1 + M1);	/* B given its old address back */
	}
	/* B kept H1 (rolled back), A got H2: the record says so, resync repairs A */
	T_EQ(viommu_recon_check(f.r, h, NULL), -EIO);
	T_EQ(viommu_recon_resync(f.r), 0);
	T_EQ(viommu_recon_check(f.r, h, NULL), 0);
	T_EQ(viommu_recon_detach(f.r, h, true), 0);
	T_EQ(viommu_recon_detach(f.r, h2, true), 0);
	viommu_host_free(h);
	viommu_host_free(h2);
	teardown(&f);
}

/*
 * Three backends (the per-backend arrays of viommu_recon_update_vaddr hold
 * exactly 3 entries): 3 calls each, every backend moved. Catches mutant
 * migrate.c:420 `i < nb` => `i <= nb` (mutation round 1), which frees the
 * word past the array: with glibc's allocator that word is the next chunk's
 * size for 3 entries (free() aborts), zeroed slack for 1, 2 or 4; under ASan
 * an overflow for any count.
 */
static void test_update_vaddr_three(void)
{
	struct fix f;
	struct viommu_host *h[3] = { sim(VIOMMU_HOST_TYPE1V2, 0), sim(VIOMMU_HOST_TYPE1V2, 0),
				     sim(VIOMMU_HOST_TYPE1V1, 0) };

	setup(&f);
	for (int i = 0; i < 3; i++)
		T_EQ(viommu_recon_attach(f.r, h[i]), 0);
	T_EQ(viommu_recon_update_vaddr(f.r, H1, H1 + 2 * M1 - 1, H2), 9);
	swap_regions(&f, true);
	for (int i = 0; i < 3; i++) {
		struct vcheck c = { H2, 0, 0 };

		T_EQ(viommu_host_sim_mappings(h[i], check_vaddr, &c), 2);
		T_EQ(c.bad, 0);
		T_EQ(viommu_recon_check(f.r, h[i], NULL), 0);
		T_EQ(viommu_recon_detach(f.r, h[i], true), 0);
		viommu_host_free(h[i]);
	}
	teardown(&f);
}

/* iommufd has no per-mapping user address: refused with nothing done. */
static void test_update_vaddr_iommufd(void)
{
	struct fix f;
	struct viommu_host *h = sim(VIOMMU_HOST_TYPE1V2, 0), *fd = sim(VIOMMU_HOST_IOMMUFD, 0);

	setup(&f);
	T_EQ(viommu_recon_attach(f.r, h), 0);
	T_EQ(viommu_recon_attach(f.r, fd), 0);
	viommu_host_sim_timeline_clear(h);
	T_EQ(viommu_recon_update_vaddr(f.r, H1, H1 + 2 * M1 - 1, H2), -EOPNOTSUPP);
	T_EQ(viommu_host_sim_timeline_count(h), 0);
	T_EQ(viommu_host_sim_timeline_count(fd) >= 0, 1);
	T_EQ(viommu_recon_detach(f.r, h, true), 0);
	T_EQ(viommu_recon_detach(f.r, fd, true), 0);
	viommu_host_free(h);
	viommu_host_free(fd);
	teardown(&f);
	T_EQ(viommu_recon_update_vaddr(NULL, 0, 1, 2), -EINVAL);
}

int main(void)
{
	test_dirty_type1();
	test_dirty_tracked();
	test_dirty_untracked();
	test_dirty_iommu_path();
	test_update_vaddr();
	test_update_vaddr_three();
	test_update_vaddr_iommufd();
	return t_done();
}

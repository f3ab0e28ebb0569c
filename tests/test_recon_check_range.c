// SPDX-License-Identifier: MIT
/*
 * viommu_recon_check_range: the invariant check limited to a range finds
 * exactly what the whole check finds there, and nothing outside it; a
 * backend changed behind the reconciler's back is caught in the range that
 * covers the change, with the exact range in the report.
 */
#include <errno.h>

#include <viommu/host.h>
#include <viommu/memory.h>
#include <viommu/reconcile.h>

#include "test.h"

#define K4 0x1000ull
#define M1 0x100000ull
#define HOSTU(n) (0x100000000000ull + (uint64_t)(n) * 0x1000000000ull)

struct fixture {
	struct viommu_memory *m;
	struct viommu_mr *root, *a, *b;
	struct viommu_as *as;
	struct viommu_host *h;
	struct viommu_recon *r;
};

/* Two RAM regions: a at [0, 64K) (host 1), b at [1M, 1M + 64K) read-only (host 2). */
static void setup(struct fixture *f)
{
	struct viommu_recon_opts ro = { .sz = sizeof(ro) };

	f->m = viommu_memory_new();
	f->root = viommu_mr_new_container(f->m, "system", 0);
	f->as = viommu_as_new(f->m, "memory", f->root);
	f->a = viommu_mr_new_ram(f->m, "a", 16 * K4, (void *)(uintptr_t)HOSTU(1));
	f->b = viommu_mr_new_ram(f->m, "b", 16 * K4, (void *)(uintptr_t)HOSTU(2));
	f->h = viommu_host_sim_new(NULL);
	f->r = viommu_recon_new(f->m, f->as, &ro);
	if (!f->m || !f->root || !f->as || !f->a || !f->b || !f->h || !f->r)
		T_FATAL("setup failed");
	T_EQ(viommu_recon_attach(f->r, f->h), 0);
	T_EQ(viommu_mr_set_readonly(f->b, true), 0);
	T_EQ(viommu_mr_add_subregion(f->root, 0, f->a, 0), 0);
	T_EQ(viommu_mr_add_subregion(f->root, M1, f->b, 0), 0);
	T_EQ(viommu_host_sim_mappings(f->h, NULL, NULL), 2);
}

static void teardown(struct fixture *f)
{
	viommu_recon_free(f->r);
	viommu_host_free(f->h);
	viommu_memory_free(f->m);
}

static void test_consistent(void)
{
	struct fixture f;

	setup(&f);
	T_EQ(viommu_recon_check(f.r, f.h, NULL), 0);
	T_EQ(viommu_recon_check_range(f.r, f.h, 0, UINT64_MAX, NULL), 0);
	T_EQ(viommu_recon_check_range(f.r, f.h, 0, 0, NULL), 0);
	T_EQ(viommu_recon_check_range(f.r, f.h, 8 * K4, M1 + K4 - 1, NULL), 0);
	T_EQ(viommu_recon_check_range(f.r, f.h, UINT64_MAX, UINT64_MAX, NULL), 0);
	T_EQ(viommu_recon_check_range(f.r, f.h, 1, 0, NULL), -EINVAL);
	T_EQ(viommu_recon_check_range(NULL, f.h, 0, 0, NULL), -EINVAL);
	teardown(&f);
}

/* The host maps a's IOVAs elsewhere (same count): found in a's range only. */
static void test_moved(void)
{
	struct viommu_recon_report w;
	struct fixture f;

	setup(&f);
	T_EQ(viommu_host_unmap(f.h, 0, 16 * K4, NULL), 0);
	T_EQ(viommu_host_map(f.h, 0, 16 * K4, HOSTU(3), VIOMMU_PERM_RW), 0);
	T_EQ(viommu_recon_check_range(f.r, f.h, 5 * K4, 5 * K4, &w), -EIO);
	T_EQ(w.first, 0);
	T_EQ(w.last, 16 * K4 - 1);
	T_EQ(viommu_recon_check_range(f.r, f.h, 16 * K4, UINT64_MAX, NULL), 0);
	T_EQ(viommu_recon_check(f.r, f.h, NULL), -EIO);
	teardown(&f);
}

/* The host maps a hole instead of a (same count): the hole's range sees a leaf the record lacks. */
static void test_extra_leaf(void)
{
	struct viommu_recon_report w;
	struct fixture f;

	setup(&f);
	T_EQ(viommu_host_unmap(f.h, 0, 16 * K4, NULL), 0);
	T_EQ(viommu_host_map(f.h, 32 * K4, K4, HOSTU(3), VIOMMU_PERM_RW), 0);
	T_EQ(viommu_recon_check_range(f.r, f.h, 20 * K4, 40 * K4, &w), -EIO);
	T_EQ(w.first, 32 * K4);
	T_EQ(w.last, 33 * K4 - 1);
	T_EQ(viommu_recon_check_range(f.r, f.h, 64 * K4, UINT64_MAX, NULL), 0);
	T_EQ(viommu_recon_check_range(f.r, f.h, 0, 0, &w), -EIO);	/* a's record entry does not translate */
	T_EQ(viommu_recon_check(f.r, f.h, NULL), -EIO);
	teardown(&f);
}

/* A permission the record does not hold; and a mapping missing altogether (count differs). */
static void test_perm_and_count(void)
{
	struct viommu_recon_report w;
	struct fixture f;

	setup(&f);
	T_EQ(viommu_host_unmap(f.h, M1, 16 * K4, NULL), 0);
	T_EQ(viommu_host_map(f.h, M1, 16 * K4, HOSTU(2), VIOMMU_PERM_RW), 0);
	T_EQ(viommu_recon_check_range(f.r, f.h, M1 + 3 * K4, M1 + 3 * K4, &w), -EIO);
	T_EQ(w.first, M1);
	T_EQ(viommu_recon_check_range(f.r, f.h, 0, M1 - 1, NULL), 0);
	T_EQ(viommu_host_unmap(f.h, M1, 16 * K4, NULL), 0);
	/* one mapping fewer than the record: every range sees it */
	T_EQ(viommu_recon_check_range(f.r, f.h, 0, 0, &w), -EIO);
	T_EQ(w.first, 0);
	T_EQ(w.last, UINT64_MAX);
	teardown(&f);
}

/* Desired but not mapped, after a reported failure: -ENOENT in that range only. */
static void test_unmapped(void)
{
	struct viommu_mr *c;
	struct fixture f;

	setup(&f);
	c = viommu_mr_new_ram(f.m, "c", 4 * K4, (void *)(uintptr_t)HOSTU(4));
	T_OK(c != NULL);
	T_EQ(viommu_host_sim_inject(f.h, 1, ENOSPC), 0);	/* the next call fails */
	T_EQ(viommu_mr_add_subregion(f.root, 2 * M1, c, 0), 0);
	T_EQ(viommu_recon_check_range(f.r, f.h, 2 * M1, 2 * M1, NULL), -ENOENT);
	T_EQ(viommu_recon_check_range(f.r, f.h, 0, 2 * M1 - 1, NULL), 0);
	T_EQ(viommu_recon_check(f.r, f.h, NULL), -ENOENT);
	teardown(&f);
}

int main(void)
{
	test_consistent();
	test_moved();
	test_extra_leaf();
	test_perm_and_count();
	test_unmapped();
	return t_done();
}

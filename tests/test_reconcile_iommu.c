// SPDX-License-Identifier: MIT
/*
 * The reconcile engine on the IOMMU path, case by case, with the exact host
 * call sequence asserted: guest page-table changes -> IOMMU sync -> the
 * engine's IOMMU source -> simulated VFIO type1 v2; memory-map changes under
 * live IOMMU mappings. The host must equal the guest view composed with the
 * memory map, and no host call may fail unless a test injects it: in
 * particular never the bisect EINVAL QEMU's VT-d shadowing provokes when a 2M
 * mapping becomes 4K pages (docs/reference.md).
 */
#include <viommu/host.h>
#include <viommu/memory.h>
#include <viommu/reconcile.h>

#include "iommu_model.h"

#define PG 0x1000ull
#define M1 0x100000ull
#define M2 0x200000ull
#define RW VIOMMU_PERM_RW
/* The simulated backend never touches host memory: fake, aligned addresses. */
#define HOSTU(n) (0x100000000000ull + (uint64_t)(n) * 0x1000000000ull)

#define RAM0 0x0ull			/* 64M */
#define RAM1 0x100000000ull		/* 32M */
#define MMIO 0x8000000ull		/* 1M of MMIO, then 1M of nothing */
#define ROM 0xc000000ull		/* 2M read-only RAM */

static struct guest g;

struct fix {
	struct viommu_memory *m;
	struct viommu_as *sys;
	struct viommu_iommu_as *ias;
	struct viommu_host *h;
	struct viommu_recon *r;
	struct viommu_mr *root, *ram0, *rom;
	struct viommu_recon_report reps[32];
	char region[32][32];		/* reps[i].region, copied during the callback */
	unsigned nreps, not_ram, backend;
};

static void on_report(void *ctx, const struct viommu_recon_report *rep)
{
	struct fix *f = ctx;

	if (f->nreps < 32) {
		f->reps[f->nreps] = *rep;
		snprintf(f->region[f->nreps], sizeof(f->region[0]), "%s", rep->region ? rep->region : "");
	}
	f->nreps++;
	if (rep->kind == VIOMMU_RECON_SKIP_NOT_RAM)
		f->not_ram++;
	else if (rep->kind == VIOMMU_RECON_ERR_BACKEND)
		f->backend++;
}

static const struct viommu_mr_ops mmio_ops = { .sz = sizeof(mmio_ops) };

static void setup_opts(struct fix *f, const struct viommu_host_sim_opts *hopts, const struct viommu_recon_opts *ropts)
{
	struct viommu_host_sim_opts ho = { .sz = sizeof(ho) };
	struct viommu_recon_opts ro = { .sz = sizeof(ro) };
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = guest_read, .read_ctx = &g };

	memset(f, 0, sizeof(*f));
	if (hopts)
		ho = *hopts;
	if (ropts)
		ro = *ropts;
	ro.report = on_report;
	ro.report_ctx = f;
	f->m = viommu_memory_new();
	f->root = viommu_mr_new_container(f->m, "system", 0);
	f->ram0 = viommu_mr_new_ram(f->m, "ram-lo", 64 << 20, (void *)(uintptr_t)HOSTU(1));
	struct viommu_mr *r1 = viommu_mr_new_ram(f->m, "ram-hi", 32 << 20, (void *)(uintptr_t)HOSTU(2));
	struct viommu_mr *io = viommu_mr_new_mmio(f->m, "mmio", 1 << 20, &mmio_ops, NULL);

	f->rom = viommu_mr_new_ram(f->m, "rom", M2, (void *)(uintptr_t)HOSTU(3));
	if (!f->root || !f->ram0 || !r1 || !io || !f->rom)
		T_FATAL("regions");
	T_EQ(viommu_mr_set_readonly(f->rom, true), 0);
	T_EQ(viommu_mr_add_subregion(f->root, RAM0, f->ram0, 0), 0);
	T_EQ(viommu_mr_add_subregion(f->root, RAM1, r1, 0), 0);
	T_EQ(viommu_mr_add_subregion(f->root, MMIO, io, 0), 0);
	T_EQ(viommu_mr_add_subregion(f->root, ROM, f->rom, 0), 0);
	f->sys = viommu_as_new(f->m, "memory", f->root);
	f->ias = viommu_iommu_as_new(&o);
	f->h = viommu_host_sim_new(&ho);	/* x86 usable ranges unless told otherwise */
	if (!f->sys || !f->ias || !f->h)
		T_FATAL("setup");
	f->r = viommu_recon_new_iommu(f->m, f->sys, f->ias, &ro);
	if (!f->r)
		T_FATAL("reconciler");
	T_EQ(viommu_recon_attach(f->r, f->h), 0);
}

static void setup(struct fix *f)
{
	setup_opts(f, NULL, NULL);
}

static void teardown(struct fix *f)
{
	T_EQ(viommu_recon_detach(f->r, f->h, true), 0);
	T_EQ(viommu_host_sim_mappings(f->h, NULL, NULL), 0);
	viommu_recon_free(f->r);
	viommu_host_free(f->h);
	viommu_iommu_as_free(f->ias);
	viommu_memory_free(f->m);
	viommu_rangemap_clear(g.leaves);
}

/* The timeline since the last call, as text; every call must have succeeded unless @fails. */
static void timeline_ok(struct fix *f, char *buf, size_t cap, bool fails)
{
	long n = viommu_host_sim_timeline_count(f->h);
	size_t len = 0;

	buf[0] = 0;
	for (long i = 0; i < n; i++) {
		struct viommu_host_record r;

		T_EQ(viommu_host_sim_timeline_get(f->h, (size_t)i, &r), 0);
		if (!fails)
			T_EQ(r.result, 0);
		if (len < cap)
			len += (size_t)snprintf(buf + len, cap - len, "%s %" PRIx64 "+%" PRIx64 "%s;",
						r.op == VIOMMU_HOST_OP_UNMAP ? "U" : "M", r.iova, r.length,
						r.result ? "!" : "");
	}
	viommu_host_sim_timeline_clear(f->h);
}

static void timeline(struct fix *f, char *buf, size_t cap)
{
	timeline_ok(f, buf, cap, false);
}

static struct viommu_recon_stats stats(struct fix *f)
{
	struct viommu_recon_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_recon_get_stats(f->r, f->h, &st), 0);
	return st;
}

static void consistent(struct fix *f)
{
	struct viommu_recon_report where = { 0 };
	int rc = viommu_recon_check(f->r, f->h, &where);

	if (rc)
		fprintf(stderr, "check %d at [0x%" PRIx64 ", 0x%" PRIx64 "]\n", rc, where.first, where.last);
	T_EQ(rc, 0);
}

/* A 2M leaf split into 4K pages, one changed: an exact unmap and the pieces, never a bisect. */
static void test_split(void)
{
	struct fix f;
	char tl[512];

	setup(&f);
	guest_map(&g, 0, M2, 0x200000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0, M2 - 1), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 0+200000;");
	/*
	 * Becomes 4K pages, page 5 pointing elsewhere; the guest invalidates
	 * page 5. Exact unmap of the 2M mapping, then the three new pieces
	 * (QEMU would unmap [0x5000, 0x5fff] here and get EINVAL). The window:
	 * the 2M less the changed page, counted.
	 */
	guest_unmap(&g, 0, M2 - 1);
	for (uint64_t i = 0; i < 512; i++)
		guest_map(&g, i * PG, PG, i == 5 ? 0x1000000 : 0x200000 + i * PG, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0x5000, 0x5fff), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 0+200000;M 0+5000;M 5000+1000;M 6000+1fa000;");
	T_EQ(stats(&f).windows, 1);
	T_EQ_U64(stats(&f).window_bytes, M2 - PG);
	consistent(&f);
	/* And back: only the changed 4K extent moves, and no unchanged byte is unmapped. */
	guest_unmap(&g, 0, M2 - 1);
	guest_map(&g, 0, M2, 0x200000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0, M2 - 1), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 5000+1000;M 5000+1000;");
	T_EQ(stats(&f).windows, 1);
	consistent(&f);
	T_EQ(stats(&f).mappings, 3);
	T_EQ(stats(&f).errors, 0);
	teardown(&f);
}

/* Outputs onto a hole, MMIO and read-only RAM: reported or mapped read-only, exactly. */
static void test_outputs(void)
{
	struct fix f;
	char tl[256];
	uint64_t va;
	unsigned prot;

	setup(&f);
	/* [4M, 10M) -> RAM0's last 2M, then 4M of nothing */
	guest_map(&g, 0x400000, 3 * M2, RAM0 + (64 << 20) - M2, 3);
	/* [12M, 14M) -> 1M of MMIO, then 1M of nothing */
	guest_map(&g, 0xc00000, M2, MMIO, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0x400000, 0xdfffff), 2);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 400000+200000;");
	T_EQ(f.not_ram, 3);
	T_EQ(f.reps[0].kind, VIOMMU_RECON_SKIP_NOT_RAM);
	T_EQ_U64(f.reps[0].first, 0x600000);
	T_EQ_U64(f.reps[0].last, 0x9fffff);
	T_EQ_U64(f.reps[0].out, 64 << 20);
	T_STREQ(f.region[0], "");
	T_EQ_U64(f.reps[1].first, 0xc00000);
	T_EQ_U64(f.reps[1].last, 0xcfffff);
	T_EQ_U64(f.reps[1].out, MMIO);
	T_STREQ(f.region[1], "mmio");
	T_EQ_U64(f.reps[2].first, 0xd00000);
	T_EQ_U64(f.reps[2].last, 0xdfffff);
	T_EQ(stats(&f).skipped, 3);
	T_EQ(stats(&f).errors, 0);
	T_EQ(viommu_recon_status(f.r, NULL), 0);	/* non-fatal */
	/* A read-write translation onto read-only RAM: mapped read-only. */
	guest_map(&g, 0xa00000, M2, ROM, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0xa00000, 0xbfffff), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M a00000+200000;");
	T_EQ(viommu_host_sim_translate(f.h, 0xa00000, &va, &prot), 0);
	T_EQ(prot, VIOMMU_PERM_READ);
	T_EQ_U64(va, HOSTU(3));
	/* A write-only translation onto it grants nothing: no call, nothing to report. */
	f.nreps = 0;
	guest_map(&g, 0xe00000, PG, ROM + PG, VIOMMU_PERM_WRITE);
	T_EQ(viommu_iommu_sync(f.ias, 0xe00000, 0xe00fff), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "");
	T_EQ(f.nreps, 0);
	consistent(&f);
	teardown(&f);
}

/* A backend failure is reported, the record keeps matching the backend, resync repairs it. */
static void test_backend_failure(void)
{
	struct fix f;
	struct viommu_host_record rec;
	struct viommu_recon_report first;
	char tl[128];

	setup(&f);
	T_EQ(viommu_host_sim_inject(f.h, 1, ENOSPC), 0);
	guest_map(&g, 0, M2, 0x200000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0, M2 - 1), 1);
	T_EQ(f.backend, 1);
	T_EQ(viommu_recon_status(f.r, &first), -ENOSPC);
	T_EQ_U64(first.first, 0);
	T_EQ_U64(first.last, M2 - 1);
	T_EQ(stats(&f).errors, 1);
	T_EQ(stats(&f).mappings, 0);
	T_EQ(viommu_host_sim_timeline_count(f.h), 1);
	T_EQ(viommu_host_sim_timeline_get(f.h, 0, &rec), 0);
	T_EQ(rec.result, -ENOSPC);
	T_OK(rec.injected);
	viommu_host_sim_timeline_clear(f.h);
	T_EQ(viommu_recon_check(f.r, f.h, NULL), -ENOENT);	/* legitimately missing */
	T_EQ(viommu_recon_resync(f.r), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 0+200000;");
	consistent(&f);
	/* Removing it later is one call. */
	guest_unmap(&g, 0, M2 - 1);
	T_EQ(viommu_iommu_sync(f.ias, 0, M2 - 1), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 0+200000;");
	consistent(&f);
	teardown(&f);
}

/*
 * A failed unmap leaves the old translation mapped, and the record says so:
 * the check reports that legitimate state as -ESTALE (not -EIO, which means a
 * bug), exactly over the extent, until a resync removes it.
 */
static void test_failed_unmap(void)
{
	struct fix f;
	struct viommu_recon_report where;
	char tl[128];

	setup(&f);
	guest_map(&g, 0, M2, 0x200000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0, M2 - 1), 1);
	timeline(&f, tl, sizeof(tl));
	T_EQ(viommu_host_sim_inject(f.h, 1, EIO), 0);
	guest_unmap(&g, 0, M2 - 1);
	T_EQ(viommu_iommu_sync(f.ias, 0, M2 - 1), 1);
	timeline_ok(&f, tl, sizeof(tl), true);
	T_STREQ(tl, "U 0+200000!;");
	T_EQ(f.backend, 1);
	T_OK(f.reps[0].is_unmap);
	T_EQ(f.reps[0].err, -EIO);
	T_EQ(stats(&f).mappings, 1);
	T_EQ(viommu_host_sim_mappings(f.h, NULL, NULL), 1);
	T_EQ(viommu_recon_check(f.r, f.h, &where), -ESTALE);
	T_EQ_U64(where.first, 0);
	T_EQ_U64(where.last, M2 - 1);
	T_EQ(viommu_recon_resync(f.r), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 0+200000;");
	consistent(&f);
	teardown(&f);
}

/*
 * A backend unmap that removes fewer bytes than the record held (the host
 * lost part of it behind the engine's back) is reported, and the record
 * follows the host, which holds nothing there any more.
 */
static void test_short_unmap(void)
{
	struct fix f;
	char tl[128];

	setup(&f);
	guest_map(&g, 0, 2 * PG, 0x200000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0, 2 * PG - 1), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 0+2000;");
	/* someone else replaces the 8K mapping by its first 4K */
	T_EQ(viommu_host_unmap(f.h, 0, 2 * PG, NULL), 0);
	T_EQ(viommu_host_map(f.h, 0, PG, HOSTU(1) + 0x200000, RW), 0);
	viommu_host_sim_timeline_clear(f.h);
	guest_unmap(&g, 0, 2 * PG - 1);
	T_EQ(viommu_iommu_sync(f.ias, 0, 2 * PG - 1), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 0+2000;");
	T_EQ(f.backend, 1);
	T_EQ(f.reps[0].kind, VIOMMU_RECON_ERR_BACKEND);
	T_EQ(f.reps[0].err, -EIO);
	T_OK(f.reps[0].is_unmap);
	T_EQ_U64(f.reps[0].first, 0);
	T_EQ_U64(f.reps[0].last, 2 * PG - 1);
	T_EQ(stats(&f).mappings, 0);
	consistent(&f);
	teardown(&f);
}

/* Memory-map changes under live IOMMU mappings: exactly what changed, from the output index. */
static void test_memory_changes(void)
{
	struct fix f;
	char tl[256];
	struct viommu_mr *hot;
	uint64_t commits;

	setup(&f);
	guest_map(&g, 0x1000000, M2, 0x20000000, 3);	/* nothing there yet */
	guest_map(&g, 0x1200000, M2, 0x400000, 3);	/* RAM0 */
	T_EQ(viommu_iommu_sync(f.ias, 0x1000000, 0x13fffff), 2);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 1200000+200000;");
	T_EQ(f.not_ram, 1);
	/* RAM hot-plugged where the IOMMU already points: mapped. */
	hot = viommu_mr_new_ram(f.m, "hot", M2, (void *)(uintptr_t)HOSTU(4));
	T_EQ(viommu_mr_add_subregion(f.root, 0x20000000, hot, 0), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 1000000+200000;");
	consistent(&f);
	/* Moved away: unmapped (the new GPA is a hole, reported). */
	T_EQ(viommu_mr_set_address(hot, 0x20200000), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 1000000+200000;");
	consistent(&f);
	/* A change no extent's output touches: no host call, and not even a change for the engine. */
	commits = stats(&f).commits;
	T_EQ(viommu_mr_set_address(hot, 0x30000000), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "");
	T_EQ(stats(&f).commits, commits);
	/* RAM0 becomes read-only: its extent is mapped again without write. */
	T_EQ(viommu_mr_set_readonly(f.ram0, true), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 1200000+200000;M 1200000+200000;");
	consistent(&f);
	T_EQ(stats(&f).windows, 0);
	teardown(&f);
}

/*
 * A commit that changes part of an extent's output touches only the host
 * mappings whose translation changed: an overlay over 64K of a 2M extent
 * forces that host mapping out (counted window: its unchanged rest), and its
 * removal maps the 64K back alone, keeping the two unchanged host mappings.
 * Two IOVA extents onto the same RAM (an alias) follow together.
 */
static void test_partial_output_change(void)
{
	struct fix f;
	char tl[512];
	struct viommu_mr *ov = NULL;

	setup(&f);
	guest_map(&g, 0, M2, 0x400000, 3);
	guest_map(&g, 0x1000000, PG, 0x500000, 3);	/* another IOVA onto the overlay's page */
	T_EQ(viommu_iommu_sync(f.ias, 0, 0x1000fff), 2);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 0+200000;M 1000000+1000;");
	ov = viommu_mr_new_mmio(f.m, "overlay", 0x10000, &mmio_ops, NULL);
	T_EQ(viommu_mr_add_subregion(f.ram0, 0x500000, ov, 1), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 0+200000;M 0+100000;M 110000+f0000;U 1000000+1000;");
	T_EQ(stats(&f).windows, 1);
	T_EQ_U64(stats(&f).window_bytes, M2 - 0x10000);
	T_EQ(f.not_ram, 2);
	consistent(&f);
	T_EQ(viommu_mr_del_subregion(f.ram0, ov), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 100000+10000;M 1000000+1000;");
	T_EQ(stats(&f).windows, 1);
	T_EQ(stats(&f).mappings, 4);
	consistent(&f);
	viommu_mr_free(ov);
	teardown(&f);
}

/* IOVAs in the host's reserved interrupt window are never mapped: an error with the exact range. */
static void test_reserved_iova(void)
{
	struct fix f;
	char tl[256];

	setup(&f);
	guest_map(&g, 0xfed00000, 3 * M1, 0x1000000, 3);	/* across 0xfee00000-0xfeefffff */
	T_EQ(viommu_iommu_sync(f.ias, 0xfed00000, 0xfeffffff), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M fed00000+100000;M fef00000+100000;");
	T_EQ(f.nreps, 1);
	T_EQ(f.reps[0].kind, VIOMMU_RECON_ERR_RESERVED_RAM);
	T_EQ_U64(f.reps[0].first, 0xfee00000);
	T_EQ_U64(f.reps[0].last, 0xfeefffff);
	T_EQ_U64(f.reps[0].out, 0x1100000);
	T_STREQ(f.region[0], "ram-lo");
	consistent(&f);
	teardown(&f);
}

/* The extent granule cuts IOMMU extents too; a change inside one granule opens a window of that granule only. */
static void test_granule(void)
{
	struct fix f;
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .extent_granule = 0x10000 };
	char tl[1024];

	setup_opts(&f, NULL, &ro);
	guest_map(&g, 0, 0x40000, 0x400000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0, 0x3ffff), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "M 0+10000;M 10000+10000;M 20000+10000;M 30000+10000;");
	/* one page of guest-physical memory turns read-only */
	struct viommu_mr *ro_page = viommu_mr_new_ram(f.m, "ro-page", PG, (void *)(uintptr_t)(HOSTU(1) + 0x415000));

	T_EQ(viommu_mr_set_readonly(ro_page, true), 0);
	T_EQ(viommu_mr_add_subregion(f.ram0, 0x415000, ro_page, 1), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 10000+10000;M 10000+5000;M 15000+1000;M 16000+a000;");
	T_EQ(stats(&f).windows, 1);
	T_EQ_U64(stats(&f).window_bytes, 0x10000 - PG);
	consistent(&f);
	T_EQ(viommu_mr_del_subregion(f.ram0, ro_page), 0);
	viommu_mr_free(ro_page);
	teardown(&f);
}

/* ENOSPC: the failing range reported, no more calls in that pass; resync finishes once there is room. */
static void test_budget(void)
{
	struct fix f;
	struct viommu_host_sim_opts ho = { .sz = sizeof(ho), .dma_entry_limit = 2 };
	char tl[256];

	setup_opts(&f, &ho, NULL);
	guest_map(&g, 0, PG, 0x400000, 3);
	guest_map(&g, 0x10000, PG, 0x500000, 3);
	guest_map(&g, 0x20000, PG, 0x600000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0, 0x20fff), 3);
	timeline_ok(&f, tl, sizeof(tl), true);
	T_STREQ(tl, "M 0+1000;M 10000+1000;M 20000+1000!;");
	T_EQ(viommu_recon_status(f.r, NULL), -ENOSPC);
	T_EQ(viommu_recon_check(f.r, f.h, NULL), -ENOENT);
	guest_unmap(&g, 0, PG - 1);
	T_EQ(viommu_iommu_sync(f.ias, 0, PG - 1), 1);
	T_EQ(viommu_recon_resync(f.r), 0);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, "U 0+1000;M 20000+1000;");
	consistent(&f);
	teardown(&f);
}

/*
 * Coalescing: neighbours with contiguous host memory and equal permissions
 * become one host mapping; different permissions never do (issue 17: a
 * planted bug merging them went unnoticed because no test turned coalescing
 * on).
 */
static void test_coalesce(void)
{
	struct fix f;
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .coalesce = true };
	struct viommu_host *h2 = viommu_host_sim_new(NULL);
	char tl[256];
	uint64_t va;
	unsigned prot;

	setup_opts(&f, NULL, &ro);
	/* three extents over contiguous guest-physical and host memory: RW, RW, R */
	guest_map(&g, 0, PG, 0x400000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0, PG - 1), 1);
	guest_map(&g, PG, PG, 0x401000, 3);
	T_EQ(viommu_iommu_sync(f.ias, PG, 2 * PG - 1), 1);
	guest_map(&g, 2 * PG, PG, 0x402000, VIOMMU_PERM_READ);
	T_EQ(viommu_iommu_sync(f.ias, 2 * PG, 3 * PG - 1), 1);
	timeline(&f, tl, sizeof(tl));
	/* one event at a time: each is mapped as it comes */
	T_STREQ(tl, "M 0+1000;M 1000+1000;M 2000+1000;");
	consistent(&f);
	/* a backend attached now gets the two RW extents as one mapping, the R one apart */
	T_EQ(viommu_recon_attach(f.r, h2), 0);
	T_EQ(viommu_host_sim_mappings(h2, NULL, NULL), 2);
	T_EQ(viommu_host_sim_translate(h2, PG, &va, &prot), 0);
	T_EQ(prot, RW);
	T_EQ(viommu_host_sim_translate(h2, 2 * PG, &va, &prot), 0);
	T_EQ(prot, VIOMMU_PERM_READ);
	T_EQ(viommu_recon_check(f.r, h2, NULL), 0);
	T_EQ(viommu_recon_detach(f.r, h2, true), 0);
	viommu_host_free(h2);
	teardown(&f);
}

/* Two backends; a third attached late from the current state, not from history. */
static void test_backends(void)
{
	struct fix f;
	struct viommu_host_sim_opts v1 = { .sz = sizeof(v1), .semantics = VIOMMU_HOST_TYPE1V1 };
	struct viommu_host_sim_opts fd = { .sz = sizeof(fd), .semantics = VIOMMU_HOST_IOMMUFD };
	struct viommu_host *h2 = viommu_host_sim_new(&v1), *h3 = viommu_host_sim_new(&fd);
	struct viommu_recon_stats st = { .sz = sizeof(st) };

	setup(&f);
	T_EQ(viommu_recon_attach(f.r, h2), 0);
	for (int i = 0; i < 16; i++) {
		guest_map(&g, (uint64_t)i * M2, M2, 0x400000 + (uint64_t)(i % 4) * M2, 3);
		T_EQ(viommu_iommu_sync(f.ias, (uint64_t)i * M2, (uint64_t)i * M2 + M2 - 1), 1);
		if (i % 2) {
			guest_unmap(&g, (uint64_t)(i - 1) * M2, (uint64_t)(i - 1) * M2 + M2 - 1);
			T_EQ(viommu_iommu_sync(f.ias, (uint64_t)(i - 1) * M2, (uint64_t)(i - 1) * M2 + M2 - 1), 1);
		}
	}
	T_EQ(viommu_recon_attach(f.r, h3), 0);
	T_EQ(viommu_recon_get_stats(f.r, h3, &st), 0);
	T_EQ(st.map_ops, 8);
	T_EQ(st.unmap_ops, 0);
	T_EQ(viommu_recon_check(f.r, f.h, NULL), 0);
	T_EQ(viommu_recon_check(f.r, h2, NULL), 0);
	T_EQ(viommu_recon_check(f.r, h3, NULL), 0);
	T_EQ(viommu_recon_get_stats(f.r, NULL, &st), 0);
	T_EQ(st.mappings, 24);
	T_EQ(viommu_recon_detach(f.r, h2, true), 0);
	T_EQ(viommu_recon_detach(f.r, h3, false), 0);
	T_EQ(viommu_host_sim_mappings(h2, NULL, NULL), 0);
	T_EQ(viommu_host_sim_mappings(h3, NULL, NULL), 8);
	viommu_host_free(h2);
	viommu_host_free(h3);
	teardown(&f);
}

/* IOMMU translations onto a BAR: mapped for peer-to-peer, or left alone silently with skip_ram_device. */
static void test_ram_device(bool skip)
{
	struct fix f;
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .skip_ram_device = skip };
	struct viommu_mr *bar;
	char tl[128];

	setup_opts(&f, NULL, &ro);
	bar = viommu_mr_new_ram_device(f.m, "bar", M1, (void *)(uintptr_t)HOSTU(5));
	T_EQ(viommu_mr_add_subregion(f.root, 0xe0000000, bar, 0), 0);
	guest_map(&g, 0x100000, 0x10000, 0xe0010000, 3);
	T_EQ(viommu_iommu_sync(f.ias, 0x100000, 0x10ffff), 1);
	timeline(&f, tl, sizeof(tl));
	T_STREQ(tl, skip ? "" : "M 100000+10000;");
	T_EQ(f.nreps, 0);
	consistent(&f);
	teardown(&f);
}

/* Bad arguments are refused with EINVAL and logged; the naive policy is for the flat-view path only. */
static int nlog;
static void count_log(enum viommu_log_level level, const char *msg, void *ctx)
{
	(void)level, (void)msg, (void)ctx;
	nlog++;
}

static void test_refusals(void)
{
	struct fix f;
	struct viommu_recon_opts naive = { .sz = sizeof(naive), .policy = VIOMMU_RECON_NAIVE };
	struct viommu_recon_opts gran = { .sz = sizeof(gran), .extent_granule = 0x3000 };
	struct {
		struct viommu_recon_opts o;
		uint64_t newer;
	} big = { { .sz = sizeof(big) }, 1 };

	setup(&f);
	viommu_set_log(count_log, NULL, VIOMMU_LOG_DEBUG);
	nlog = 0;
	errno = 0;
	T_OK(viommu_recon_new_iommu(f.m, f.sys, f.ias, &naive) == NULL && errno == EINVAL);
	T_OK(viommu_recon_new_iommu(f.m, f.sys, f.ias, &gran) == NULL && errno == EINVAL);
	T_OK(viommu_recon_new_iommu(f.m, f.sys, f.ias, &big.o) == NULL && errno == EINVAL);
	T_OK(viommu_recon_new_iommu(NULL, f.sys, f.ias, NULL) == NULL && errno == EINVAL);
	T_OK(viommu_recon_new_iommu(f.m, f.sys, NULL, NULL) == NULL && errno == EINVAL);
	T_EQ(nlog, 5);
	big.newer = 0;	/* a newer caller's struct with nothing set beyond what we know: fine */
	struct viommu_recon *r2 = viommu_recon_new_iommu(f.m, f.sys, f.ias, &big.o);

	T_OK(r2 != NULL);
	viommu_recon_free(r2);
	viommu_set_log(NULL, NULL, VIOMMU_LOG_ERROR);
	teardown(&f);
}

int main(void)
{
	g.leaves = viommu_rangemap_new();
	test_split();
	test_outputs();
	test_backend_failure();
	test_failed_unmap();
	test_short_unmap();
	test_memory_changes();
	test_partial_output_change();
	test_reserved_iova();
	test_granule();
	test_budget();
	test_coalesce();
	test_backends();
	test_ram_device(false);
	test_ram_device(true);
	test_refusals();
	viommu_rangemap_free(g.leaves);
	return t_done();
}

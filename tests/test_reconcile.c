// SPDX-License-Identifier: MIT
/*
 * The reconciler against the simulated host, scenario by scenario, with the
 * exact host call sequence asserted (docs/reference.md §1.3-§1.5, §3.1, §4).
 */
#include <viommu/host.h>
#include <viommu/memory.h>
#include <viommu/reconcile.h>

#include "test.h"

#define VI_TEST_ARRAY(a) (sizeof(a) / sizeof((a)[0]))

#define K4 0x1000ull
#define M1 0x100000ull
#define G1 0x40000000ull
#define RW (VIOMMU_PERM_RW)

/* Host memory is never touched by the simulated backend: fake, distinct, aligned addresses. */
#define HOST(n) ((void *)(uintptr_t)(0x100000000000ull + (uint64_t)(n) * 0x1000000000ull))
#define HOSTU(n) ((uint64_t)(uintptr_t)HOST(n))

struct fixture {
	struct viommu_memory *m;
	struct viommu_mr *root;
	struct viommu_as *as;
	struct viommu_host *h;
	struct viommu_recon *r;
	size_t seen;		/* timeline records already checked */
	struct viommu_recon_report reps[16];
	size_t nreps;
};

static void on_report(void *ctx, const struct viommu_recon_report *rep)
{
	struct fixture *f = ctx;

	if (f->nreps < VI_TEST_ARRAY(f->reps))
		f->reps[f->nreps] = *rep;
	f->nreps++;
}



/* A model, a reconciler with options @base (its report goes to the fixture) and one simulated backend attached. */
static void setup_opts(struct fixture *f, const struct viommu_recon_opts *base,
		       const struct viommu_host_sim_opts *hopts)
{
	struct viommu_recon_opts ro = *base;

	ro.report = on_report;
	ro.report_ctx = f;
	memset(f, 0, sizeof(*f));
	f->m = viommu_memory_new();
	f->root = viommu_mr_new_container(f->m, "system", 0);
	f->as = viommu_as_new(f->m, "memory", f->root);
	f->h = viommu_host_sim_new(hopts);
	f->r = viommu_recon_new(f->m, f->as, &ro);
	if (!f->m || !f->root || !f->as || !f->h || !f->r)
		T_FATAL("setup failed");
	T_EQ(viommu_recon_attach(f->r, f->h), 0);
}

static void setup(struct fixture *f, enum viommu_recon_policy policy, const struct viommu_host_sim_opts *hopts,
		  uint64_t granule)
{
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .policy = policy, .extent_granule = granule };

	setup_opts(f, &ro, hopts);
}

static void teardown(struct fixture *f)
{
	viommu_recon_free(f->r);
	viommu_host_free(f->h);
	viommu_memory_free(f->m);
}

/* The next host call must be exactly this (result 0). */
static void expect_call(struct fixture *f, int line, enum viommu_host_op op, uint64_t iova, uint64_t len,
			uint64_t vaddr)
{
	struct viommu_host_record rec;

	if (viommu_host_sim_timeline_get(f->h, f->seen, &rec)) {
		fprintf(stderr, "line %d: no more host calls\n", line);
		T_OK(0);
		return;
	}
	f->seen++;
	if (rec.op != op || rec.iova != iova || rec.length != len || (op == VIOMMU_HOST_OP_MAP && rec.vaddr != vaddr) ||
	    rec.result != 0)
		fprintf(stderr, "line %d: got op %d iova 0x%llx len 0x%llx vaddr 0x%llx rc %d\n", line, rec.op,
			(unsigned long long)rec.iova, (unsigned long long)rec.length,
			(unsigned long long)rec.vaddr, rec.result);
	T_EQ(rec.op, op);
	T_EQ_U64(rec.iova, iova);
	T_EQ_U64(rec.length, len);
	if (op == VIOMMU_HOST_OP_MAP)
		T_EQ_U64(rec.vaddr, vaddr);
	T_EQ(rec.result, 0);
}

#define MAP(f, iova, len, vaddr) expect_call(f, __LINE__, VIOMMU_HOST_OP_MAP, iova, len, vaddr)
#define UNMAP(f, iova, len) expect_call(f, __LINE__, VIOMMU_HOST_OP_UNMAP, iova, len, 0)

static void expect_no_more_calls(struct fixture *f)
{
	T_EQ(viommu_host_sim_timeline_count(f->h), (long)f->seen);
}

static void expect_consistent(struct fixture *f)
{
	struct viommu_recon_report where;
	int rc = viommu_recon_check(f->r, f->h, &where);

	if (rc)
		fprintf(stderr, "check failed at [0x%llx, 0x%llx]\n", (unsigned long long)where.first,
			(unsigned long long)where.last);
	T_EQ(rc, 0);
}

static struct viommu_recon_stats stats(struct fixture *f)
{
	struct viommu_recon_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_recon_get_stats(f->r, f->h, &st), 0);
	return st;
}

/* A typical guest: RAM below and above the PCI hole, a BAR for P2P, MMIO. */
static void test_boot(void)
{
	struct fixture f;
	struct viommu_mr *lo, *hi, *bar, *mmio;
	struct viommu_mr_ops ops = { .sz = sizeof(ops) };

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	lo = viommu_mr_new_ram(f.m, "ram-below-4g", 2 * G1, HOST(1));
	hi = viommu_mr_new_ram(f.m, "ram-above-4g", 2 * G1, HOST(2));
	bar = viommu_mr_new_ram_device(f.m, "nvme-bar0", 16 * M1, HOST(3));
	mmio = viommu_mr_new_mmio(f.m, "lapic", M1, &ops, NULL);
	T_EQ(viommu_memory_begin(f.m), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0, lo, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 4 * G1, hi, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0xe0000000, bar, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0xfee00000, mmio, 0), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	/* one host mapping per mappable section, in address order; MMIO never */
	MAP(&f, 0, 2 * G1, HOSTU(1));
	MAP(&f, 0xe0000000, 16 * M1, HOSTU(3));
	MAP(&f, 4 * G1, 2 * G1, HOSTU(2));
	expect_no_more_calls(&f);
	expect_consistent(&f);
	T_EQ(stats(&f).mappings, 3);
	T_EQ(stats(&f).windows, 0);
	T_EQ(viommu_recon_status(f.r, NULL), 0);
	T_EQ(f.nreps, 0);
	teardown(&f);
}

/*
 * docs/reference.md §1.3: an overlay splits RAM into A and B; removing it merges
 * A + B into A'. QEMU's listener sees del A, del B, add A': a window over 1 GiB
 * of unchanged RAM. The reconciler maps only the uncovered middle.
 */
static void test_merge_race(enum viommu_recon_policy policy)
{
	struct fixture f;
	struct viommu_mr *ram, *ov;
	struct viommu_mr_ops ops = { .sz = sizeof(ops) };
	const uint64_t o = 512 * M1, osz = 64 * K4;

	setup(&f, policy, NULL, 0);
	ram = viommu_mr_new_ram(f.m, "ram", G1, HOST(1));
	ov = viommu_mr_new_mmio(f.m, "overlay", osz, &ops, NULL);
	T_EQ(viommu_memory_begin(f.m), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0, ram, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, o, ov, 1), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	MAP(&f, 0, o, HOSTU(1));
	MAP(&f, o + osz, G1 - o - osz, HOSTU(1) + o + osz);
	expect_no_more_calls(&f);

	/* A + B -> A' */
	T_EQ(viommu_mr_del_subregion(f.root, ov), 0);
	if (policy == VIOMMU_RECON_MINIMAL) {
		MAP(&f, o, osz, HOSTU(1) + o);
		T_EQ(stats(&f).windows, 0);
	} else {
		UNMAP(&f, 0, o);
		UNMAP(&f, o + osz, G1 - o - osz);
		MAP(&f, 0, G1, HOSTU(1));
		T_EQ(stats(&f).windows, 2);
		T_EQ_U64(stats(&f).window_bytes, G1 - osz);
	}
	expect_no_more_calls(&f);
	expect_consistent(&f);

	/* and split back */
	T_EQ(viommu_mr_add_subregion(f.root, o, ov, 1), 0);
	if (policy == VIOMMU_RECON_MINIMAL) {
		UNMAP(&f, o, osz);
		T_EQ(stats(&f).windows, 0);
		T_EQ(stats(&f).map_ops, 3);
		T_EQ(stats(&f).unmap_ops, 1);
	} else {
		UNMAP(&f, 0, G1);
		MAP(&f, 0, o, HOSTU(1));
		MAP(&f, o + osz, G1 - o - osz, HOSTU(1) + o + osz);
		T_EQ(stats(&f).windows, 3);
	}
	expect_no_more_calls(&f);
	expect_consistent(&f);
	viommu_mr_free(ov);
	teardown(&f);
}

/* A BAR that moves: exactly one unmap and one map, no window. */
static void test_bar_move(void)
{
	struct fixture f;
	struct viommu_mr *ram, *bar;

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	ram = viommu_mr_new_ram(f.m, "ram", G1, HOST(1));
	bar = viommu_mr_new_ram_device(f.m, "bar", M1, HOST(2));
	T_EQ(viommu_mr_add_subregion(f.root, 0, ram, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0xe0000000, bar, 0), 0);
	MAP(&f, 0, G1, HOSTU(1));
	MAP(&f, 0xe0000000, M1, HOSTU(2));
	T_EQ(viommu_mr_set_address(bar, 0xe8000000), 0);
	UNMAP(&f, 0xe0000000, M1);
	MAP(&f, 0xe8000000, M1, HOSTU(2));
	expect_no_more_calls(&f);
	expect_consistent(&f);
	T_EQ(stats(&f).windows, 0);
	/* a rename changes nothing at all */
	T_EQ(viommu_mr_set_name(bar, "bar-renamed"), 0);
	expect_no_more_calls(&f);
	teardown(&f);
}

/*
 * docs/reference.md §1.5: a BAR smaller than the page is skipped, and said so. A
 * misaligned one has its whole pages mapped (QEMU skips it whole) and only
 * the partial pages reported, so mapping a page never depends on where its
 * section ends.
 */
static void test_misaligned_bar(void)
{
	struct fixture f;
	struct viommu_mr *small, *odd;

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	small = viommu_mr_new_ram_device(f.m, "tiny-bar", 0x100, HOST(1));
	odd = viommu_mr_new_ram_device(f.m, "odd-bar", 3 * K4, (char *)HOST(2) + 0x800);
	T_EQ(viommu_mr_add_subregion(f.root, 0xe0000000, small, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0xe0010800, odd, 0), 0);
	MAP(&f, 0xe0011000, 2 * K4, HOSTU(2) + 0x1000);
	expect_no_more_calls(&f);
	T_EQ(f.nreps, 3);
	T_EQ(f.reps[0].kind, VIOMMU_RECON_SKIP_UNALIGNED_DEVICE);
	T_EQ_U64(f.reps[0].first, 0xe0000000);
	T_EQ_U64(f.reps[0].last, 0xe00000ff);
	T_STREQ(f.reps[0].region, "tiny-bar");
	T_EQ(f.reps[1].kind, VIOMMU_RECON_SKIP_UNALIGNED_DEVICE);
	T_EQ_U64(f.reps[1].first, 0xe0010800);
	T_EQ_U64(f.reps[1].last, 0xe0010fff);
	T_EQ_U64(f.reps[2].first, 0xe0013000);
	T_EQ_U64(f.reps[2].last, 0xe00137ff);
	T_EQ(stats(&f).skipped, 3);
	T_EQ(stats(&f).errors, 0);
	T_EQ(viommu_recon_status(f.r, NULL), 0);	/* non-fatal */
	expect_consistent(&f);
	teardown(&f);
}

/* RAM with unaligned edges: the whole pages are mapped, the partial pages are an error with exact ranges. */
static void test_unaligned_ram(void)
{
	struct fixture f;
	struct viommu_mr *ram;
	struct viommu_recon_report first;

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	ram = viommu_mr_new_ram(f.m, "odd-ram", 0x3000, (char *)HOST(1) + 0x800);
	T_EQ(viommu_mr_add_subregion(f.root, 0x1800, ram, 0), 0);
	MAP(&f, 0x2000, 0x2000, HOSTU(1) + 0x1000);
	expect_no_more_calls(&f);
	T_EQ(f.nreps, 2);
	T_EQ(f.reps[0].kind, VIOMMU_RECON_ERR_UNALIGNED_RAM);
	T_EQ_U64(f.reps[0].first, 0x1800);
	T_EQ_U64(f.reps[0].last, 0x1fff);
	T_EQ_U64(f.reps[1].first, 0x4000);
	T_EQ_U64(f.reps[1].last, 0x47ff);
	T_EQ(viommu_recon_status(f.r, &first), -EINVAL);
	T_EQ_U64(first.first, 0x1800);
	T_EQ(stats(&f).errors, 2);
	teardown(&f);
}

/* RAM resize: growth maps only the new part; shrinking back unmaps exactly it. */
static void test_ram_resize(void)
{
	struct fixture f;
	struct viommu_mr *ram;

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	ram = viommu_mr_new_ram(f.m, "ram", G1, HOST(1));
	T_EQ(viommu_mr_add_subregion(f.root, 0, ram, 0), 0);
	MAP(&f, 0, G1, HOSTU(1));
	T_EQ(viommu_mr_set_size(ram, 2 * G1), 0);
	MAP(&f, G1, G1, HOSTU(1) + G1);
	T_EQ(viommu_mr_set_size(ram, G1), 0);
	UNMAP(&f, G1, G1);
	expect_no_more_calls(&f);
	T_EQ(stats(&f).windows, 0);
	/* Shrinking inside a host mapping cannot avoid a window: counted, and the rest restored at once. */
	T_EQ(viommu_mr_set_size(ram, G1 / 2), 0);
	UNMAP(&f, 0, G1);
	MAP(&f, 0, G1 / 2, HOSTU(1));
	expect_no_more_calls(&f);
	T_EQ(stats(&f).windows, 1);
	T_EQ_U64(stats(&f).window_bytes, G1 / 2);
	expect_consistent(&f);
	teardown(&f);
}

/* virtio-mem style blocks (unmergeable) and a granule for a big region: plug and unplug are one call each. */
static void test_hotplug_blocks(void)
{
	struct fixture f;
	struct viommu_mr *blk[4], *big;
	const uint64_t bs = 128 * M1;

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, bs);
	/* one big region mapped in granule-sized extents */
	big = viommu_mr_new_ram(f.m, "dimm0", 4 * bs, HOST(1));
	T_EQ(viommu_mr_add_subregion(f.root, 0, big, 0), 0);
	for (int i = 0; i < 4; i++)
		MAP(&f, i * bs, bs, HOSTU(1) + i * bs);
	T_EQ(viommu_mr_set_size(big, 3 * bs), 0);	/* unplug the last block */
	UNMAP(&f, 3 * bs, bs);
	expect_no_more_calls(&f);
	/* blocks over contiguous host memory, unmergeable: never merged, one mapping each */
	T_EQ(viommu_memory_begin(f.m), 0);
	for (int i = 0; i < 4; i++) {
		blk[i] = viommu_mr_new_ram(f.m, "vmem-block", bs, (char *)HOST(2) + i * bs);
		T_EQ(viommu_mr_set_unmergeable(blk[i], true), 0);
		T_EQ(viommu_mr_add_subregion(f.root, 8 * G1 + i * bs, blk[i], 0), 0);
	}
	T_EQ(viommu_memory_commit(f.m), 0);
	for (int i = 0; i < 4; i++)
		MAP(&f, 8 * G1 + i * bs, bs, HOSTU(2) + i * bs);
	T_EQ(viommu_mr_del_subregion(f.root, blk[1]), 0);
	UNMAP(&f, 8 * G1 + bs, bs);
	T_EQ(viommu_mr_add_subregion(f.root, 8 * G1 + bs, blk[1], 0), 0);
	MAP(&f, 8 * G1 + bs, bs, HOSTU(2) + bs);
	expect_no_more_calls(&f);
	T_EQ(stats(&f).windows, 0);
	expect_consistent(&f);
	teardown(&f);
}

/* A backend attached after many changes gets the current map from the model, not the history. */
static void test_late_attach(void)
{
	struct fixture f;
	struct viommu_mr *ram, *ov, *bar;
	struct viommu_mr_ops ops = { .sz = sizeof(ops) };
	struct viommu_host *h2 = viommu_host_sim_new(&(struct viommu_host_sim_opts){
		.sz = sizeof(struct viommu_host_sim_opts), .semantics = VIOMMU_HOST_IOMMUFD });
	struct viommu_recon_stats st = { .sz = sizeof(st) };

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	ram = viommu_mr_new_ram(f.m, "ram", G1, HOST(1));
	ov = viommu_mr_new_mmio(f.m, "overlay", M1, &ops, NULL);
	bar = viommu_mr_new_ram_device(f.m, "bar", M1, HOST(2));
	T_EQ(viommu_mr_add_subregion(f.root, 0, ram, 0), 0);
	for (int i = 0; i < 20; i++) {
		T_EQ(viommu_mr_add_subregion(f.root, (uint64_t)i * 16 * M1, ov, 1), 0);
		T_EQ(viommu_mr_del_subregion(f.root, ov), 0);
	}
	T_EQ(viommu_mr_add_subregion(f.root, 0xe0000000, bar, 0), 0);
	T_EQ(viommu_mr_set_address(bar, 0xe8000000), 0);
	T_EQ(viommu_recon_attach(f.r, h2), 0);
	/* two sections now: two calls, whatever the first backend went through */
	T_EQ(viommu_recon_get_stats(f.r, h2, &st), 0);
	T_EQ(st.map_ops, 2);
	T_EQ(st.unmap_ops, 0);
	T_EQ(viommu_host_sim_mappings(h2, NULL, NULL), 2);
	T_EQ(viommu_recon_check(f.r, h2, NULL), 0);
	expect_consistent(&f);
	T_EQ(viommu_recon_attach(f.r, h2), -EEXIST);
	T_EQ(viommu_recon_detach(f.r, h2, true), 0);
	T_EQ(viommu_host_sim_mappings(h2, NULL, NULL), 0);
	T_EQ(viommu_recon_detach(f.r, h2, true), -ENOENT);
	viommu_host_free(h2);
	viommu_mr_free(ov);
	teardown(&f);
}

/* The mapping budget (docs/reference.md §3.1 ENOSPC): the failing ranges are reported exactly; resync finishes later. */
static void test_budget(void)
{
	struct fixture f;
	struct viommu_mr *blk[6];
	struct viommu_recon_report first;

	setup(&f, VIOMMU_RECON_MINIMAL,
	      &(struct viommu_host_sim_opts){ .sz = sizeof(struct viommu_host_sim_opts), .dma_entry_limit = 4 }, 0);
	T_EQ(viommu_memory_begin(f.m), 0);
	for (int i = 0; i < 6; i++) {
		blk[i] = viommu_mr_new_ram(f.m, "blk", M1, HOST(i + 1));
		T_EQ(viommu_mr_add_subregion(f.root, (uint64_t)i * 2 * M1, blk[i], 0), 0);
	}
	T_EQ(viommu_memory_commit(f.m), 0);
	T_EQ(viommu_recon_status(f.r, &first), -ENOSPC);
	T_EQ(first.kind, VIOMMU_RECON_ERR_BACKEND);
	T_EQ_U64(first.first, 8 * M1);
	T_EQ_U64(first.last, 9 * M1 - 1);
	T_EQ(stats(&f).errors, 2);
	T_EQ(stats(&f).mappings, 4);
	/* after ENOSPC the backend is not asked again in that pass: 5 calls, not 6 */
	T_EQ(stats(&f).map_ops, 5);
	T_EQ(viommu_host_sim_timeline_count(f.h), 5);
	T_EQ(viommu_host_sim_mappings(f.h, NULL, NULL), 4);
	T_EQ(viommu_recon_check(f.r, f.h, NULL), -ENOENT);	/* not everything is mapped */
	/* make room, then resync maps what was missing */
	T_EQ(viommu_mr_del_subregion(f.root, blk[0]), 0);
	T_EQ(viommu_mr_del_subregion(f.root, blk[1]), 0);
	T_EQ(viommu_recon_resync(f.r), 0);
	T_EQ(stats(&f).mappings, 4);
	expect_consistent(&f);
	teardown(&f);
}

/* RAM across the x86 interrupt window (docs/reference.md §3.1, §5): never mapped there; an error with the exact range. */
static void test_reserved_window(void)
{
	struct fixture f;
	struct viommu_mr *ram;

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	ram = viommu_mr_new_ram(f.m, "ram", 4 * G1, HOST(1));
	T_EQ(viommu_mr_add_subregion(f.root, 0, ram, 0), 0);
	MAP(&f, 0, 0xfee00000, HOSTU(1));
	MAP(&f, 0xfef00000, 4 * G1 - 0xfef00000, HOSTU(1) + 0xfef00000);
	expect_no_more_calls(&f);
	T_EQ(f.nreps, 1);
	T_EQ(f.reps[0].kind, VIOMMU_RECON_ERR_RESERVED_RAM);
	T_EQ_U64(f.reps[0].first, 0xfee00000);
	T_EQ_U64(f.reps[0].last, 0xfeefffff);
	expect_consistent(&f);
	teardown(&f);
}

/* A read-only region maps read-only; making it writable re-maps it. */
static void test_readonly(void)
{
	struct fixture f;
	struct viommu_mr *rom;
	unsigned prot;
	uint64_t va;

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	rom = viommu_mr_new_ram(f.m, "rom", M1, HOST(1));
	T_EQ(viommu_mr_set_readonly(rom, true), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0xc0000, rom, 0), 0);
	MAP(&f, 0xc0000, M1, HOSTU(1));
	T_EQ(viommu_host_sim_translate(f.h, 0xc0000, &va, &prot), 0);
	T_EQ(prot, VIOMMU_PERM_READ);
	T_EQ(viommu_mr_set_readonly(rom, false), 0);
	UNMAP(&f, 0xc0000, M1);
	MAP(&f, 0xc0000, M1, HOSTU(1));
	T_EQ(viommu_host_sim_translate(f.h, 0xc0000, &va, &prot), 0);
	T_EQ(prot, RW);
	expect_consistent(&f);
	teardown(&f);
}

/*
 * Coalescing maps host-contiguous neighbours as one mapping, but never
 * neighbours of different permissions (issue 17: a planted bug merging them
 * went unseen because no test turned coalescing on).
 */
static void test_coalesce_perms(void)
{
	struct fixture f;
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .coalesce = true };
	struct viommu_mr *a, *b, *c, *d;
	unsigned prot;
	uint64_t va;

	setup_opts(&f, &ro, NULL);
	/* four regions over one contiguous host range: RW, R, RW, RW */
	a = viommu_mr_new_ram(f.m, "a", M1, HOST(1));
	b = viommu_mr_new_ram(f.m, "b", M1, (char *)HOST(1) + M1);
	c = viommu_mr_new_ram(f.m, "c", M1, (char *)HOST(1) + 2 * M1);
	d = viommu_mr_new_ram(f.m, "d", M1, (char *)HOST(1) + 3 * M1);
	T_EQ(viommu_mr_set_readonly(b, true), 0);
	T_EQ(viommu_memory_begin(f.m), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0, a, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, M1, b, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 2 * M1, c, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 3 * M1, d, 0), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	MAP(&f, 0, M1, HOSTU(1));
	MAP(&f, M1, M1, HOSTU(1) + M1);
	MAP(&f, 2 * M1, 2 * M1, HOSTU(1) + 2 * M1);	/* c + d: one mapping */
	expect_no_more_calls(&f);
	T_EQ(viommu_host_sim_translate(f.h, 0, &va, &prot), 0);
	T_EQ(prot, RW);
	T_EQ(viommu_host_sim_translate(f.h, M1, &va, &prot), 0);
	T_EQ(prot, VIOMMU_PERM_READ);
	T_EQ(stats(&f).mappings, 3);
	expect_consistent(&f);
	teardown(&f);
}

/*
 * A failed unmap leaves the old translation mapped and the record says so:
 * the check calls that -ESTALE over the exact extent, never -EIO (issue 17),
 * until a resync removes it.
 */
static void test_failed_unmap(void)
{
	struct fixture f;
	struct viommu_mr *bar;
	struct viommu_recon_report where;

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	bar = viommu_mr_new_ram_device(f.m, "bar", M1, HOST(1));
	T_EQ(viommu_mr_add_subregion(f.root, 0xe0000000, bar, 0), 0);
	MAP(&f, 0xe0000000, M1, HOSTU(1));
	T_EQ(viommu_host_sim_inject(f.h, 1, EBUSY), 0);
	T_EQ(viommu_mr_set_address(bar, 0xe8000000), 0);
	f.seen++;	/* the failed unmap */
	MAP(&f, 0xe8000000, M1, HOSTU(1));
	expect_no_more_calls(&f);
	T_EQ(f.nreps, 1);
	T_EQ(f.reps[0].err, -EBUSY);
	T_OK(f.reps[0].is_unmap);
	T_EQ(viommu_recon_status(f.r, NULL), -EBUSY);
	T_EQ(viommu_recon_check(f.r, f.h, &where), -ESTALE);
	T_EQ_U64(where.first, 0xe0000000);
	T_EQ_U64(where.last, 0xe0000000 + M1 - 1);
	T_EQ(stats(&f).mappings, 2);
	T_EQ(viommu_recon_resync(f.r), 0);
	UNMAP(&f, 0xe0000000, M1);
	expect_no_more_calls(&f);
	expect_consistent(&f);
	teardown(&f);
}

/*
 * A backend unmap that removes fewer bytes than the record held (the mapping
 * was replaced behind the reconciler's back) is reported, and the record
 * follows the backend, which holds nothing there any more (issue 17: a
 * planted bug accepting it silently went unseen).
 */
static void test_short_unmap(void)
{
	struct fixture f;
	struct viommu_mr *ram;

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	ram = viommu_mr_new_ram(f.m, "ram", 2 * K4, HOST(1));
	T_EQ(viommu_mr_add_subregion(f.root, 0, ram, 0), 0);
	MAP(&f, 0, 2 * K4, HOSTU(1));
	T_EQ(viommu_host_unmap(f.h, 0, 2 * K4, NULL), 0);
	T_EQ(viommu_host_map(f.h, 0, K4, HOSTU(1), RW), 0);
	f.seen += 2;
	T_EQ(viommu_mr_del_subregion(f.root, ram), 0);
	UNMAP(&f, 0, 2 * K4);
	expect_no_more_calls(&f);
	T_EQ(f.nreps, 1);
	T_EQ(f.reps[0].kind, VIOMMU_RECON_ERR_BACKEND);
	T_EQ(f.reps[0].err, -EIO);
	T_OK(f.reps[0].is_unmap);
	T_EQ_U64(f.reps[0].first, 0);
	T_EQ_U64(f.reps[0].last, 2 * K4 - 1);
	T_EQ(stats(&f).mappings, 0);
	T_EQ(viommu_host_sim_mappings(f.h, NULL, NULL), 0);
	expect_consistent(&f);
	viommu_mr_free(ram);
	teardown(&f);
}

/*
 * skip_ram_device leaves every BAR unmapped (no peer-to-peer) and says
 * nothing, RAM is mapped as always; a report names the backend it is about.
 */
static void test_skip_ram_device(void)
{
	struct fixture f;
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .skip_ram_device = true };
	struct viommu_mr *ram, *bar, *odd;

	setup_opts(&f, &ro, NULL);
	ram = viommu_mr_new_ram(f.m, "ram", M1, HOST(1));
	bar = viommu_mr_new_ram_device(f.m, "bar", M1, HOST(2));
	odd = viommu_mr_new_ram(f.m, "odd", K4 + 0x800, HOST(3));
	T_EQ(viommu_memory_begin(f.m), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0, ram, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0xe0000000, bar, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 0x10000000, odd, 0), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	MAP(&f, 0, M1, HOSTU(1));
	MAP(&f, 0x10000000, K4, HOSTU(3));
	expect_no_more_calls(&f);
	T_EQ(f.nreps, 1);	/* only the partial page of RAM, with its backend and guest-physical address */
	T_EQ(f.reps[0].kind, VIOMMU_RECON_ERR_UNALIGNED_RAM);
	T_OK(f.reps[0].backend == f.h);
	T_EQ_U64(f.reps[0].first, 0x10001000);
	T_EQ_U64(f.reps[0].last, 0x100017ff);
	T_EQ_U64(f.reps[0].out, 0x10001000);
	T_EQ(stats(&f).mappings, 2);
	expect_consistent(&f);
	teardown(&f);
}

/*
 * Every counter of viommu_recon_stats, per backend and summed over two, after
 * a run that moves each of them (issue 17 §8: map_bytes and unmap_bytes were
 * asserted by no test): maps, a late attach, a skipped BAR, a change inside a
 * mapping (one window), an unmap, and a map that fails on one backend only.
 */
static void test_stats_exact(void)
{
	struct fixture f;
	struct viommu_host *h2;
	struct viommu_mr *a, *b, *bar, *ov, *c;
	struct viommu_recon_stats s1 = { .sz = sizeof(s1) }, s2 = { .sz = sizeof(s2) }, all = { .sz = sizeof(all) };

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	h2 = viommu_host_sim_new(NULL);
	T_OK(h2 != NULL);
	a = viommu_mr_new_ram(f.m, "a", 2 * M1, HOST(1));
	b = viommu_mr_new_ram(f.m, "b", M1, HOST(2));
	bar = viommu_mr_new_ram_device(f.m, "bar", 0x800, HOST(5));
	ov = viommu_mr_new_ram(f.m, "ov", K4, HOST(3));
	c = viommu_mr_new_ram(f.m, "c", M1, HOST(4));
	T_EQ(viommu_mr_add_subregion(f.root, 0, a, 0), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 4 * M1, b, 0), 0);
	T_EQ(viommu_recon_attach(f.r, h2), 0);		/* gets a and b at once */
	T_EQ(viommu_mr_add_subregion(f.root, 0xe0000000, bar, 0), 0);	/* skipped: not page aligned */
	T_EQ(viommu_mr_add_subregion(f.root, M1, ov, 1), 0);	/* a unmapped whole, 3 maps: one window */
	T_EQ(viommu_mr_del_subregion(f.root, b), 0);
	T_EQ(viommu_host_sim_inject(f.h, 1, EBUSY), 0);
	T_EQ(viommu_mr_add_subregion(f.root, 8 * M1, c, 0), 0);	/* fails on f.h only */
	T_EQ(f.nreps, 3);	/* two skips, one error */
	T_EQ(viommu_recon_get_stats(f.r, f.h, &s1), 0);
	T_EQ(viommu_recon_get_stats(f.r, h2, &s2), 0);
	T_EQ(viommu_recon_get_stats(f.r, NULL, &all), 0);

	T_EQ_U64(s1.map_ops, 2 + 3 + 1);		/* the failed call counts */
	T_EQ_U64(s1.map_bytes, 3 * M1 + 2 * M1);	/* it maps nothing */
	T_EQ_U64(s1.unmap_ops, 2);
	T_EQ_U64(s1.unmap_bytes, 2 * M1 + M1);
	T_EQ_U64(s1.windows, 1);
	T_EQ_U64(s1.window_bytes, 2 * M1 - K4);
	T_EQ_U64(s1.skipped, 1);
	T_EQ_U64(s1.errors, 1);
	T_EQ_U64(s1.mappings, 3);
	T_EQ_U64(s1.max_mappings, 4);

	T_EQ_U64(s2.map_ops, 2 + 3 + 1);
	T_EQ_U64(s2.map_bytes, 3 * M1 + 2 * M1 + M1);
	T_EQ_U64(s2.unmap_ops, 2);
	T_EQ_U64(s2.unmap_bytes, 3 * M1);
	T_EQ_U64(s2.windows, 1);
	T_EQ_U64(s2.window_bytes, 2 * M1 - K4);
	T_EQ_U64(s2.skipped, 1);
	T_EQ_U64(s2.errors, 0);
	T_EQ_U64(s2.mappings, 4);
	T_EQ_U64(s2.max_mappings, 4);

	T_EQ_U64(all.map_ops, s1.map_ops + s2.map_ops);
	T_EQ_U64(all.map_bytes, 11 * M1);
	T_EQ_U64(all.unmap_ops, 4);
	T_EQ_U64(all.unmap_bytes, 6 * M1);
	T_EQ_U64(all.windows, 2);
	T_EQ_U64(all.window_bytes, 2 * (2 * M1 - K4));
	T_EQ_U64(all.skipped, 2);
	T_EQ_U64(all.errors, 1);
	T_EQ_U64(all.mappings, 7);
	T_EQ_U64(all.max_mappings, 4);		/* the most one backend held, not a sum */
	/* a, b, bar, ov, del b, c: six commits that changed the view */
	T_EQ_U64(s1.commits, 6);
	T_EQ_U64(s2.commits, 6);
	T_EQ_U64(all.commits, 6);
	/* the byte counts agree with what the simulated hosts hold */
	T_EQ(viommu_host_sim_mappings(h2, NULL, NULL), 4);
	T_EQ(viommu_recon_detach(f.r, h2, true), 0);
	viommu_host_free(h2);
	teardown(&f);
}

/*
 * One commit that changes part of more host mappings than the engine keeps
 * on its list of stale extents at once (8): the ones beyond the list are
 * found by the second pass, unmapped whole and remapped, and their windows
 * are counted like the others (the mutation round's survivor at
 * reconcile.c:661 counted them only when the unmap failed).
 */
static void test_many_stale_extents(void)
{
	enum { N = 12 };
	struct fixture f;
	struct viommu_mr *ram[N], *ov[N];

	setup(&f, VIOMMU_RECON_MINIMAL, NULL, 0);
	T_EQ(viommu_memory_begin(f.m), 0);
	for (int i = 0; i < N; i++) {
		ram[i] = viommu_mr_new_ram(f.m, "ram", M1, (char *)HOST(1) + i * M1);
		ov[i] = viommu_mr_new_ram(f.m, "ov", K4, HOST(2 + i));
		T_EQ(viommu_mr_add_subregion(f.root, i * M1, ram[i], 0), 0);
	}
	T_EQ(viommu_memory_commit(f.m), 0);
	for (int i = 0; i < N; i++)
		MAP(&f, i * M1, M1, HOSTU(1) + i * M1);
	expect_no_more_calls(&f);
	/* one page at the start of each: every mapping changes in part, in one work range */
	T_EQ(viommu_memory_begin(f.m), 0);
	for (int i = 0; i < N; i++)
		T_EQ(viommu_mr_add_subregion(f.root, i * M1, ov[i], 1), 0);
	T_EQ(viommu_memory_commit(f.m), 0);
	T_EQ_U64(stats(&f).unmap_ops, N);
	T_EQ_U64(stats(&f).unmap_bytes, N * M1);
	T_EQ_U64(stats(&f).windows, N);
	T_EQ_U64(stats(&f).window_bytes, N * (M1 - K4));
	T_EQ_U64(stats(&f).map_ops, N + 2 * N);
	T_EQ_U64(stats(&f).mappings, 2 * N);
	T_EQ(stats(&f).errors, 0);
	expect_consistent(&f);
	teardown(&f);
}

int main(void)
{
	test_boot();
	test_merge_race(VIOMMU_RECON_MINIMAL);
	test_merge_race(VIOMMU_RECON_NAIVE);
	test_bar_move();
	test_misaligned_bar();
	test_unaligned_ram();
	test_ram_resize();
	test_hotplug_blocks();
	test_late_attach();
	test_budget();
	test_reserved_window();
	test_readonly();
	test_coalesce_perms();
	test_failed_unmap();
	test_short_unmap();
	test_skip_ram_device();
	test_stats_exact();
	test_many_stale_extents();
	return t_done();
}

// SPDX-License-Identifier: MIT
/*
 * Reconciler benchmark (issue 5): commit cost for memory maps of 1,000 and
 * 64,000 regions, one region changed per commit and a bulk change, with
 * QEMU's delete-then-add policy measured in the same run as the baseline;
 * attaching a backend to a populated model; the host calls each shipped
 * example costs under both policies; and on the IOMMU path (issue 10) the
 * host calls and windows of a random mixed workload and the cost of a memory
 * commit under 10^4 and 10^5 IOMMU extents.
 *
 * usage: bench_reconcile [SCALE] [EXAMPLES_DIR]  (SCALE multiplies the region counts; default 1)
 * Output: one "<case> <value> <unit>" line per case and "<case> ratio <R>"
 * against the same run's baseline (bench/bench.h).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <viommu/host.h>
#include <viommu/iommu.h>
#include <viommu/memory.h>
#include <viommu/rangemap.h>
#include <viommu/reconcile.h>

#include "bench.h"
#include "scenario/scenario.h"

#define BLK 0x200000ull		/* 2 MiB blocks */
#define SEED 0xbe1c0ull




struct world {
	struct viommu_memory *m;
	struct viommu_mr *root;
	struct viommu_as *as;
	struct viommu_host *h;
	struct viommu_recon *r;
	struct viommu_mr **blk;
	bool *in;
	size_t n;
};

/* n unmergeable 2 MiB RAM blocks side by side at 4 GiB, all plugged. */
static void world_init(struct world *w, size_t n, enum viommu_recon_policy policy, bool attach)
{
	struct viommu_host_sim_opts ho = { .sz = sizeof(ho), .dma_entry_limit = UINT32_MAX / 2,
					   .timeline_capacity = 16 };
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .policy = policy };

	memset(w, 0, sizeof(*w));
	w->n = n;
	w->m = viommu_memory_new();
	w->root = viommu_mr_new_container(w->m, "root", 0);
	w->as = viommu_as_new(w->m, "as", w->root);
	w->h = viommu_host_sim_new(&ho);
	w->r = viommu_recon_new(w->m, w->as, &ro);
	w->blk = calloc(n, sizeof(*w->blk));
	w->in = calloc(n, sizeof(*w->in));
	if (!w->m || !w->root || !w->as || !w->h || !w->r || !w->blk || !w->in) {
		fprintf(stderr, "setup failed\n");
		exit(1);
	}
	if (attach)
		viommu_recon_attach(w->r, w->h);
	viommu_memory_begin(w->m);
	for (size_t i = 0; i < n; i++) {
		w->blk[i] = viommu_mr_new_ram(w->m, "blk", BLK, (void *)(uintptr_t)(0x100000000000ull + i * BLK));
		viommu_mr_set_unmergeable(w->blk[i], true);
		viommu_mr_add_subregion(w->root, 0x100000000ull + i * BLK, w->blk[i], 0);
		w->in[i] = true;
	}
	viommu_memory_commit(w->m);
}

static void world_free(struct world *w)
{
	viommu_recon_free(w->r);
	viommu_host_free(w->h);
	viommu_memory_free(w->m);
	free(w->blk);
	free(w->in);
}

/* Unplug a random block, or plug it back. */
static void toggle_random_block(struct world *w)
{
	size_t i = bench_below(w->n);

	if (w->in[i])
		viommu_mr_del_subregion(w->root, w->blk[i]);
	else
		viommu_mr_add_subregion(w->root, 0x100000000ull + i * BLK, w->blk[i], 0);
	w->in[i] = !w->in[i];
}

/* One block per commit. Returns ns per commit. */
static double run_one(struct world *w, int commits)
{
	double t0 = ((double)bench_now_ns() / 1e9);

	for (int k = 0; k < commits; k++)
		toggle_random_block(w);
	return (((double)bench_now_ns() / 1e9) - t0) * 1e9 / commits;
}

/* Toggle 1% of the blocks in one transaction. */
static double run_bulk(struct world *w, int commits)
{
	double t0 = ((double)bench_now_ns() / 1e9);

	for (int k = 0; k < commits; k++) {
		viommu_memory_begin(w->m);
		for (size_t j = 0; j < w->n / 100 + 1; j++)
			toggle_random_block(w);
		viommu_memory_commit(w->m);
	}
	return (((double)bench_now_ns() / 1e9) - t0) * 1e9 / commits;
}

static void bench_size(size_t n, int commits)
{
	struct world w;
	double base_one, base_bulk, one, bulk, mem_one, t0, attach;
	struct viommu_recon_stats st = { .sz = sizeof(st) };
	uint64_t sink = 0;

	/* the memory layer with no listener (it then computes no diff): the floor */
	bench_seed(SEED);
	world_init(&w, n, VIOMMU_RECON_MINIMAL, false);
	mem_one = run_one(&w, commits);
	world_free(&w);

	bench_seed(SEED);
	world_init(&w, n, VIOMMU_RECON_NAIVE, true);
	base_one = run_one(&w, commits);
	base_bulk = run_bulk(&w, commits / 4 + 1);
	world_free(&w);

	bench_seed(SEED);
	world_init(&w, n, VIOMMU_RECON_MINIMAL, true);
	one = run_one(&w, commits);
	bulk = run_bulk(&w, commits / 4 + 1);
	viommu_recon_get_stats(w.r, w.h, &st);
	sink += st.map_ops + st.unmap_ops;
	/* a backend attached to the populated model: the full map from the model */
	{
		struct viommu_host *h2 = viommu_host_sim_new(&(struct viommu_host_sim_opts){
			.sz = sizeof(struct viommu_host_sim_opts), .dma_entry_limit = UINT32_MAX / 2,
			.timeline_capacity = 16 });
		t0 = ((double)bench_now_ns() / 1e9);
		viommu_recon_attach(w.r, h2);
		attach = (((double)bench_now_ns() / 1e9) - t0) * 1e9 / (double)n;
		viommu_recon_detach(w.r, h2, false);
		viommu_host_free(h2);
	}
	world_free(&w);

	printf("recon.commit.one.no_listener.n%zu %.1f us\n", n, mem_one / 1e3);
	printf("recon.commit.one.naive.n%zu %.1f us\n", n, base_one / 1e3);
	printf("recon.commit.one.n%zu %.1f us\n", n, one / 1e3);
	printf("recon.commit.one.n%zu ratio %.3f\n", n, one / base_one);
	printf("recon.commit.bulk1pct.naive.n%zu %.1f us\n", n, base_bulk / 1e3);
	printf("recon.commit.bulk1pct.n%zu %.1f us\n", n, bulk / 1e3);
	printf("recon.commit.bulk1pct.n%zu ratio %.3f\n", n, bulk / base_bulk);
	printf("recon.attach.per_region.n%zu %.1f ns\n", n, attach);
	printf("# sink %llu\n", (unsigned long long)sink);
}

static void bench_examples(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		printf("# no examples directory %s\n", dir);
		return;
	}
	while ((de = readdir(d))) {
		char path[4096], err[512], name[256];
		struct vi_scn_result res[2];
		FILE *f;
		char *text;
		long len;
		size_t l = strlen(de->d_name);

		if (l < 5 || strcmp(de->d_name + l - 4, ".scn"))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		snprintf(name, sizeof(name), "%.*s", (int)(l - 4), de->d_name);
		f = fopen(path, "rb");
		if (!f)
			continue;
		fseek(f, 0, SEEK_END);
		len = ftell(f);
		fseek(f, 0, SEEK_SET);
		text = malloc((size_t)len + 1);
		if (!text || fread(text, 1, (size_t)len, f) != (size_t)len) {
			fclose(f);
			free(text);
			continue;
		}
		fclose(f);
		for (int p = 0; p < 2; p++) {
			struct vi_scn_opts o = { .policy = p, .sim_only = true };
			if (vi_scn_run(text, (size_t)len, path, &o, &res[p], err, sizeof(err))) {
				printf("# %s: %s\n", name, err);
				break;
			}
		}
		free(text);
		printf("recon.example.%s.host_calls %llu calls\n", name,
		       (unsigned long long)(res[0].stats.map_ops + res[0].stats.unmap_ops));
		printf("recon.example.%s.host_calls.naive %llu calls\n", name,
		       (unsigned long long)(res[1].stats.map_ops + res[1].stats.unmap_ops));
		printf("recon.example.%s.host_calls ratio %.3f\n", name,
		       (double)(res[0].stats.map_ops + res[0].stats.unmap_ops) /
			       (double)(res[1].stats.map_ops + res[1].stats.unmap_ops));
		printf("recon.example.%s.windows %llu windows\n", name, (unsigned long long)res[0].stats.windows);
		printf("recon.example.%s.windows.naive %llu windows\n", name, (unsigned long long)res[1].stats.windows);
		printf("recon.example.%s.unchanged_bytes_unmapped.naive %llu bytes\n", name,
		       (unsigned long long)res[1].stats.window_bytes);
	}
	closedir(d);
}

/* ---- the IOMMU path: shadow composed with the flat view, to a backend ---- */
/*
 * The workload and its measurement are independent of the code under test:
 * host calls are counted from the simulator's timeline and windows from a
 * per-page model (an unmap call removing a page whose translation before the
 * operation equals the desired one after it), so the old host connector and
 * the engine are measured by the same ruler. io_connect()/io_disconnect() are
 * the only code that names the API.
 */
#define IO_PG 0x1000ull
#define IO_M2 0x200000ull
#define IO_NPAGES 4096u			/* IOVA [0, 16 MiB) modelled page by page */
#define IO_HOST(n) (0x100000000000ull + (uint64_t)(n) * 0x1000000000ull)
#define IO_RAM_LO 0x0ull		/* 64M */
#define IO_RAM_HI 0x100000000ull	/* 32M */
#define IO_MMIO 0x8000000ull		/* 1M */
#define IO_ROM 0xc000000ull		/* 2M read-only */
#define IO_BAR 0xc0000000ull		/* 1M RAM device */
#define IO_SLOTS 0x10000000ull		/* 16 slots of 2M for 6 hot-plug blocks */
#define IO_NSLOT 16
#define IO_NBLK 6

struct io_world {
	struct viommu_memory *m;
	struct viommu_mr *root, *ram_lo, *overlay, *blk[IO_NBLK];
	int blk_slot[IO_NBLK];		/* -1: unplugged */
	bool overlay_in, blk_ro[IO_NBLK];
	struct viommu_as *sys;
	struct viommu_iommu_as *ias;
	struct viommu_rangemap *leaves;	/* the guest's IO page table: first..last -> out | perm */
	struct viommu_host *h;
	void *conn;
};

static int io_read(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *view)
{
	struct io_world *w = ctx;
	struct viommu_rangemap_iter it;

	viommu_rangemap_for_each(&it, w->leaves, first, last)
		viommu_iommu_view_add(view, it.entry.first, it.entry.last, it.entry.value & ~3ull,
				      (unsigned)(it.entry.value & 3));
	return 0;
}

static void *io_connect(struct io_world *w);
static void io_disconnect(struct io_world *w);

static const struct viommu_mr_ops io_mmio_ops = { .sz = sizeof(io_mmio_ops) };

static void io_world_init(struct io_world *w, enum viommu_host_semantics sem)
{
	struct viommu_host_sim_opts ho = { .sz = sizeof(ho), .semantics = sem, .timeline_capacity = 1u << 16 };
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = io_read, .read_ctx = w };

	memset(w, 0, sizeof(*w));
	w->m = viommu_memory_new();
	w->root = viommu_mr_new_container(w->m, "system", 0);
	w->ram_lo = viommu_mr_new_ram(w->m, "ram-lo", 64 << 20, (void *)(uintptr_t)IO_HOST(1));
	struct viommu_mr *hi = viommu_mr_new_ram(w->m, "ram-hi", 32 << 20, (void *)(uintptr_t)IO_HOST(2));
	struct viommu_mr *io = viommu_mr_new_mmio(w->m, "mmio", 1 << 20, &io_mmio_ops, NULL);
	struct viommu_mr *rom = viommu_mr_new_ram(w->m, "rom", IO_M2, (void *)(uintptr_t)IO_HOST(3));
	struct viommu_mr *bar = viommu_mr_new_ram_device(w->m, "bar", 1 << 20, (void *)(uintptr_t)IO_HOST(4));

	w->overlay = viommu_mr_new_mmio(w->m, "overlay", 0x10000, &io_mmio_ops, NULL);
	viommu_mr_set_readonly(rom, true);
	viommu_mr_add_subregion(w->root, IO_RAM_LO, w->ram_lo, 0);
	viommu_mr_add_subregion(w->root, IO_RAM_HI, hi, 0);
	viommu_mr_add_subregion(w->root, IO_MMIO, io, 0);
	viommu_mr_add_subregion(w->root, IO_ROM, rom, 0);
	viommu_mr_add_subregion(w->root, IO_BAR, bar, 0);
	for (int i = 0; i < IO_NBLK; i++) {
		w->blk[i] = viommu_mr_new_ram(w->m, "blk", IO_M2, (void *)(uintptr_t)IO_HOST(10 + i));
		viommu_mr_set_unmergeable(w->blk[i], true);
		w->blk_slot[i] = i;
		viommu_mr_add_subregion(w->root, IO_SLOTS + (uint64_t)i * IO_M2, w->blk[i], 0);
	}
	w->sys = viommu_as_new(w->m, "memory", w->root);
	w->ias = viommu_iommu_as_new(&o);
	w->leaves = viommu_rangemap_new();
	w->h = viommu_host_sim_new(&ho);
	if (!w->sys || !w->ias || !w->leaves || !w->h || !w->overlay) {
		fprintf(stderr, "io setup failed\n");
		exit(1);
	}
	w->conn = io_connect(w);
}

static void io_world_free(struct io_world *w)
{
	io_disconnect(w);
	viommu_host_free(w->h);
	viommu_iommu_as_free(w->ias);
	viommu_memory_free(w->m);
	viommu_rangemap_free(w->leaves);
}

/* An output address aligned to @align, anywhere memory may be (or not be). */
static uint64_t io_rand_gpa(uint64_t align)
{
	unsigned k = (unsigned)bench_below(20);

	if (k < 8)
		return IO_RAM_LO + bench_below((64 << 20) / align) * align;
	if (k < 12)
		return IO_RAM_HI + bench_below((32 << 20) / align) * align;
	if (k < 13)
		return IO_MMIO + bench_below(IO_M2 / align) * align;	/* MMIO, then a hole */
	if (k < 14)
		return IO_ROM + bench_below(IO_M2 / align) * align;
	if (k < 15)	/* the 1M BAR, or the hole above it for a 2M leaf */
		return IO_BAR + (align < (1 << 20) ? bench_below((1 << 20) / align) * align : 0);
	return IO_SLOTS + bench_below(IO_NSLOT * IO_M2 / align) * align;	/* hot-plug slots */
}

static void io_leaf(struct io_world *w, uint64_t first, uint64_t size, uint64_t out, unsigned perm)
{
	viommu_rangemap_insert(w->leaves, first, first + size - 1, out | perm);
}

/* One random guest page-table change; *a..*b is what the guest invalidates. */
static bool io_guest_op(struct io_world *w, uint64_t *a, uint64_t *b)
{
	size_t p = (size_t)bench_below(IO_NPAGES), blk = p / 512 * 512;
	uint64_t iova = p * IO_PG, biova = blk * IO_PG;
	struct viommu_range_entry e;

	switch (bench_below(6)) {
	case 0: { /* a 4K leaf, often continuing the output of the page before */
		uint64_t out = io_rand_gpa(IO_PG);

		if (viommu_rangemap_find(w->leaves, iova, NULL))
			return false;
		if (p && bench_below(2) && viommu_rangemap_find(w->leaves, iova - IO_PG, &e))
			out = (e.value & ~3ull) + (iova - e.first);
		io_leaf(w, iova, IO_PG, out, 3);
		*a = iova;
		*b = iova + IO_PG - 1;
		return true;
	}
	case 1: /* a 2M leaf over a free block */
		if (viommu_rangemap_find_overlap(w->leaves, biova, biova + IO_M2 - 1, NULL))
			return false;
		io_leaf(w, biova, IO_M2, io_rand_gpa(IO_M2), 1 + (unsigned)bench_below(3));
		*a = biova;
		*b = biova + IO_M2 - 1;
		return true;
	case 2: /* unmap the leaf holding p */
		if (!viommu_rangemap_find(w->leaves, iova, &e))
			return false;
		viommu_rangemap_remove(w->leaves, e.first, e.last, NULL);
		*a = e.first;
		*b = e.last;
		return true;
	case 3: { /* 2M -> 512 x 4K, same output, maybe one page changed */
		if (!viommu_rangemap_find(w->leaves, iova, &e) || e.last - e.first + 1 != IO_M2)
			return false;
		viommu_rangemap_remove(w->leaves, e.first, e.last, NULL);
		size_t chg = bench_below(2) ? (size_t)bench_below(512) : 512;

		for (size_t i = 0; i < 512; i++)
			io_leaf(w, e.first + i * IO_PG, IO_PG,
				i == chg ? io_rand_gpa(IO_PG) : (e.value & ~3ull) + i * IO_PG,
				i == chg ? 1 + (unsigned)bench_below(3) : (unsigned)(e.value & 3));
		*a = e.first;
		*b = e.last;
		return true;
	}
	case 4: /* change one 4K leaf's output or permissions */
		if (!viommu_rangemap_find(w->leaves, iova, &e) || e.last != e.first + IO_PG - 1)
			return false;
		viommu_rangemap_remove(w->leaves, e.first, e.last, NULL);
		io_leaf(w, e.first, IO_PG, bench_below(2) ? io_rand_gpa(IO_PG) : e.value & ~3ull,
			1 + (unsigned)bench_below(3));
		*a = e.first;
		*b = e.last;
		return true;
	default: { /* unmap every leaf in a run of pages */
		uint64_t last = (p + 1 + bench_below(64)) * IO_PG - 1;

		if (last >= IO_NPAGES * IO_PG)
			last = IO_NPAGES * IO_PG - 1;
		if (viommu_rangemap_remove_inside(w->leaves, iova, last, NULL, NULL) <= 0)
			return false;
		*a = iova;
		*b = last;
		return true;
	}
	}
}

/* One random memory-map change under the live IOMMU mappings. */
static void io_memory_op(struct io_world *w)
{
	int i = (int)bench_below(IO_NBLK);

	switch (bench_below(5)) {
	case 0: /* plug or unplug a block */
		if (w->blk_slot[i] >= 0) {
			viommu_mr_del_subregion(w->root, w->blk[i]);
			w->blk_slot[i] = -1;
			break;
		}
		/* fall through: plug it into a free slot */
		__attribute__((fallthrough));
	case 1: { /* move a block to another free slot */
		int s = (int)bench_below(IO_NSLOT);

		for (int k = 0; k < IO_NBLK; k++)
			if (w->blk_slot[k] == s)
				return;
		if (w->blk_slot[i] >= 0)
			viommu_mr_set_address(w->blk[i], IO_SLOTS + (uint64_t)s * IO_M2);
		else
			viommu_mr_add_subregion(w->root, IO_SLOTS + (uint64_t)s * IO_M2, w->blk[i], 0);
		w->blk_slot[i] = s;
		break;
	}
	case 2: /* a block turns read-only or back */
		w->blk_ro[i] = !w->blk_ro[i];
		viommu_mr_set_readonly(w->blk[i], w->blk_ro[i]);
		break;
	default: /* a 64K MMIO overlay appears somewhere in low RAM, or goes */
		if (w->overlay_in) {
			viommu_mr_del_subregion(w->ram_lo, w->overlay);
		} else {
			viommu_mr_add_subregion(w->ram_lo, bench_below((64 << 20) / 0x10000) * 0x10000, w->overlay, 1);
		}
		w->overlay_in = !w->overlay_in;
		break;
	}
}

struct io_page { uint64_t vaddr; unsigned prot; };	/* prot 0: unmapped */

/* What each IOVA page must translate to: guest leaf, then the flat view. */
static void io_desired(struct io_world *w, struct io_page *d)
{
	struct viommu_flatview *v = viommu_as_get_flatview(w->sys);

	for (size_t p = 0; p < IO_NPAGES; p++) {
		struct viommu_range_entry e;
		const struct viommu_mr_section *s;
		uint64_t gpa;
		unsigned perm;

		d[p] = (struct io_page){ 0, 0 };
		if (!viommu_rangemap_find(w->leaves, p * IO_PG, &e))
			continue;
		gpa = (e.value & ~3ull) + (p * IO_PG - e.first);
		perm = (unsigned)(e.value & 3);
		s = viommu_flatview_lookup(v, gpa);
		if (!s || (s->kind != VIOMMU_MR_RAM && s->kind != VIOMMU_MR_RAM_DEVICE))
			continue;
		d[p].prot = (perm & 1) | ((perm & 2) && !s->readonly ? 2 : 0);
		d[p].vaddr = (uint64_t)(uintptr_t)s->host + (gpa - s->first);
	}
	viommu_flatview_put(v);
}

static void io_host_pages(struct io_world *w, struct io_page *hp)
{
	for (size_t p = 0; p < IO_NPAGES; p++)
		if (viommu_host_sim_translate(w->h, p * IO_PG, &hp[p].vaddr, &hp[p].prot))
			hp[p] = (struct io_page){ 0, 0 };
}

struct io_tally {
	uint64_t ops, guest_ops, memory_ops;
	uint64_t maps, unmaps, failed;		/* host calls, from the timeline */
	uint64_t windows, window_bytes;		/* unmaps removing an unchanged translation, from the model */
	uint64_t bad_pages;			/* pages where the host differs from the desired state after an op */
	uint64_t mem_calls, mem_windows, mem_window_bytes;	/* the part of the above memory commits caused */
};

/* The host calls of the last op, and the windows they opened, judged against the model. */
static void io_account(struct io_world *w, const struct io_page *before, const struct io_page *after,
		       struct io_tally *t, bool memory)
{
	long n = viommu_host_sim_timeline_count(w->h);

	if (memory)
		t->mem_calls += (uint64_t)n;

	for (long i = 0; i < n; i++) {
		struct viommu_host_record rec;
		uint64_t kept = 0;

		viommu_host_sim_timeline_get(w->h, (size_t)i, &rec);
		if (rec.result)
			t->failed++;
		if (rec.op != VIOMMU_HOST_OP_UNMAP) {
			t->maps++;
			continue;
		}
		t->unmaps++;
		for (uint64_t a = rec.iova; a - rec.iova < rec.length && a / IO_PG < IO_NPAGES; a += IO_PG) {
			const struct io_page *b = &before[a / IO_PG], *d = &after[a / IO_PG];

			if (b->prot && b->prot == d->prot && b->vaddr == d->vaddr)
				kept += IO_PG;
		}
		if (kept && !rec.result) {
			t->windows++;
			t->window_bytes += kept;
			if (memory) {
				t->mem_windows++;
				t->mem_window_bytes += kept;
			}
		}
	}
	viommu_host_sim_timeline_clear(w->h);
}

/* @nops random operations, 1 in 4 a memory-map change, the rest guest page-table changes. */
static void io_mixed(enum viommu_host_semantics sem, uint64_t seed, unsigned nops, struct io_tally *t)
{
	static struct io_page before[IO_NPAGES], after[IO_NPAGES], host[IO_NPAGES];
	struct io_world w;

	memset(t, 0, sizeof(*t));
	bench_seed(seed);
	io_world_init(&w, sem);
	viommu_host_sim_timeline_clear(w.h);
	io_host_pages(&w, before);
	for (unsigned k = 0; k < nops; k++) {
		uint64_t a, b;
		bool memory = bench_below(4) == 0;

		if (memory) {
			io_memory_op(&w);
			t->memory_ops++;
		} else {
			int tries = 0;

			while (!io_guest_op(&w, &a, &b))
				if (++tries == 64)
					break;
			if (tries == 64)
				continue;
			viommu_iommu_sync(w.ias, a, b);
			t->guest_ops++;
		}
		t->ops++;
		io_desired(&w, after);
		io_account(&w, before, after, t, memory);
		io_host_pages(&w, host);
		for (size_t p = 0; p < IO_NPAGES; p++)
			if (host[p].prot != after[p].prot || (host[p].prot && host[p].vaddr != after[p].vaddr))
				t->bad_pages++;
		memcpy(before, host, sizeof(before));
	}
	io_world_free(&w);
}

/*
 * Memory-map changes under large IOMMU extents: 8 2M extents over low RAM,
 * a 64K MMIO overlay appearing at a random place and going away again, 400
 * times. Host calls and windows are counted from the timeline and the model
 * as in io_mixed.
 */
static void io_overlay(enum viommu_host_semantics sem, uint64_t seed, unsigned flips, struct io_tally *t)
{
	static struct io_page before[IO_NPAGES], after[IO_NPAGES], host[IO_NPAGES];
	struct io_world w;

	memset(t, 0, sizeof(*t));
	bench_seed(seed);
	io_world_init(&w, sem);
	for (uint64_t b = 0; b < IO_NPAGES * IO_PG / IO_M2; b++)
		io_leaf(&w, b * IO_M2, IO_M2, IO_RAM_LO + b * IO_M2, 3);
	viommu_iommu_sync(w.ias, 0, IO_NPAGES * IO_PG - 1);
	viommu_host_sim_timeline_clear(w.h);
	io_host_pages(&w, before);
	for (unsigned k = 0; k < flips; k++) {
		if (w.overlay_in)
			viommu_mr_del_subregion(w.ram_lo, w.overlay);
		else
			viommu_mr_add_subregion(w.ram_lo, bench_below(IO_NPAGES * IO_PG / 0x10000) * 0x10000, w.overlay, 1);
		w.overlay_in = !w.overlay_in;
		t->ops++;
		t->memory_ops++;
		io_desired(&w, after);
		io_account(&w, before, after, t, true);
		io_host_pages(&w, host);
		for (size_t p = 0; p < IO_NPAGES; p++)
			if (host[p].prot != after[p].prot || (host[p].prot && host[p].vaddr != after[p].vaddr))
				t->bad_pages++;
		memcpy(before, host, sizeof(before));
	}
	io_world_free(&w);
}

static void io_bench_overlay(unsigned flips)
{
	struct io_tally t;

	io_overlay(VIOMMU_HOST_TYPE1V2, 0x10330011, flips, &t);
	printf("# iommu.overlay: %u overlay flips under 8 2M extents over RAM (type1 v2)\n", flips);
	printf("iommu.overlay.host_calls %llu calls\n", (unsigned long long)(t.maps + t.unmaps));
	printf("iommu.overlay.windows %llu windows\n", (unsigned long long)t.windows);
	printf("iommu.overlay.window_bytes %llu bytes\n", (unsigned long long)t.window_bytes);
	printf("iommu.overlay.wrong_pages %llu pages\n", (unsigned long long)t.bad_pages);
}

/*
 * Memory-commit cost on the IOMMU path: @n IOMMU extents (4K each, every
 * other IOVA page, outputs side by side in one RAM region) plus one extent
 * onto a 4K region of its own. Two commits: one that changes no GPA any
 * extent points at (a 2M block plugged or unplugged elsewhere), one that
 * changes one extent's output (its region turns read-only or back). The
 * same-run baseline is the same commit with a listener on the system address
 * space that takes the diff and does nothing (the memory layer's own cost).
 */
struct io_big {
	struct viommu_memory *m;
	struct viommu_mr *root, *small, *blk;
	struct viommu_as *sys;
	struct viommu_iommu_as *ias;
	struct viommu_rangemap *leaves;
	struct viommu_host *h;
	void *conn;
	struct viommu_memory_listener idle;	/* the baseline's listener: takes the diff, does nothing */
	bool blk_in, small_ro;
};

static void io_idle_diff(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_diff *d,
			 size_t n)
{
	(void)l, (void)as, (void)d, (void)n;
}

static void *io_big_connect(struct io_big *w);
static void io_big_disconnect(struct io_big *w);

static int io_big_read(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *view)
{
	struct io_big *w = ctx;
	struct viommu_rangemap_iter it;

	viommu_rangemap_for_each(&it, w->leaves, first, last)
		viommu_iommu_view_add(view, it.entry.first, it.entry.last, it.entry.value & ~3ull,
				      (unsigned)(it.entry.value & 3));
	return 0;
}

static void io_big_init(struct io_big *w, size_t n, bool connect)
{
	struct viommu_host_sim_opts ho = { .sz = sizeof(ho), .dma_entry_limit = UINT32_MAX / 2,
					   .timeline_capacity = 1u << 12 };
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = io_big_read, .read_ctx = w };
	const uint64_t big_gpa = 0x40000000ull;

	memset(w, 0, sizeof(*w));
	w->m = viommu_memory_new();
	w->root = viommu_mr_new_container(w->m, "system", 0);
	struct viommu_mr *big = viommu_mr_new_ram(w->m, "big", (uint64_t)n * IO_PG, (void *)(uintptr_t)IO_HOST(1));

	w->small = viommu_mr_new_ram(w->m, "small", IO_PG, (void *)(uintptr_t)IO_HOST(2));
	w->blk = viommu_mr_new_ram(w->m, "blk", IO_M2, (void *)(uintptr_t)IO_HOST(3));
	viommu_mr_add_subregion(w->root, big_gpa, big, 0);
	viommu_mr_add_subregion(w->root, 0x20000000ull, w->small, 0);
	w->sys = viommu_as_new(w->m, "memory", w->root);
	w->ias = viommu_iommu_as_new(&o);
	w->leaves = viommu_rangemap_new();
	w->h = viommu_host_sim_new(&ho);
	if (!w->sys || !w->ias || !w->leaves || !w->h || !w->blk) {
		fprintf(stderr, "io setup failed\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++)
		viommu_rangemap_insert(w->leaves, 2 * i * IO_PG, 2 * i * IO_PG + IO_PG - 1, (big_gpa + i * IO_PG) | 3);
	viommu_rangemap_insert(w->leaves, 2 * n * IO_PG, 2 * n * IO_PG + IO_PG - 1, 0x20000000ull | 3);
	if (connect) {
		w->conn = io_big_connect(w);
	} else {
		w->idle = (struct viommu_memory_listener){ .sz = sizeof(w->idle), .as = w->sys, .diff = io_idle_diff };
		viommu_memory_listener_register(w->m, &w->idle);
	}
	viommu_iommu_sync(w->ias, 0, 2 * (n + 1) * IO_PG - 1);
}

static void io_big_free(struct io_big *w)
{
	if (w->conn)
		io_big_disconnect(w);
	viommu_host_free(w->h);
	viommu_iommu_as_free(w->ias);
	viommu_memory_free(w->m);
	viommu_rangemap_free(w->leaves);
}

/* ns per commit (thread CPU time) over @reps commits of kind @one (false: unrelated GPA) */
static double io_big_commits(struct io_big *w, bool one, int reps)
{
	uint64_t t0 = bench_cpu_ns();

	for (int k = 0; k < reps; k++) {
		if (one) {
			w->small_ro = !w->small_ro;
			viommu_mr_set_readonly(w->small, w->small_ro);
		} else if (w->blk_in) {
			viommu_mr_del_subregion(w->root, w->blk);
			w->blk_in = false;
		} else {
			viommu_mr_add_subregion(w->root, 0x80000000ull, w->blk, 0);
			w->blk_in = true;
		}
	}
	return (double)(bench_cpu_ns() - t0) / reps;
}

static int io_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static void io_bench_commit(size_t n, int reps)
{
	double med[2][2];

	for (int with = 0; with < 2; with++) {
		for (int one = 0; one < 2; one++) {
			double t[3];

			for (int run = 0; run < 3; run++) {
				struct io_big w;

				io_big_init(&w, n, with);
				viommu_host_sim_timeline_clear(w.h);
				t[run] = io_big_commits(&w, one, reps);
				if (with && run == 0) {
					long calls = viommu_host_sim_timeline_count(w.h);

					printf("iommu.commit.%s.n%zu.host_calls %.2f calls\n", one ? "one" : "none", n,
					       (double)calls / reps);
				}
				io_big_free(&w);
			}
			qsort(t, 3, sizeof(t[0]), io_cmp_double);
			med[with][one] = t[1];
		}
	}
	for (int one = 0; one < 2; one++) {
		const char *k = one ? "one" : "none";

		printf("iommu.commit.%s.diff_only.n%zu %.1f us\n", k, n, med[0][one] / 1e3);
		printf("iommu.commit.%s.n%zu %.1f us\n", k, n, med[1][one] / 1e3);
		printf("iommu.commit.%s.n%zu ratio %.3f\n", k, n, med[1][one] / med[0][one]);
	}
}

static void io_bench_mixed(unsigned nops)
{
	static const struct { enum viommu_host_semantics sem; const char *name; } sems[] = {
		{ VIOMMU_HOST_TYPE1V2, "type1v2" }, { VIOMMU_HOST_TYPE1V1, "type1v1" }, { VIOMMU_HOST_IOMMUFD, "iommufd" },
	};

	for (size_t i = 0; i < sizeof(sems) / sizeof(sems[0]); i++) {
		struct io_tally t;

		io_mixed(sems[i].sem, 0x10330010, nops, &t);
		printf("# iommu.mixed.%s: %llu ops (%llu guest syncs, %llu memory commits)\n", sems[i].name,
		       (unsigned long long)t.ops, (unsigned long long)t.guest_ops, (unsigned long long)t.memory_ops);
		printf("iommu.mixed.%s.host_calls %llu calls\n", sems[i].name, (unsigned long long)(t.maps + t.unmaps));
		printf("iommu.mixed.%s.maps %llu calls\n", sems[i].name, (unsigned long long)t.maps);
		printf("iommu.mixed.%s.unmaps %llu calls\n", sems[i].name, (unsigned long long)t.unmaps);
		printf("iommu.mixed.%s.failed_calls %llu calls\n", sems[i].name, (unsigned long long)t.failed);
		printf("iommu.mixed.%s.windows %llu windows\n", sems[i].name, (unsigned long long)t.windows);
		printf("iommu.mixed.%s.window_bytes %llu bytes\n", sems[i].name, (unsigned long long)t.window_bytes);
		printf("iommu.mixed.%s.wrong_pages %llu pages\n", sems[i].name, (unsigned long long)t.bad_pages);
		printf("iommu.mixed.%s.memory_commit_calls %llu calls\n", sems[i].name, (unsigned long long)t.mem_calls);
		printf("iommu.mixed.%s.memory_commit_windows %llu windows\n", sems[i].name,
		       (unsigned long long)t.mem_windows);
		printf("iommu.mixed.%s.memory_commit_window_bytes %llu bytes\n", sems[i].name,
		       (unsigned long long)t.mem_window_bytes);
	}
}

/* The engine's IOMMU path: one reconciler, the backend attached to it. */
static void *io_connect(struct io_world *w)
{
	struct viommu_recon *r = viommu_recon_new_iommu(w->m, w->sys, w->ias, NULL);

	if (!r || viommu_recon_attach(r, w->h)) {
		fprintf(stderr, "io setup failed\n");
		exit(1);
	}
	return r;
}

static void io_disconnect(struct io_world *w)
{
	viommu_recon_detach(w->conn, w->h, true);
	viommu_recon_free(w->conn);
}

static void *io_big_connect(struct io_big *w)
{
	struct viommu_recon *r = viommu_recon_new_iommu(w->m, w->sys, w->ias, NULL);

	if (!r || viommu_recon_attach(r, w->h)) {
		fprintf(stderr, "io setup failed\n");
		exit(1);
	}
	return r;
}

static void io_big_disconnect(struct io_big *w)
{
	viommu_recon_free(w->conn);
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? atof(argv[1]) : 1.0;
	const char *examples = argc > 2 ? argv[2] : "examples";
	size_t small = (size_t)(1000 * scale), large = (size_t)(64000 * scale);

	if (small < 10)
		small = 10;
	if (large < 100)
		large = 100;
	printf("# bench_reconcile seed 0x%llx scale %.3g regions %zu and %zu (2 MiB unmergeable RAM blocks)\n",
	       (unsigned long long)SEED, scale, small, large);
	printf("# baseline: the same commits under QEMU's delete-then-add policy, same run\n");
	bench_size(small, 400);
	bench_size(large, 40);
	bench_examples(examples);
	printf("# the IOMMU path: a mixed workload of %u operations (seed 0x10330010) and memory commits under "
	       "10^4 and 10^5 IOMMU extents\n", 3000u);
	io_bench_mixed(3000);
	io_bench_overlay(400);
	io_bench_commit(10000, 200);
	io_bench_commit(100000, 20);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * Reconciler benchmark (issue 5): commit cost for memory maps of 1,000 and
 * 64,000 regions, one region changed per commit and a bulk change, with
 * QEMU's delete-then-add policy measured in the same run as the baseline;
 * attaching a backend to a populated model; and the host calls each shipped
 * example costs under both policies.
 *
 * usage: bench_reconcile [SCALE] [EXAMPLES_DIR]  (SCALE multiplies the region counts; default 1)
 * Output: style.md's "<case> <value> <unit>" and "<case> ratio <R>" lines.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <viommu/host.h>
#include <viommu/memory.h>
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
	return 0;
}

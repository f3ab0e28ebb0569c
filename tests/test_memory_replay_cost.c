// SPDX-License-Identifier: MIT
/*
 * Replaying N single-region commits is linear (issue 14 goal 1): counted,
 * not timed (counts are exact on a shared machine). N and 10N commits, each
 * adding one 4K RAM region, through
 *  - the engine: a memory model, the reconciler (minimal policy) and one
 *    simulated type1 backend, checked over what each commit changed
 *    (viommu_recon_check_range, as the scenario interpreter does);
 *  - the scenario interpreter: `repeat N / ram / add` (vi_scn_run), 4K
 *    regions 64K apart (the file of issue 14) and 8K regions side by side,
 *    its per-commit checks and the whole check at the end included.
 * The units: the flat-view trees' descents (each O(log n)) and cursor steps
 * (each O(1)) of ptree.h, and the memory model's render work (memory_int.h).
 * 10N commits must cost at most 10.5 times N commits in each. Before the
 * reconciler looked sections up with one descent (it binary-searched
 * through viommu_flatview_section: log n descents a lookup) and found
 * boundaries without the whole array (one copy of every boundary per
 * commit), descents grew 14.1x and steps 96x.
 */
#include <errno.h>
#include <viommu/host.h>
#include <viommu/memory.h>
#include <viommu/reconcile.h>

#include "memory/memory_int.h"
#include "memory/ptree.h"
#include "scenario/scenario.h"
#include "test.h"

#define N 2000
#define LIMIT 10.5

static char host[0x2000] __attribute__((aligned(0x1000)));

struct units {
	uint64_t descents, steps, render, sections, touch, windows, full;
};

static void print_units(const char *what, size_t n, const struct units *u)
{
	printf("%s, %zu commits: %" PRIu64 " descents, %" PRIu64 " steps, %" PRIu64 " regions rendered, %" PRIu64
	       " sections, %" PRIu64 " placement steps, %" PRIu64 " windows, %" PRIu64 " full renders\n", what, n,
	       u->descents, u->steps, u->render, u->sections, u->touch, u->windows, u->full);
}

/*
 * n commits through the engine; each adds one region and checks what it
 * changed. @adjacent: the regions touch and their host memory is
 * contiguous, so the view merges them all into one section and the
 * reconciler cuts host mappings at the region boundaries inside it
 * (viommu_flatview_next_boundary); else one region per 64K slot.
 */
static struct units engine_run(size_t n, bool adjacent)
{
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "system", 0);
	struct viommu_as *as = viommu_as_new(m, "memory", root);
	struct viommu_host *h = viommu_host_sim_new(NULL);
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .policy = VIOMMU_RECON_MINIMAL };
	struct viommu_recon *r = viommu_recon_new(m, as, &ro);
	struct viommu_recon_stats st = { .sz = sizeof(st) };
	struct viommu_recon_report where;
	struct vi_pt_work p0;
	struct vi_memory_work w0;
	struct units u;

	if (!m || !root || !as || !h || !r)
		T_FATAL("setup failed");
	T_EQ(viommu_recon_attach(r, h), 0);
	p0 = vi_pt_work;
	w0 = *vi_memory_work(m);
	for (size_t i = 0; i < n; i++) {
		/* fake host addresses: the simulator never touches the memory */
		void *hp = adjacent ? (void *)(uintptr_t)(UINT64_C(0x100000000000) + i * 0x2000) : host;
		struct viommu_mr *mr = viommu_mr_new_ram(m, "blk", 0x2000, hp);
		uint64_t a = (uint64_t)i * (adjacent ? 0x2000 : 0x10000);

		T_EQ(viommu_mr_add_subregion(root, a, mr, 0), 0);
		T_EQ(viommu_recon_check_range(r, h, a, a + 0x1fff, &where), 0);
	}
	u = (struct units){
		.descents = vi_pt_work.descents - p0.descents, .steps = vi_pt_work.steps - p0.steps,
		.render = vi_memory_work(m)->render - w0.render, .sections = vi_memory_work(m)->sections - w0.sections,
		.touch = vi_memory_work(m)->touch - w0.touch, .windows = vi_memory_work(m)->windows - w0.windows,
		.full = vi_memory_work(m)->full - w0.full,
	};
	/* what the run did, exactly: one host map per commit, all of it right */
	T_EQ(viommu_recon_get_stats(r, h, &st), 0);
	T_EQ_U64(st.map_ops, n);
	T_EQ_U64(st.unmap_ops, 0);
	T_EQ_U64(st.mappings, n);
	T_EQ_U64(st.windows, 0);
	T_EQ(viommu_recon_check(r, h, &where), 0);
	T_EQ(vi_memory_verify(m), 0);
	viommu_recon_free(r);
	viommu_host_free(h);
	viommu_memory_free(m);
	return u;
}

/* `repeat n / ram / add` through the scenario interpreter. */
static struct units scenario_run(size_t n, bool adjacent)
{
	struct vi_scn_opts o = { .policy = -1, .sim_only = true };
	struct vi_scn_result res;
	struct vi_pt_work p0 = vi_pt_work;
	char text[128], err[256];

	snprintf(text, sizeof(text), "repeat %zu\nram r{i} %s\nadd root r{i} {i*%s}\nend\n", n, adjacent ? "8K" : "4K",
		 adjacent ? "8K" : "64K");
	T_EQ(vi_scn_run(text, strlen(text), "linear.scn", &o, &res, err, sizeof(err)), 0);
	T_STREQ(err, "");
	T_EQ_U64(res.commits, n);
	T_EQ_U64(res.checks, n + 1);	/* one per commit and one at the end */
	T_EQ_U64(res.checks_failed, 0);
	T_EQ_U64(res.stats.map_ops, n);
	T_EQ_U64(res.stats.unmap_ops, 0);
	return (struct units){ .descents = vi_pt_work.descents - p0.descents, .steps = vi_pt_work.steps - p0.steps };
}

static void linear(const char *what, uint64_t small, uint64_t big)
{
	double r = small ? (double)big / (double)small : 0;

	printf("  %s: %" PRIu64 " -> %" PRIu64 ", ratio %.2f (limit %.1f)\n", what, small, big, r, LIMIT);
	if (!small)
		T_EQ_U64(big, 0);
	else
		T_OK(r <= LIMIT);
}

int main(void)
{
	for (int adjacent = 0; adjacent < 2; adjacent++) {
		const char *what = adjacent ? "engine, adjacent regions" : "engine, 64K apart";
		struct units e1 = engine_run(N, adjacent), e10 = engine_run(10 * N, adjacent);

		print_units(what, N, &e1);
		print_units(what, 10 * N, &e10);
		linear("descents", e1.descents, e10.descents);
		linear("steps", e1.steps, e10.steps);
		linear("regions rendered", e1.render, e10.render);
		linear("sections written", e1.sections, e10.sections);
		linear("placement steps", e1.touch, e10.touch);
		linear("windows rendered", e1.windows, e10.windows);
		T_EQ_U64(e10.full, e1.full);	/* no commit falls back to a full render */
	}
	for (int adjacent = 0; adjacent < 2; adjacent++) {
		struct units s1 = scenario_run(N, adjacent), s10 = scenario_run(10 * N, adjacent);

		printf("scenario, %s, %d commits: %" PRIu64 " descents, %" PRIu64 " steps; %d: %" PRIu64 ", %" PRIu64 "\n",
		       adjacent ? "8K side by side" : "4K 64K apart", N, s1.descents, s1.steps, 10 * N, s10.descents, s10.steps);
		linear("scenario descents", s1.descents, s10.descents);
		linear("scenario steps", s1.steps, s10.steps);
	}
	return t_done();
}

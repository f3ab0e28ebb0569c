// SPDX-License-Identifier: MIT
/*
 * Costs that memory.h documents, counted (not timed: counts are exact on a
 * shared machine) with the model's work counters (memory_int.h):
 *  - a commit that changes one region of 100,000 does the same work as one
 *    of 1,000: the same regions rendered, sections written and placement
 *    steps, and its diff lists exactly the changed range (issue 14);
 *  - the cycle and depth check finishes each region below the new
 *    subregion once: 4 aliases of one target per level, 12, 16 and 31
 *    levels deep (the shapes of issue 17, which took 0.27 s, 53 s and
 *    forever), and one level too deep is refused;
 *  - rendering such a tree walks each alias target once per placement, not
 *    once per path (4^31 paths);
 *  - a tree whose flat view really is huge is refused with -ENOMEM at the
 *    render limit, leaving the views as they were.
 */
#include <errno.h>
#include <viommu/memory.h>

#include "memory/memory_int.h"
#include "test.h"

static struct viommu_mr_diff g_d[8];
static size_t g_n, g_calls;

static void on_diff(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_diff *d,
		    size_t n)
{
	(void)l;
	(void)as;
	g_calls++;
	g_n = n;
	memcpy(g_d, d, (n < 8 ? n : 8) * sizeof(*d));
}

static char host[0x8000];

struct big {
	struct viommu_memory *m;
	struct viommu_mr *root, **r;
	struct viommu_as *as;
	struct viommu_memory_listener l;
};

/* @n RAM regions of 0x2000 in 64K slots, like bench_memory's machine. */
static void big_build(struct big *b, size_t n)
{
	b->m = viommu_memory_new();
	b->root = viommu_mr_new_container(b->m, "system", UINT64_C(1) << 48);
	b->as = viommu_as_new(b->m, "system", b->root);
	b->r = calloc(n, sizeof(*b->r));
	T_EQ(viommu_memory_begin(b->m), 0);
	for (size_t i = 0; i < n; i++) {
		b->r[i] = viommu_mr_new_ram(b->m, "blk", 0x2000, host);
		T_EQ(viommu_mr_add_subregion(b->root, i * 0x10000, b->r[i], 0), 0);
	}
	T_EQ(viommu_memory_commit(b->m), 0);
	b->l = (struct viommu_memory_listener){ .sz = sizeof(b->l), .as = b->as, .diff = on_diff };
	T_EQ(viommu_memory_listener_register(b->m, &b->l), 0);
}

struct costs {
	uint64_t render, sections, touch, windows, full;
};

static struct costs work_since(const struct viommu_memory *m, const struct costs *before)
{
	const struct vi_memory_work *w = vi_memory_work(m);

	return (struct costs){ w->render - before->render, w->sections - before->sections, w->touch - before->touch,
			       w->windows - before->windows, w->full - before->full };
}

static struct costs work_now(const struct viommu_memory *m)
{
	const struct vi_memory_work *w = vi_memory_work(m);

	return (struct costs){ w->render, w->sections, w->touch, w->windows, w->full };
}

/* One region disabled, moved, resized and enabled at slot @k: each diff exact, each cost recorded. */
static void one_region_changes(struct big *b, size_t k, struct costs out[4])
{
	struct costs c0;
	const uint64_t base = k * 0x10000;

	c0 = work_now(b->m);
	g_calls = 0;
	T_EQ(viommu_mr_set_enabled(b->r[k], false), 0);
	out[0] = work_since(b->m, &c0);
	T_EQ(g_calls, 1);
	T_EQ(g_n, 1);
	T_OK(g_d[0].first == base && g_d[0].last == base + 0x1fff && g_d[0].has_before && !g_d[0].has_after &&
	     g_d[0].changed && g_d[0].before.mr == b->r[k] && g_d[0].before.offset == 0 && g_d[0].before.host == host);

	T_EQ(viommu_mr_set_enabled(b->r[k], true), 0);
	c0 = work_now(b->m);
	T_EQ(viommu_mr_set_address(b->r[k], base + 0x4000), 0);
	out[1] = work_since(b->m, &c0);
	T_EQ(g_n, 2);
	T_OK(g_d[0].first == base && g_d[0].last == base + 0x1fff && g_d[0].has_before && !g_d[0].has_after);
	T_OK(g_d[1].first == base + 0x4000 && g_d[1].last == base + 0x5fff && !g_d[1].has_before && g_d[1].has_after &&
	     g_d[1].after.mr == b->r[k] && g_d[1].after.offset == 0);

	c0 = work_now(b->m);
	T_EQ(viommu_mr_set_size(b->r[k], 0x3000), 0);
	out[2] = work_since(b->m, &c0);
	T_EQ(g_n, 1);
	T_OK(g_d[0].first == base + 0x6000 && g_d[0].last == base + 0x6fff && !g_d[0].has_before &&
	     g_d[0].has_after && g_d[0].after.offset == 0x2000 && g_d[0].after.host == host + 0x2000);

	c0 = work_now(b->m);
	T_EQ(viommu_mr_set_readonly(b->r[k], true), 0);
	out[3] = work_since(b->m, &c0);
	T_EQ(g_n, 1);
	T_OK(g_d[0].first == base + 0x4000 && g_d[0].last == base + 0x6fff && g_d[0].changed &&
	     !g_d[0].before.readonly && g_d[0].after.readonly);
}

static void test_one_region_at_scale(void)
{
	struct big small, huge;
	struct costs cs[4], ch[4];

	big_build(&small, 1000);
	big_build(&huge, 100000);
	one_region_changes(&small, 517, cs);
	one_region_changes(&huge, 51717, ch);
	for (int i = 0; i < 4; i++) {
		printf("change %d: 1,000 regions: %" PRIu64 " rendered, %" PRIu64 " sections, %" PRIu64
		       " placement steps; 100,000: %" PRIu64 ", %" PRIu64 ", %" PRIu64 "\n", i, cs[i].render,
		       cs[i].sections, cs[i].touch, ch[i].render, ch[i].sections, ch[i].touch);
		/* the same work at both sizes, and a handful of units: O(change) */
		T_EQ_U64(ch[i].render, cs[i].render);
		T_EQ_U64(ch[i].sections, cs[i].sections);
		T_EQ_U64(ch[i].touch, cs[i].touch);
		T_OK(ch[i].render <= 8 && ch[i].sections <= 4 && ch[i].full == 0);
	}
	T_EQ(vi_memory_verify(huge.m), 0);
	viommu_memory_free(small.m);
	viommu_memory_free(huge.m);
	free(small.r);
	free(huge.r);
}

/*
 * Level 0 is a RAM region; level k a container holding 4 aliases of level
 * k - 1, all at offset 0 (priorities 0..3). Paths from the top: 4^levels.
 */
static struct viommu_mr *alias_tower(struct viommu_memory *m, int levels, size_t *nregions)
{
	struct viommu_mr *below = viommu_mr_new_ram(m, "ram", 0x1000, host);

	*nregions = 1;
	for (int k = 1; k <= levels; k++) {
		struct viommu_mr *c = viommu_mr_new_container(m, "level", 0x1000);

		++*nregions;
		for (int a = 0; a < 4; a++) {
			struct viommu_mr *al = viommu_mr_new_alias(m, "alias", below, 0, 0x1000);

			T_EQ(viommu_mr_add_subregion(c, 0, al, a), 0);
			++*nregions;
		}
		below = c;
	}
	return below;
}

static void test_alias_tower(int levels, bool fits)
{
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "root", 0x10000);
	struct viommu_as *as = viommu_as_new(m, "as", root);
	size_t nregions;
	struct viommu_mr *top = alias_tower(m, levels, &nregions);
	uint64_t c0 = vi_memory_work(m)->check, r0 = vi_memory_work(m)->render;
	int rc = viommu_mr_add_subregion(root, 0x4000, top, 0);
	uint64_t checked = vi_memory_work(m)->check - c0, rendered = vi_memory_work(m)->render - r0;

	printf("alias tower of %d levels (%zu regions, 4^%d paths): add %d, %" PRIu64 " regions checked, %" PRIu64
	       " rendered\n", levels, nregions, levels, rc, checked, rendered);
	/* each region below the new subregion finished at most once */
	T_OK(checked <= nregions);
	if (!fits) {
		struct viommu_flatview *v = viommu_as_get_flatview(as);

		T_EQ(rc, -ELOOP);
		T_EQ(viommu_flatview_count(v), 0);	/* the view never changed */
		viommu_flatview_put(v);
		T_EQ(viommu_mr_del_subregion(root, top), -ENOENT);	/* the implied commit undid the add */
		viommu_memory_free(m);
		return;
	}
	T_EQ(rc, 0);
	/* each alias target once per placement: the 4 aliases of a level share one */
	T_OK(rendered <= 2 * nregions + 2);
	{
		struct viommu_flatview *v = viommu_as_get_flatview(as);
		const struct viommu_mr_section *s = viommu_flatview_section(v, 0);

		T_EQ(viommu_flatview_count(v), 1);
		T_OK(s && s->first == 0x4000 && s->last == 0x4fff && s->host == host);
		viommu_flatview_put(v);
	}
	T_EQ(vi_memory_verify(m), 0);
	viommu_memory_free(m);
}

/*
 * Level k holds two aliases of level k - 1 side by side: the flat view has
 * 2^levels sections (each a window of the same RAM at offset 0, so none
 * merge). Over the render limit the commit fails with -ENOMEM and nothing
 * changes.
 */
static void test_render_limit(void)
{
	struct viommu_memory *m = viommu_memory_new();
	struct viommu_mr *root = viommu_mr_new_container(m, "root", UINT64_C(1) << 40);
	struct viommu_as *as = viommu_as_new(m, "as", root);
	struct viommu_mr *below = viommu_mr_new_ram(m, "ram", 0x1000, host), *keep;
	uint64_t size = 0x1000, gen;

	keep = viommu_mr_new_ram(m, "keep", 0x1000, host);
	T_EQ(viommu_mr_add_subregion(root, 0, keep, 0), 0);
	for (int k = 1; k <= 12; k++) {
		struct viommu_mr *c = viommu_mr_new_container(m, "level", 2 * size);

		T_EQ(viommu_mr_add_subregion(c, 0, viommu_mr_new_alias(m, "lo", below, 0, size), 0), 0);
		T_EQ(viommu_mr_add_subregion(c, size, viommu_mr_new_alias(m, "hi", below, 0, size), 0), 0);
		below = c;
		size *= 2;
	}
	m->render_limit = 1000;	/* 4,096 pieces will not fit */
	gen = viommu_memory_generation(m);
	T_EQ(viommu_mr_add_subregion(root, size, below, 0), -ENOMEM);
	T_EQ_U64(viommu_memory_generation(m), gen);
	T_EQ(viommu_mr_del_subregion(root, below), -ENOENT);	/* the implied commit undid the add */
	{
		struct viommu_flatview *v = viommu_as_get_flatview(as);

		T_EQ(viommu_flatview_count(v), 1);
		viommu_flatview_put(v);
	}
	m->render_limit = 0;	/* the default */
	T_EQ(viommu_mr_add_subregion(root, size, below, 0), 0);
	{
		struct viommu_flatview *v = viommu_as_get_flatview(as);

		T_EQ(viommu_flatview_count(v), 4097);
		viommu_flatview_put(v);
	}
	T_EQ(vi_memory_verify(m), 0);
	viommu_memory_free(m);
}

int main(void)
{
	test_one_region_at_scale();
	test_alias_tower(12, true);
	test_alias_tower(16, true);
	test_alias_tower(31, true);
	test_alias_tower(32, false);	/* 2 * 32 + 1 levels under the root: one too many */
	test_render_limit();
	return t_done();
}

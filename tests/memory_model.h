/* SPDX-License-Identifier: MIT */
/*
 * A trivially correct model of the memory API for the randomised test and the
 * fuzz target: a mirror of the region tree, and a per-page visibility query
 * written straight from QEMU's "Visibility" rules (memory.rst, docs/reference.md
 * §4): subregions searched in descending priority (newest first among
 * equals), aliases followed, a non-container answering for the holes its
 * subregions leave. Nothing here shares code with src/memory/.
 *
 * The includer defines MM_CHECK(cond) (a test assertion or FZ_CHECK).
 * Every address and size is a whole number of MM_PAGE pages.
 */
#ifndef VIOMMU_MEMORY_MODEL_H
#define VIOMMU_MEMORY_MODEL_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <viommu/memory.h>

#include "memory/memory_int.h"	/* vi_memory_verify: the incremental render against a full one */

#define MM_PAGE 0x1000u
#define MM_MAXN 24
#define MM_MAX_SIZE 256		/* pages per region */
#define MM_HOST_PAGES 512	/* the host buffer RAM regions point into */
#define MM_LIB 2		/* the never-attached library container */

struct mm_node {
	struct viommu_mr *mr;
	int kind;
	uint64_t size;		/* pages */
	int parent;		/* -1: detached */
	uint64_t addr;		/* pages */
	int prio;
	uint64_t seq;		/* order of (re)insertion: higher is newer */
	bool enabled, ro, unm;
	int target;		/* alias */
	uint64_t aoff;		/* alias offset, pages */
	uint64_t host;		/* RAM: page of the host buffer */
	bool has_as;		/* an address-space root: cannot be freed */
};

/* What one page translates to. */
struct mm_tr {
	bool present;
	int kind;
	bool ro, unm;
	const struct viommu_mr *mr;
	uint64_t off;		/* byte offset in mr */
	uintptr_t host;		/* RAM: host address */
};

struct mm_model {
	struct viommu_memory *m;
	struct viommu_as *as;
	struct viommu_as *as2;	/* a second space rooted at node 1, which may sit inside node 0 */
	struct mm_tr *cur2;
	struct mm_node n[MM_MAXN];
	bool used[MM_MAXN];
	uint64_t pages;		/* size of the root container */
	uint64_t seq;
	char *hostbuf;
	struct mm_tr *cur;	/* per page, as of the last commit */
	struct mm_tr *prev;
	struct mm_tr *shadow;	/* what the QEMU-style listener was told */
	bool in_txn;
	unsigned long commits, diffs_seen;
	/* the diff of the last notification */
	struct viommu_mr_diff *d;
	size_t nd;
	bool got_diff;
	struct viommu_memory_listener ldiff, lqemu;
	struct vi_memory_work work;	/* counters at the last budget check */
	unsigned ops_since_commit;
};

static inline bool mm_tr_same(const struct mm_tr *a, const struct mm_tr *b)
{
	if (a->present != b->present)
		return false;
	if (!a->present)
		return true;
	if (a->kind != b->kind || a->ro != b->ro)
		return false;
	if (a->kind == VIOMMU_MR_RAM || a->kind == VIOMMU_MR_RAM_DEVICE)
		return a->host == b->host;
	return a->mr == b->mr && a->off == b->off;
}

/* The same region at the same offset with the same flags: nothing a listener could tell apart. */
static inline bool mm_tr_identical(const struct mm_tr *a, const struct mm_tr *b)
{
	if (a->present != b->present)
		return false;
	return !a->present || (a->kind == b->kind && a->ro == b->ro && a->unm == b->unm && a->mr == b->mr &&
			       a->off == b->off && a->host == b->host);
}

static inline struct mm_tr mm_tr_of_section(const struct viommu_mr_section *s, uint64_t addr)
{
	struct mm_tr t = { .present = true, .kind = (int)s->kind, .ro = s->readonly, .unm = s->unmergeable,
			   .mr = s->mr, .off = s->offset + (addr - s->first) };

	if (s->host)
		t.host = (uintptr_t)s->host + (uintptr_t)(addr - s->first);
	return t;
}

/* Each node's subregions by descending (priority, seq): the order QEMU searches them. */
struct mm_order {
	int kids[MM_MAXN][MM_MAXN];
	int nk[MM_MAXN];
};

static void mm_build_order(const struct mm_model *mm, struct mm_order *o)
{
	memset(o->nk, 0, sizeof(o->nk));
	for (int c = 0; c < MM_MAXN; c++) {
		int p = mm->n[c].parent, k;

		if (!mm->used[c] || p < 0)
			continue;
		/* insertion sort */
		for (k = o->nk[p]; k > 0; k--) {
			const struct mm_node *y = &mm->n[o->kids[p][k - 1]];

			if (y->prio > mm->n[c].prio || (y->prio == mm->n[c].prio && y->seq > mm->n[c].seq))
				break;
			o->kids[p][k] = o->kids[p][k - 1];
		}
		o->kids[p][k] = c;
		o->nk[p]++;
	}
}

static struct mm_tr mm_visible(const struct mm_model *mm, const struct mm_order *o, int i, uint64_t off, bool ro,
			       bool unm)
{
	const struct mm_node *x = &mm->n[i];
	struct mm_tr none = { 0 };

	if (!x->enabled || off >= x->size)
		return none;
	ro |= x->ro;
	unm |= x->unm;
	if (x->kind == VIOMMU_MR_ALIAS)
		return mm_visible(mm, o, x->target, off + x->aoff, ro, unm);
	for (int k = 0; k < o->nk[i]; k++) {
		const struct mm_node *y = &mm->n[o->kids[i][k]];

		if (off >= y->addr && off - y->addr < y->size) {
			struct mm_tr r = mm_visible(mm, o, o->kids[i][k], off - y->addr, ro, unm);

			if (r.present)
				return r;
		}
	}
	if (x->kind == VIOMMU_MR_CONTAINER)
		return none;
	struct mm_tr t = { .present = true, .kind = x->kind, .ro = ro, .unm = unm, .mr = x->mr,
			   .off = off * MM_PAGE };
	if (x->kind == VIOMMU_MR_RAM || x->kind == VIOMMU_MR_RAM_DEVICE)
		t.host = (uintptr_t)mm->hostbuf + (uintptr_t)((x->host + off) * MM_PAGE);
	return t;
}

static void mm_render_model(const struct mm_model *mm, int root, struct mm_tr *out)
{
	static struct mm_order o;

	mm_build_order(mm, &o);
	for (uint64_t p = 0; p < mm->pages; p++)
		out[p] = mm_visible(mm, &o, root, p, false, false);
}

/* ---- listeners that check the diff against the model ---- */

static void mm_on_diff(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_diff *d,
		       size_t n)
{
	struct mm_model *mm = l->opaque;

	(void)as;
	free(mm->d);
	mm->d = malloc((n ? n : 1) * sizeof(*d));
	MM_CHECK(mm->d != NULL);
	memcpy(mm->d, d, n * sizeof(*d));
	mm->nd = n;
	mm->got_diff = true;
}

static void mm_on_del(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_section *s)
{
	struct mm_model *mm = l->opaque;

	(void)as;
	MM_CHECK(s->first % MM_PAGE == 0 && (s->last + 1) % MM_PAGE == 0);
	for (uint64_t a = s->first; a <= s->last && a / MM_PAGE < mm->pages; a += MM_PAGE) {
		struct mm_tr t = mm_tr_of_section(s, a);

		MM_CHECK(mm_tr_same(&mm->shadow[a / MM_PAGE], &t));	/* deleting what it was told */
		mm->shadow[a / MM_PAGE].present = false;
	}
}

static void mm_on_add(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_section *s)
{
	struct mm_model *mm = l->opaque;

	(void)as;
	MM_CHECK(s->first % MM_PAGE == 0 && (s->last + 1) % MM_PAGE == 0);
	for (uint64_t a = s->first; a <= s->last && a / MM_PAGE < mm->pages; a += MM_PAGE) {
		MM_CHECK(!mm->shadow[a / MM_PAGE].present);	/* the delete pass ran first */
		mm->shadow[a / MM_PAGE] = mm_tr_of_section(s, a);
	}
}

static void mm_on_nop(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_section *s)
{
	struct mm_model *mm = l->opaque;

	(void)as;
	for (uint64_t a = s->first; a <= s->last && a / MM_PAGE < mm->pages; a += MM_PAGE) {
		struct mm_tr t = mm_tr_of_section(s, a);

		MM_CHECK(mm_tr_same(&mm->shadow[a / MM_PAGE], &t));
		mm->shadow[a / MM_PAGE] = t;
	}
}

/* ---- setup ---- */

static int mm_init(struct mm_model *mm, uint64_t pages)
{
	memset(mm, 0, sizeof(*mm));
	mm->pages = pages;
	mm->hostbuf = malloc((size_t)MM_HOST_PAGES * MM_PAGE + MM_MAX_SIZE * MM_PAGE);
	mm->cur = calloc(pages, sizeof(struct mm_tr));
	mm->prev = calloc(pages, sizeof(struct mm_tr));
	mm->shadow = calloc(pages, sizeof(struct mm_tr));
	mm->cur2 = calloc(pages, sizeof(struct mm_tr));
	mm->m = viommu_memory_new();
	if (!mm->hostbuf || !mm->cur || !mm->prev || !mm->shadow || !mm->cur2 || !mm->m)
		return -1;
	mm->n[0] = (struct mm_node){ .kind = VIOMMU_MR_CONTAINER, .size = pages, .parent = -1, .enabled = true };
	mm->n[0].mr = viommu_mr_new_container(mm->m, "root", pages * MM_PAGE);
	mm->used[0] = true;
	mm->n[0].has_as = true;
	mm->as = viommu_as_new(mm->m, "as", mm->n[0].mr);
	mm->n[1] = (struct mm_node){ .kind = VIOMMU_MR_CONTAINER, .size = pages, .parent = -1, .enabled = true,
				     .has_as = true };
	mm->n[1].mr = viommu_mr_new_container(mm->m, "root2", pages * MM_PAGE);
	mm->used[1] = true;
	mm->as2 = viommu_as_new(mm->m, "as2", mm->n[1].mr);
	/* A "library" container that is never attached: only aliases make its contents visible. */
	mm->n[2] = (struct mm_node){ .kind = VIOMMU_MR_CONTAINER, .size = MM_MAX_SIZE, .parent = -1,
				     .enabled = true, .target = -1 };
	mm->n[2].mr = viommu_mr_new_container(mm->m, "lib", MM_MAX_SIZE * MM_PAGE);
	mm->used[2] = true;
	if (!mm->n[0].mr || !mm->as || !mm->n[1].mr || !mm->as2 || !mm->n[2].mr)
		return -1;
	mm->ldiff = (struct viommu_memory_listener){ .sz = sizeof(mm->ldiff), .as = mm->as, .opaque = mm,
						     .diff = mm_on_diff };
	mm->lqemu = (struct viommu_memory_listener){ .sz = sizeof(mm->lqemu), .as = mm->as, .opaque = mm, .priority = 1,
						     .region_add = mm_on_add, .region_del = mm_on_del,
						     .region_nop = mm_on_nop };
	if (viommu_memory_listener_register(mm->m, &mm->ldiff) || viommu_memory_listener_register(mm->m, &mm->lqemu))
		return -1;
	mm->work = *vi_memory_work(mm->m);
	return 0;
}

static void mm_fini(struct mm_model *mm)
{
	viommu_memory_free(mm->m);
	free(mm->hostbuf);
	free(mm->cur);
	free(mm->prev);
	free(mm->shadow);
	free(mm->cur2);
	free(mm->d);
}

/* ---- operations: each applies to the library and the mirror, checking the result ---- */

static bool mm_reaches(const struct mm_model *mm, int from, int needle)
{
	if (from == needle)
		return true;
	if (mm->n[from].kind == VIOMMU_MR_ALIAS)
		return mm_reaches(mm, mm->n[from].target, needle);
	for (int c = 0; c < MM_MAXN; c++)
		if (mm->used[c] && mm->n[c].parent == from && mm_reaches(mm, c, needle))
			return true;
	return false;
}

static int mm_free_slot(const struct mm_model *mm)
{
	for (int i = 1; i < MM_MAXN; i++)
		if (!mm->used[i])
			return i;
	return -1;
}

/* Create a region of @kind (a random pick is the caller's). */
static void mm_op_create(struct mm_model *mm, int kind, uint64_t size, uint64_t aux, int target, uint64_t aoff)
{
	int i = mm_free_slot(mm);
	struct mm_node x = { .kind = kind, .size = size, .parent = -1, .enabled = true, .target = -1 };
	char name[16];

	if (i < 0)
		return;
	snprintf(name, sizeof(name), "r%d", i);
	switch (kind) {
	case VIOMMU_MR_RAM:
	case VIOMMU_MR_RAM_DEVICE:
		x.host = aux % MM_HOST_PAGES;
		x.mr = (kind == VIOMMU_MR_RAM ? viommu_mr_new_ram : viommu_mr_new_ram_device)(
			mm->m, name, size * MM_PAGE, mm->hostbuf + x.host * MM_PAGE);
		break;
	case VIOMMU_MR_MMIO:
		x.mr = viommu_mr_new_mmio(mm->m, name, size * MM_PAGE, NULL, NULL);
		break;
	case VIOMMU_MR_CONTAINER:
		x.mr = viommu_mr_new_container(mm->m, name, size * MM_PAGE);
		break;
	case VIOMMU_MR_ALIAS:
		if (!mm->used[target])
			return;
		x.target = target;
		x.aoff = aoff;
		x.mr = viommu_mr_new_alias(mm->m, name, mm->n[target].mr, aoff * MM_PAGE, size * MM_PAGE);
		if (aoff + size > mm->n[target].size) {
			MM_CHECK(x.mr == NULL && errno == EINVAL);
			return;
		}
		break;
	default:
		return;
	}
	MM_CHECK(x.mr != NULL);
	mm->n[i] = x;
	mm->used[i] = true;
}

static bool mm_has_users(const struct mm_model *mm, int i)
{
	for (int c = 0; c < MM_MAXN; c++)
		if (mm->used[c] && (mm->n[c].parent == i || (mm->n[c].kind == VIOMMU_MR_ALIAS && mm->n[c].target == i)))
			return true;
	return false;
}

static void mm_op_free(struct mm_model *mm, int i)
{
	if (i == 0 || i == MM_LIB || !mm->used[i])
		return;
	int r = viommu_mr_free(mm->n[i].mr);
	if (mm->n[i].parent >= 0 || mm_has_users(mm, i) || mm->n[i].has_as) {
		MM_CHECK(r == -EBUSY);
		return;
	}
	MM_CHECK(r == 0);
	mm->used[i] = false;
}

static void mm_op_add(struct mm_model *mm, int parent, int sub, uint64_t addr, int prio)
{
	if (!mm->used[parent] || !mm->used[sub] || sub == 0 || sub == MM_LIB)
		return;
	int r = viommu_mr_add_subregion(mm->n[parent].mr, addr * MM_PAGE, mm->n[sub].mr, prio);
	if (mm->n[parent].kind == VIOMMU_MR_ALIAS) {
		MM_CHECK(r == -EINVAL);
		return;
	}
	if (mm->n[sub].parent >= 0) {
		MM_CHECK(r == -EBUSY);
		return;
	}
	if (mm_reaches(mm, sub, parent)) {
		MM_CHECK(r == -ELOOP);
		return;
	}
	MM_CHECK(r == 0);
	mm->n[sub].parent = parent;
	mm->n[sub].addr = addr;
	mm->n[sub].prio = prio;
	mm->n[sub].seq = ++mm->seq;
}

static void mm_op_del(struct mm_model *mm, int sub)
{
	if (!mm->used[sub] || sub == 0)
		return;
	int parent = mm->n[sub].parent;
	int r = viommu_mr_del_subregion(parent >= 0 ? mm->n[parent].mr : mm->n[0].mr, mm->n[sub].mr);
	if (parent < 0) {
		MM_CHECK(r == -ENOENT);
		return;
	}
	MM_CHECK(r == 0);
	mm->n[sub].parent = -1;
}

static void mm_op_flag(struct mm_model *mm, int i, int which, bool v)
{
	int r;

	if (!mm->used[i])
		return;
	switch (which) {
	case 0:
		r = viommu_mr_set_enabled(mm->n[i].mr, v);
		mm->n[i].enabled = v;
		break;
	case 1:
		r = viommu_mr_set_readonly(mm->n[i].mr, v);
		mm->n[i].ro = v;
		break;
	default:
		r = viommu_mr_set_unmergeable(mm->n[i].mr, v);
		mm->n[i].unm = v;
		break;
	}
	MM_CHECK(r == 0);
}

static void mm_op_resize(struct mm_model *mm, int i, uint64_t size)
{
	if (!mm->used[i] || i == 0)
		return;
	int r = viommu_mr_set_size(mm->n[i].mr, size * MM_PAGE);
	if (mm->n[i].kind == VIOMMU_MR_ALIAS && mm->n[i].aoff + size > mm->n[mm->n[i].target].size) {
		MM_CHECK(r == -EINVAL);
		return;
	}
	MM_CHECK(r == 0);
	mm->n[i].size = size;
}

static void mm_op_move(struct mm_model *mm, int i, uint64_t addr)
{
	if (!mm->used[i] || i == 0)
		return;
	MM_CHECK(viommu_mr_set_address(mm->n[i].mr, addr * MM_PAGE) == 0);
	mm->n[i].addr = addr;
	if (mm->n[i].parent >= 0)
		mm->n[i].seq = ++mm->seq;
}

static void mm_op_alias_offset(struct mm_model *mm, int i, uint64_t aoff)
{
	if (!mm->used[i])
		return;
	int r = viommu_mr_set_alias_offset(mm->n[i].mr, aoff * MM_PAGE);
	if (mm->n[i].kind != VIOMMU_MR_ALIAS || aoff + mm->n[i].size > mm->n[mm->n[i].target].size) {
		MM_CHECK(r == -EINVAL);
		return;
	}
	MM_CHECK(r == 0);
	mm->n[i].aoff = aoff;
}

static void mm_op_rename(struct mm_model *mm, int i, unsigned tag)
{
	char name[24];

	if (!mm->used[i])
		return;
	snprintf(name, sizeof(name), "renamed%u", tag);
	MM_CHECK(viommu_mr_set_name(mm->n[i].mr, name) == 0);
	MM_CHECK(strcmp(viommu_mr_name(mm->n[i].mr), name) == 0);
}

/* ---- cost budgets: the library's work counters against bounds memory.h documents ---- */

struct mm_pl {
	int node;
	uint64_t delta, first, last;	/* pages */
	unsigned depth;
};

/*
 * The distinct placements (region, absolute position, window, depth) a
 * full render of @root can enter, collected in a set (a linear search:
 * fine for MM_MAXN regions). A render enters each of them at most once per
 * window (memory.h), however many alias paths lead there. Returns the
 * count, or SIZE_MAX if over @cap.
 */
static size_t mm_visit(const struct mm_model *mm, const struct mm_order *o, struct mm_pl *set, size_t *n, size_t cap,
		       int i, uint64_t delta, uint64_t f, uint64_t l, unsigned depth)
{
	const struct mm_node *x = &mm->n[i];

	if (*n == SIZE_MAX || depth > VIOMMU_MEMORY_MAX_DEPTH || f >= x->size)
		return *n;
	if (l > x->size - 1)
		l = x->size - 1;
	for (size_t k = 0; k < *n; k++)
		if (set[k].node == i && set[k].delta == delta && set[k].first == f && set[k].last == l &&
		    set[k].depth == depth)
			return *n;	/* already entered: the render does not enter it again */
	if (*n == cap) {
		*n = SIZE_MAX;
		return *n;
	}
	set[(*n)++] = (struct mm_pl){ i, delta, f, l, depth };
	if (!x->enabled)
		return *n;
	if (x->kind == VIOMMU_MR_ALIAS)
		return mm_visit(mm, o, set, n, cap, x->target, delta - x->aoff, f + x->aoff, l + x->aoff, depth + 1);
	for (int k = 0; k < o->nk[i]; k++) {
		const struct mm_node *c = &mm->n[o->kids[i][k]];
		uint64_t cf = c->addr > f ? c->addr : f, cl = c->addr + c->size - 1 < l ? c->addr + c->size - 1 : l;

		if (cf <= cl)
			mm_visit(mm, o, set, n, cap, o->kids[i][k], delta + c->addr, cf - c->addr, cl - c->addr, depth + 1);
	}
	return *n;
}

static size_t mm_placements(const struct mm_model *mm, int root)
{
	static struct mm_order o;
	static struct mm_pl set[4096];
	size_t n = 0;

	mm_build_order(mm, &o);
	mm_visit(mm, &o, set, &n, sizeof(set) / sizeof(set[0]), root, 0, 0, mm->pages - 1, 0);
	return n;
}

static int mm_regions(const struct mm_model *mm)
{
	int n = 0;

	for (int i = 0; i < MM_MAXN; i++)
		n += mm->used[i];
	return n;
}

/* Work since the last budget check, against the bounds: see mm_budget_after_op / _commit. */
static struct vi_memory_work mm_work_delta(struct mm_model *mm)
{
	const struct vi_memory_work *w = vi_memory_work(mm->m);
	struct vi_memory_work d = {
		.check = w->check - mm->work.check, .touch = w->touch - mm->work.touch,
		.render = w->render - mm->work.render, .windows = w->windows - mm->work.windows,
		.full = w->full - mm->work.full, .sections = w->sections - mm->work.sections,
	};

	mm->work = *w;
	return d;
}

/*
 * After one operation: the cycle and depth check finished each region at
 * most once (linear in the regions below the new subregion), and the
 * placement walk stayed within its documented budget per mutation.
 */
static void mm_budget_after_op(struct mm_model *mm, unsigned mutations)
{
	const struct vi_memory_work *w = vi_memory_work(mm->m);

	MM_CHECK(w->check - mm->work.check <= (uint64_t)mm_regions(mm));
	MM_CHECK(w->touch - mm->work.touch <= (uint64_t)mutations * 2 * 1024);
	mm->work.check = w->check;
	mm->work.touch = w->touch;
}

/*
 * After a commit: every render entered at most one region per distinct
 * placement per window (so alias paths never multiply the work), and each
 * window or full render wrote at most as many sections as the view has.
 */
static void mm_budget_after_commit(struct mm_model *mm)
{
	struct vi_memory_work d = mm_work_delta(mm);
	size_t p = mm_placements(mm, 0), p2 = mm_placements(mm, 1);

	if (p == SIZE_MAX || p2 == SIZE_MAX)
		return;		/* too many to enumerate here: the bound is not checked */
	MM_CHECK(d.render <= (d.windows + d.full) * (p + p2 + 1));
	MM_CHECK(d.sections <= (d.windows + d.full) * (uint64_t)(mm->pages + 1));
}

/*
 * After a commit: the flat view equals the model page by page, is sorted,
 * disjoint and merged; the diff took the old view to the new one and marked
 * exactly the pages whose translation changed; the QEMU-style listener's
 * shadow equals the new state.
 */
static void mm_check_commit(struct mm_model *mm)
{
	struct mm_tr *t = mm->prev;
	struct viommu_flatview *v = viommu_as_get_flatview(mm->as);
	size_t nsec = viommu_flatview_count(v);
	uint64_t p = 0;

	mm->prev = mm->cur;
	mm->cur = t;
	mm_render_model(mm, 0, mm->cur);
	mm->commits++;

	/* The second space: its view alone, page by page. */
	{
		struct viommu_flatview *v2 = viommu_as_get_flatview(mm->as2);
		uint64_t q = 0;

		mm_render_model(mm, 1, mm->cur2);
		for (size_t i = 0; i < viommu_flatview_count(v2); i++) {
			const struct viommu_mr_section *s = viommu_flatview_section(v2, i);

			MM_CHECK(s->last / MM_PAGE < mm->pages);
			for (; q < s->first / MM_PAGE; q++)
				MM_CHECK(!mm->cur2[q].present);
			for (; q <= s->last / MM_PAGE; q++) {
				struct mm_tr x = mm_tr_of_section(s, q * MM_PAGE);

				MM_CHECK(mm_tr_same(&mm->cur2[q], &x));
			}
		}
		for (; q < mm->pages; q++)
			MM_CHECK(!mm->cur2[q].present);
		viommu_flatview_put(v2);
	}

	for (size_t i = 0; i < nsec; i++) {
		const struct viommu_mr_section *s = viommu_flatview_section(v, i);

		MM_CHECK(s->first <= s->last && s->first % MM_PAGE == 0 && (s->last + 1) % MM_PAGE == 0);
		MM_CHECK(s->last / MM_PAGE < mm->pages);
		MM_CHECK(s->kind != VIOMMU_MR_ALIAS && s->kind != VIOMMU_MR_CONTAINER);
		if (i) {
			const struct viommu_mr_section *q = viommu_flatview_section(v, i - 1);

			MM_CHECK(q->last < s->first);
			/* Maximal merging: a mergeable neighbour of the same region at contiguous offsets is one range. */
			MM_CHECK(!(q->last + 1 == s->first && q->mr == s->mr && q->readonly == s->readonly &&
				   !q->unmergeable && !s->unmergeable && q->offset + (q->last - q->first) + 1 == s->offset));
		}
		for (; p < s->first / MM_PAGE; p++)
			MM_CHECK(!mm->cur[p].present);
		for (; p <= s->last / MM_PAGE; p++) {
			struct mm_tr x = mm_tr_of_section(s, p * MM_PAGE);

			MM_CHECK(mm_tr_same(&mm->cur[p], &x));
			MM_CHECK(mm->cur[p].unm == x.unm);
			MM_CHECK(viommu_flatview_lookup(v, p * MM_PAGE + (p & 0xfff)) == s);
		}
	}
	for (; p < mm->pages; p++) {
		MM_CHECK(!mm->cur[p].present);
		MM_CHECK(viommu_flatview_lookup(v, p * MM_PAGE) == NULL);
	}
	viommu_flatview_put(v);

	/*
	 * The diff (absent if no byte changed): it lists exactly the pages
	 * whose region, offset or flags changed, with both sides right, and
	 * calls a change exactly those whose translation changed.
	 */
	if (mm->got_diff) {
		uint64_t next = 0;

		mm->diffs_seen++;
		MM_CHECK(mm->nd > 0);
		for (size_t i = 0; i < mm->nd; i++) {
			const struct viommu_mr_diff *e = &mm->d[i];

			MM_CHECK(e->has_before || e->has_after);
			MM_CHECK(e->first <= e->last && (i == 0 || mm->d[i - 1].last < e->first));
			for (; next < e->first / MM_PAGE; next++)	/* not listed: nothing changed */
				MM_CHECK(mm_tr_identical(&mm->prev[next], &mm->cur[next]));
			for (uint64_t a = e->first; a <= e->last; a += MM_PAGE, next++) {
				struct mm_tr o = { 0 }, nw = { 0 };

				if (e->has_before)
					o = mm_tr_of_section(&e->before, a);
				if (e->has_after)
					nw = mm_tr_of_section(&e->after, a);
				MM_CHECK(mm_tr_identical(&o, &mm->prev[a / MM_PAGE]));
				MM_CHECK(mm_tr_identical(&nw, &mm->cur[a / MM_PAGE]));
				MM_CHECK(!mm_tr_identical(&o, &nw));
				MM_CHECK(e->changed == !mm_tr_same(&o, &nw));
			}
		}
		for (; next < mm->pages; next++)
			MM_CHECK(mm_tr_identical(&mm->prev[next], &mm->cur[next]));
	} else {
		for (uint64_t q = 0; q < mm->pages; q++)
			MM_CHECK(mm_tr_identical(&mm->prev[q], &mm->cur[q]));
	}
	/* The incremental render equals a full one, section for section and boundary for boundary. */
	MM_CHECK(vi_memory_verify(mm->m) == 0);
	MM_CHECK(vi_memory_work(mm->m)->fallbacks == 0);
	mm_budget_after_commit(mm);
	mm->got_diff = false;
	for (uint64_t q = 0; q < mm->pages; q++)
		MM_CHECK(mm_tr_same(&mm->shadow[q], &mm->cur[q]));
}

/* Begin/commit wrappers that keep the model's per-commit checks in step. */
static void mm_begin(struct mm_model *mm)
{
	MM_CHECK(viommu_memory_begin(mm->m) == 0);
	mm->in_txn = true;
}

static void mm_commit(struct mm_model *mm)
{
	MM_CHECK(viommu_memory_commit(mm->m) == 0);
	mm->in_txn = false;
	mm_check_commit(mm);
}

/* The (x mod count)-th region in use, so random operations rarely miss. */
static int mm_pick(const struct mm_model *mm, uint64_t x)
{
	int cnt = 0;

	for (int i = 0; i < MM_MAXN; i++)
		cnt += mm->used[i];
	x %= (uint64_t)cnt;
	for (int i = 0; i < MM_MAXN; i++)
		if (mm->used[i] && x-- == 0)
			return i;
	return 0;
}

/* Prefer a detached region (other than the root) for adding, else @dflt. */
static int mm_pick_detached(const struct mm_model *mm, uint64_t x, int dflt)
{
	int cnt = 0;

	for (int i = 1; i < MM_MAXN; i++)
		cnt += mm->used[i] && mm->n[i].parent < 0 && i != MM_LIB;
	if (!cnt || x % 8 == 0)
		return dflt;
	x = (x >> 3) % (uint64_t)cnt;
	for (int i = 1; i < MM_MAXN; i++)
		if (mm->used[i] && mm->n[i].parent < 0 && i != MM_LIB && x-- == 0)
			return i;
	return dflt;
}

/* One random operation from @r (0..255 selects, the rest are arguments). */
static void mm_random_op(struct mm_model *mm, uint32_t sel, uint64_t a, uint64_t b, uint64_t c)
{
	int i = mm_pick(mm, a), j = mm_pick(mm, b);
	uint64_t size = 1 + c % MM_MAX_SIZE;

	switch (sel % 16) {
	case 0: case 1: {
		static const int kinds[] = { VIOMMU_MR_RAM, VIOMMU_MR_RAM, VIOMMU_MR_RAM_DEVICE, VIOMMU_MR_MMIO,
					     VIOMMU_MR_ALIAS, VIOMMU_MR_ALIAS, VIOMMU_MR_CONTAINER,
					     VIOMMU_MR_CONTAINER };
		int k = kinds[(a >> 8) % 8];
		uint64_t aoff = (c >> 8) % MM_MAX_SIZE;

		if (k == VIOMMU_MR_CONTAINER)
			size = 1 + c % (2 * MM_MAX_SIZE);
		if (k == VIOMMU_MR_ALIAS && (b >> 4) % 2 == 0)
			j = MM_LIB;	/* windows into the library */
		mm_op_create(mm, k, size, b >> 8, j, aoff);
		break;
	}
	case 2: case 3: case 4: case 5:
		i = mm_pick_detached(mm, a, i);
		mm_op_add(mm, (b >> 8) % 2 == 0 ? 0 : (b >> 8) % 4 == 1 ? MM_LIB : j, i,
			  (c >> 8) % (mm->pages + 8), (int)((c >> 20) % 5) - 2);
		break;
	case 6:
		mm_op_del(mm, i);
		break;
	case 7: case 8:
		if (i || b % 3)
			mm_op_flag(mm, i, (int)(b % 3), (c & 1) == 0);
		break;
	case 9:
		mm_op_resize(mm, i, size);
		break;
	case 10: case 11:
		mm_op_move(mm, i, (c >> 8) % (mm->pages + 8));
		break;
	case 12:
		mm_op_alias_offset(mm, i, c % MM_MAX_SIZE);
		break;
	case 13:
		mm_op_rename(mm, i, (unsigned)c);
		break;
	case 14:
		mm_op_del(mm, i);
		mm_op_free(mm, i);
		break;
	default:
		/* Disabled regions hide much: re-enable more often than disable, the root rarely. */
		if (i)
			mm_op_flag(mm, i, 0, !mm->n[i].enabled || c % 3 == 0);
		else
			mm_op_flag(mm, 0, 0, c % 16 != 0);
		break;
	}
	mm_budget_after_op(mm, 2);
}

#endif

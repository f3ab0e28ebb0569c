// SPDX-License-Identifier: MIT
/*
 * Flat-view rendering, the incremental commit, and the diff.
 *
 * Rendering an address window [first, last] is two passes. (1) A
 * depth-first walk of the region tree, restricted to the window, visits the
 * subregions that overlap it in precedence order (highest priority first,
 * newest first among equals; found through each region's children index),
 * a non-container's own backing after its subregions, and follows aliases;
 * every visible piece of a terminal region becomes an "occurrence" clipped
 * by all its ancestors and the window, numbered in visit order. Lower
 * numbers win: the visit order is exactly QEMU's precedence (a
 * higher-priority subtree is searched first and lower ones show through its
 * holes). (2) A sweep over the occurrences sorted by start address keeps
 * the live ones in a min-heap by number; at each point the heap's top is
 * visible. A window of the whole space is a full render: O(P log P) for P
 * occurrences where QEMU's painter is O(P^2).
 *
 * A commit renders only the windows its changes reached (memory.c records
 * them), each widened by one byte on both sides (a margin whose content did
 * not change), and splices the result into the persistent trees of the old
 * view (ptree.h): the sections overlapping the window are replaced, and a
 * section that crossed a margin continues across it (the margin byte shows
 * the same occurrence before and after, so the old section and the new
 * piece at the margin are one range). The boundaries strictly inside the
 * window are replaced the same way. The result is section for section and
 * boundary for boundary what a full render gives (vi_memory_verify checks
 * it in the tests), at a cost proportional to the window's contents.
 */
#include <stdlib.h>
#include <string.h>

#include "memory/memory_int.h"
#include "util/compiler.h"
#include "util/log.h"

struct vi_occ {
	uint64_t first, last;	/* absolute, closed */
	uint64_t offset;	/* offset in mr of first */
	uint64_t rank;
	const struct viommu_mr *mr;
	void *host;		/* mr's, read while the walk has it in cache (the sweep runs in another order) */
	enum viommu_mr_kind kind;
	bool ro, unm;
};

struct vi_render {
	struct vi_scratch *sc;
	struct vi_memory_work *w;
	size_t limit;		/* occurrences; boundaries may be twice as many */
	size_t n;		/* occurrences */
	size_t nk;		/* children on the path, sc->kids */
	uint64_t rank;
	size_t nbounds;
	int err;
};

/*
 * Aliases can multiply pieces (every path through the tree renders); refuse
 * (ENOMEM) rather than exhaust memory or time on a pathological tree.
 */
#define VI_RENDER_MAX_OCC ((size_t)1 << 24)
#define VI_RENDER_PREFETCH 8	/* children ahead whose region the walk requests early */

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap = *cap ? *cap : 64;
	void *q;

	if (need <= *cap)
		return true;
	while (ncap < need)
		ncap *= 2;
	q = realloc(*p, ncap * elem);
	if (!q)
		return false;
	*p = q;
	*cap = ncap;
	return true;
}

static void emit_occ(struct vi_render *r, const struct viommu_mr *mr, uint64_t delta, uint64_t of, uint64_t ol,
		     bool ro, bool unm)
{
	struct vi_scratch *sc = r->sc;

	if (r->n >= r->limit) {
		r->err = -ENOMEM;
		return;
	}
	if (r->n == sc->occ_cap) {
		if (!grow((void **)&sc->occ, &sc->occ_cap, r->n + 1, sizeof(*sc->occ))) {
			r->err = -ENOMEM;
			return;
		}
	}
	sc->occ[r->n++] = (struct vi_occ){
		.first = of + delta, .last = ol + delta, .offset = of, .rank = r->rank++,
		.mr = mr, .host = mr->host, .kind = mr->kind, .ro = ro, .unm = unm,
	};
}

static void add_bound(struct vi_render *r, uint64_t a)
{
	struct vi_scratch *sc = r->sc;

	if (r->nbounds >= 2 * r->limit ||
	    (r->nbounds == sc->bounds_cap &&
	     !grow((void **)&sc->bounds, &sc->bounds_cap, r->nbounds + 1, sizeof(*sc->bounds)))) {
		r->err = -ENOMEM;
		return;
	}
	sc->bounds[r->nbounds++] = a;
}

/*
 * A natural merge sort: runs already in order (or in reverse) are found
 * first, so input that is nearly sorted sorts in nearly linear time. Trees
 * are usually built in address order (so occurrences come in a few runs)
 * and children come out of the index in address order while precedence
 * follows insertion order (often the same or its reverse).
 * Sorts a[0..n) using @t (n entries) and @runs (n + 1); returns the sorted
 * array (a or t).
 */
#define VI_DEFINE_NATURAL_SORT(name, T, LESS)						\
static T *name(T *a, T *t, size_t *runs, size_t n)					\
{											\
	size_t nr = 0, i = 0;								\
	T *src = a;									\
	T *dst = t;									\
											\
	while (i < n) {									\
		size_t j = i + 1;							\
											\
		if (j < n && LESS(&a[j], &a[i])) {					\
			while (j < n && LESS(&a[j], &a[j - 1]))				\
				j++;							\
			for (size_t x = i, y = j - 1; x < y; x++, y--) {		\
				T tmp_ = a[x];						\
											\
				a[x] = a[y];						\
				a[y] = tmp_;						\
			}								\
		} else {								\
			while (j < n && !LESS(&a[j], &a[j - 1]))			\
				j++;							\
		}									\
		runs[nr++] = i;								\
		i = j;									\
	}										\
	runs[nr] = n;									\
	while (nr > 1) {								\
		size_t w = 0;								\
											\
		for (size_t k = 0; k < nr; k += 2) {					\
			size_t lo = runs[k], mid = runs[k + 1];				\
			size_t hi = k + 1 < nr ? runs[k + 2] : mid;			\
			size_t x = lo, y = mid, o = lo;					\
											\
			while (x < mid && y < hi)					\
				dst[o++] = LESS(&src[y], &src[x]) ? src[y++] : src[x++]; \
			while (x < mid)							\
				dst[o++] = src[x++];					\
			while (y < hi)							\
				dst[o++] = src[y++];					\
			runs[w++] = lo;							\
		}								\
		runs[w] = n;								\
		nr = w;									\
		T *swap_ = src;							\
		src = dst;								\
		dst = swap_;								\
	}										\
	return src;									\
}

static bool occ_less(const struct vi_occ *x, const struct vi_occ *y)
{
	return x->first < y->first || (x->first == y->first && x->rank < y->rank);
}

/* Precedence among siblings: higher priority first, then newer (higher seq) first. */
static bool kid_less(const struct vi_kx_hit *x, const struct vi_kx_hit *y)
{
	return x->prio > y->prio || (x->prio == y->prio && x->seq > y->seq);
}

static bool u64_less(const uint64_t *x, const uint64_t *y)
{
	return *x < *y;
}

VI_DEFINE_NATURAL_SORT(sort_occ_runs, struct vi_occ, occ_less)
VI_DEFINE_NATURAL_SORT(sort_u64_runs, uint64_t, u64_less)
VI_DEFINE_NATURAL_SORT(sort_kids_runs, struct vi_kx_hit, kid_less)

/* Sort sc->kids[base, end) into precedence order, in place. */
static int sort_kids(struct vi_scratch *sc, size_t base, size_t end)
{
	size_t n = end - base;
	struct vi_kx_hit *out;

	if (n < 2)
		return 0;
	if (!grow((void **)&sc->kids_tmp, &sc->kids_tmp_cap, n, sizeof(*sc->kids_tmp)) ||
	    !grow((void **)&sc->aux, &sc->aux_cap, n + 1, sizeof(*sc->aux)))
		return -ENOMEM;
	out = sort_kids_runs(sc->kids + base, sc->kids_tmp, sc->aux, n);
	if (out != sc->kids + base)
		memcpy(sc->kids + base, out, n * sizeof(*out));
	return 0;
}

static size_t seen_hash(const struct viommu_mr *mr, uint64_t delta, uint64_t first, uint64_t last, unsigned depth)
{
	uint64_t h = (uint64_t)(uintptr_t)mr * 0x9e3779b97f4a7c15ull;

	h ^= delta + 0x7f4a7c159e3779b9ull + (h << 6) + (h >> 2);
	h ^= first * 0xbf58476d1ce4e5b9ull + (h << 6) + (h >> 2);
	h ^= last * 0x94d049bb133111ebull + (h << 6) + (h >> 2);
	h ^= depth;
	return (size_t)(h ^ (h >> 29));
}

/*
 * Has this render already rendered @mr at this placement (same absolute
 * position, window and depth)? Then everything the new visit could show is
 * shown by the earlier one, which takes precedence (it came first): an
 * alias target reached again through a sibling alias at the same place
 * contributes nothing, so it is not walked again. Records it if not.
 * Without room to remember, answers no (slower, still exact).
 */
static bool seen_before(struct vi_scratch *sc, const struct viommu_mr *mr, uint64_t delta, uint64_t first,
			uint64_t last, unsigned depth)
{
	size_t mask, i;

	if (2 * (sc->seen_n + 1) > sc->seen_cap) {
		size_t ncap = sc->seen_cap ? 2 * sc->seen_cap : 64;
		struct vi_seen *ns = calloc(ncap, sizeof(*ns));

		if (!ns)
			return false;
		for (size_t k = 0; k < sc->seen_cap; k++) {
			const struct vi_seen *e = &sc->seen[k];

			if (e->gen != sc->seen_gen)
				continue;
			for (i = seen_hash(e->mr, e->delta, e->first, e->last, e->depth) & (ncap - 1);
			     ns[i].gen == sc->seen_gen; i = (i + 1) & (ncap - 1))
				;
			ns[i] = *e;
		}
		free(sc->seen);
		sc->seen = ns;
		sc->seen_cap = ncap;
	}
	mask = sc->seen_cap - 1;
	for (i = seen_hash(mr, delta, first, last, depth) & mask; sc->seen[i].gen == sc->seen_gen; i = (i + 1) & mask) {
		const struct vi_seen *e = &sc->seen[i];

		if (e->mr == mr && e->delta == delta && e->first == first && e->last == last && e->depth == depth)
			return true;
	}
	sc->seen[i] = (struct vi_seen){ mr, delta, first, last, depth, sc->seen_gen };
	sc->seen_n++;
	return false;
}

/*
 * Render @mr whose offset 0 sits at absolute address @delta (mod 2^64),
 * restricted to its offsets [of, ol]. Callers guarantee of + delta .. ol +
 * delta does not wrap, so every piece maps linearly onto absolute space.
 * The window's edges are recorded as boundaries even when the region is
 * disabled or hidden: they are where the tree can change independently.
 */
static void render_mr(struct vi_render *r, const struct viommu_mr *mr, uint64_t delta, uint64_t of, uint64_t ol,
		      bool ro, bool unm, unsigned depth)
{
	if (r->err)
		return;
	if (depth > VIOMMU_MEMORY_MAX_DEPTH) {
		r->err = -ELOOP;
		return;
	}
	if (ol > mr->last)
		ol = mr->last;
	if (of > ol)
		return;
	r->w->render++;
	add_bound(r, of + delta);
	if (ol + delta != UINT64_MAX)
		add_bound(r, ol + delta + 1);
	if (!mr->enabled)
		return;
	ro |= mr->readonly;
	unm |= mr->unmergeable;

	if (mr->kind == VIOMMU_MR_ALIAS) {
		const struct viommu_mr *t = mr->alias_target;
		uint64_t tf = of + mr->alias_offset, tl = ol + mr->alias_offset;

		if (tf < of)		/* the window starts past 2^64-1 of the target */
			return;
		if (tl < ol)
			tl = UINT64_MAX;
		if (t->nalias_users > 1 && seen_before(r->sc, t, delta - mr->alias_offset, tf, tl, depth + 1))
			return;
		render_mr(r, t, delta - mr->alias_offset, tf, tl, ro, unm, depth + 1);
		return;
	}
	if (mr->kids) {
		struct vi_scratch *sc = r->sc;
		size_t base = r->nk, end;

		r->err = vi_kx_collect(mr->kids, of, ol, &sc->kids, &r->nk, &sc->kids_cap);
		end = r->nk;
		if (!r->err)
			r->err = sort_kids(sc, base, end);
		for (size_t k = base; k < end && !r->err; k++) {
			const struct viommu_mr *c = sc->kids[k].item;	/* re-read: deeper levels may grow the stack */
			uint64_t cf, cl;

			/*
			 * Precedence order is not memory order: ask for a later
			 * child's first line now, so a big container's render
			 * does not wait on one cache miss per child.
			 */
			if (k + VI_RENDER_PREFETCH < end)
				__builtin_prefetch(sc->kids[k + VI_RENDER_PREFETCH].item);
			cf = c->addr;
			cl = vi_mr_end(c);

			if (cf < of)
				cf = of;
			if (cl > ol)
				cl = ol;
			if (cf > cl)
				continue;
			render_mr(r, c, delta + c->addr, cf - c->addr, cl - c->addr, ro, unm, depth + 1);
		}
		r->nk = base;
		if (r->err)
			return;
	}
	if (mr->kind != VIOMMU_MR_CONTAINER)
		emit_occ(r, mr, delta, of, ol, ro, unm);
}

/* Sort occurrences by (first, rank). Returns the sorted array (sc->occ or sc->tmp) or NULL on ENOMEM. */
static struct vi_occ *sort_occ(struct vi_scratch *sc, size_t n)
{
	if (!grow((void **)&sc->aux, &sc->aux_cap, n + 1, sizeof(size_t)) ||
	    !grow((void **)&sc->tmp, &sc->tmp_cap, n, sizeof(*sc->tmp)))
		return NULL;
	return sort_occ_runs(sc->occ, sc->tmp, sc->aux, n);
}

/* A min-heap of occurrence indices keyed by rank. */
struct vi_heap {
	size_t *a;
	size_t n;
	const struct vi_occ *occ;
};

static bool heap_less(const struct vi_heap *h, size_t i, size_t j)
{
	return h->occ[h->a[i]].rank < h->occ[h->a[j]].rank;
}

static void heap_swap(struct vi_heap *h, size_t i, size_t j)
{
	size_t t = h->a[i];

	h->a[i] = h->a[j];
	h->a[j] = t;
}

static void heap_push(struct vi_heap *h, size_t v)
{
	size_t i = h->n++;

	h->a[i] = v;
	while (i && heap_less(h, i, (i - 1) / 2)) {
		heap_swap(h, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void heap_pop(struct vi_heap *h)
{
	size_t i = 0;

	h->a[0] = h->a[--h->n];
	for (;;) {
		size_t l = 2 * i + 1, s = i;

		if (l < h->n && heap_less(h, l, s))
			s = l;
		if (l + 1 < h->n && heap_less(h, l + 1, s))
			s = l + 1;
		if (s == i)
			break;
		heap_swap(h, i, s);
		i = s;
	}
}

struct vi_out {
	struct vi_scratch *sc;
	size_t n;
	uint64_t last_rank;
};

static bool is_ram(enum viommu_mr_kind k)
{
	return k == VIOMMU_MR_RAM || k == VIOMMU_MR_RAM_DEVICE;
}

static int out_emit(struct vi_out *o, const struct vi_occ *oc, uint64_t first, uint64_t last)
{
	struct vi_scratch *sc = o->sc;
	uint64_t off = oc->offset + (first - oc->first);

	if (o->n) {
		struct viommu_mr_section *p = &sc->secs[o->n - 1];
		uint64_t p_off_last = p->offset + (p->last - p->first);

		/*
		 * Merge with the previous range when it is the same region at
		 * contiguous offsets with the same attributes; an unmergeable
		 * range only merges with pieces of its own occurrence (the
		 * sweep may have cut it where nothing became visible).
		 */
		if (p->last + 1 == first && p->mr == oc->mr && p->readonly == oc->ro &&
		    p->unmergeable == oc->unm && p_off_last != UINT64_MAX && p_off_last + 1 == off &&
		    (!oc->unm || o->last_rank == oc->rank)) {
			p->last = last;
			o->last_rank = oc->rank;
			return 0;
		}
	}
	if (!grow((void **)&sc->secs, &sc->secs_cap, o->n + 1, sizeof(*sc->secs)))
		return -ENOMEM;
	sc->secs[o->n++] = (struct viommu_mr_section){
		.first = first, .last = last, .mr = oc->mr, .offset = off,
		.host = is_ram(oc->kind) ? (char *)oc->host + off : NULL,
		.kind = oc->kind, .readonly = oc->ro, .unmergeable = oc->unm,
	};
	o->last_rank = oc->rank;
	return 0;
}

static int sweep(struct vi_scratch *sc, size_t n, struct vi_out *o)
{
	struct vi_occ *occ = n ? sort_occ(sc, n) : sc->occ;
	struct vi_heap h = { .n = 0, .occ = occ };
	size_t i = 0;
	uint64_t pos = 0;
	int err = 0;

	if (n && !occ)
		return -ENOMEM;
	if (!grow((void **)&sc->aux, &sc->aux_cap, n + 1, sizeof(size_t)))
		return -ENOMEM;
	h.a = sc->aux;
	for (;;) {
		size_t t;
		uint64_t end;

		if (!h.n) {
			if (i == n)
				break;
			pos = occ[i].first;
		}
		while (i < n && occ[i].first <= pos)
			heap_push(&h, i++);
		while (h.n && occ[h.a[0]].last < pos)
			heap_pop(&h);
		if (!h.n)
			continue;
		t = h.a[0];
		end = occ[t].last;
		/* A later start only cuts the range if it takes precedence. */
		while (i < n && occ[i].first <= end) {
			if (occ[i].rank < occ[t].rank) {
				end = occ[i].first - 1;
				break;
			}
			heap_push(&h, i++);
		}
		err = out_emit(o, &occ[t], pos, end);
		if (err || end == UINT64_MAX)
			break;
		pos = end + 1;
	}
	return err;
}

void vi_scratch_free(struct vi_scratch *sc)
{
	free(sc->seen);
	free(sc->occ);
	free(sc->tmp);
	free(sc->aux);
	free(sc->bounds);
	free(sc->kids);
	free(sc->kids_tmp);
	free(sc->secs);
	free(sc->old);
	free(sc->keys);
	free(sc->obounds);
	memset(sc, 0, sizeof(*sc));
}

/*
 * Render [first, last] of @as: the sections into sc->secs[0..*nsec) (each
 * inside the window), and into sc->bounds[0..*nb) the boundaries this render
 * knows completely: those in (first, last], and 0 when first is 0.
 */
static int render_window(const struct viommu_as *as, struct vi_scratch *sc, struct vi_memory_work *w,
			 uint64_t first, uint64_t last, size_t *nsec, size_t *nb)
{
	struct vi_render r = { .sc = sc, .w = w,
			       .limit = as->m->render_limit ? as->m->render_limit : VI_RENDER_MAX_OCC };
	struct vi_out o = { .sc = sc };
	uint64_t lo = first ? first + 1 : 0;
	size_t k = 0;
	int err;

	sc->seen_gen++;		/* a new render: forget the placements of the last one */
	sc->seen_n = 0;
	render_mr(&r, as->root, 0, first, last, false, false, 0);
	if (r.err)
		return r.err;
	if (r.nbounds > 1) {
		/* the walk records them in a few sorted runs (as it visits siblings): a natural merge sort */
		uint64_t *sorted;

		if (!grow((void **)&sc->obounds, &sc->obounds_cap, r.nbounds, sizeof(uint64_t)) ||
		    !grow((void **)&sc->aux, &sc->aux_cap, r.nbounds + 1, sizeof(size_t)))
			return -ENOMEM;
		sorted = sort_u64_runs(sc->bounds, sc->obounds, sc->aux, r.nbounds);
		if (sorted != sc->bounds)
			memcpy(sc->bounds, sorted, r.nbounds * sizeof(uint64_t));
	}
	for (size_t i = 0; i < r.nbounds; i++)
		if (sc->bounds[i] >= lo && sc->bounds[i] <= last && (!k || sc->bounds[i] != sc->bounds[k - 1]))
			sc->bounds[k++] = sc->bounds[i];
	*nb = k;
	err = sweep(sc, r.n, &o);
	*nsec = o.n;
	return err;
}

/* ---- views ---- */

static struct viommu_flatview *view_new(struct vi_pnode *sec, struct vi_pnode *bnd)
{
	static uint64_t next_id;
	struct viommu_flatview *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->refs = 1;
	v->id = __atomic_add_fetch(&next_id, 1, __ATOMIC_RELAXED);
	v->sec = sec;
	v->bnd = bnd;
	v->n = vi_pt_count(sec);
	v->nbounds = vi_pt_count(bnd);
	return v;
}

struct viommu_flatview *vi_flatview_empty(void)
{
	return view_new(NULL, NULL);
}

struct viommu_flatview *vi_flatview_ref(struct viommu_flatview *v)
{
	__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
	return v;
}

/* A reader's put only drops the count: the writer frees dead views (vi_views_reclaim). */
VIOMMU_API void viommu_flatview_put(struct viommu_flatview *v)
{
	if (v)
		__atomic_sub_fetch(&v->refs, 1, __ATOMIC_RELEASE);
}

static void view_free(struct viommu_flatview *v, bool whole)
{
	if (whole || v->dies_whole) {
		vi_pt_free_tree(v->sec);
		vi_pt_free_tree(v->bnd);
	}
	vi_pt_free_list(v->dying);
	free(v->bcache);
	free(v);
}

struct viommu_flatview *vi_views_reclaim(struct viommu_flatview *v, bool keep_newest)
{
	while (v && (v->newer || !keep_newest) && !__atomic_load_n(&v->refs, __ATOMIC_ACQUIRE)) {
		struct viommu_flatview *nx = v->newer;

		view_free(v, !nx);
		v = nx;
	}
	return v;
}

void vi_views_free_all(struct viommu_flatview *v)
{
	while (v) {
		struct viommu_flatview *nx = v->newer;

		view_free(v, !nx);
		v = nx;
	}
}

/* Link @nv after the current view and make it current; the caller set what the old one loses. */
static void as_publish(struct viommu_as *as, struct viommu_flatview *nv)
{
	struct viommu_flatview *old = as->view;

	old->newer = nv;
	pthread_mutex_lock(&as->view_lock);
	as->view = nv;
	pthread_mutex_unlock(&as->view_lock);
	viommu_flatview_put(old);	/* the space's own reference */
}

void vi_as_publish_next(struct viommu_as *as)
{
	struct viommu_flatview *nv = as->next_view;

	as->next_view = NULL;
	if (as->next_full)
		as->view->dies_whole = true;
	vi_pt_txn_commit(&as->txn, &as->view->dying);
	as_publish(as, nv);
}

void vi_as_drop_next(struct viommu_as *as)
{
	free(as->next_view);	/* its trees are the transaction's */
	as->next_view = NULL;
	vi_pt_txn_abort(&as->txn);
}

void vi_as_publish_whole(struct viommu_as *as, struct viommu_flatview *nv)
{
	as->view->dies_whole = true;
	as_publish(as, nv);
}

/* All sections of @v into sc->old. */
static int view_sections(const struct viommu_flatview *v, struct vi_scratch *sc)
{
	if (!grow((void **)&sc->old, &sc->old_cap, v->n + 1, sizeof(*sc->old)))
		return -ENOMEM;
	vi_pt_copy_out(v->sec, VI_SEC_ESZ, sc->old);
	return 0;
}

static bool sec_equal(const struct viommu_mr_section *a, const struct viommu_mr_section *b)
{
	return a->first == b->first && a->last == b->last && a->mr == b->mr && a->offset == b->offset &&
	       a->host == b->host && a->kind == b->kind && a->readonly == b->readonly &&
	       a->unmergeable == b->unmergeable;
}

static bool secs_equal(const struct viommu_mr_section *a, const struct viommu_mr_section *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!sec_equal(&a[i], &b[i]))
			return false;
	return true;
}

static int sec_keys(struct vi_scratch *sc, const struct viommu_mr_section *s, size_t n)
{
	if (!grow((void **)&sc->keys, &sc->keys_cap, n + 1, sizeof(*sc->keys)))
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		sc->keys[i] = s[i].last;
	return 0;
}

/* ---- the diff ---- */

/*
 * Translation of byte 0 of the address space, extrapolated: two sections
 * translate every common byte alike iff these keys are equal.
 */
static uint64_t section_base(const struct viommu_mr_section *s)
{
	if (is_ram(s->kind))
		return (uint64_t)(uintptr_t)s->host - s->first;
	return s->offset - s->first;
}

VIOMMU_API bool viommu_mr_section_same_translation(const struct viommu_mr_section *a,
						   const struct viommu_mr_section *b)
{
	if (!a || !b || a->kind != b->kind || a->readonly != b->readonly)
		return false;
	if (!is_ram(a->kind) && a->mr != b->mr)
		return false;
	return section_base(a) == section_base(b);
}

/* The same region at the same offsets with the same flags: nothing a listener could tell apart. */
static bool same_section_content(const struct viommu_mr_section *a, const struct viommu_mr_section *b)
{
	return a->mr == b->mr && a->readonly == b->readonly && a->unmergeable == b->unmergeable &&
	       a->offset - a->first == b->offset - b->first;
}

static struct viommu_mr_section clip(const struct viommu_mr_section *s, uint64_t first, uint64_t last)
{
	struct viommu_mr_section c = *s;
	uint64_t d = first - s->first;

	c.first = first;
	c.last = last;
	c.offset += d;
	if (c.host)
		c.host = (char *)c.host + d;
	return c;
}

struct vi_dbuf {
	struct viommu_mr_diff **d;
	size_t *cap, n;
};

/*
 * Append to @out the difference over [lo, hi] between sorted sections @a
 * (old) and @b (new), which may extend past the window (they are clipped):
 * maximal ranges over which both sides are constant, leaving out ranges
 * where both show the same region at the same offsets with the same flags.
 */
static int diff_into(const struct viommu_mr_section *a, size_t na, const struct viommu_mr_section *b, size_t nb,
		     uint64_t lo, uint64_t hi, struct vi_dbuf *out)
{
	size_t i = 0, j = 0;
	uint64_t pos = lo;

	for (;;) {
		const struct viommu_mr_section *os, *ns;
		bool oin, nin;
		uint64_t end = hi;

		while (i < na && a[i].last < pos)
			i++;
		while (j < nb && b[j].last < pos)
			j++;
		os = i < na && a[i].first <= hi ? &a[i] : NULL;
		ns = j < nb && b[j].first <= hi ? &b[j] : NULL;
		if (!os && !ns)
			break;
		oin = os && os->first <= pos;
		nin = ns && ns->first <= pos;
		if (!oin && !nin) {
			pos = !os ? ns->first : !ns ? os->first : VI_MIN(os->first, ns->first);
			continue;
		}
		if (os)
			end = VI_MIN(end, oin ? os->last : os->first - 1);
		if (ns)
			end = VI_MIN(end, nin ? ns->last : ns->first - 1);
		if (!(oin && nin && same_section_content(os, ns))) {
			struct viommu_mr_diff *e;

			if (!grow((void **)out->d, out->cap, out->n + 1, sizeof(**out->d)))
				return -ENOMEM;
			e = &(*out->d)[out->n++];
			*e = (struct viommu_mr_diff){ .first = pos, .last = end, .has_before = oin, .has_after = nin };
			if (oin)
				e->before = clip(os, pos, end);
			if (nin)
				e->after = clip(ns, pos, end);
			e->changed = !(oin && nin && viommu_mr_section_same_translation(os, ns));
		}
		if (end == hi)
			break;
		pos = end + 1;
	}
	return 0;
}

VIOMMU_API int viommu_flatview_diff(const struct viommu_flatview *ov, const struct viommu_flatview *nv,
				    struct viommu_mr_diff **out, size_t *nout)
{
	size_t no = ov ? ov->n : 0, nn = nv ? nv->n : 0, cap = 0;
	struct vi_dbuf d = { .d = out, .cap = &cap };
	struct viommu_mr_section *a, *b;
	int err = -ENOMEM;

	if (!out || !nout)
		return vi_errno(-EINVAL);
	*out = NULL;
	*nout = 0;
	a = malloc((no + 1) * sizeof(*a));
	b = malloc((nn + 1) * sizeof(*b));
	if (a && b) {
		if (ov)
			vi_pt_copy_out(ov->sec, VI_SEC_ESZ, a);
		if (nv)
			vi_pt_copy_out(nv->sec, VI_SEC_ESZ, b);
		err = diff_into(a, no, b, nn, 0, UINT64_MAX, &d);
	}
	free(a);
	free(b);
	if (err) {
		free(*out);
		*out = NULL;
		return vi_errno(err);
	}
	*nout = d.n;
	return 0;
}

/* ---- the commit: full and windowed renders ---- */

/* Render all of @as into as->next_view (NULL if identical to the current view), diffing if @want_diff. */
static int render_full(struct viommu_as *as, bool want_diff)
{
	struct viommu_memory *m = as->m;
	struct vi_scratch *sc = &m->scratch;
	const struct viommu_flatview *ov = as->view;
	struct vi_pnode *sec = NULL, *bnd = NULL;
	struct vi_dbuf d = { .d = &as->diff, .cap = &as->diff_cap };
	size_t ns, nb;
	bool same;
	int err;

	m->work.full++;
	err = render_window(as, sc, &m->work, 0, UINT64_MAX, &ns, &nb);
	if (err)
		return err;
	m->work.sections += ns;
	err = view_sections(ov, sc);
	if (err)
		return err;
	if (want_diff) {
		err = diff_into(sc->old, ov->n, sc->secs, ns, 0, UINT64_MAX, &d);
		if (err)
			return err;
		as->ndiff = d.n;
	}
	same = ns == ov->n && secs_equal(sc->old, sc->secs, ns) && nb == ov->nbounds;
	if (same) {
		if (!grow((void **)&sc->obounds, &sc->obounds_cap, nb + 1, sizeof(uint64_t)))
			return -ENOMEM;
		vi_pt_copy_out(ov->bnd, 0, sc->obounds);
		same = !nb || !memcmp(sc->obounds, sc->bounds, nb * sizeof(uint64_t));
	}
	if (same)
		return 0;
	err = sec_keys(sc, sc->secs, ns);
	if (!err)
		err = vi_pt_build(&as->txn, VI_SEC_ESZ, sc->keys, sc->secs, ns, &sec);
	if (!err)
		err = vi_pt_build(&as->txn, 0, sc->bounds, NULL, nb, &bnd);
	if (!err && !(as->next_view = view_new(sec, bnd)))
		err = -ENOMEM;
	as->next_full = true;
	return err;
}

static int win_cmp(const void *a, const void *b)
{
	const struct vi_win *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * Sort the recorded windows, widen each by the one-byte margins, and merge
 * those that overlap or touch, in place. Returns the count.
 */
static size_t coalesce_windows(struct vi_win *w, size_t n)
{
	size_t k = 0;

	qsort(w, n, sizeof(*w), win_cmp);
	for (size_t i = 0; i < n; i++) {
		uint64_t f = w[i].first ? w[i].first - 1 : 0, l = w[i].last != UINT64_MAX ? w[i].last + 1 : UINT64_MAX;

		if (k && (w[k - 1].last == UINT64_MAX || f <= w[k - 1].last + 1)) {
			if (l > w[k - 1].last)
				w[k - 1].last = l;
			w[k - 1].bounds |= w[i].bounds;
			continue;
		}
		w[k++] = (struct vi_win){ f, l, w[i].bounds };
	}
	return k;
}

/* Does @b continue @a: the same occurrence's next bytes? */
static bool continues(const struct viommu_mr_section *a, const struct viommu_mr_section *b)
{
	return a->last + 1 == b->first && same_section_content(a, b);
}

/*
 * Splice window @w's render into the working trees (*sec, *bnd). Returns 1
 * if anything changed, 0 if not, -ENOMEM, -ELOOP, or -EAGAIN when the
 * render does not meet the old view at a margin (never expected: the caller
 * then renders everything).
 */
static int splice_window(struct viommu_as *as, struct vi_win w, struct vi_pnode **sec, struct vi_pnode **bnd,
			 struct vi_dbuf *d, bool want_diff)
{
	struct viommu_memory *m = as->m;
	struct vi_scratch *sc = &m->scratch;
	const struct viommu_mr_section *s;
	struct vi_pcur cur;
	size_t ns, nb, i, j, no = 0;
	bool changed = false;
	int err;

	m->work.windows++;
	err = render_window(as, sc, &m->work, w.first, w.last, &ns, &nb);
	if (err)
		return err;
	m->work.sections += ns;

	/* the old sections overlapping the window */
	for (s = vi_pcur_seek_key(&cur, *sec, VI_SEC_ESZ, w.first, &i); s && s->first <= w.last;
	     s = vi_pcur_next(&cur)) {
		if (!grow((void **)&sc->old, &sc->old_cap, no + 1, sizeof(*sc->old)))
			return -ENOMEM;
		sc->old[no++] = *s;
	}
	j = i + no;
	if (want_diff) {
		err = diff_into(sc->old, no, sc->secs, ns, w.first, w.last, d);
		if (err)
			return err;
	}
	/* sections crossing a margin continue across it */
	if (no && sc->old[0].first < w.first) {
		struct viommu_mr_section left = clip(&sc->old[0], sc->old[0].first, w.first - 1);

		if (!ns || sc->secs[0].first != w.first || !continues(&left, &sc->secs[0]))
			return -EAGAIN;
		sc->secs[0].first = left.first;
		sc->secs[0].offset = left.offset;
		sc->secs[0].host = left.host;
	}
	if (no && sc->old[no - 1].last > w.last) {
		struct viommu_mr_section right = clip(&sc->old[no - 1], w.last + 1, sc->old[no - 1].last);

		if (!ns || sc->secs[ns - 1].last != w.last || !continues(&sc->secs[ns - 1], &right))
			return -EAGAIN;
		sc->secs[ns - 1].last = right.last;
	}
	if (ns != no || !secs_equal(sc->old, sc->secs, ns)) {
		struct vi_pnode *t;

		err = sec_keys(sc, sc->secs, ns);
		if (!err)
			err = vi_pt_replace(&as->txn, *sec, VI_SEC_ESZ, i, j, sc->keys, sc->secs, ns, &t);
		if (err)
			return err;
		*sec = t;
		changed = true;
	}

	/* the boundaries the render knows completely, unless the changes cannot have moved any */
	if (w.bounds) {
		uint64_t lo = w.first ? w.first + 1 : 0;
		const uint64_t *b;
		size_t bi, bj, q = 0;

		for (b = vi_pcur_seek_key(&cur, *bnd, 0, lo, &bi); b && *b <= w.last; b = vi_pcur_next(&cur)) {
			if (!grow((void **)&sc->obounds, &sc->obounds_cap, q + 1, sizeof(uint64_t)))
				return -ENOMEM;
			sc->obounds[q++] = *b;
		}
		bj = bi + q;
		if (nb != q || (nb && memcmp(sc->obounds, sc->bounds, nb * sizeof(uint64_t)))) {
			struct vi_pnode *t;

			err = vi_pt_replace(&as->txn, *bnd, 0, bi, bj, sc->bounds, NULL, nb, &t);
			if (err)
				return err;
			*bnd = t;
			changed = true;
		}
	}
	return changed;
}

static int render_windows(struct viommu_as *as, bool want_diff)
{
	struct vi_dbuf d = { .d = &as->diff, .cap = &as->diff_cap };
	struct vi_pnode *sec = as->view->sec, *bnd = as->view->bnd;
	size_t n = coalesce_windows(as->win, as->nwin);
	bool changed = false;
	int err = 0;

	for (size_t k = 0; k < n && !err; k++) {
		err = splice_window(as, as->win[k], &sec, &bnd, &d, want_diff);
		if (err > 0) {
			changed = true;
			err = 0;
		}
	}
	as->nwin = n;	/* coalesced: the same union, fewer entries if retried */
	as->ndiff = d.n;
	as->next_full = false;
	if (!err && changed && !(as->next_view = view_new(sec, bnd)))
		err = -ENOMEM;
	return err;
}

int vi_as_render(struct viommu_as *as, bool want_diff)
{
	int err = -EAGAIN;

	as->ndiff = 0;
	as->next_view = NULL;
	if (!as->full)
		err = render_windows(as, want_diff);
	if (err == -EAGAIN) {
		vi_as_drop_next(as);
		if (!as->full) {
			as->m->work.fallbacks++;
			vi_warn("memory: %s: an incremental render disagreed with the old view; rendered in full",
				as->name);
		}
		as->ndiff = 0;
		err = render_full(as, want_diff);
	}
	if (err || !as->next_view)
		vi_as_drop_next(as);
	as->has_diff = want_diff && !err;
	return err;
}

int vi_memory_verify(struct viommu_memory *m)
{
	struct vi_scratch sc = { 0 };
	struct vi_memory_work w = { 0 };
	int err = 0;

	for (struct viommu_as *as = m->as_head; as && !err; as = as->next) {
		const struct viommu_flatview *v = as->view;
		size_t ns, nb;

		if (vi_pt_check(v->sec, VI_SEC_ESZ) || vi_pt_check(v->bnd, 0) || v->n != vi_pt_count(v->sec) ||
		    v->nbounds != vi_pt_count(v->bnd)) {
			err = -EIO;
			break;
		}
		err = render_window(as, &sc, &w, 0, UINT64_MAX, &ns, &nb);
		if (err)
			break;
		if (view_sections(v, &sc) || !grow((void **)&sc.obounds, &sc.obounds_cap, v->nbounds + 1, 8)) {
			err = -ENOMEM;
			break;
		}
		vi_pt_copy_out(v->bnd, 0, sc.obounds);
		if (ns != v->n || !secs_equal(sc.old, sc.secs, ns) || nb != v->nbounds ||
		    (nb && memcmp(sc.obounds, sc.bounds, nb * sizeof(uint64_t))))
			err = -EIO;
	}
	vi_scratch_free(&sc);
	return err;
}

/* ---- the view API ---- */

VIOMMU_API size_t viommu_flatview_boundaries(const struct viommu_flatview *v, const uint64_t **bounds)
{
	uint64_t *b;

	if (bounds)
		*bounds = NULL;
	if (!v)
		return 0;
	b = __atomic_load_n(&((struct viommu_flatview *)v)->bcache, __ATOMIC_ACQUIRE);
	if (!b) {
		uint64_t *expected = NULL;

		b = malloc((v->nbounds + 1) * sizeof(uint64_t));
		if (!b) {
			errno = ENOMEM;
			return 0;
		}
		vi_pt_copy_out(v->bnd, 0, b);
		/* several readers may race to make it: the first one installed wins */
		if (!__atomic_compare_exchange_n(&((struct viommu_flatview *)v)->bcache, &expected, b, false,
						 __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
			free(b);
			b = expected;
		}
	}
	if (bounds)
		*bounds = b;
	return v->nbounds;
}

VIOMMU_API int viommu_flatview_next_boundary(const struct viommu_flatview *v, uint64_t addr, uint64_t *out)
{
	const uint64_t *b;

	if (!v || !out)
		return vi_errno(-EINVAL);
	b = vi_pt_find(v->bnd, 0, addr);	/* one descent */
	if (!b)
		return vi_errno(-ENOENT);
	*out = *b;
	return 0;
}

VIOMMU_API size_t viommu_flatview_count(const struct viommu_flatview *v)
{
	return v ? v->n : 0;
}

/*
 * Each thread remembers where its last viommu_flatview_section() call was
 * (keyed by the view's unique id, so a freed view's cursor is never used),
 * so a loop over consecutive indices costs O(1) a step, not a descent each.
 */
static __thread struct {
	uint64_t id;
	size_t i;
	struct vi_pcur cur;
} fv_tls;

VIOMMU_API const struct viommu_mr_section *viommu_flatview_section(const struct viommu_flatview *v, size_t i)
{
	const struct viommu_mr_section *s;

	if (!v || i >= v->n)
		return NULL;
	if (fv_tls.id == v->id && fv_tls.cur.depth) {
		if (i == fv_tls.i)
			return (const void *)(vi_pt_items(fv_tls.cur.node[fv_tls.cur.depth - 1]) +
					      fv_tls.cur.idx[fv_tls.cur.depth - 1] * VI_SEC_ESZ);
		if (i == fv_tls.i + 1 && (s = vi_pcur_next(&fv_tls.cur))) {
			fv_tls.i = i;
			return s;
		}
	}
	s = vi_pcur_seek(&fv_tls.cur, v->sec, VI_SEC_ESZ, i);
	fv_tls.id = v->id;
	fv_tls.i = i;
	return s;
}

VIOMMU_API size_t viommu_flatview_lower(const struct viommu_flatview *v, uint64_t addr)
{
	return v ? vi_pt_lower(v->sec, addr) : 0;
}

VIOMMU_API const struct viommu_mr_section *viommu_flatview_lookup(const struct viommu_flatview *v, uint64_t addr)
{
	const struct viommu_mr_section *s;

	if (!v)
		return NULL;
	s = vi_pt_find(v->sec, VI_SEC_ESZ, addr);
	return s && s->first <= addr ? s : NULL;
}

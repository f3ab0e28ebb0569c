// SPDX-License-Identifier: MIT
/*
 * Flat-view rendering and diff.
 *
 * Rendering is two passes. (1) A depth-first walk of the region tree visits
 * subregions in priority order (highest first, newest first among equals),
 * a non-container's own backing after its subregions, and follows aliases;
 * every visible piece of a terminal region becomes an "occurrence" clipped by
 * all its ancestors, numbered in visit order. Lower numbers win: the visit
 * order is exactly QEMU's precedence (a higher-priority subtree is searched
 * first and lower ones show through its holes). (2) A sweep over the
 * occurrences sorted by start address keeps the live ones in a min-heap by
 * number; at each point the heap's top is visible. This is O(N log N) for N
 * occurrences where QEMU's painter is O(N^2).
 */
#include <stdlib.h>
#include <string.h>

#include "memory/memory_int.h"
#include "util/compiler.h"

struct vi_occ {
	uint64_t first, last;	/* absolute, closed */
	uint64_t offset;	/* offset in mr of first */
	uint64_t rank;
	const struct viommu_mr *mr;
	bool ro, unm;
};

struct vi_render {
	struct vi_scratch *sc;
	size_t n;
	uint64_t rank;
	size_t nbounds;
	int err;
};

/* Aliases can multiply pieces; refuse (ENOMEM) rather than exhaust memory on a pathological tree. */
#define VI_RENDER_MAX_OCC ((size_t)1 << 24)

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

	if (r->n == sc->occ_cap) {
		if (r->n >= VI_RENDER_MAX_OCC || !grow((void **)&sc->occ, &sc->occ_cap, r->n + 1, sizeof(*sc->occ))) {
			r->err = -ENOMEM;
			return;
		}
	}
	sc->occ[r->n++] = (struct vi_occ){
		.first = of + delta, .last = ol + delta, .offset = of, .rank = r->rank++,
		.mr = mr, .ro = ro, .unm = unm,
	};
}

static void add_bound(struct vi_render *r, uint64_t a)
{
	struct vi_scratch *sc = r->sc;

	if (r->nbounds == sc->bounds_cap &&
	    (r->nbounds >= 2 * VI_RENDER_MAX_OCC ||
	     !grow((void **)&sc->bounds, &sc->bounds_cap, r->nbounds + 1, sizeof(*sc->bounds)))) {
		r->err = -ENOMEM;
		return;
	}
	sc->bounds[r->nbounds++] = a;
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
		render_mr(r, t, delta - mr->alias_offset, tf, tl, ro, unm, depth + 1);
		return;
	}
	for (const struct viommu_mr *c = mr->child_head; c && !r->err; c = c->next_sib) {
		uint64_t cf = c->addr, cl = c->addr + c->last;

		if (cl < cf)
			cl = UINT64_MAX;	/* clipped at the top of the space */
		if (cf < of)
			cf = of;
		if (cl > ol)
			cl = ol;
		if (cf > cl)
			continue;
		render_mr(r, c, delta + c->addr, cf - c->addr, cl - c->addr, ro, unm, depth + 1);
	}
	if (mr->kind != VIOMMU_MR_CONTAINER)
		emit_occ(r, mr, delta, of, ol, ro, unm);
}

static bool occ_less(const struct vi_occ *x, const struct vi_occ *y)
{
	return x->first < y->first || (x->first == y->first && x->rank < y->rank);
}

/*
 * Sort occurrences by (first, rank). A natural merge sort: trees are usually
 * built in address order (or its reverse, since the newest sibling comes
 * first), so the visit order is a few monotonic runs and sorting is nearly
 * linear. Returns the sorted array (sc->occ or sc->tmp) or NULL on ENOMEM.
 */
static struct vi_occ *sort_occ(struct vi_scratch *sc, size_t n)
{
	struct vi_occ *src = sc->occ, *dst;
	size_t nr = 0, i = 0, *runs;

	if (!grow((void **)&sc->aux, &sc->aux_cap, n + 1, sizeof(size_t)))
		return NULL;
	runs = sc->aux;
	while (i < n) {
		size_t j = i + 1;

		if (j < n && occ_less(&src[j], &src[i])) {
			while (j < n && occ_less(&src[j], &src[j - 1]))
				j++;
			for (size_t a = i, b = j - 1; a < b; a++, b--) {
				struct vi_occ t = src[a];

				src[a] = src[b];
				src[b] = t;
			}
		} else {
			while (j < n && !occ_less(&src[j], &src[j - 1]))
				j++;
		}
		runs[nr++] = i;
		i = j;
	}
	runs[nr] = n;
	if (nr <= 1)
		return src;
	if (!grow((void **)&sc->tmp, &sc->tmp_cap, n, sizeof(*sc->tmp)))
		return NULL;
	dst = sc->tmp;
	while (nr > 1) {
		size_t w = 0;

		for (size_t k = 0; k < nr; k += 2) {
			size_t lo = runs[k], mid = runs[k + 1], hi = k + 1 < nr ? runs[k + 2] : mid;
			size_t a = lo, b = mid, o = lo;

			while (a < mid && b < hi)
				dst[o++] = occ_less(&src[b], &src[a]) ? src[b++] : src[a++];
			while (a < mid)
				dst[o++] = src[a++];
			while (b < hi)
				dst[o++] = src[b++];
			runs[w++] = lo;
		}
		runs[w] = n;
		nr = w;
		struct vi_occ *t = src;
		src = dst;
		dst = t;
	}
	return src;
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
	struct viommu_flatview *v;
	size_t cap;
	uint64_t last_rank;
};

static int out_emit(struct vi_out *o, const struct vi_occ *oc, uint64_t first, uint64_t last)
{
	struct viommu_flatview *v = o->v;
	uint64_t off = oc->offset + (first - oc->first);

	if (v->n) {
		struct viommu_mr_section *p = &v->s[v->n - 1];
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
	if (v->n == o->cap) {
		size_t ncap = o->cap ? o->cap * 2 : 16;
		struct viommu_flatview *nv = realloc(v, sizeof(*v) + ncap * sizeof(v->s[0]));

		if (!nv)
			return -ENOMEM;
		o->v = v = nv;
		o->cap = ncap;
	}
	v->s[v->n++] = (struct viommu_mr_section){
		.first = first, .last = last, .mr = oc->mr, .offset = off,
		.host = (oc->mr->kind == VIOMMU_MR_RAM || oc->mr->kind == VIOMMU_MR_RAM_DEVICE)
			? (char *)oc->mr->host + off : NULL,
		.kind = oc->mr->kind, .readonly = oc->ro, .unmergeable = oc->unm,
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
	free(sc->occ);
	free(sc->tmp);
	free(sc->aux);
	free(sc->bounds);
	memset(sc, 0, sizeof(*sc));
}

/* Lookups binary-search a dense array of section ends stored after the sections (cache friendly). */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static struct viommu_flatview *finish_view(struct viommu_flatview *v, const uint64_t *bounds, size_t nbounds)
{
	struct viommu_flatview *nv = realloc(v, sizeof(*v) + v->n * (sizeof(v->s[0]) + sizeof(uint64_t)) +
						     nbounds * sizeof(uint64_t));

	if (!nv)
		return NULL;
	nv->keys = (uint64_t *)(void *)&nv->s[nv->n];
	for (size_t i = 0; i < nv->n; i++)
		nv->keys[i] = nv->s[i].last;
	nv->bounds = nv->keys + nv->n;
	nv->nbounds = nbounds;
	if (nbounds)
		memcpy(nv->bounds, bounds, nbounds * sizeof(uint64_t));
	return nv;
}

struct viommu_flatview *vi_flatview_empty(void)
{
	struct viommu_flatview *v = calloc(1, sizeof(*v));

	if (v) {
		v->refs = 1;
		v->keys = (uint64_t *)(void *)&v->s[0];
		v->bounds = v->keys;
	}
	return v;
}

int vi_flatview_render(const struct viommu_as *as, struct vi_scratch *sc, size_t hint,
		       struct viommu_flatview **out)
{
	struct vi_render r = { .sc = sc };
	struct vi_out o = { 0 };
	struct viommu_flatview *v;
	int err;

	render_mr(&r, as->root, 0, 0, UINT64_MAX, false, false, 0);
	if (r.err)
		return r.err;
	/* boundaries: sorted, unique */
	if (r.nbounds) {
		size_t k = 0;
		qsort(sc->bounds, r.nbounds, sizeof(uint64_t), cmp_u64);
		for (size_t i = 0; i < r.nbounds; i++)
			if (!k || sc->bounds[i] != sc->bounds[k - 1])
				sc->bounds[k++] = sc->bounds[i];
		r.nbounds = k;
	}
	o.cap = hint + 16;
	o.v = malloc(sizeof(*o.v) + o.cap * sizeof(o.v->s[0]));
	if (!o.v)
		return -ENOMEM;
	o.v->refs = 1;
	o.v->n = 0;
	err = sweep(sc, r.n, &o);
	if (err) {
		free(o.v);
		return err;
	}
	v = finish_view(o.v, sc->bounds, r.nbounds);
	if (!v) {
		free(o.v);
		return -ENOMEM;
	}
	*out = v;
	return 0;
}

struct viommu_flatview *vi_flatview_ref(struct viommu_flatview *v)
{
	__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
	return v;
}

VIOMMU_API void viommu_flatview_put(struct viommu_flatview *v)
{
	if (v && __atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(v);
}

VIOMMU_API size_t viommu_flatview_boundaries(const struct viommu_flatview *v, const uint64_t **bounds)
{
	if (bounds)
		*bounds = v ? v->bounds : NULL;
	return v ? v->nbounds : 0;
}

VIOMMU_API size_t viommu_flatview_count(const struct viommu_flatview *v)
{
	return v ? v->n : 0;
}

VIOMMU_API const struct viommu_mr_section *viommu_flatview_section(const struct viommu_flatview *v, size_t i)
{
	return v && i < v->n ? &v->s[i] : NULL;
}

size_t vi_flatview_index(const struct viommu_flatview *v, uint64_t addr)
{
	const uint64_t *k = v->keys;
	size_t lo = 0, n = v->n;

	/* Branch-free lower bound: the first key >= addr. */
	while (n > 1) {
		size_t half = n / 2;

		lo = k[lo + half - 1] < addr ? lo + half : lo;
		n -= half;
	}
	return n == 1 && k[lo] < addr ? lo + 1 : lo;
}

VIOMMU_API const struct viommu_mr_section *viommu_flatview_lookup(const struct viommu_flatview *v, uint64_t addr)
{
	size_t i;

	if (!v)
		return NULL;
	i = vi_flatview_index(v, addr);
	return i < v->n && v->s[i].first <= addr ? &v->s[i] : NULL;
}

/* ---- diff ---- */

static bool is_ram(enum viommu_mr_kind k)
{
	return k == VIOMMU_MR_RAM || k == VIOMMU_MR_RAM_DEVICE;
}

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

int vi_flatview_diff_into(const struct viommu_flatview *ov, const struct viommu_flatview *nv,
			  struct viommu_mr_diff **buf, size_t *bufcap, size_t *nout)
{
	size_t no = ov ? ov->n : 0, nn = nv ? nv->n : 0, i = 0, j = 0, n = 0;
	struct viommu_mr_diff *d;
	uint64_t pos = 0;

	/* An entry starts at a section start or one past a section end of either view. */
	if (!grow((void **)buf, bufcap, 2 * (no + nn) + 1, sizeof(**buf)))
		return -ENOMEM;
	d = *buf;
	for (;;) {
		const struct viommu_mr_section *os, *ns;
		bool oin, nin;
		uint64_t end = UINT64_MAX;

		while (i < no && ov->s[i].last < pos)
			i++;
		while (j < nn && nv->s[j].last < pos)
			j++;
		if (i == no && j == nn)
			break;
		os = i < no ? &ov->s[i] : NULL;
		ns = j < nn ? &nv->s[j] : NULL;
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
		d[n] = (struct viommu_mr_diff){ .first = pos, .last = end, .has_before = oin, .has_after = nin };
		if (oin)
			d[n].before = clip(os, pos, end);
		if (nin)
			d[n].after = clip(ns, pos, end);
		d[n].changed = !(oin && nin && viommu_mr_section_same_translation(os, ns));
		n++;
		if (end == UINT64_MAX)
			break;
		pos = end + 1;
	}
	*nout = n;
	return 0;
}

VIOMMU_API int viommu_flatview_diff(const struct viommu_flatview *ov, const struct viommu_flatview *nv,
				    struct viommu_mr_diff **out, size_t *nout)
{
	size_t cap = 0;

	if (!out || !nout)
		return vi_errno(-EINVAL);
	*out = NULL;
	return vi_errno(vi_flatview_diff_into(ov, nv, out, &cap, nout));
}

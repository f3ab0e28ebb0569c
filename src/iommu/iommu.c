// SPDX-License-Identifier: MIT
/*
 * IOMMU address spaces: the shadow of what listeners were told, sync against
 * the guest's view, and delivery with cropping and lowering (semantics.md
 * §1.1, §1.2, §5).
 *
 * A sync of [first, last] (an invalidation) runs in three phases so that a
 * bad guest view changes nothing:
 *   read   the read-view callback fills @view with the guest's translation
 *          runs over exactly [first, last] (clipped, the interrupt window cut
 *          out, contiguous leaves merged);
 *   plan   one pass over the recorded extents touching the range and the
 *          gaps between them turns runs into ops: MAP (a run in a gap),
 *          UNMAP (an extent with nothing left), CHANGE (an extent whose new
 *          pieces differ), nothing for an extent whose one piece is itself.
 *          An extent reaching outside the range keeps its own translation
 *          there: the guest did not invalidate that part, so by the
 *          invalidation contract it did not change, and the cost of a 4K
 *          invalidation stays independent of the size of the extent;
 *   apply  per op, the shadow is updated first and the op is then delivered,
 *          so at every point the shadow equals what listeners were told, even
 *          when an insert runs out of memory half way.
 * The buffers of all three phases live in the address space and are reused:
 * a steady-state sync allocates nothing but range-map nodes.
 */
#include <stdlib.h>
#include <string.h>

#include <viommu/iommu.h>
#include <viommu/rangemap.h>

#include "iommu/iommu_int.h"
#include "util/compiler.h"

#define PERM_MASK (VIOMMU_IOMMU_PERM_READ | VIOMMU_IOMMU_PERM_WRITE)

/*
 * The guest view being read. Invariants: runs are sorted, disjoint, inside
 * [first, last], aligned to the page, merged where contiguous in input and
 * output with equal permissions; @err is sticky.
 */
struct viommu_iommu_view {
	uint64_t first, last;
	uint64_t pmask;
	uint64_t gmask;			/* runs never merge across a multiple of the granule */
	bool msi;
	uint64_t msi_first, msi_last;
	struct viommu_iommu_xlat *runs;
	size_t n, cap;
	bool have_prev;
	uint64_t prev_last;
	int err;
};

struct op {
	unsigned kind;			/* VIOMMU_IOMMU_EV_MAP / UNMAP / CHANGE */
	struct viommu_iommu_xlat old;	/* UNMAP, CHANGE: the recorded extent */
	size_t p0, np;			/* MAP: the one piece; CHANGE: the new pieces */
};

/*
 * Invariants: @shadow holds the recorded extents (value = out | perm; out is
 * page aligned so the low bits are free) and equals what every registered
 * listener has been told (before cropping and lowering). @busy is set while
 * listener callbacks may run. Locking: the caller's (see the header).
 */
struct viommu_iommu_as {
	struct viommu_iommu_as_opts opts;
	uint64_t pmask;
	uint64_t gmask;			/* merge_granule - 1, or 0 */
	struct viommu_rangemap *shadow;
	struct viommu_iommu_listener **ls;
	size_t nl, lcap;
	struct viommu_iommu_view view;
	struct viommu_iommu_xlat *pieces;
	size_t npieces, pcap;
	struct op *ops;
	size_t nops, ocap;
	bool busy;
	/*
	 * A sync that ran out of memory half way may have dropped translations
	 * outside the range it was asked for (the kept part of a changed
	 * extent): the next sync re-reads [repair_first, repair_last] too.
	 */
	bool repair;
	uint64_t repair_first, repair_last;
	struct viommu_iommu_stats st;
};

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static inline uint64_t enc(const struct viommu_iommu_xlat *x) { return x->out | x->perm; }

static inline struct viommu_iommu_xlat dec(const struct viommu_range_entry *e)
{
	return (struct viommu_iommu_xlat){ e->first, e->last, e->value & ~(uint64_t)PERM_MASK,
					   (unsigned)(e->value & PERM_MASK) };
}

/* x restricted to [a, b] (which must overlap it). */
static inline struct viommu_iommu_xlat clip(const struct viommu_iommu_xlat *x, uint64_t a, uint64_t b)
{
	struct viommu_iommu_xlat r = *x;

	if (r.first < a) {
		r.out += a - r.first;
		r.first = a;
	}
	if (r.last > b)
		r.last = b;
	return r;
}

static inline bool same_xlat(const struct viommu_iommu_xlat *a, const struct viommu_iommu_xlat *b)
{
	return a->first == b->first && a->last == b->last && a->out == b->out && a->perm == b->perm;
}

/* ---- the view ---------------------------------------------------------- */

static void push_run(struct viommu_iommu_view *v, uint64_t first, uint64_t last, uint64_t out, unsigned perm)
{
	if (v->n) {
		struct viommu_iommu_xlat *p = &v->runs[v->n - 1];

		if (p->last + 1 == first && p->perm == perm && p->out + (p->last - p->first) + 1 == out &&
		    !(v->gmask && !(first & v->gmask))) {
			p->last = last;
			return;
		}
	}
	if (grow((void **)&v->runs, &v->cap, v->n + 1, sizeof(*v->runs))) {
		v->err = -ENOMEM;
		return;
	}
	v->runs[v->n++] = (struct viommu_iommu_xlat){ first, last, out, perm };
}

/* Drop the part whose output lies in the interrupt window. */
static void push_out_clipped(struct viommu_iommu_view *v, uint64_t f, uint64_t l, uint64_t o, unsigned perm)
{
	uint64_t oe = o + (l - f);

	if (!v->msi || oe < v->msi_first || o > v->msi_last) {
		push_run(v, f, l, o, perm);
		return;
	}
	uint64_t a = f + (VI_MAX(o, v->msi_first) - o);
	uint64_t b = f + (VI_MIN(oe, v->msi_last) - o);

	if (a > f)
		push_run(v, f, a - 1, o, perm);
	if (b < l)
		push_run(v, b + 1, l, o + (b + 1 - f), perm);
}

VIOMMU_API int viommu_iommu_view_add(struct viommu_iommu_view *v, uint64_t first, uint64_t last,
				     uint64_t out, unsigned perm)
{
	if (!v)
		return vi_errno(-EINVAL);
	if (first > last || (perm & ~PERM_MASK) || (first & v->pmask) || (last & v->pmask) != v->pmask ||
	    (out & v->pmask) || last - first > UINT64_MAX - out || (v->have_prev && first <= v->prev_last)) {
		v->err = -EINVAL;
		return vi_errno(-EINVAL);
	}
	v->have_prev = true;
	v->prev_last = last;
	if (!perm || last < v->first || first > v->last)
		return 0;
	struct viommu_iommu_xlat x = clip(&(struct viommu_iommu_xlat){ first, last, out, perm }, v->first, v->last);

	if (v->msi && !(x.last < v->msi_first || x.first > v->msi_last)) {
		if (x.first < v->msi_first)
			push_out_clipped(v, x.first, v->msi_first - 1, x.out, perm);
		if (x.last > v->msi_last)
			push_out_clipped(v, v->msi_last + 1, x.last, x.out + (v->msi_last + 1 - x.first), perm);
	} else {
		push_out_clipped(v, x.first, x.last, x.out, perm);
	}
	if (v->err)
		return vi_errno(v->err);
	return 0;
}

/* ---- pieces of a CHANGE ------------------------------------------------ */

/* Order of the largest aligned block at @next that fits in [next, last]. */
static inline unsigned blk_order(uint64_t next, uint64_t last)
{
	if (next == 0 && last == UINT64_MAX)
		return 64;
	unsigned a = next ? vi_ffs64(next) : 64;
	unsigned s = vi_fls64(last - next + 1);

	return VI_MIN(a, s);
}

static bool piece_load(struct viommu_iommu_piece_iter *it)
{
	const struct viommu_iommu_event *ev = it->ev;

	while (it->idx < ev->npieces_) {
		const struct viommu_iommu_xlat *p = &ev->pieces_[it->idx];

		if (p->last < ev->first) {
			it->idx++;
			continue;
		}
		if (p->first > ev->last)
			return false;
		it->next = VI_MAX(p->first, ev->first);
		it->last = VI_MIN(p->last, ev->last);
		it->first0 = p->first;
		it->out0 = p->out;
		it->piece.perm = p->perm;
		it->in_piece = true;
		return true;
	}
	return false;
}

static void piece_emit(struct viommu_iommu_piece_iter *it)
{
	uint64_t end = it->last;

	if (it->ev->pow2_)
		end = it->next + vi_mask(blk_order(it->next, it->last));
	it->piece.first = it->next;
	it->piece.last = end;
	it->piece.out = it->out0 + (it->next - it->first0);
	if (end == it->last) {
		it->in_piece = false;
		it->idx++;
	} else {
		it->next = end + 1;
	}
}

VIOMMU_API bool viommu_iommu_piece_start(struct viommu_iommu_piece_iter *it, const struct viommu_iommu_event *ev)
{
	if (!it)
		return false;
	/* always initialised, so piece_next() on a non-CHANGE is a clean false */
	memset(it, 0, sizeof(*it));
	if (!ev || ev->kind != VIOMMU_IOMMU_EV_CHANGE)
		return false;
	it->ev = ev;
	if (!piece_load(it))
		return false;
	piece_emit(it);
	return true;
}

VIOMMU_API bool viommu_iommu_piece_next(struct viommu_iommu_piece_iter *it)
{
	if (!it || !it->ev)
		return false;
	if (!it->in_piece && !piece_load(it))
		return false;
	piece_emit(it);
	return true;
}

/* ---- delivery ---------------------------------------------------------- */

static void count(struct viommu_iommu_as *as, unsigned kind)
{
	switch (kind) {
	case VIOMMU_IOMMU_EV_MAP: as->st.maps++; break;
	case VIOMMU_IOMMU_EV_UNMAP: as->st.unmaps++; break;
	case VIOMMU_IOMMU_EV_CHANGE: as->st.changes++; break;
	default: as->st.deviotlb_unmaps++; break;
	}
}

static void notify(struct viommu_iommu_as *as, struct viommu_iommu_listener *l, struct viommu_iommu_event *ev)
{
	ev->source = as;
	ev->source_id = as->opts.source_id;
	count(as, ev->kind);
	l->notify(l, ev);
}

/* A MAP, UNMAP or DEVIOTLB_UNMAP of x (already cropped), lowered if needed. */
static void emit(struct viommu_iommu_as *as, struct viommu_iommu_listener *l, unsigned kind,
		 const struct viommu_iommu_xlat *x)
{
	struct viommu_iommu_event ev = { .kind = kind, .perm = x->perm };

	if (!(l->kinds & kind))
		return;
	if (l->caps & VIOMMU_IOMMU_CAP_ARBITRARY) {
		ev.first = x->first;
		ev.last = x->last;
		ev.out = x->out;
		notify(as, l, &ev);
		return;
	}
	uint64_t next = x->first;

	for (;;) {
		uint64_t end = next + vi_mask(blk_order(next, x->last));

		ev.first = next;
		ev.last = end;
		ev.out = kind == VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP ? 0 : x->out + (next - x->first);
		as->st.pieces++;
		notify(as, l, &ev);
		if (end == x->last)
			break;
		next = end + 1;
	}
}

/*
 * The pieces among p[0..n) overlapping [a, b]: *i0 the first, return value
 * the count; *identical when it is one piece equal to old over [a, b].
 */
static size_t pieces_in(const struct viommu_iommu_xlat *p, size_t n, uint64_t a, uint64_t b,
			const struct viommu_iommu_xlat *old, size_t *i0, bool *identical)
{
	size_t i = 0, k = 0;

	while (i < n && p[i].last < a)
		i++;
	*i0 = i;
	while (i + k < n && p[i + k].first <= b)
		k++;
	*identical = false;
	if (k == 1) {
		struct viommu_iommu_xlat c = clip(&p[i], a, b), o = clip(old, a, b);

		*identical = same_xlat(&c, &o);
	}
	return k;
}

static void deliver_change(struct viommu_iommu_as *as, struct viommu_iommu_listener *l,
			   const struct viommu_iommu_xlat *old, const struct viommu_iommu_xlat *p, size_t n)
{
	struct viommu_iommu_event ev = { .kind = VIOMMU_IOMMU_EV_CHANGE, .perm = old->perm, .pieces_ = p,
					 .npieces_ = n };

	if (l->caps & VIOMMU_IOMMU_CAP_ARBITRARY) {
		ev.first = old->first;
		ev.last = old->last;
		ev.out = old->out;
		notify(as, l, &ev);
		return;
	}
	ev.pow2_ = true;
	uint64_t next = old->first;

	for (;;) {
		uint64_t end = next + vi_mask(blk_order(next, old->last));
		struct viommu_iommu_xlat blk = clip(old, next, end);
		size_t i0;
		bool ident;
		size_t k = pieces_in(p, n, next, end, old, &i0, &ident);

		as->st.pieces++;
		if (k == 0) {
			if (l->kinds & VIOMMU_IOMMU_EV_UNMAP) {
				struct viommu_iommu_event u = { .kind = VIOMMU_IOMMU_EV_UNMAP, .first = blk.first,
								.last = blk.last, .out = blk.out, .perm = blk.perm };
				notify(as, l, &u);
			}
		} else if (!ident) {
			ev.first = blk.first;
			ev.last = blk.last;
			ev.out = blk.out;
			ev.pieces_ = p + i0;
			ev.npieces_ = k;
			notify(as, l, &ev);
		}
		if (end == old->last)
			break;
		next = end + 1;
	}
}

/* Deliver one op (x: MAP's piece, or the old extent) to one listener. */
static void deliver_to(struct viommu_iommu_as *as, struct viommu_iommu_listener *l, unsigned kind,
		       const struct viommu_iommu_xlat *x, const struct viommu_iommu_xlat *p, size_t n)
{
	if (x->last < l->first || x->first > l->last)
		return;
	struct viommu_iommu_xlat c = clip(x, l->first, l->last);

	if (kind != VIOMMU_IOMMU_EV_CHANGE) {
		emit(as, l, kind, &c);
		return;
	}
	size_t i0;
	bool ident;
	size_t k = pieces_in(p, n, c.first, c.last, x, &i0, &ident);

	if (k == 0) {
		emit(as, l, VIOMMU_IOMMU_EV_UNMAP, &c);
		return;
	}
	if (ident)
		return;
	if (!(l->caps & VIOMMU_IOMMU_CAP_CHANGE)) {
		as->st.windows++;
		emit(as, l, VIOMMU_IOMMU_EV_UNMAP, &c);
		for (size_t i = i0; i < i0 + k; i++) {
			struct viommu_iommu_xlat q = clip(&p[i], c.first, c.last);

			/* Bytes that translate as before yet were unmapped: the real window. */
			if (q.perm == c.perm && q.out == c.out + (q.first - c.first))
				as->st.window_bytes += q.last - q.first + 1;
			emit(as, l, VIOMMU_IOMMU_EV_MAP, &q);
		}
		return;
	}
	if (l->kinds & VIOMMU_IOMMU_EV_CHANGE)
		deliver_change(as, l, &c, p + i0, k);
}

static void deliver(struct viommu_iommu_as *as, unsigned kind, const struct viommu_iommu_xlat *x,
		    const struct viommu_iommu_xlat *p, size_t n)
{
	for (size_t i = 0; i < as->nl; i++)
		deliver_to(as, as->ls[i], kind, x, p, n);
}

/* ---- the address space ------------------------------------------------- */

VIOMMU_API struct viommu_iommu_as *viommu_iommu_as_new(const struct viommu_iommu_as_opts *opts)
{
	if (!opts || opts->sz < sizeof(*opts) || !opts->read)
		return vi_null(EINVAL);
	struct viommu_iommu_as_opts o = *opts;

	if (!o.page_shift)
		o.page_shift = 12;
	if (o.page_shift < 2 || o.page_shift > 30)
		return vi_null(EINVAL);
	uint64_t pmask = vi_mask(o.page_shift);

	if (o.msi_window && !o.msi_first && !o.msi_last) {
		o.msi_first = VIOMMU_HOST_X86_MSI_FIRST;
		o.msi_last = VIOMMU_HOST_X86_MSI_LAST;
	}
	if (o.merge_granule && ((o.merge_granule & (o.merge_granule - 1)) || o.merge_granule <= pmask))
		return vi_null(EINVAL);
	if (o.msi_window && (o.msi_first > o.msi_last || (o.msi_first & pmask) || (o.msi_last & pmask) != pmask))
		return vi_null(EINVAL);
	struct viommu_iommu_as *as = calloc(1, sizeof(*as));

	if (!as)
		return vi_null(ENOMEM);
	as->shadow = viommu_rangemap_new();
	if (!as->shadow) {
		free(as);
		return vi_null(ENOMEM);
	}
	as->opts = o;
	as->opts.sz = sizeof(o);
	as->pmask = pmask;
	as->view.pmask = pmask;
	as->gmask = o.merge_granule ? o.merge_granule - 1 : 0;
	as->view.gmask = as->gmask;
	as->view.msi = o.msi_window;
	as->view.msi_first = o.msi_first;
	as->view.msi_last = o.msi_last;
	return as;
}

VIOMMU_API void viommu_iommu_as_free(struct viommu_iommu_as *as)
{
	if (!as)
		return;
	viommu_rangemap_free(as->shadow);
	free(as->ls);
	free(as->view.runs);
	free(as->pieces);
	free(as->ops);
	free(as);
}

VIOMMU_API int viommu_iommu_listener_register(struct viommu_iommu_as *as, struct viommu_iommu_listener *l)
{
	if (!as || !l || l->size < sizeof(*l) || l->first > l->last || !l->notify ||
	    (l->kinds & ~VIOMMU_IOMMU_EV_ALL) ||
	    (l->caps & ~(VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE)) ||
	    ((l->caps & VIOMMU_IOMMU_CAP_CHANGE) && !(l->kinds & VIOMMU_IOMMU_EV_CHANGE)))
		return vi_errno(-EINVAL);
	if (as->busy)
		return vi_errno(-EBUSY);
	for (size_t i = 0; i < as->nl; i++)
		if (as->ls[i] == l)
			return vi_errno(-EEXIST);
	if (grow((void **)&as->ls, &as->lcap, as->nl + 1, sizeof(*as->ls)))
		return vi_errno(-ENOMEM);
	as->ls[as->nl++] = l;
	as->busy = true;
	struct viommu_rangemap_iter it;

	viommu_rangemap_for_each(&it, as->shadow, l->first, l->last) {
		struct viommu_iommu_xlat x = dec(&it.entry);

		deliver_to(as, l, VIOMMU_IOMMU_EV_MAP, &x, NULL, 0);
	}
	as->busy = false;
	return 0;
}

VIOMMU_API int viommu_iommu_listener_unregister(struct viommu_iommu_as *as, struct viommu_iommu_listener *l)
{
	if (!as || !l)
		return vi_errno(-EINVAL);
	if (as->busy)
		return vi_errno(-EBUSY);
	for (size_t i = 0; i < as->nl; i++) {
		if (as->ls[i] == l) {
			memmove(&as->ls[i], &as->ls[i + 1], (as->nl - i - 1) * sizeof(*as->ls));
			as->nl--;
			return 0;
		}
	}
	return vi_errno(-ENOENT);
}

/* [*first, *last] widened to the whole recorded extents it touches. */
static void widen(const struct viommu_iommu_as *as, uint64_t *first, uint64_t *last)
{
	struct viommu_range_entry e;

	if (viommu_rangemap_find(as->shadow, *first, &e))
		*first = e.first;
	if (viommu_rangemap_find(as->shadow, *last, &e))
		*last = e.last;
}

static int add_op(struct viommu_iommu_as *as, unsigned kind, const struct viommu_iommu_xlat *old, size_t p0,
		  size_t np)
{
	if (grow((void **)&as->ops, &as->ocap, as->nops + 1, sizeof(*as->ops)))
		return -ENOMEM;
	struct op *o = &as->ops[as->nops++];

	o->kind = kind;
	if (old)
		o->old = *old;
	o->p0 = p0;
	o->np = np;
	return 0;
}

static bool can_merge(const struct viommu_iommu_as *as, const struct viommu_iommu_xlat *p,
		      const struct viommu_iommu_xlat *x)
{
	return p->last + 1 == x->first && p->perm == x->perm && p->out + (p->last - p->first) + 1 == x->out &&
	       !(as->gmask && !(x->first & as->gmask));
}

/* Append x to the pieces, merged into the previous one when @merge allows. */
static int add_piece(struct viommu_iommu_as *as, const struct viommu_iommu_xlat *x, bool merge)
{
	if (merge && can_merge(as, &as->pieces[as->npieces - 1], x)) {
		as->pieces[as->npieces - 1].last = x->last;
		return 0;
	}
	if (grow((void **)&as->pieces, &as->pcap, as->npieces + 1, sizeof(*as->pieces)))
		return -ENOMEM;
	as->pieces[as->npieces++] = *x;
	return 0;
}

/* Append the runs from *ri overlapping [a, b], clipped, to the pieces. */
static int take_runs(struct viommu_iommu_as *as, size_t *ri, uint64_t a, uint64_t b, size_t p0)
{
	const struct viommu_iommu_view *v = &as->view;

	while (*ri < v->n && v->runs[*ri].first <= b) {
		const struct viommu_iommu_xlat *r = &v->runs[*ri];

		if (r->last >= a) {
			struct viommu_iommu_xlat c = clip(r, a, b);

			if (add_piece(as, &c, as->npieces > p0))
				return -ENOMEM;
		}
		if (r->last > b)
			break;
		(*ri)++;
	}
	return 0;
}

/* A gap of the shadow inside the invalidated range: one MAP per run. */
static int plan_gap(struct viommu_iommu_as *as, size_t *ri, uint64_t a, uint64_t b)
{
	size_t k = as->npieces;
	int r = take_runs(as, ri, a, b, SIZE_MAX);

	for (size_t i = k; !r && i < as->npieces; i++)
		r = add_op(as, VIOMMU_IOMMU_EV_MAP, NULL, i, 1);
	return r;
}

/*
 * A recorded extent O: its new pieces are the guest's runs inside the
 * invalidated range [a, b] and, outside it, O's own translation (the guest
 * promised nothing changed there; it did not invalidate it).
 */
static int plan_extent(struct viommu_iommu_as *as, size_t *ri, const struct viommu_iommu_xlat *o, uint64_t a,
		       uint64_t b)
{
	size_t p0 = as->npieces;
	int r = 0;

	if (o->first < a) {
		struct viommu_iommu_xlat c = clip(o, o->first, a - 1);

		r = add_piece(as, &c, false);
	}
	if (!r)
		r = take_runs(as, ri, VI_MAX(o->first, a), VI_MIN(o->last, b), p0);
	if (!r && o->last > b) {
		struct viommu_iommu_xlat c = clip(o, b + 1, o->last);

		r = add_piece(as, &c, as->npieces > p0);
	}
	if (r)
		return r;
	size_t np = as->npieces - p0;

	if (np == 0)
		return add_op(as, VIOMMU_IOMMU_EV_UNMAP, o, 0, 0);
	if (np == 1 && same_xlat(&as->pieces[p0], o)) {
		as->npieces = p0;
		return 0;
	}
	return add_op(as, VIOMMU_IOMMU_EV_CHANGE, o, p0, np);
}

/* Ops for the invalidation of [first, last]: the extents touching it and the gaps between them. */
static int plan(struct viommu_iommu_as *as, uint64_t first, uint64_t last)
{
	struct viommu_rangemap_iter it;
	size_t ri = 0;
	uint64_t cur = first;
	int r;

	as->nops = 0;
	as->npieces = 0;
	viommu_rangemap_for_each(&it, as->shadow, first, last) {
		struct viommu_iommu_xlat o = dec(&it.entry);

		if (o.first > cur && (r = plan_gap(as, &ri, cur, o.first - 1)))
			return r;
		if ((r = plan_extent(as, &ri, &o, first, last)))
			return r;
		if (o.last >= last)
			return 0;
		cur = o.last + 1;
	}
	return plan_gap(as, &ri, cur, last);
}

static int apply(struct viommu_iommu_as *as)
{
	int err = 0;

	for (size_t i = 0; i < as->nops && !err; i++) {
		const struct op *o = &as->ops[i];
		const struct viommu_iommu_xlat *p = as->pieces ? &as->pieces[o->p0] : NULL;
		size_t k = 0;

		switch (o->kind) {
		case VIOMMU_IOMMU_EV_MAP:
			err = viommu_rangemap_insert(as->shadow, p->first, p->last, enc(p));
			if (!err)
				deliver(as, VIOMMU_IOMMU_EV_MAP, p, NULL, 0);
			break;
		case VIOMMU_IOMMU_EV_UNMAP:
			viommu_rangemap_remove(as->shadow, o->old.first, o->old.last, NULL);
			deliver(as, VIOMMU_IOMMU_EV_UNMAP, &o->old, NULL, 0);
			break;
		default:
			viommu_rangemap_remove(as->shadow, o->old.first, o->old.last, NULL);
			for (; k < o->np; k++) {
				err = viommu_rangemap_insert(as->shadow, p[k].first, p[k].last, enc(&p[k]));
				if (err)
					break;
			}
			/* On ENOMEM tell exactly what the shadow now holds. */
			if (k)
				deliver(as, VIOMMU_IOMMU_EV_CHANGE, &o->old, p, k);
			else
				deliver(as, VIOMMU_IOMMU_EV_UNMAP, &o->old, NULL, 0);
			break;
		}
	}
	return err;
}

VIOMMU_API int viommu_iommu_sync(struct viommu_iommu_as *as, uint64_t first, uint64_t last)
{
	if (!as || first > last)
		return vi_errno(-EINVAL);
	if (as->busy)
		return vi_errno(-EBUSY);
	struct viommu_iommu_view *v = &as->view;

	if (as->repair) {
		first = VI_MIN(first, as->repair_first);
		last = VI_MAX(last, as->repair_last);
	}
	v->first = first;
	v->last = last;
	v->n = 0;
	v->have_prev = false;
	v->err = 0;
	as->busy = true;	/* the callback must not re-enter either */
	int r = as->opts.read(as->opts.read_ctx, first, last, v);

	as->busy = false;
	if (r > 0)
		r = -EINVAL;
	if (!r)
		r = v->err;
	if (r) {
		as->st.read_errors++;
		return vi_errno(r);
	}
	if ((r = plan(as, first, last)))
		return vi_errno(r);
	as->busy = true;
	r = apply(as);
	as->busy = false;
	if (r) {
		/* Everything this sync could touch: the range and the ops' extents (in order). */
		const struct op *o0 = &as->ops[0], *on = &as->ops[as->nops - 1];
		uint64_t wf = VI_MIN(first, o0->kind == VIOMMU_IOMMU_EV_MAP ? as->pieces[o0->p0].first : o0->old.first);
		uint64_t wl = VI_MAX(last, on->kind == VIOMMU_IOMMU_EV_MAP ? as->pieces[on->p0].last : on->old.last);

		as->repair_first = as->repair ? VI_MIN(as->repair_first, wf) : wf;
		as->repair_last = as->repair ? VI_MAX(as->repair_last, wl) : wl;
		as->repair = true;
		return vi_errno(r);
	}
	as->repair = false;
	as->st.syncs++;
	return (int)VI_MIN(as->nops, (size_t)INT32_MAX);
}

VIOMMU_API int viommu_iommu_unmap_all(struct viommu_iommu_as *as, uint64_t first, uint64_t last)
{
	if (!as || first > last)
		return vi_errno(-EINVAL);
	if (as->busy)
		return vi_errno(-EBUSY);
	widen(as, &first, &last);
	struct viommu_rangemap_iter it;

	as->nops = 0;
	viommu_rangemap_for_each(&it, as->shadow, first, last) {
		struct viommu_iommu_xlat o = dec(&it.entry);

		if (add_op(as, VIOMMU_IOMMU_EV_UNMAP, &o, 0, 0))
			return vi_errno(-ENOMEM);
	}
	as->busy = true;
	int r = apply(as);

	as->busy = false;
	if (r)
		return vi_errno(r);
	return (int)VI_MIN(as->nops, (size_t)INT32_MAX);
}

VIOMMU_API int viommu_iommu_deviotlb_unmap(struct viommu_iommu_as *as, uint64_t first, uint64_t last)
{
	if (!as || first > last)
		return vi_errno(-EINVAL);
	if (as->busy)
		return vi_errno(-EBUSY);
	struct viommu_iommu_xlat x = { first, last, 0, 0 };

	as->busy = true;
	for (size_t i = 0; i < as->nl; i++) {
		struct viommu_iommu_listener *l = as->ls[i];

		if (x.last < l->first || x.first > l->last)
			continue;
		struct viommu_iommu_xlat c = clip(&x, l->first, l->last);

		c.out = 0;
		emit(as, l, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP, &c);
	}
	as->busy = false;
	return 0;
}

VIOMMU_API bool viommu_iommu_lookup(const struct viommu_iommu_as *as, uint64_t addr, struct viommu_iommu_xlat *out)
{
	struct viommu_range_entry e;

	if (!as || !viommu_rangemap_find(as->shadow, addr, &e))
		return false;
	if (out)
		*out = dec(&e);
	return true;
}

bool vi_iommu_extent_from(const struct viommu_iommu_as *as, uint64_t addr, struct viommu_iommu_xlat *out)
{
	struct viommu_range_entry e;

	if (!viommu_rangemap_find_overlap(as->shadow, addr, UINT64_MAX, &e))
		return false;
	*out = dec(&e);
	return true;
}

VIOMMU_API int viommu_iommu_get_stats(const struct viommu_iommu_as *as, struct viommu_iommu_stats *st)
{
	if (!as || !st || st->sz < sizeof(*st))
		return vi_errno(-EINVAL);
	*st = as->st;
	st->sz = sizeof(*st);
	st->extents = viommu_rangemap_count(as->shadow);
	return 0;
}

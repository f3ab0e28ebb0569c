// SPDX-License-Identifier: MIT
/*
 * IOMMU address spaces: the shadow of what listeners were told, sync against
 * the guest's view, and delivery with cropping and lowering (include/viommu/
 * iommu.h; docs/reference.md, "IOMMU notifiers", for what QEMU does instead).
 *
 * A sync of [first, last] (an invalidation) runs in three phases so that a
 * bad guest view changes nothing:
 *   read     the read-view callback fills @view with the guest's translation
 *            runs over exactly [first, last] (clipped, the interrupt window
 *            cut out, contiguous leaves merged);
 *   compare  one pass over the recorded extents touching the range and the
 *            gaps between them turns runs into edits of the shadow: MAP (a
 *            run in a gap), UNMAP (an extent with nothing left), CHANGE (an
 *            extent whose new pieces differ), nothing for an extent whose one
 *            piece is itself. An extent reaching outside the range keeps its
 *            own translation there: the guest did not invalidate that part,
 *            so by the invalidation contract it did not change, and the cost
 *            of a 4K invalidation stays independent of the size of the extent;
 *   apply    per edit, the shadow is updated first and the edit is then
 *            delivered, so at every point the shadow equals what listeners
 *            were told, even when an insert runs out of memory half way.
 * The buffers of all three phases live in the address space and are reused:
 * a steady-state sync allocates nothing but range-map nodes.
 */
#include <stdlib.h>
#include <string.h>

#include <viommu/iommu.h>
#include <viommu/range.h>
#include <viommu/rangemap.h>

#include "util/compiler.h"
#include "util/log.h"
#include "util/opts.h"

#define viommu_iommu_listener__last_field commit
#define viommu_iommu_as_opts__last_field msi_last
#define viommu_iommu_stats__last_field pieces

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

/* One edit of the shadow a sync found. */
struct shadow_edit {
	unsigned kind;			/* VIOMMU_IOMMU_EV_MAP / UNMAP / CHANGE */
	struct viommu_iommu_xlat old;	/* UNMAP, CHANGE: the recorded extent */
	size_t p0, np;			/* MAP: the one piece; CHANGE: the new pieces */
};

/* One registered listener: the caller's struct, and its fields as read at registration. */
struct listener_reg {
	struct viommu_iommu_listener *user;
	struct viommu_iommu_listener cfg;
	bool touched;			/* got an event in the operation under way */
};

/*
 * Invariants: @shadow holds the recorded extents (value = out | perm; out is
 * page aligned so the low bits are free) and equals what every registered
 * listener has been told (before cropping and lowering). @busy is set while
 * listener callbacks may run. @deliv holds the new pieces of the CHANGE being
 * delivered, as one listener sees them. Locking: the caller's (see the
 * header).
 */
struct viommu_iommu_as {
	struct viommu_iommu_as_opts opts;
	uint64_t pmask;
	uint64_t gmask;			/* merge_granule - 1, or 0 */
	struct viommu_rangemap *shadow;
	struct listener_reg *ls;
	size_t nl, lcap;
	struct viommu_iommu_view view;
	struct viommu_iommu_xlat *pieces;
	size_t npieces, pcap;
	struct shadow_edit *edits;
	size_t nedits, ecap;
	struct viommu_iommu_xlat *deliv;
	size_t dcap;
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

/* Make room for @need elements of @elem bytes in the growing array *p of capacity *cap. */
static int reserve(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t n;
	void *q;

	if (need <= *cap)
		return 0;
	n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	if (n > SIZE_MAX / elem)
		return -ENOMEM;
	q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

static inline uint64_t enc(const struct viommu_iommu_xlat *x) { return x->out | x->perm; }

static inline struct viommu_iommu_xlat dec(const struct viommu_range_entry *e)
{
	return (struct viommu_iommu_xlat){ e->first, e->last, e->value & ~(uint64_t)VIOMMU_PERM_RW,
					   (unsigned)(e->value & VIOMMU_PERM_RW) };
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
	if (reserve((void **)&v->runs, &v->cap, v->n + 1, sizeof(*v->runs))) {
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
	if (first > last || (perm & ~VIOMMU_PERM_RW) || (first & v->pmask) || (last & v->pmask) != v->pmask ||
	    (out & v->pmask) || last - first > UINT64_MAX - out || (v->have_prev && first <= v->prev_last)) {
		/* the guest's tables: debug level only, so a hostile guest cannot flood the log */
		vi_debug("iommu: leaf [0x%llx, 0x%llx] -> 0x%llx perm %u refused: %s", (unsigned long long)first,
			 (unsigned long long)last, (unsigned long long)out, perm,
			 first > last ? "first > last" : (perm & ~VIOMMU_PERM_RW) ? "unknown permission bits"
			 : (first & v->pmask) || (last & v->pmask) != v->pmask || (out & v->pmask) ? "not page aligned"
			 : last - first > UINT64_MAX - out ? "output wraps past 2^64" : "overlaps or precedes the previous leaf");
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

VIOMMU_API bool viommu_iommu_piece_start(struct viommu_iommu_piece_iter *it, const struct viommu_iommu_event *ev)
{
	if (!it)
		return false;
	/* always initialised, so piece_next() on a non-CHANGE is a clean false */
	memset(it, 0, sizeof(*it));
	if (!ev || ev->kind != VIOMMU_IOMMU_EV_CHANGE || !ev->npieces || !ev->pieces)
		return false;
	it->ev = ev;
	it->piece = ev->pieces[0];
	it->valid = true;
	return true;
}

VIOMMU_API bool viommu_iommu_piece_next(struct viommu_iommu_piece_iter *it)
{
	if (!it || !it->valid)
		return false;
	if (++it->idx >= it->ev->npieces) {
		it->valid = false;
		return false;
	}
	it->piece = it->ev->pieces[it->idx];
	return true;
}

/* ---- delivery ---------------------------------------------------------- */

static void count(struct viommu_iommu_as *ias, unsigned kind)
{
	switch (kind) {
	case VIOMMU_IOMMU_EV_MAP: ias->st.maps++; break;
	case VIOMMU_IOMMU_EV_UNMAP: ias->st.unmaps++; break;
	case VIOMMU_IOMMU_EV_CHANGE: ias->st.changes++; break;
	default: ias->st.deviotlb_unmaps++; break;
	}
}

static void notify(struct viommu_iommu_as *ias, struct listener_reg *lr, struct viommu_iommu_event *ev)
{
	ev->source = ias;
	ev->source_id = ias->opts.source_id;
	count(ias, ev->kind);
	lr->touched = true;
	lr->cfg.notify(lr->user, ev);
}

/* A MAP, UNMAP or DEVIOTLB_UNMAP of x (already cropped), lowered to power-of-two blocks if needed. */
static void deliver_range(struct viommu_iommu_as *ias, struct listener_reg *lr, unsigned kind,
			  const struct viommu_iommu_xlat *x)
{
	struct viommu_iommu_event ev = { .kind = kind, .perm = x->perm };
	struct viommu_pow2_iter it;

	if (!(lr->cfg.kinds & kind))
		return;
	if (lr->cfg.caps & VIOMMU_IOMMU_CAP_ARBITRARY) {
		ev.first = x->first;
		ev.last = x->last;
		ev.out = x->out;
		notify(ias, lr, &ev);
		return;
	}
	viommu_pow2_for_each(&it, x->first, x->last, 64, 64) {
		ev.first = it.addr;
		ev.last = it.addr + vi_mask(it.order);
		ev.out = kind == VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP ? 0 : x->out + (it.addr - x->first);
		ias->st.pieces++;
		notify(ias, lr, &ev);
	}
}

/*
 * Write the pieces among p[0..n) overlapping [a, b], clipped to it and
 * lowered to power-of-two blocks if @pow2, to the delivery buffer; returns
 * their count. The caller reserved room (apply_edits: for the lowered cover
 * of every piece, which bounds this for any [a, b]).
 */
static size_t deliv_pieces(struct viommu_iommu_as *ias, const struct viommu_iommu_xlat *p, size_t n, uint64_t a,
			   uint64_t b, bool pow2)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		struct viommu_iommu_xlat c;
		struct viommu_pow2_iter it;

		if (p[i].last < a || p[i].first > b)
			continue;
		c = clip(&p[i], a, b);
		if (!pow2) {
			ias->deliv[k++] = c;
			continue;
		}
		viommu_pow2_for_each(&it, c.first, c.last, 64, 64)
			ias->deliv[k++] = (struct viommu_iommu_xlat){ it.addr, it.addr + vi_mask(it.order),
								      c.out + (it.addr - c.first), c.perm };
	}
	return k;
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

/* A CHANGE of @old (cropped) with its pieces p[0..n) to a CHANGE-capable listener. */
static void deliver_change(struct viommu_iommu_as *ias, struct listener_reg *lr, const struct viommu_iommu_xlat *old,
			   const struct viommu_iommu_xlat *p, size_t n)
{
	struct viommu_iommu_event ev = { .kind = VIOMMU_IOMMU_EV_CHANGE, .perm = old->perm };
	struct viommu_pow2_iter it;

	if (lr->cfg.caps & VIOMMU_IOMMU_CAP_ARBITRARY) {
		ev.first = old->first;
		ev.last = old->last;
		ev.out = old->out;
		ev.npieces = deliv_pieces(ias, p, n, old->first, old->last, false);
		ev.pieces = ias->deliv;
		notify(ias, lr, &ev);
		return;
	}
	/* one CHANGE per block of the old extent, with the lowered pieces inside it */
	viommu_pow2_for_each(&it, old->first, old->last, 64, 64) {
		uint64_t end = it.addr + vi_mask(it.order);
		struct viommu_iommu_xlat blk = clip(old, it.addr, end);
		size_t k = deliv_pieces(ias, p, n, it.addr, end, true);

		ias->st.pieces++;
		if (k == 0) {
			if (lr->cfg.kinds & VIOMMU_IOMMU_EV_UNMAP) {
				struct viommu_iommu_event u = { .kind = VIOMMU_IOMMU_EV_UNMAP, .first = blk.first,
								.last = blk.last, .out = blk.out, .perm = blk.perm };
				notify(ias, lr, &u);
			}
		} else if (!(k == 1 && same_xlat(&ias->deliv[0], &blk))) {
			ev.first = blk.first;
			ev.last = blk.last;
			ev.out = blk.out;
			ev.pieces = ias->deliv;
			ev.npieces = k;
			notify(ias, lr, &ev);
		}
	}
}

/* Deliver one edit (x: MAP's piece, or the old extent) to one listener. */
static void deliver_to(struct viommu_iommu_as *ias, struct listener_reg *lr, unsigned kind,
		       const struct viommu_iommu_xlat *x, const struct viommu_iommu_xlat *p, size_t n)
{
	const struct viommu_iommu_listener *l = &lr->cfg;

	if (x->last < l->first || x->first > l->last)
		return;
	struct viommu_iommu_xlat c = clip(x, l->first, l->last);

	if (kind != VIOMMU_IOMMU_EV_CHANGE) {
		deliver_range(ias, lr, kind, &c);
		return;
	}
	size_t i0;
	bool ident;
	size_t k = pieces_in(p, n, c.first, c.last, x, &i0, &ident);

	if (k == 0) {
		deliver_range(ias, lr, VIOMMU_IOMMU_EV_UNMAP, &c);
		return;
	}
	if (ident)
		return;
	if (!(l->caps & VIOMMU_IOMMU_CAP_CHANGE)) {
		ias->st.windows++;
		deliver_range(ias, lr, VIOMMU_IOMMU_EV_UNMAP, &c);
		for (size_t i = i0; i < i0 + k; i++) {
			struct viommu_iommu_xlat q = clip(&p[i], c.first, c.last);

			/* Bytes that translate as before yet were unmapped: the real window. */
			if (q.perm == c.perm && q.out == c.out + (q.first - c.first))
				ias->st.window_bytes += q.last - q.first + 1;
			deliver_range(ias, lr, VIOMMU_IOMMU_EV_MAP, &q);
		}
		return;
	}
	if (l->kinds & VIOMMU_IOMMU_EV_CHANGE)
		deliver_change(ias, lr, &c, p + i0, k);
}

static void deliver(struct viommu_iommu_as *ias, unsigned kind, const struct viommu_iommu_xlat *x,
		    const struct viommu_iommu_xlat *p, size_t n)
{
	for (size_t i = 0; i < ias->nl; i++)
		deliver_to(ias, &ias->ls[i], kind, x, p, n);
}

/* The end of one operation: each listener that got events is told so. */
static void commit_listeners(struct viommu_iommu_as *ias)
{
	for (size_t i = 0; i < ias->nl; i++) {
		struct listener_reg *lr = &ias->ls[i];

		if (lr->touched && lr->cfg.commit)
			lr->cfg.commit(lr->user);
		lr->touched = false;
	}
}

/* Room in the delivery buffer for any listener's view of the new pieces p[0..n). */
static int reserve_deliv(struct viommu_iommu_as *ias, const struct viommu_iommu_xlat *p, size_t n)
{
	size_t need = n;
	bool pow2 = false;

	for (size_t i = 0; i < ias->nl && !pow2; i++)
		pow2 = !(ias->ls[i].cfg.caps & VIOMMU_IOMMU_CAP_ARBITRARY);
	/*
	 * Every aligned block inside the old extent lies inside one block of
	 * its cover, so the lowered pieces of all its blocks together are at
	 * most the lowered pieces themselves.
	 */
	for (size_t i = 0; pow2 && i < n; i++)
		need += viommu_pow2_count(p[i].first, p[i].last, 64);
	return reserve((void **)&ias->deliv, &ias->dcap, need, sizeof(*ias->deliv));
}

/* ---- the address space ------------------------------------------------- */

VIOMMU_API struct viommu_iommu_as *viommu_iommu_as_new(const struct viommu_iommu_as_opts *opts)
{
	struct viommu_iommu_as_opts o;
	struct viommu_iommu_as *ias;
	uint64_t pmask;

	if (!opts || !VI_OPTS_VALID(opts, viommu_iommu_as_opts)) {
		if (!opts)
			vi_warn("viommu_iommu_as_new: options are required (the read callback)");
		return vi_null(EINVAL);
	}
	VI_OPTS_COPY(&o, opts);
	if (!o.page_shift)
		o.page_shift = 12;
	if (o.msi_window && !o.msi_first && !o.msi_last) {
		o.msi_first = VIOMMU_X86_MSI_FIRST;
		o.msi_last = VIOMMU_X86_MSI_LAST;
	}
	pmask = o.page_shift <= 30 ? vi_mask(o.page_shift) : 0;
	if (!o.read || o.page_shift < 2 || o.page_shift > 30 ||
	    (o.merge_granule && ((o.merge_granule & (o.merge_granule - 1)) || o.merge_granule <= pmask)) ||
	    (o.msi_window && (o.msi_first > o.msi_last || (o.msi_first & pmask) || (o.msi_last & pmask) != pmask))) {
		vi_warn("viommu_iommu_as_new: %s", !o.read ? "no read callback"
			: o.page_shift < 2 || o.page_shift > 30 ? "page_shift outside 2..30"
			: o.merge_granule && ((o.merge_granule & (o.merge_granule - 1)) || o.merge_granule <= pmask)
				? "merge_granule not a power of two above the page size"
				: "interrupt window empty or not page aligned");
		return vi_null(EINVAL);
	}
	ias = calloc(1, sizeof(*ias));
	if (!ias)
		return vi_null(ENOMEM);
	ias->shadow = viommu_rangemap_new();
	if (!ias->shadow) {
		free(ias);
		return vi_null(ENOMEM);
	}
	ias->opts = o;
	ias->opts.sz = sizeof(o);
	ias->pmask = pmask;
	ias->view.pmask = pmask;
	ias->gmask = o.merge_granule ? o.merge_granule - 1 : 0;
	ias->view.gmask = ias->gmask;
	ias->view.msi = o.msi_window;
	ias->view.msi_first = o.msi_first;
	ias->view.msi_last = o.msi_last;
	ias->st.sz = sizeof(ias->st);
	return ias;
}

VIOMMU_API void viommu_iommu_as_free(struct viommu_iommu_as *ias)
{
	if (!ias)
		return;
	viommu_rangemap_free(ias->shadow);
	free(ias->ls);
	free(ias->view.runs);
	free(ias->pieces);
	free(ias->edits);
	free(ias->deliv);
	free(ias);
}

VIOMMU_API int viommu_iommu_listener_register(struct viommu_iommu_as *ias, struct viommu_iommu_listener *l)
{
	struct viommu_iommu_listener cfg;
	struct viommu_rangemap_iter it;
	struct listener_reg *lr;

	if (!ias || !l || !VI_OPTS_VALID(l, viommu_iommu_listener)) {
		if (!ias || !l)
			vi_warn("iommu: listener registration refused: NULL argument");
		return vi_errno(-EINVAL);
	}
	VI_OPTS_COPY(&cfg, l);
	if (cfg.first > cfg.last || !cfg.notify || (cfg.kinds & ~VIOMMU_IOMMU_EV_ALL) ||
	    (cfg.caps & ~(VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE)) ||
	    ((cfg.caps & VIOMMU_IOMMU_CAP_CHANGE) && !(cfg.kinds & VIOMMU_IOMMU_EV_CHANGE))) {
		vi_warn("iommu: listener [0x%llx, 0x%llx] kinds 0x%x caps 0x%x refused: %s",
			(unsigned long long)cfg.first, (unsigned long long)cfg.last, cfg.kinds, cfg.caps,
			cfg.first > cfg.last ? "first > last" : !cfg.notify ? "no notify callback"
			: (cfg.kinds & ~VIOMMU_IOMMU_EV_ALL) ? "unknown event kinds"
			: (cfg.caps & ~(VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE)) ? "unknown capabilities"
			: "CAP_CHANGE without EV_CHANGE");
		return vi_errno(-EINVAL);
	}
	if (ias->busy) {
		vi_warn("iommu: listener registration refused: inside a listener callback");
		return vi_errno(-EBUSY);
	}
	for (size_t i = 0; i < ias->nl; i++) {
		if (ias->ls[i].user == l) {
			vi_warn("iommu: listener registration refused: already registered");
			return vi_errno(-EEXIST);
		}
	}
	if (reserve((void **)&ias->ls, &ias->lcap, ias->nl + 1, sizeof(*ias->ls)))
		return vi_errno(-ENOMEM);
	lr = &ias->ls[ias->nl++];
	*lr = (struct listener_reg){ .user = l, .cfg = cfg };
	ias->busy = true;
	viommu_rangemap_for_each(&it, ias->shadow, cfg.first, cfg.last) {
		struct viommu_iommu_xlat x = dec(&it.entry);

		deliver_to(ias, lr, VIOMMU_IOMMU_EV_MAP, &x, NULL, 0);
	}
	commit_listeners(ias);
	ias->busy = false;
	return 0;
}

VIOMMU_API int viommu_iommu_listener_unregister(struct viommu_iommu_as *ias, struct viommu_iommu_listener *l)
{
	if (!ias || !l) {
		vi_warn("iommu: listener unregistration refused: NULL argument");
		return vi_errno(-EINVAL);
	}
	if (ias->busy) {
		vi_warn("iommu: listener unregistration refused: inside a listener callback");
		return vi_errno(-EBUSY);
	}
	for (size_t i = 0; i < ias->nl; i++) {
		if (ias->ls[i].user == l) {
			memmove(&ias->ls[i], &ias->ls[i + 1], (ias->nl - i - 1) * sizeof(*ias->ls));
			ias->nl--;
			return 0;
		}
	}
	vi_warn("iommu: listener unregistration refused: not registered");
	return vi_errno(-ENOENT);
}

/* [*first, *last] widened to the whole recorded extents it touches. */
static void widen(const struct viommu_iommu_as *ias, uint64_t *first, uint64_t *last)
{
	struct viommu_range_entry e;

	if (viommu_rangemap_find(ias->shadow, *first, &e))
		*first = e.first;
	if (viommu_rangemap_find(ias->shadow, *last, &e))
		*last = e.last;
}

static int add_edit(struct viommu_iommu_as *ias, unsigned kind, const struct viommu_iommu_xlat *old, size_t p0,
		    size_t np)
{
	if (reserve((void **)&ias->edits, &ias->ecap, ias->nedits + 1, sizeof(*ias->edits)))
		return -ENOMEM;
	struct shadow_edit *e = &ias->edits[ias->nedits++];

	e->kind = kind;
	if (old)
		e->old = *old;
	e->p0 = p0;
	e->np = np;
	return 0;
}

static bool can_merge(const struct viommu_iommu_as *ias, const struct viommu_iommu_xlat *p,
		      const struct viommu_iommu_xlat *x)
{
	return p->last + 1 == x->first && p->perm == x->perm && p->out + (p->last - p->first) + 1 == x->out &&
	       !(ias->gmask && !(x->first & ias->gmask));
}

/* Append x to the pieces, merged into the previous one when @merge allows. */
static int add_piece(struct viommu_iommu_as *ias, const struct viommu_iommu_xlat *x, bool merge)
{
	if (merge && can_merge(ias, &ias->pieces[ias->npieces - 1], x)) {
		ias->pieces[ias->npieces - 1].last = x->last;
		return 0;
	}
	if (reserve((void **)&ias->pieces, &ias->pcap, ias->npieces + 1, sizeof(*ias->pieces)))
		return -ENOMEM;
	ias->pieces[ias->npieces++] = *x;
	return 0;
}

/* Append the runs from *ri overlapping [a, b], clipped, to the pieces. */
static int take_runs(struct viommu_iommu_as *ias, size_t *ri, uint64_t a, uint64_t b, size_t p0)
{
	const struct viommu_iommu_view *v = &ias->view;

	while (*ri < v->n && v->runs[*ri].first <= b) {
		const struct viommu_iommu_xlat *r = &v->runs[*ri];

		if (r->last >= a) {
			struct viommu_iommu_xlat c = clip(r, a, b);

			if (add_piece(ias, &c, ias->npieces > p0))
				return -ENOMEM;
		}
		if (r->last > b)
			break;
		(*ri)++;
	}
	return 0;
}

/* A gap of the shadow inside the invalidated range: one MAP per run. */
static int compare_gap(struct viommu_iommu_as *ias, size_t *ri, uint64_t a, uint64_t b)
{
	size_t k = ias->npieces;
	int r = take_runs(ias, ri, a, b, SIZE_MAX);

	for (size_t i = k; !r && i < ias->npieces; i++)
		r = add_edit(ias, VIOMMU_IOMMU_EV_MAP, NULL, i, 1);
	return r;
}

/*
 * A recorded extent O: its new pieces are the guest's runs inside the
 * invalidated range [a, b] and, outside it, O's own translation (the guest
 * promised nothing changed there; it did not invalidate it).
 */
static int compare_extent(struct viommu_iommu_as *ias, size_t *ri, const struct viommu_iommu_xlat *o, uint64_t a,
			  uint64_t b)
{
	size_t p0 = ias->npieces;
	int r = 0;

	if (o->first < a) {
		struct viommu_iommu_xlat c = clip(o, o->first, a - 1);

		r = add_piece(ias, &c, false);
	}
	if (!r)
		r = take_runs(ias, ri, VI_MAX(o->first, a), VI_MIN(o->last, b), p0);
	if (!r && o->last > b) {
		struct viommu_iommu_xlat c = clip(o, b + 1, o->last);

		r = add_piece(ias, &c, ias->npieces > p0);
	}
	if (r)
		return r;
	size_t np = ias->npieces - p0;

	if (np == 0)
		return add_edit(ias, VIOMMU_IOMMU_EV_UNMAP, o, 0, 0);
	if (np == 1 && same_xlat(&ias->pieces[p0], o)) {
		ias->npieces = p0;
		return 0;
	}
	return add_edit(ias, VIOMMU_IOMMU_EV_CHANGE, o, p0, np);
}

/* The edits for the invalidation of [first, last]: the extents touching it and the gaps between them. */
static int compare(struct viommu_iommu_as *ias, uint64_t first, uint64_t last)
{
	struct viommu_rangemap_iter it;
	size_t ri = 0;
	uint64_t cur = first;
	int r;

	ias->nedits = 0;
	ias->npieces = 0;
	viommu_rangemap_for_each(&it, ias->shadow, first, last) {
		struct viommu_iommu_xlat o = dec(&it.entry);

		if (o.first > cur && (r = compare_gap(ias, &ri, cur, o.first - 1)))
			return r;
		if ((r = compare_extent(ias, &ri, &o, first, last)))
			return r;
		if (o.last >= last)
			return 0;
		cur = o.last + 1;
	}
	return compare_gap(ias, &ri, cur, last);
}

static int apply_edits(struct viommu_iommu_as *ias)
{
	int err = 0;

	for (size_t i = 0; i < ias->nedits && !err; i++) {
		const struct shadow_edit *e = &ias->edits[i];
		const struct viommu_iommu_xlat *p = ias->pieces ? &ias->pieces[e->p0] : NULL;
		size_t k = 0;

		switch (e->kind) {
		case VIOMMU_IOMMU_EV_MAP:
			err = viommu_rangemap_insert(ias->shadow, p->first, p->last, enc(p));
			if (!err)
				deliver(ias, VIOMMU_IOMMU_EV_MAP, p, NULL, 0);
			break;
		case VIOMMU_IOMMU_EV_UNMAP:
			viommu_rangemap_remove(ias->shadow, e->old.first, e->old.last, NULL);
			deliver(ias, VIOMMU_IOMMU_EV_UNMAP, &e->old, NULL, 0);
			break;
		default:
			/* room to hand the pieces to every listener, before the shadow changes */
			err = reserve_deliv(ias, p, e->np);
			if (err)
				break;
			viommu_rangemap_remove(ias->shadow, e->old.first, e->old.last, NULL);
			for (; k < e->np; k++) {
				err = viommu_rangemap_insert(ias->shadow, p[k].first, p[k].last, enc(&p[k]));
				if (err)
					break;
			}
			/* On ENOMEM tell exactly what the shadow now holds. */
			if (k)
				deliver(ias, VIOMMU_IOMMU_EV_CHANGE, &e->old, p, k);
			else
				deliver(ias, VIOMMU_IOMMU_EV_UNMAP, &e->old, NULL, 0);
			break;
		}
	}
	commit_listeners(ias);
	return err;
}

/*
 * The invalidation of one whole extent, the common case of a MAP or UNMAP
 * request (one 4K page per request is what Linux's iommu-dma does): a view
 * that is exactly one run over [first, last] where the shadow holds nothing
 * is one MAP; an empty view where the shadow holds exactly the extent
 * [first, last] is one UNMAP. Both are what compare() and apply_edits() would
 * find and do, in one shadow descent instead of a walk and then an edit.
 * A view of one run over exactly one recorded extent that translated
 * otherwise is one CHANGE, the extent's value rewritten in place. Returns the
 * edits made (1, or 0 when the extent already translates so), delivered and
 * committed; -1 if the general path must run (the shadow holds something
 * else there, or memory ran out: the general path then reports it and arms
 * the repair).
 */
static int sync_one(struct viommu_iommu_as *ias, uint64_t first, uint64_t last)
{
	const struct viommu_iommu_view *v = &ias->view;
	struct viommu_iommu_xlat x;
	uint64_t val;

	if (v->n == 1 && v->runs[0].first == first && v->runs[0].last == last) {
		struct viommu_rangemap_iter it;
		struct viommu_iommu_xlat o;
		int r;

		x = v->runs[0];
		r = viommu_rangemap_insert(ias->shadow, first, last, enc(&x));
		if (!r) {
			ias->busy = true;
			deliver(ias, VIOMMU_IOMMU_EV_MAP, &x, NULL, 0);
			goto done;
		}
		/* exactly one recorded extent there, retranslated: one CHANGE (a PSI of a remapped page) */
		if (r != -EEXIST || !viommu_rangemap_iter_start(&it, ias->shadow, first, last) ||
		    it.entry.first != first || it.entry.last != last)
			return -1;
		o = dec(&it.entry);
		if (same_xlat(&o, &x))
			return 0;
		if (reserve_deliv(ias, &x, 1))
			return -1;
		viommu_rangemap_iter_set_value(&it, enc(&x));
		ias->busy = true;
		deliver(ias, VIOMMU_IOMMU_EV_CHANGE, &o, &x, 1);
	} else if (v->n == 0 && !viommu_rangemap_remove(ias->shadow, first, last, &val)) {
		struct viommu_range_entry e = { first, last, val };

		x = dec(&e);
		ias->busy = true;
		deliver(ias, VIOMMU_IOMMU_EV_UNMAP, &x, NULL, 0);
	} else {
		return -1;
	}
done:
	commit_listeners(ias);
	ias->busy = false;
	return 1;
}

/* The range checks of sync, unmap_all and deviotlb_unmap: the range often comes from a guest's descriptor. */
static int op_refused(const struct viommu_iommu_as *ias, const char *op, uint64_t first, uint64_t last)
{
	if (!ias || first > last) {
		vi_debug("iommu: %s of [0x%llx, 0x%llx] refused: %s", op, (unsigned long long)first,
			 (unsigned long long)last, ias ? "first > last" : "no IOMMU address space");
		return -EINVAL;
	}
	if (ias->busy) {
		vi_warn("iommu: %s of [0x%llx, 0x%llx] refused: inside a listener callback", op,
			(unsigned long long)first, (unsigned long long)last);
		return -EBUSY;
	}
	return 0;
}

VIOMMU_API int viommu_iommu_sync(struct viommu_iommu_as *ias, uint64_t first, uint64_t last)
{
	int refused = op_refused(ias, "sync", first, last);

	if (refused)
		return vi_errno(refused);
	struct viommu_iommu_view *v = &ias->view;

	if (ias->repair) {
		first = VI_MIN(first, ias->repair_first);
		last = VI_MAX(last, ias->repair_last);
	}
	v->first = first;
	v->last = last;
	v->n = 0;
	v->have_prev = false;
	v->err = 0;
	ias->busy = true;	/* the callback must not re-enter either */
	int r = ias->opts.read(ias->opts.read_ctx, first, last, v);

	ias->busy = false;
	if (r > 0)
		r = -EINVAL;
	if (!r)
		r = v->err;
	if (r) {
		ias->st.read_errors++;
		vi_debug("iommu: sync of [0x%llx, 0x%llx] refused: the guest view could not be read (%d)",
			 (unsigned long long)first, (unsigned long long)last, r);
		return vi_errno(r);
	}
	if ((r = sync_one(ias, first, last)) >= 0) {
		ias->repair = false;
		ias->st.syncs++;
		return r;
	}
	if ((r = compare(ias, first, last)))
		return vi_errno(r);
	ias->busy = true;
	r = apply_edits(ias);
	ias->busy = false;
	if (r) {
		/* Everything this sync could touch: the range and the edits' extents (in order). */
		const struct shadow_edit *e0 = &ias->edits[0], *en = &ias->edits[ias->nedits - 1];
		uint64_t wf = VI_MIN(first, e0->kind == VIOMMU_IOMMU_EV_MAP ? ias->pieces[e0->p0].first : e0->old.first);
		uint64_t wl = VI_MAX(last, en->kind == VIOMMU_IOMMU_EV_MAP ? ias->pieces[en->p0].last : en->old.last);

		ias->repair_first = ias->repair ? VI_MIN(ias->repair_first, wf) : wf;
		ias->repair_last = ias->repair ? VI_MAX(ias->repair_last, wl) : wl;
		ias->repair = true;
		return vi_errno(r);
	}
	ias->repair = false;
	ias->st.syncs++;
	return (int)VI_MIN(ias->nedits, (size_t)INT32_MAX);
}

VIOMMU_API int viommu_iommu_unmap_all(struct viommu_iommu_as *ias, uint64_t first, uint64_t last)
{
	int refused = op_refused(ias, "unmap_all", first, last);

	if (refused)
		return vi_errno(refused);
	widen(ias, &first, &last);
	struct viommu_rangemap_iter it;

	ias->nedits = 0;
	viommu_rangemap_for_each(&it, ias->shadow, first, last) {
		struct viommu_iommu_xlat o = dec(&it.entry);

		if (add_edit(ias, VIOMMU_IOMMU_EV_UNMAP, &o, 0, 0))
			return vi_errno(-ENOMEM);
	}
	ias->busy = true;
	int r = apply_edits(ias);

	ias->busy = false;
	if (r)
		return vi_errno(r);
	return (int)VI_MIN(ias->nedits, (size_t)INT32_MAX);
}

VIOMMU_API int viommu_iommu_deviotlb_unmap(struct viommu_iommu_as *ias, uint64_t first, uint64_t last)
{
	int refused = op_refused(ias, "device-TLB invalidation", first, last);

	if (refused)
		return vi_errno(refused);
	struct viommu_iommu_xlat x = { first, last, 0, 0 };

	ias->busy = true;
	for (size_t i = 0; i < ias->nl; i++) {
		struct listener_reg *lr = &ias->ls[i];

		if (x.last < lr->cfg.first || x.first > lr->cfg.last)
			continue;
		struct viommu_iommu_xlat c = clip(&x, lr->cfg.first, lr->cfg.last);

		c.out = 0;
		deliver_range(ias, lr, VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP, &c);
	}
	commit_listeners(ias);
	ias->busy = false;
	return 0;
}

VIOMMU_API bool viommu_iommu_lookup(const struct viommu_iommu_as *ias, uint64_t addr, struct viommu_iommu_xlat *out)
{
	struct viommu_range_entry e;

	if (!ias || !viommu_rangemap_find(ias->shadow, addr, &e))
		return false;
	if (out)
		*out = dec(&e);
	return true;
}

VIOMMU_API bool viommu_iommu_lookup_next(const struct viommu_iommu_as *ias, uint64_t addr,
					 struct viommu_iommu_xlat *out)
{
	struct viommu_range_entry e;

	if (!ias || !viommu_rangemap_find_overlap(ias->shadow, addr, UINT64_MAX, &e))
		return false;
	if (out)
		*out = dec(&e);
	return true;
}

VIOMMU_API int viommu_iommu_get_stats(const struct viommu_iommu_as *ias, struct viommu_iommu_stats *st)
{
	struct viommu_iommu_stats s;

	if (!ias)
		return vi_errno(-EINVAL);
	s = ias->st;
	s.sz = sizeof(s);
	s.extents = (uint64_t)viommu_rangemap_count(ias->shadow);
	return vi_errno(VI_OPTS_OUT(st, &s, viommu_iommu_stats));
}

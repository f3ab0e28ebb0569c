/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the IOMMU event tests: a guest page table modelled as a range
 * map of leaves (first..last -> out | perm) with the read-view callback over
 * it, and a listener that records its events as text so tests can compare
 * exact event lists.
 */
#ifndef VIOMMU_TEST_IOMMU_MODEL_H
#define VIOMMU_TEST_IOMMU_MODEL_H
#include <viommu/iommu.h>
#include <viommu/rangemap.h>

#include "test.h"

struct guest {
	struct viommu_rangemap *leaves;	/* value = out | perm */
	int fail;			/* non-zero: the read callback returns it */
	unsigned reads;
};

static inline int guest_read(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *view)
{
	struct guest *g = ctx;
	struct viommu_rangemap_iter it;

	g->reads++;
	if (g->fail)
		return g->fail;
	viommu_rangemap_for_each(&it, g->leaves, first, last) {
		int r = viommu_iommu_view_add(view, it.entry.first, it.entry.last, it.entry.value & ~3ull,
					      (unsigned)(it.entry.value & 3));
		if (r)
			return r;
	}
	return 0;
}

static inline void guest_map(struct guest *g, uint64_t first, uint64_t size, uint64_t out, unsigned perm)
{
	if (viommu_rangemap_insert(g->leaves, first, first + size - 1, out | perm))
		T_FATAL("guest_map overlap at 0x%" PRIx64, first);
}

static inline void guest_unmap(struct guest *g, uint64_t first, uint64_t last)
{
	viommu_rangemap_remove_inside(g->leaves, first, last, NULL, NULL);
}

/* A listener writing "K first-last>out/perm" per event, CHANGE with [pieces]. */
struct rec {
	struct viommu_iommu_listener l;
	char log[1 << 16];
	size_t len;
	unsigned n;
};

static inline void rec_put(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#include <stdarg.h>
static inline void rec_put(struct rec *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (r->len < sizeof(r->log))
		r->len += (size_t)vsnprintf(r->log + r->len, sizeof(r->log) - r->len, fmt, ap);
	va_end(ap);
	if (r->len > sizeof(r->log))
		r->len = sizeof(r->log);
}

static inline void rec_notify(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	struct rec *r = (struct rec *)l;
	static const char k[] = "?MU?C???D";
	struct viommu_iommu_piece_iter it;

	r->n++;
	rec_put(r, "%c %" PRIx64 "-%" PRIx64 ">%" PRIx64 "/%u", k[ev->kind], ev->first, ev->last, ev->out, ev->perm);
	if (ev->kind == VIOMMU_IOMMU_EV_CHANGE) {
		rec_put(r, "[");
		viommu_iommu_event_for_each_new(&it, ev)
			rec_put(r, "%" PRIx64 "-%" PRIx64 ">%" PRIx64 "/%u,", it.piece.first, it.piece.last,
				it.piece.out, it.piece.perm);
		rec_put(r, "]");
	}
	rec_put(r, ";");
}

static inline void rec_init(struct rec *r, uint64_t first, uint64_t last, unsigned kinds, unsigned caps)
{
	memset(r, 0, sizeof(*r));
	r->l.sz = sizeof(r->l);
	r->l.first = first;
	r->l.last = last;
	r->l.kinds = kinds;
	r->l.caps = caps;
	r->l.notify = rec_notify;
}

static inline void rec_clear(struct rec *r)
{
	r->len = 0;
	r->n = 0;
	r->log[0] = 0;
}

/* Parameters of guest_mutate(): the guest, pages [base, base + npages * 4K), an output chooser. */
struct gmut {
	struct guest *g;
	struct t_rng *rng;
	uint64_t base;
	size_t npages;
	uint64_t (*rand_out)(void *ctx, uint64_t align_pages);	/* aligned to align_pages 4K pages */
	void *ctx;
};


/*
 * One random guest mutation (4K and 2M leaves, 2M <-> 4K replacements, one
 * page changed, unmaps); *a..*b is what the guest must invalidate. false if
 * the drawn mutation was not possible.
 */
static inline bool guest_mutate(struct gmut *m, uint64_t *a, uint64_t *b)
{
	struct guest *gg = m->g;
	struct t_rng *rng = m->rng;
	uint64_t base = m->base;
	size_t npages = m->npages;
	size_t p = t_rng_below(rng, npages), blk = p / 512u * 512u;
	uint64_t iova = base + p * 0x1000ull, biova = base + blk * 0x1000ull;
	struct viommu_range_entry e;
	unsigned op = (unsigned)t_rng_below(rng, 7);

	switch (op) {
	case 0: { /* map a 4K leaf, often continuing the output of the page before */
		uint64_t out = m->rand_out(m->ctx, 1);

		if (!!viommu_rangemap_find(gg->leaves, iova, NULL))
			return false;
		if (p && t_rng_below(rng, 2) && viommu_rangemap_find(gg->leaves, iova - 0x1000ull, &e))
			out = (e.value & ~3ull) + (iova - e.first);
		guest_map(gg, iova, 0x1000ull, out, 3);
		*a = iova;
		*b = iova + 0x1000ull - 1;
		return true;
	}
	case 1: /* map a 2M leaf over a free block */
		if (viommu_rangemap_find_overlap(gg->leaves, biova, biova + 512u * 0x1000ull - 1, NULL))
			return false;
		guest_map(gg, biova, 512u * 0x1000ull, m->rand_out(m->ctx, 512u), (1 + (unsigned)t_rng_below(rng, 3)));
		*a = biova;
		*b = biova + 512u * 0x1000ull - 1;
		return true;
	case 2: /* unmap the leaf holding p */
		if (!viommu_rangemap_find(gg->leaves, iova, &e))
			return false;
		viommu_rangemap_remove(gg->leaves, e.first, e.last, NULL);
		*a = e.first;
		*b = e.last;
		return true;
	case 3: { /* 2M -> 512 x 4K, same output, maybe one page changed */
		if (!viommu_rangemap_find(gg->leaves, iova, &e) || e.last - e.first + 1 != 512u * 0x1000ull)
			return false;
		viommu_rangemap_remove(gg->leaves, e.first, e.last, NULL);
		size_t chg = t_rng_below(rng, 2) ? t_rng_below(rng, 512u) : 512u;

		for (size_t i = 0; i < 512u; i++)
			guest_map(gg, e.first + i * 0x1000ull, 0x1000ull, i == chg ? m->rand_out(m->ctx, 1) : (e.value & ~3ull) + i * 0x1000ull,
				  i == chg ? (1 + (unsigned)t_rng_below(rng, 3)) : (unsigned)(e.value & 3));
		*a = e.first;
		*b = e.last;
		/* Sometimes the guest invalidates only the page it changed (still correct). */
		if (chg < 512u && t_rng_below(rng, 2)) {
			*a = e.first + chg * 0x1000ull;
			*b = *a + 0x1000ull - 1;
		}
		return true;
	}
	case 4: { /* whatever is in a 2M block -> one 2M leaf, often the output of page 0 */
		uint64_t out = m->rand_out(m->ctx, 512u);

		if (viommu_rangemap_find(gg->leaves, biova, &e) && e.first == biova && !((e.value & ~3ull) % (512u * 0x1000ull)) &&
		    t_rng_below(rng, 4))
			out = e.value & ~3ull;
		if (viommu_rangemap_find(gg->leaves, biova, &e) && e.first < biova)
			return false;
		if (viommu_rangemap_find(gg->leaves, biova + 512u * 0x1000ull - 1, &e) && e.last > biova + 512u * 0x1000ull - 1)
			return false;
		guest_unmap(gg, biova, biova + 512u * 0x1000ull - 1);
		guest_map(gg, biova, 512u * 0x1000ull, out, t_rng_below(rng, 4) ? 3 : (1 + (unsigned)t_rng_below(rng, 3)));
		*a = biova;
		*b = biova + 512u * 0x1000ull - 1;
		return true;
	}
	case 5: /* change one 4K leaf */
		if (!viommu_rangemap_find(gg->leaves, iova, &e) || e.first != e.last - 0x1000ull + 1)
			return false;
		viommu_rangemap_remove(gg->leaves, e.first, e.last, NULL);
		guest_map(gg, e.first, 0x1000ull, t_rng_below(rng, 2) ? m->rand_out(m->ctx, 1) : e.value & ~3ull, (1 + (unsigned)t_rng_below(rng, 3)));
		*a = e.first;
		*b = e.last;
		return true;
	default: { /* unmap every leaf inside a random run of pages */
		size_t n = 1 + t_rng_below(rng, 64);
		uint64_t last = base + (npages < p + n ? npages : p + n) * 0x1000ull - 1;

		if (viommu_rangemap_remove_inside(gg->leaves, iova, last, NULL, NULL) <= 0)
			return false;
		*a = iova;
		*b = last;
		return true;
	}
	}
}

/*
 * A per-page copy of what an arbitrary-range, CHANGE-capable listener was
 * told, over the 4K pages [0, npages): every event lies inside, a MAP lands on
 * pages the copy does not hold, an UNMAP or CHANGE names exactly the outputs
 * the copy was given, and CHANGE's new pieces replace them.
 */
struct page_copy {
	struct viommu_iommu_listener l;
	size_t npages;
	uint64_t *out;
	unsigned *perm;
};

static inline void page_copy_notify(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	struct page_copy *c = (struct page_copy *)l;
	struct viommu_iommu_piece_iter it;
	const uint64_t pg = 0x1000;

	if (ev->last >= c->npages * pg) {
		T_OK(0);
		return;
	}
	for (uint64_t a = ev->first; a <= ev->last; a += pg) {
		if (ev->kind == VIOMMU_IOMMU_EV_MAP) {
			T_EQ(c->perm[a / pg], 0);
			c->perm[a / pg] = ev->perm;
			c->out[a / pg] = ev->out + (a - ev->first);
		} else {
			T_OK(c->perm[a / pg] != 0);
			T_EQ_U64(c->out[a / pg], ev->out + (a - ev->first));
			c->perm[a / pg] = 0;
		}
	}
	viommu_iommu_event_for_each_new(&it, ev)
		for (uint64_t a = it.piece.first; a <= it.piece.last; a += pg) {
			c->perm[a / pg] = it.piece.perm;
			c->out[a / pg] = it.piece.out + (a - it.piece.first);
		}
}

/* A page copy listening to the whole space, over caller-provided arrays. */
static inline void page_copy_init(struct page_copy *c, uint64_t *out, unsigned *perm, size_t npages)
{
	*c = (struct page_copy){ .npages = npages, .out = out, .perm = perm };
	c->l = (struct viommu_iommu_listener){ .sz = sizeof(c->l), .first = 0, .last = UINT64_MAX,
					       .kinds = VIOMMU_IOMMU_EV_ALL,
					       .caps = VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE,
					       .notify = page_copy_notify };
}

#endif

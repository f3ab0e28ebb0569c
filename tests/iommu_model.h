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
	r->l.size = sizeof(r->l);
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

#endif

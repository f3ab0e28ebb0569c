// SPDX-License-Identifier: MIT
/*
 * The host connector: IOMMU events on a device's IOMMU address space become
 * host backend calls (semantics.md §1.1, §1.4, §3).
 *
 * Each MAP event (and each new piece of a CHANGE) is composed with the system
 * address space's flat view (GPA -> host address) and mapped as one host
 * mapping per section it crosses. The record (a range map: IOVA extent ->
 * vaddr | prot) equals what the backend holds: it changes only after the
 * backend accepted a call. Because every host mapping lies inside one event
 * extent and the IOMMU layer only ever removes or changes whole extents, an
 * UNMAP is one backend call covering whole mappings, never a bisect; should
 * an event ever cover part of a recorded mapping (not possible through
 * viommu_iommu_sync, kept for safety) the mapping is removed whole and its
 * remainder mapped again, as the reconciler does, and counted as a window.
 * With opts.memory set, a memory listener on the system address space
 * composes again every extent whose output a memory-map change touched.
 */
#include <stdlib.h>
#include <string.h>

#include <viommu/iommu.h>
#include <viommu/rangemap.h>

#include "iommu/iommu_int.h"
#include "memory/memory_int.h"
#include "util/compiler.h"

#define PROT_MASK (VIOMMU_HOST_PROT_READ | VIOMMU_HOST_PROT_WRITE)

/*
 * Invariants: @maps equals the backend's mappings made by this connector
 * (vaddr is page aligned, so prot fits in its low bits). Locking: the IOMMU
 * address space's (callbacks run inside its sync).
 */
struct viommu_iommu_host {
	struct viommu_iommu_as *ias;
	struct viommu_as *sys;
	struct viommu_host *h;
	struct viommu_iommu_host_opts opts;
	struct viommu_iommu_listener l;
	struct viommu_memory_listener ml;	/* registered iff opts.memory */
	bool ml_quiet;				/* ignore the listener's replay and final removal */
	struct viommu_rangemap *maps;
	uint64_t page;
	struct viommu_iommu_host_stats st;
};

static void report(struct viommu_iommu_host *c, enum viommu_iommu_host_report_kind kind, int err, uint64_t first,
		   uint64_t last, bool is_unmap)
{
	struct viommu_iommu_host_report r = { kind, err, first, last, is_unmap };

	c->st.reports++;
	if (kind == VIOMMU_IOMMU_HOST_BACKEND)
		c->st.errors++;
	if (c->opts.report)
		c->opts.report(c->opts.report_ctx, &r);
}

static void host_map(struct viommu_iommu_host *c, uint64_t first, uint64_t last, uint64_t vaddr, unsigned prot)
{
	uint64_t len = last - first + 1;
	int r;

	c->st.map_ops++;
	r = viommu_host_map(c->h, first, len, vaddr, prot);
	if (r) {
		report(c, VIOMMU_IOMMU_HOST_BACKEND, r, first, last, false);
		return;
	}
	if (viommu_rangemap_insert(c->maps, first, last, vaddr | prot)) {
		/* Keep the record equal to the backend: take it back. */
		c->st.unmap_ops++;
		viommu_host_unmap(c->h, first, len, NULL);
		report(c, VIOMMU_IOMMU_HOST_BACKEND, -ENOMEM, first, last, false);
	}
}

/* Map IOVA [first, last] -> GPA gpa.. with IOMMU permissions perm. */
static void map_range(struct viommu_iommu_host *c, uint64_t first, uint64_t last, uint64_t gpa, unsigned perm)
{
	uint64_t pm = c->page - 1;

	if ((first & pm) || ((last + 1) & pm) || (gpa & pm)) {
		report(c, VIOMMU_IOMMU_HOST_UNALIGNED, -EINVAL, first, last, false);
		return;
	}
	struct viommu_flatview *v = viommu_as_get_flatview(c->sys);
	size_t n = viommu_flatview_count(v);
	uint64_t cur = first;

	for (;;) {
		uint64_t g = gpa + (cur - first);
		uint64_t rest = last - cur;			/* bytes left - 1 */
		size_t i = viommu_flatview_lower(v, g);
		const struct viommu_mr_section *s = i < n ? viommu_flatview_section(v, i) : NULL;
		uint64_t end;

		if (!s || s->first > g) {
			/* a hole up to the next section */
			end = !s || s->first - g - 1 >= rest ? last : cur + (s->first - g - 1);
			report(c, VIOMMU_IOMMU_HOST_NOT_RAM, -EFAULT, cur, end, false);
		} else {
			end = s->last - g >= rest ? last : cur + (s->last - g);
			if (s->kind != VIOMMU_MR_RAM && s->kind != VIOMMU_MR_RAM_DEVICE) {
				report(c, VIOMMU_IOMMU_HOST_NOT_RAM, -ENXIO, cur, end, false);
			} else if (((uintptr_t)s->host + (g - s->first)) & pm || ((end + 1) & pm)) {
				report(c, VIOMMU_IOMMU_HOST_UNALIGNED, -EINVAL, cur, end, false);
			} else {
				unsigned prot = 0;

				if (perm & VIOMMU_IOMMU_PERM_READ)
					prot |= VIOMMU_HOST_PROT_READ;
				if ((perm & VIOMMU_IOMMU_PERM_WRITE) && !s->readonly)
					prot |= VIOMMU_HOST_PROT_WRITE;
				if (prot)
					host_map(c, cur, end, (uint64_t)(uintptr_t)s->host + (g - s->first), prot);
			}
		}
		if (end == last)
			break;
		cur = end + 1;
	}
	viommu_flatview_put(v);
}

/* Remove every host mapping overlapping [first, last]; returns bytes unmapped. */
static uint64_t unmap_range(struct viommu_iommu_host *c, uint64_t first, uint64_t last)
{
	struct viommu_range_entry lo, hi, e;
	bool has_lo = false, has_hi = false;
	uint64_t a = first, b = last, unmapped = 0;

	if (!viommu_rangemap_find_overlap(c->maps, first, last, &e))
		return 0;
	if (viommu_rangemap_find(c->maps, first, &lo) && lo.first < first) {
		has_lo = true;
		a = lo.first;
	}
	if (viommu_rangemap_find(c->maps, last, &hi) && hi.last > last) {
		has_hi = true;
		b = hi.last;
	}
	c->st.unmap_ops++;
	int r = viommu_host_unmap(c->h, a, b - a + 1, &unmapped);

	if (r) {
		report(c, VIOMMU_IOMMU_HOST_BACKEND, r, a, b, true);
		return 0;
	}
	viommu_rangemap_remove_inside(c->maps, a, b, NULL, NULL);
	/* Only reachable if an event cut a mapping: put the remainder back. */
	if (has_lo) {
		c->st.windows++;
		c->st.window_bytes += first - lo.first;
		host_map(c, lo.first, first - 1, lo.value & ~(uint64_t)PROT_MASK, (unsigned)(lo.value & PROT_MASK));
	}
	if (has_hi) {
		c->st.windows++;
		c->st.window_bytes += hi.last - last;
		host_map(c, last + 1, hi.last, (hi.value & ~(uint64_t)PROT_MASK) + (last + 1 - hi.first),
			 (unsigned)(hi.value & PROT_MASK));
	}
	return unmapped;
}

static void on_event(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	struct viommu_iommu_host *c = vi_container_of(l, struct viommu_iommu_host, l);
	struct viommu_iommu_piece_iter it;

	switch (ev->kind) {
	case VIOMMU_IOMMU_EV_MAP:
		map_range(c, ev->first, ev->last, ev->out, ev->perm);
		break;
	case VIOMMU_IOMMU_EV_UNMAP:
		unmap_range(c, ev->first, ev->last);
		break;
	case VIOMMU_IOMMU_EV_CHANGE: {
		/*
		 * No kernel uAPI replaces a mapping in place (semantics.md §1.4):
		 * unmap the old extent exactly, then map the new pieces. The
		 * window is the old extent and nothing more.
		 */
		uint64_t bytes = unmap_range(c, ev->first, ev->last);

		if (bytes) {
			c->st.windows++;
			c->st.window_bytes += bytes;
		}
		viommu_iommu_event_for_each_new(&it, ev)
			map_range(c, it.piece.first, it.piece.last, it.piece.out, it.piece.perm);
		break;
	}
	default:
		break;
	}
}

/*
 * The memory map changed: every IOMMU extent whose output overlaps a changed
 * GPA range is composed again (unmapped whole, mapped from the new view).
 * One pass over the extents per changed range: memory commits are rare.
 */
static void on_memory_diff(struct viommu_memory_listener *ml, struct viommu_as *as, const struct viommu_mr_diff *d,
			   size_t n)
{
	struct viommu_iommu_host *c = vi_container_of(ml, struct viommu_iommu_host, ml);

	(void)as;
	if (c->ml_quiet)
		return;
	for (size_t i = 0; i < n; i++) {
		struct viommu_iommu_xlat x;
		uint64_t addr = 0;

		if (!d[i].changed)
			continue;
		while (vi_iommu_extent_from(c->ias, addr, &x)) {
			uint64_t out_last = x.out + (x.last - x.first);

			if (x.out <= d[i].last && d[i].first <= out_last) {
				uint64_t bytes = unmap_range(c, x.first, x.last);

				if (bytes) {
					c->st.windows++;
					c->st.window_bytes += bytes;
				}
				map_range(c, x.first, x.last, x.out, x.perm);
			}
			if (x.last == UINT64_MAX)
				break;
			addr = x.last + 1;
		}
	}
}

VIOMMU_API struct viommu_iommu_host *viommu_iommu_host_new(struct viommu_iommu_as *ias, struct viommu_as *sys,
							   struct viommu_host *h,
							   const struct viommu_iommu_host_opts *opts)
{
	struct viommu_host_caps caps = { .sz = sizeof(caps) };

	if (!ias || !sys || !h || (opts && opts->sz < sizeof(*opts)))
		return vi_null(EINVAL);
	if (viommu_host_get_caps(h, &caps) || !caps.iova_alignment)
		return vi_null(EINVAL);
	struct viommu_iommu_host *c = calloc(1, sizeof(*c));

	if (!c)
		return vi_null(ENOMEM);
	c->maps = viommu_rangemap_new();
	if (!c->maps) {
		free(c);
		return vi_null(ENOMEM);
	}
	c->ias = ias;
	c->sys = sys;
	c->h = h;
	if (opts)
		c->opts = *opts;
	c->page = caps.iova_alignment;
	c->l = (struct viommu_iommu_listener){
		.size = sizeof(c->l),
		.first = 0,
		.last = UINT64_MAX,
		.kinds = VIOMMU_IOMMU_EV_MAP | VIOMMU_IOMMU_EV_UNMAP | VIOMMU_IOMMU_EV_CHANGE,
		.caps = VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE,
		.notify = on_event,
		.opaque = c,
	};
	int r = viommu_iommu_listener_register(ias, &c->l);

	if (r) {
		viommu_rangemap_free(c->maps);
		free(c);
		return vi_null(-r);
	}
	if (c->opts.memory) {
		c->ml = (struct viommu_memory_listener){ .sz = sizeof(c->ml), .as = sys, .diff = on_memory_diff };
		c->ml_quiet = true;	/* the replay: already composed above */
		r = viommu_memory_listener_register(c->opts.memory, &c->ml);
		c->ml_quiet = false;
		if (r) {
			viommu_iommu_host_free(c, true);
			return vi_null(-r);
		}
	}
	return c;
}

VIOMMU_API void viommu_iommu_host_free(struct viommu_iommu_host *c, bool unmap)
{
	if (!c)
		return;
	viommu_iommu_listener_unregister(c->ias, &c->l);
	if (c->opts.memory && c->ml.sz) {
		c->ml_quiet = true;
		viommu_memory_listener_unregister(c->opts.memory, &c->ml);
	}
	struct viommu_range_entry lo, hi;

	if (unmap && viommu_rangemap_first(c->maps, &lo) && viommu_rangemap_last(c->maps, &hi))
		unmap_range(c, lo.first, hi.last);
	viommu_rangemap_free(c->maps);
	free(c);
}

VIOMMU_API int viommu_iommu_host_get_stats(const struct viommu_iommu_host *c, struct viommu_iommu_host_stats *st)
{
	if (!c || !st || st->sz < sizeof(*st))
		return vi_errno(-EINVAL);
	*st = c->st;
	st->sz = sizeof(*st);
	st->mappings = viommu_rangemap_count(c->maps);
	return 0;
}

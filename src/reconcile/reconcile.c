// SPDX-License-Identifier: MIT
/*
 * The reconciler: keeps host IOMMU backends equal to the DMA-mappable part of
 * an address space's flat view (semantics.md §1.3-§1.5, §4).
 *
 * One rule does all the work, "reconcile backend B over range R":
 *   1. every host mapping overlapping R whose whole extent still translates
 *      exactly as the view says is kept;
 *   2. every other one is unmapped whole (never bisected) and the part of it
 *      that still translates as before is mapped again at once: the only
 *      window a change can force, counted in the statistics;
 *   3. whatever the view says is mappable in R (and in the extents removed in
 *      2) but is not mapped is mapped, one host extent per section piece,
 *      split at the extent granule.
 * A commit reconciles over the ranges the diff marks as changed, so unchanged
 * ranges (merges, renames, re-parenting) cost nothing; attaching a backend and
 * resyncing reconcile over the whole space.
 *
 * The record of each backend's mappings (a range map: extent -> vaddr | prot)
 * is only changed after the backend accepted a call, so it always equals what
 * the backend holds, whatever fails.
 */
#include <stdlib.h>
#include <string.h>

#include <viommu/rangemap.h>
#include <viommu/reconcile.h>

#include "util/compiler.h"

#define PROT_MASK (VIOMMU_HOST_PROT_READ | VIOMMU_HOST_PROT_WRITE)

struct range { uint64_t first, last; };

/* One attached backend and what the reconciler mapped in it. */
struct recon_backend {
	struct viommu_host *h;
	struct viommu_rangemap *maps;	/* host extents -> vaddr | prot (vaddr is page aligned) */
	uint64_t page;			/* smallest IOMMU page: every extent is aligned to it */
	uint32_t nranges;		/* usable IOVA ranges, ascending */
	struct viommu_host_iova_range ranges[VIOMMU_HOST_CAPS_MAX_RANGES];
	struct viommu_recon_stats st;
	bool full;			/* the backend said ENOSPC in this work range: stop asking */
	struct recon_backend *next;
};

/*
 * A pending host extent being grown from contiguous pieces before it is
 * mapped (pieces of one section, or of several with coalescing on).
 */
struct pending {
	bool valid;
	uint64_t first, last, vaddr;
	unsigned prot;
	bool unmergeable;
};

/*
 * Invariants: @view is the last flat view the listener delivered (NULL when
 * empty), referenced; every backend's @maps equals its backend's mappings.
 * Locking: the memory model's (see the header).
 */
struct viommu_recon {
	struct viommu_memory *m;
	struct viommu_as *as;
	struct viommu_recon_opts opts;
	struct viommu_memory_listener l;
	struct viommu_flatview *view;
	struct recon_backend *backends;
	/* ranges the current commit changed (merged, ascending) */
	struct range *dirty;
	size_t ndirty, dirty_cap;
	bool view_emptied;		/* no diff entry of this commit has a new side */
	bool dirty_oom;			/* could not record a range: reconcile everything */
	int status;			/* first error of the last operation */
	struct viommu_recon_report first_error;
	uint64_t commits;
};

/* ---- the view -------------------------------------------------------- */

static size_t view_count(const struct viommu_flatview *v)
{
	return v ? viommu_flatview_count(v) : 0;
}

/* Index of the first section with last >= addr. */
static size_t view_lower(const struct viommu_flatview *v, uint64_t addr)
{
	size_t lo = 0, hi = view_count(v);

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (viommu_flatview_section(v, mid)->last < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

#define for_each_section(v, i, s, a, b)						\
	for (size_t i = view_lower((v), (a));					\
	     i < view_count(v) && ((s) = viommu_flatview_section((v), i))->first <= (b); i++)

static bool mappable(const struct viommu_recon *r, const struct viommu_mr_section *s)
{
	return s->kind == VIOMMU_MR_RAM || (s->kind == VIOMMU_MR_RAM_DEVICE && !r->opts.skip_ram_device);
}

static unsigned section_prot(const struct viommu_mr_section *s)
{
	return s->readonly ? VIOMMU_HOST_PROT_READ : VIOMMU_HOST_PROT_READ | VIOMMU_HOST_PROT_WRITE;
}

/* Host address minus IOVA, modulo 2^64: equal deltas mean one translation. */
static uint64_t section_delta(const struct viommu_mr_section *s)
{
	return (uint64_t)(uintptr_t)s->host - s->first;
}

/*
 * A run: mappable sections with one translation (same kind, delta and
 * permissions), glued where they meet inside a page. Such a page can only be
 * mapped whole, so whether it is mapped must not depend on where the
 * sections meet (a change the diff calls "unchanged" can move that point).
 * Runs still break at page-aligned section boundaries: different regions
 * keep different host extents, so a later change to one never bisects the
 * other's.
 */
struct run {
	uint64_t first, last;
	const struct viommu_mr_section *s;	/* the first section: kind, delta, prot, name */
	bool unmergeable;
};

static bool same_translation(const struct viommu_mr_section *a, const struct viommu_mr_section *b)
{
	return a->kind == b->kind && section_delta(a) == section_delta(b) && section_prot(a) == section_prot(b);
}

/* The next run at or after section *idx that starts at or before @last; *idx moves past it. */
static bool next_run(const struct viommu_recon *r, uint64_t pm, size_t *idx, uint64_t last, struct run *out)
{
	const struct viommu_flatview *v = r->view;
	const struct viommu_mr_section *s = NULL;

	for (; *idx < view_count(v); (*idx)++) {
		s = viommu_flatview_section(v, *idx);
		if (s->first > last)
			return false;
		if (mappable(r, s))
			break;
	}
	if (!s || *idx >= view_count(v))
		return false;
	*out = (struct run){ .first = s->first, .last = s->last, .s = s, .unmergeable = s->unmergeable };
	for ((*idx)++; *idx < view_count(v); (*idx)++) {
		const struct viommu_mr_section *t = viommu_flatview_section(v, *idx);
		if (out->last == UINT64_MAX || t->first != out->last + 1 || !mappable(r, t) ||
		    !same_translation(out->s, t) || (t->first & pm) == 0)
			break;
		out->last = t->last;
		out->unmergeable |= t->unmergeable;
	}
	return true;
}

/* ---- reports and statistics -------------------------------------------- */

static void report(struct viommu_recon *r, enum viommu_recon_report_kind kind, int err, uint64_t first,
		   uint64_t last, struct recon_backend *b, const struct viommu_mr_section *s, bool is_unmap)
{
	struct viommu_recon_report rep = {
		.kind = kind, .err = err, .first = first, .last = last, .backend = b ? b->h : NULL,
		.region = s && s->mr ? viommu_mr_name(s->mr) : NULL, .is_unmap = is_unmap,
	};
	bool is_error = kind >= VIOMMU_RECON_ERR_UNALIGNED_RAM;

	if (b) {
		if (is_error)
			b->st.errors++;
		else
			b->st.skipped++;
	}
	if (is_error && r->status == 0) {
		r->status = err ? err : -EINVAL;
		r->first_error = rep;
		r->first_error.region = NULL;	/* only valid during the callback */
	}
	if (r->opts.report)
		r->opts.report(r->opts.report_ctx, &rep);
}

/* ---- host calls that keep the record exact ------------------------------ */

static int host_map(struct viommu_recon *r, struct recon_backend *b, uint64_t first, uint64_t last,
		    uint64_t vaddr, unsigned prot, const struct viommu_mr_section *s)
{
	uint64_t len = last - first + 1;	/* extents are page aligned: never 2^64 */
	int rc;

	b->st.map_ops++;
	rc = viommu_host_map(b->h, first, len, vaddr, prot);
	if (rc) {
		if (rc == -ENOSPC)
			b->full = true;
		report(r, VIOMMU_RECON_ERR_BACKEND, rc, first, last, b, s, false);
		return rc;
	}
	rc = viommu_rangemap_insert(b->maps, first, last, vaddr | prot);
	if (rc) {
		/* Keep record == backend: take the mapping back out. */
		uint64_t done = 0;
		b->st.unmap_ops++;
		if (viommu_host_unmap(b->h, first, len, &done) == 0 && done == len)
			b->st.unmap_bytes += len;
		report(r, VIOMMU_RECON_ERR_BACKEND, rc, first, last, b, s, false);
		return rc;
	}
	b->st.map_bytes += len;
	b->st.mappings++;
	if (b->st.mappings > b->st.max_mappings)
		b->st.max_mappings = b->st.mappings;
	return 0;
}

static int host_unmap(struct viommu_recon *r, struct recon_backend *b, uint64_t first, uint64_t last)
{
	uint64_t len = last - first + 1, done = 0;
	int rc;

	b->st.unmap_ops++;
	rc = viommu_host_unmap(b->h, first, len, &done);
	if (rc == 0 && done != len)
		rc = -EIO;	/* the backend held something else: record and report */
	if (rc) {
		report(r, VIOMMU_RECON_ERR_BACKEND, rc, first, last, b, NULL, true);
		return rc;
	}
	viommu_rangemap_remove(b->maps, first, last, NULL);
	b->st.unmap_bytes += len;
	b->st.mappings--;
	return 0;
}

/* ---- mapping what is missing ------------------------------------------- */

/* The lowest page-aligned region boundary in (first, last], or 0 if none. */
static uint64_t next_boundary(const struct viommu_recon *r, uint64_t pm, uint64_t first, uint64_t last)
{
	const uint64_t *bd;
	size_t n = viommu_flatview_boundaries(r->view, &bd), lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (bd[mid] <= first)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && bd[lo] <= last; lo++)
		if (!(bd[lo] & pm))
			return bd[lo];
	return 0;
}

static void flush_pending(struct viommu_recon *r, struct recon_backend *b, struct pending *p,
			  const struct viommu_mr_section *s)
{
	uint64_t g = r->opts.extent_granule, first, vaddr;

	if (!p->valid)
		return;
	p->valid = false;
	first = p->first;
	vaddr = p->vaddr;
	/*
	 * Split at multiples of the granule so an unplug of one never bisects,
	 * and (unless coalescing for the budget) at region boundaries, where
	 * the tree can change independently even if the view merged the pieces.
	 */
	for (;;) {
		uint64_t last = p->last, bd;
		if (b->full) {
			/*
			 * The backend is out of mappings: one report for the rest
			 * of the run instead of a failing call per extent.
			 */
			report(r, VIOMMU_RECON_ERR_BACKEND, -ENOSPC, first, p->last, b, s, false);
			return;
		}
		if (g && (first | (g - 1)) < last)
			last = first | (g - 1);
		if (!r->opts.coalesce && (bd = next_boundary(r, b->page - 1, first, last)))
			last = bd - 1;
		host_map(r, b, first, last, vaddr, p->prot, s);
		if (last == p->last)
			break;
		vaddr += last - first + 1;
		first = last + 1;
	}
}

/* Add [first, last] of section @s (aligned, usable, unmapped) to the pending extent. */
static void add_extent(struct viommu_recon *r, struct recon_backend *b, struct pending *p,
		       const struct viommu_mr_section *s, uint64_t first, uint64_t last)
{
	uint64_t vaddr = section_delta(s) + first;
	unsigned prot = section_prot(s);

	if (p->valid && r->opts.coalesce && p->last + 1 == first && p->vaddr + (first - p->first) == vaddr &&
	    p->prot == prot && !p->unmergeable && !s->unmergeable) {
		p->last = last;
		return;
	}
	flush_pending(r, b, p, s);
	*p = (struct pending){ .valid = true, .first = first, .last = last, .vaddr = vaddr, .prot = prot,
			       .unmergeable = s->unmergeable };
}

/* Map [a, z] of section @s, which nothing maps yet: alignment and reserved windows first. */
static void map_piece(struct viommu_recon *r, struct recon_backend *b, struct pending *p,
		      const struct viommu_mr_section *s, uint64_t a, uint64_t z)
{
	bool ram = s->kind == VIOMMU_MR_RAM;
	uint64_t pm = b->page - 1, a2, z2;

	if (section_delta(s) & pm) {
		/* host memory not aligned like the IOVA: no page of it can be mapped */
		report(r, ram ? VIOMMU_RECON_ERR_UNALIGNED_RAM : VIOMMU_RECON_SKIP_UNALIGNED_DEVICE, -EINVAL, a, z,
		       b, s, false);
		return;
	}
	/*
	 * Whole pages only. Unlike QEMU, which skips a misaligned RAM device
	 * whole, every whole page is mapped and only the partial ones are
	 * reported: that keeps whether a page is mapped a property of the page
	 * alone, so a change elsewhere in the section can never alter it.
	 */
	a2 = (a + pm) & ~pm;
	z2 = z == UINT64_MAX ? z : ((z + 1) & ~pm) - 1;
	if (a2 < a || z2 > z || a2 > z2) {
		/* no whole page in the piece (a2 or z2 wrapped, or they crossed) */
		report(r, ram ? VIOMMU_RECON_ERR_UNALIGNED_RAM : VIOMMU_RECON_SKIP_UNALIGNED_DEVICE, -EINVAL, a, z,
		       b, s, false);
		return;
	}
	if (a2 != a)
		report(r, ram ? VIOMMU_RECON_ERR_UNALIGNED_RAM : VIOMMU_RECON_SKIP_UNALIGNED_DEVICE, -EINVAL, a,
		       a2 - 1, b, s, false);
	if (z2 != z)
		report(r, ram ? VIOMMU_RECON_ERR_UNALIGNED_RAM : VIOMMU_RECON_SKIP_UNALIGNED_DEVICE, -EINVAL,
		       z2 + 1, z, b, s, false);

	/* Split by the usable ranges; what falls outside them is reserved. */
	uint64_t cur = a2;
	bool done = false;
	for (uint32_t i = 0; i < b->nranges && !done; i++) {
		const struct viommu_host_iova_range *u = &b->ranges[i];
		uint64_t lo, hi;
		if (u->last < cur)
			continue;
		if (u->first > z2)
			break;
		if (u->first > cur)
			report(r, ram ? VIOMMU_RECON_ERR_RESERVED_RAM : VIOMMU_RECON_SKIP_RESERVED_DEVICE, -EINVAL,
			       cur, u->first - 1, b, s, false);
		lo = VI_MAX(cur, u->first);
		hi = VI_MIN(z2, u->last);
		add_extent(r, b, p, s, lo, hi);
		if (hi == z2)
			done = true;
		else
			cur = hi + 1;
	}
	if (!done)
		report(r, ram ? VIOMMU_RECON_ERR_RESERVED_RAM : VIOMMU_RECON_SKIP_RESERVED_DEVICE, -EINVAL, cur, z2, b,
		       s, false);
}

struct gap { uint64_t first, last; };

/* Map everything the view says is mappable in [first, last] and the record lacks. */
static void map_missing(struct viommu_recon *r, struct recon_backend *b, uint64_t first, uint64_t last)
{
	const struct viommu_mr_section *prev = NULL;
	struct pending p = { 0 };
	size_t idx = view_lower(r->view, first);
	struct run run;

	while (next_run(r, b->page - 1, &idx, last, &run)) {
		struct viommu_rangemap_iter it;
		struct gap gaps_small[8], *gaps = gaps_small;
		size_t ngaps = 0, cap = VI_ARRAY_SIZE(gaps_small);
		struct viommu_mr_section s = *run.s;
		uint64_t a, z, cur;
		bool end = false;

		/* the run as one section: its bounds, the first section's translation */
		s.first = run.first;
		s.last = run.last;
		s.host = (void *)(uintptr_t)(section_delta(run.s) + run.first);
		s.unmergeable = run.unmergeable;
		a = VI_MAX(run.first, first);
		z = VI_MIN(run.last, last);
		cur = a;
		/* The record changes while we map: collect the gaps first. */
		viommu_rangemap_for_each(&it, b->maps, a, z) {
			if (it.entry.first > cur) {
				if (ngaps == cap) {
					struct gap *n = malloc(sizeof(*n) * cap * 2);
					if (!n)
						break;
					memcpy(n, gaps, sizeof(*n) * ngaps);
					if (gaps != gaps_small)
						free(gaps);
					gaps = n;
					cap *= 2;
				}
				gaps[ngaps++] = (struct gap){ cur, it.entry.first - 1 };
			}
			if (it.entry.last >= z) {
				end = true;
				break;
			}
			cur = it.entry.last + 1;
		}
		if (!end) {
			if (ngaps == cap)
				/* out of memory for the gap list: map what we have, report the rest */
				report(r, VIOMMU_RECON_ERR_BACKEND, -ENOMEM, cur, z, b, &s, false);
			else
				gaps[ngaps++] = (struct gap){ cur, z };
		}
		for (size_t k = 0; k < ngaps; k++)
			map_piece(r, b, &p, &s, gaps[k].first, gaps[k].last);
		if (gaps != gaps_small)
			free(gaps);
		prev = run.s;
	}
	flush_pending(r, b, &p, prev);
}

/* Does the whole extent translate exactly as the view says? */
static bool extent_matches(const struct viommu_recon *r, uint64_t first, uint64_t last, uint64_t value)
{
	const struct viommu_mr_section *s;
	uint64_t expect = first, delta = (value & ~(uint64_t)PROT_MASK) - first;
	unsigned prot = (unsigned)(value & PROT_MASK);

	for_each_section(r->view, i, s, first, last) {
		if (s->first > expect || !mappable(r, s) || section_prot(s) != prot || section_delta(s) != delta)
			return false;
		if (s->last >= last)
			return true;
		expect = s->last + 1;
	}
	return false;
}

/* Bytes of the extent whose translation the view keeps (what an unmap of it takes away for nothing). */
static uint64_t unchanged_bytes(const struct viommu_recon *r, uint64_t first, uint64_t last, uint64_t value)
{
	const struct viommu_mr_section *s;
	uint64_t delta = (value & ~(uint64_t)PROT_MASK) - first, n = 0;
	unsigned prot = (unsigned)(value & PROT_MASK);

	for_each_section(r->view, i, s, first, last)
		if (mappable(r, s) && section_prot(s) == prot && section_delta(s) == delta)
			n += VI_MIN(s->last, last) - VI_MAX(s->first, first) + 1;
	return n;
}

/*
 * Reconcile over the sorted, disjoint ranges @d. Each work range grows to
 * cover the stale host extents it touches (and the changed ranges those
 * touch in turn), so that after the stale extents are unmapped one fill pass
 * maps every run whole: the fewest calls, and the unchanged remainders of the
 * stale extents are back as soon as their work range is filled.
 */
static void reconcile(struct viommu_recon *r, struct recon_backend *b, const struct range *d, size_t n)
{
	size_t i = 0;

	const uint64_t pm = b->page - 1;

	b->full = false;
	while (i < n) {
		/*
		 * Work in whole pages: a changed range may end inside a page whose
		 * other part also changed or is mapped; host extents are whole
		 * pages, so the widening costs nothing.
		 */
		uint64_t wf = d[i].first & ~pm, wl = d[i].last | pm;
		struct viommu_rangemap_iter it;
		struct viommu_range_entry *stale = NULL;
		size_t ns = 0, cap = 0;
		bool grew;

		i++;
		do {
			grew = false;
			/* stale extents that overlap or touch: a run may continue into them */
			viommu_rangemap_for_each(&it, b->maps, wf ? wf - 1 : 0, wl == UINT64_MAX ? wl : wl + 1) {
				if (extent_matches(r, it.entry.first, it.entry.last, it.entry.value))
					continue;
				if (it.entry.first < wf) {
					wf = it.entry.first;
					grew = true;
				}
				if (it.entry.last > wl) {
					wl = it.entry.last;
					grew = true;
				}
			}
			while (i < n && wl != UINT64_MAX && (d[i].first & ~pm) <= wl + 1) {
				wl = VI_MAX(wl, d[i].last | pm);
				i++;
				grew = true;
			}
		} while (grew);

		viommu_rangemap_for_each(&it, b->maps, wf, wl) {
			if (extent_matches(r, it.entry.first, it.entry.last, it.entry.value))
				continue;
			if (ns == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct viommu_range_entry *nst = realloc(stale, nc * sizeof(*nst));
				if (!nst) {
					report(r, VIOMMU_RECON_ERR_BACKEND, -ENOMEM, it.entry.first, wl, b, NULL, true);
					break;
				}
				stale = nst;
				cap = nc;
			}
			stale[ns++] = it.entry;
		}
		for (size_t k = 0; k < ns; k++) {
			uint64_t keep = unchanged_bytes(r, stale[k].first, stale[k].last, stale[k].value);
			if (host_unmap(r, b, stale[k].first, stale[k].last))
				continue;
			b->full = false;	/* an unmap made room */
			if (keep) {
				b->st.windows++;
				b->st.window_bytes += keep;
			}
		}
		free(stale);
		map_missing(r, b, wf, wl);
	}
}

static void reconcile_all(struct viommu_recon *r, struct recon_backend *b)
{
	const struct range all = { 0, UINT64_MAX };

	reconcile(r, b, &all, 1);
}

/* ---- the naive policy (QEMU's VFIO listener) ---------------------------- */

static bool section_equal(const struct viommu_mr_section *a, const struct viommu_mr_section *b)
{
	return a->first == b->first && a->last == b->last && a->mr == b->mr && a->offset == b->offset &&
	       a->host == b->host && a->kind == b->kind && a->readonly == b->readonly;
}

static bool view_has_section(const struct viommu_flatview *v, const struct viommu_mr_section *s)
{
	size_t i = view_lower(v, s->first);

	return i < view_count(v) && section_equal(viommu_flatview_section(v, i), s);
}

static void naive_commit(struct viommu_recon *r, struct recon_backend *b, const struct viommu_flatview *old)
{
	const struct viommu_mr_section *s;
	struct viommu_flatview *nv = r->view;
	uint64_t pm = b->page - 1;

	/* region_del for every old section not identical in the new view */
	for_each_section(old, i, s, 0, UINT64_MAX) {
		uint64_t a, z, done = 0, len, keep = 0;
		const struct viommu_mr_section *t;
		int rc;

		if (!mappable(r, s) || view_has_section(nv, s))
			continue;
		a = (s->first + pm) & ~pm;
		z = s->last == UINT64_MAX ? s->last : ((s->last + 1) & ~pm) - 1;
		if (a < s->first || a > z || !viommu_rangemap_find_overlap(b->maps, a, z, NULL))
			continue;
		len = z - a + 1;
		/* bytes whose translation the new view keeps: a window */
		for_each_section(nv, j, t, a, z)
			if (mappable(r, t) && section_prot(t) == section_prot(s) &&
			    section_delta(t) == section_delta(s))
				keep += VI_MIN(t->last, z) - VI_MAX(t->first, a) + 1;
		b->st.unmap_ops++;
		rc = viommu_host_unmap(b->h, a, len, &done);
		if (rc == -ENOENT)
			rc = 0;		/* QEMU treats iommufd's "nothing there" as success */
		if (rc) {
			report(r, VIOMMU_RECON_ERR_BACKEND, rc, a, z, b, s, true);
			continue;
		}
		b->st.unmap_bytes += done;
		b->st.mappings -= (uint64_t)viommu_rangemap_remove_inside(b->maps, a, z, NULL, NULL);
		if (keep) {
			b->st.windows++;
			b->st.window_bytes += keep;
		}
	}
	/* region_add for every new section that was not identical before */
	for_each_section(nv, i, s, 0, UINT64_MAX)
		if (mappable(r, s) && !view_has_section(old, s))
			map_missing(r, b, s->first, s->last);
}

/* ---- the listener --------------------------------------------------------- */

static void recon_begin(struct viommu_memory_listener *l, struct viommu_as *as)
{
	struct viommu_recon *r = l->opaque;

	r->ndirty = 0;
	r->dirty_oom = false;
	r->view_emptied = true;
}

static void recon_diff(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_diff *d,
		       size_t n)
{
	struct viommu_recon *r = l->opaque;

	for (size_t i = 0; i < n; i++) {
		if (d[i].has_new)
			r->view_emptied = false;
		if (!d[i].changed)
			continue;
		if (r->ndirty && r->dirty[r->ndirty - 1].last != UINT64_MAX &&
		    r->dirty[r->ndirty - 1].last + 1 == d[i].first) {
			r->dirty[r->ndirty - 1].last = d[i].last;
			continue;
		}
		if (r->ndirty == r->dirty_cap) {
			size_t nc = r->dirty_cap ? r->dirty_cap * 2 : 16;
			void *nd = realloc(r->dirty, nc * sizeof(*r->dirty));
			if (!nd) {
				r->dirty_oom = true;
				continue;
			}
			r->dirty = nd;
			r->dirty_cap = nc;
		}
		r->dirty[r->ndirty].first = d[i].first;
		r->dirty[r->ndirty].last = d[i].last;
		r->ndirty++;
	}
}

static void recon_commit(struct viommu_memory_listener *l, struct viommu_as *as)
{
	struct viommu_recon *r = l->opaque;
	struct viommu_flatview *old = r->view;

	r->view = viommu_as_get_flatview(as);
	r->status = 0;
	r->commits++;
	for (struct recon_backend *b = r->backends; b; b = b->next) {
		b->st.commits++;
		if (r->opts.policy == VIOMMU_RECON_NAIVE) {
			naive_commit(r, b, old);
		} else if (r->dirty_oom) {
			reconcile_all(r, b);
		} else {
			reconcile(r, b, r->dirty, r->ndirty);
		}
	}
	if (old)
		viommu_flatview_put(old);
}

/* ---- the API ------------------------------------------------------------- */

VIOMMU_API struct viommu_recon *viommu_recon_new(struct viommu_memory *m, struct viommu_as *as,
						 const struct viommu_recon_opts *opts)
{
	struct viommu_recon *r;
	int rc;

	if (!m || !as || (opts && opts->sz < offsetof(struct viommu_recon_opts, report)))
		return vi_null(EINVAL);
	r = calloc(1, sizeof(*r));
	if (!r)
		return vi_null(ENOMEM);
	if (opts)
		memcpy(&r->opts, opts, VI_MIN(opts->sz, sizeof(r->opts)));
	r->opts.sz = sizeof(r->opts);
	if ((r->opts.policy != VIOMMU_RECON_MINIMAL && r->opts.policy != VIOMMU_RECON_NAIVE) ||
	    (r->opts.extent_granule & (r->opts.extent_granule - 1))) {
		free(r);
		return vi_null(EINVAL);
	}
	r->m = m;
	r->as = as;
	r->l = (struct viommu_memory_listener){
		.sz = sizeof(r->l), .as = as, .opaque = r,
		.begin = recon_begin, .diff = recon_diff, .commit = recon_commit,
	};
	rc = viommu_memory_listener_register(m, &r->l);
	if (rc) {
		free(r->dirty);
		free(r);
		return vi_null(-rc);
	}
	return r;
}

static void backend_free(struct recon_backend *b)
{
	viommu_rangemap_free(b->maps);
	free(b);
}

VIOMMU_API void viommu_recon_free(struct viommu_recon *r)
{
	struct recon_backend *b, *n;

	if (!r)
		return;
	/* Forget the backends first: unregistering reports the removal of everything. */
	for (b = r->backends; b; b = n) {
		n = b->next;
		backend_free(b);
	}
	r->backends = NULL;
	viommu_memory_listener_unregister(r->m, &r->l);
	if (r->view)
		viommu_flatview_put(r->view);
	free(r->dirty);
	free(r);
}

static struct recon_backend *find_backend(const struct viommu_recon *r, const struct viommu_host *h)
{
	for (struct recon_backend *b = r->backends; b; b = b->next)
		if (b->h == h)
			return b;
	return NULL;
}

VIOMMU_API int viommu_recon_attach(struct viommu_recon *r, struct viommu_host *h)
{
	struct viommu_host_caps caps = { .sz = sizeof(caps) };
	struct recon_backend *b, **tail;
	int rc;

	if (!r || !h)
		return vi_errno(-EINVAL);
	if (find_backend(r, h))
		return vi_errno(-EEXIST);
	rc = viommu_host_get_caps(h, &caps);
	if (rc)
		return rc;
	if (!caps.iova_alignment || (caps.iova_alignment & (caps.iova_alignment - 1)) ||
	    (r->opts.extent_granule && r->opts.extent_granule < caps.iova_alignment))
		return vi_errno(-EINVAL);
	b = calloc(1, sizeof(*b));
	if (!b)
		return vi_errno(-ENOMEM);
	b->maps = viommu_rangemap_new();
	if (!b->maps) {
		free(b);
		return vi_errno(-ENOMEM);
	}
	b->h = h;
	b->page = caps.iova_alignment;
	b->nranges = VI_MIN(caps.nranges, (uint32_t)VIOMMU_HOST_CAPS_MAX_RANGES);
	memcpy(b->ranges, caps.ranges, b->nranges * sizeof(b->ranges[0]));
	b->st.sz = sizeof(b->st);
	for (tail = &r->backends; *tail; tail = &(*tail)->next)
		;
	*tail = b;
	/* The full current mapping, from the model: never a replay of history. */
	r->status = 0;
	reconcile_all(r, b);
	return r->status ? vi_errno(r->status) : 0;
}

VIOMMU_API int viommu_recon_detach(struct viommu_recon *r, struct viommu_host *h, bool unmap)
{
	struct recon_backend **pp, *b;
	struct viommu_range_entry e;
	int rc = 0;

	if (!r || !h)
		return vi_errno(-EINVAL);
	for (pp = &r->backends; *pp && (*pp)->h != h; pp = &(*pp)->next)
		;
	b = *pp;
	if (!b)
		return vi_errno(-ENOENT);
	r->status = 0;
	while (unmap && viommu_rangemap_first(b->maps, &e)) {
		rc = host_unmap(r, b, e.first, e.last);
		if (rc)
			return rc;	/* still attached, record exact: the caller may retry */
	}
	*pp = b->next;
	backend_free(b);
	return 0;
}

VIOMMU_API int viommu_recon_status(const struct viommu_recon *r, struct viommu_recon_report *first_error)
{
	if (!r)
		return vi_errno(-EINVAL);
	if (first_error)
		*first_error = r->first_error;
	return r->status;
}

VIOMMU_API int viommu_recon_resync(struct viommu_recon *r)
{
	if (!r)
		return vi_errno(-EINVAL);
	r->status = 0;
	for (struct recon_backend *b = r->backends; b; b = b->next)
		reconcile_all(r, b);
	return r->status ? vi_errno(r->status) : 0;
}

VIOMMU_API int viommu_recon_get_stats(const struct viommu_recon *r, const struct viommu_host *h,
				      struct viommu_recon_stats *st)
{
	struct viommu_recon_stats sum = { .sz = sizeof(sum) };
	size_t n;

	if (!r || !st || st->sz < sizeof(size_t))
		return vi_errno(-EINVAL);
	if (h) {
		const struct recon_backend *b = find_backend(r, h);
		if (!b)
			return vi_errno(-ENOENT);
		sum = b->st;
	} else {
		for (const struct recon_backend *b = r->backends; b; b = b->next) {
			sum.map_ops += b->st.map_ops;
			sum.unmap_ops += b->st.unmap_ops;
			sum.map_bytes += b->st.map_bytes;
			sum.unmap_bytes += b->st.unmap_bytes;
			sum.windows += b->st.windows;
			sum.window_bytes += b->st.window_bytes;
			sum.skipped += b->st.skipped;
			sum.errors += b->st.errors;
			sum.mappings += b->st.mappings;
			sum.max_mappings = VI_MAX(sum.max_mappings, b->st.max_mappings);
		}
	}
	sum.commits = r->commits;
	n = VI_MIN(st->sz, sizeof(sum));
	sum.sz = st->sz;
	memcpy(st, &sum, n);
	return 0;
}

/* ---- the invariant check -------------------------------------------------- */

struct check_ctx {
	const struct viommu_recon *r;
	const struct recon_backend *b;
	int rc;
	uint64_t first, last;
	size_t n;
};

static void check_mapping(const struct viommu_host_mapping *hm, void *ctx)
{
	struct check_ctx *c = ctx;
	struct viommu_range_entry e;
	uint64_t last = hm->iova + hm->length - 1;

	c->n++;
	if (c->rc)
		return;
	/* the record holds exactly this mapping, and the view agrees with it */
	if (!viommu_rangemap_find(c->b->maps, hm->iova, &e) || e.first != hm->iova || e.last != last ||
	    e.value != (hm->vaddr | hm->prot) || !extent_matches(c->r, hm->iova, last, e.value)) {
		c->rc = -EIO;
		c->first = hm->iova;
		c->last = last;
	}
}

VIOMMU_API int viommu_recon_check(struct viommu_recon *r, struct viommu_host *h, struct viommu_recon_report *where)
{
	struct check_ctx c = { .r = r };
	long n;

	if (!r || !h || !(c.b = find_backend(r, h)) || viommu_host_kind(h) != VIOMMU_HOST_KIND_SIM)
		return vi_errno(-EINVAL);
	n = viommu_host_sim_mappings(h, check_mapping, &c);
	if (n < 0)
		return (int)n;
	if (!c.rc && (size_t)viommu_rangemap_count(c.b->maps) != c.n) {
		c.rc = -EIO;
		c.first = 0;
		c.last = UINT64_MAX;
	}
	/* Coverage: every page the reconciler can map is mapped. */
	{
		uint64_t pm = c.b->page - 1;
		size_t idx = 0;
		struct run run;

		while (!c.rc && next_run(r, pm, &idx, UINT64_MAX, &run)) {
			uint64_t a, z, delta = section_delta(run.s);
			if (delta & pm)
				continue;
			a = (run.first + pm) & ~pm;
			z = run.last == UINT64_MAX ? run.last : ((run.last + 1) & ~pm) - 1;
			if (a < run.first || z > run.last || a > z)
				continue;
			for (uint32_t k = 0; k < c.b->nranges && !c.rc; k++) {
				uint64_t lo = VI_MAX(a, c.b->ranges[k].first), hi = VI_MIN(z, c.b->ranges[k].last), x = lo;
				uint64_t vaddr;
				unsigned prot;
				if (lo > hi)
					continue;
				while (!c.rc) {
					struct viommu_range_entry e;
					if (!viommu_rangemap_find(c.b->maps, x, &e)) {
						/* not mapped: legitimate only after a reported error */
						c.rc = -ENOENT;
						c.first = x;
						c.last = hi;
						break;
					}
					if (viommu_host_sim_translate(h, x, &vaddr, &prot) || vaddr != delta + x ||
					    prot != section_prot(run.s)) {
						c.rc = -EIO;
						c.first = x;
						c.last = hi;
						break;
					}
					if (e.last >= hi)
						break;
					x = e.last + 1;
				}
			}
		}
	}
	if (c.rc && where)
		*where = (struct viommu_recon_report){ .kind = VIOMMU_RECON_ERR_BACKEND, .err = c.rc,
						      .first = c.first, .last = c.last, .backend = h };
	return c.rc ? vi_errno(c.rc) : 0;
}

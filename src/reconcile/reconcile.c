// SPDX-License-Identifier: MIT
/*
 * The reconcile engine: keeps host IOMMU backends equal to a desired mapping
 * that a source describes (recon_int.h; source_flat.c, source_iommu.c).
 *
 * One rule does all the work, "reconcile backend B over range R":
 *   1. every host mapping overlapping R whose whole extent still translates
 *      exactly as desired is kept;
 *   2. every other one is unmapped whole (never bisected: VFIO type1 v2
 *      refuses that, docs/reference.md) and the part of it that still
 *      translates as before is mapped again at once: the only window a
 *      change can force, counted in the statistics;
 *   3. whatever is desired in R (and in the extents removed in 2) but is not
 *      mapped is mapped, one host extent per run of pieces, split at region
 *      boundaries, the extent granule and the backend's usable ranges.
 * A change reconciles over the IOVA ranges its source marks as changed, so
 * unchanged ranges cost nothing; attaching a backend and resyncing reconcile
 * over the whole space.
 *
 * The record of each backend's mappings (a range map: extent -> vaddr | perm
 * | stale) is only changed after the backend accepted a call, so it always
 * equals what the backend holds, whatever fails; an extent whose unmap failed
 * stays recorded, marked stale, so the check can tell that legitimate state
 * from a bug. Every host call of the library's reconcilers is made here.
 */
#include <stdlib.h>
#include <string.h>

#include <viommu/pgtable.h>

#include "reconcile/recon_int.h"
#include "util/compiler.h"
#include "util/log.h"
#include "util/opts.h"

#define viommu_recon_opts__last_field report_ctx
#define viommu_recon_stats__last_field max_mappings

/* ---- the desired mapping, through the source -------------------------------- */

/* A source's pieces with one piece of lookahead. */
struct piece_iter {
	const struct viommu_recon *r;
	struct vi_recon_cursor c;
	struct vi_recon_piece p;
	bool have, end;
};

static void pieces_from(struct piece_iter *it, const struct viommu_recon *r, uint64_t addr)
{
	memset(it, 0, sizeof(*it));
	it->r = r;
	r->src->seek(r, &it->c, addr);
}

static const struct vi_recon_piece *piece_peek(struct piece_iter *it)
{
	if (!it->have && !it->end) {
		if (it->r->src->next(it->r, &it->c, &it->p))
			it->have = true;
		else
			it->end = true;
	}
	return it->have ? &it->p : NULL;
}

static void piece_pop(struct piece_iter *it)
{
	it->have = false;
}

static bool same_translation(const struct vi_recon_piece *a, const struct vi_recon_piece *b)
{
	return a->device == b->device && a->delta == b->delta && a->perm == b->perm;
}

static bool is_error(enum viommu_recon_report_kind kind)
{
	return kind == VIOMMU_RECON_ERR_UNALIGNED_RAM || kind == VIOMMU_RECON_ERR_RESERVED_RAM ||
	       kind == VIOMMU_RECON_ERR_BACKEND;
}

static const char *report_reason(enum viommu_recon_report_kind kind)
{
	switch (kind) {
	case VIOMMU_RECON_SKIP_UNALIGNED_DEVICE: return "RAM device not aligned to the IOMMU page: skipped";
	case VIOMMU_RECON_SKIP_RESERVED_DEVICE: return "RAM device in a reserved IOVA window: skipped";
	case VIOMMU_RECON_ERR_UNALIGNED_RAM: return "RAM not aligned to the IOMMU page: not mapped";
	case VIOMMU_RECON_ERR_RESERVED_RAM: return "RAM in a reserved IOVA window: not mapped";
	case VIOMMU_RECON_ERR_BACKEND: return "host call failed";
	case VIOMMU_RECON_SKIP_NOT_RAM: return "IOMMU output is not RAM: not mapped";
	}
	return "?";
}

/* ---- reports and statistics -------------------------------------------- */

static void report(struct viommu_recon *r, enum viommu_recon_report_kind kind, int err, uint64_t first,
		   uint64_t last, struct vi_recon_backend *b, const struct vi_recon_piece *p, bool is_unmap)
{
	struct viommu_recon_report rep = {
		.kind = kind, .err = err, .first = first, .last = last, .backend = b ? b->h : NULL,
		.region = p && p->mr ? viommu_mr_name(p->mr) : NULL, .is_unmap = is_unmap,
		.out = p ? p->out + (first - p->first) : first,
	};
	bool error = is_error(kind);

	if (b) {
		if (error)
			b->st.errors++;
		else
			b->st.skipped++;
	}
	if (error && r->status == 0) {
		r->status = err ? err : -EINVAL;
		r->first_error = rep;
		r->first_error.region = NULL;	/* only valid during the callback */
	}
	/* a guest chooses what its IOMMU points at: only at debug level, so it cannot flood the log */
	vi_log(kind == VIOMMU_RECON_SKIP_NOT_RAM ? VIOMMU_LOG_DEBUG : error ? VIOMMU_LOG_WARN : VIOMMU_LOG_INFO,
	       "reconcile: [0x%llx, 0x%llx]%s%s%s: %s%s%s", (unsigned long long)first, (unsigned long long)last,
	       rep.region ? " (region '" : "", rep.region ? rep.region : "", rep.region ? "')" : "",
	       report_reason(kind), err && kind == VIOMMU_RECON_ERR_BACKEND ? ": " : "",
	       err && kind == VIOMMU_RECON_ERR_BACKEND ? strerror(-err) : "");
	if (r->opts.report)
		r->opts.report(r->opts.report_ctx, &rep);
}

/* ---- host calls that keep the record exact ------------------------------ */

static int host_map(struct viommu_recon *r, struct vi_recon_backend *b, uint64_t first, uint64_t last,
		    uint64_t vaddr, unsigned perm, const struct vi_recon_piece *p)
{
	uint64_t len = last - first + 1;	/* extents are page aligned: never 2^64 */
	int rc;

	b->st.map_ops++;
	rc = viommu_host_map(b->h, first, len, vaddr, perm);
	if (rc) {
		if (rc == -ENOSPC)
			b->full = true;
		report(r, VIOMMU_RECON_ERR_BACKEND, rc, first, last, b, p, false);
		return rc;
	}
	rc = viommu_rangemap_insert(b->maps, first, last, vaddr | perm);
	if (rc) {
		/* Keep record == backend: take the mapping back out. */
		uint64_t done = 0;

		b->st.unmap_ops++;
		if (viommu_host_unmap(b->h, first, len, &done) == 0 && done == len)
			b->st.unmap_bytes += len;
		report(r, VIOMMU_RECON_ERR_BACKEND, rc, first, last, b, p, false);
		return rc;
	}
	b->st.map_bytes += len;
	b->st.mappings++;
	if (b->st.mappings > b->st.max_mappings)
		b->st.max_mappings = b->st.mappings;
	return 0;
}

/*
 * Unmap [first, last] with one host call; the recorded extents it touches
 * are what the backend should remove (whole: a recorded extent reaching
 * outside the range goes whole on type1 v1 and fails the call on v2 and
 * iommufd). A successful unmap leaves nothing mapped in the range under every
 * backend's rules, so those extents leave the record; a byte count other than
 * theirs means the backend held something else than the record said, and is
 * reported. A failed unmap leaves them mapped: the record keeps them, marked
 * stale ("unmap failed, still mapped").
 */
static int unmap_range(struct viommu_recon *r, struct vi_recon_backend *b, uint64_t first, uint64_t last,
		       const struct vi_recon_piece *p)
{
	struct viommu_rangemap_iter it;
	uint64_t done = 0, held = 0, lo = first, hi = last;
	long n;
	int rc;

	viommu_rangemap_for_each(&it, b->maps, first, last) {
		held += it.entry.last - it.entry.first + 1;
		lo = VI_MIN(lo, it.entry.first);
		hi = VI_MAX(hi, it.entry.last);
	}
	b->st.unmap_ops++;
	rc = viommu_host_unmap(b->h, first, last - first + 1, &done);
	if (rc) {
		viommu_rangemap_for_each(&it, b->maps, first, last)
			if (!(it.entry.value & VI_REC_STALE))
				viommu_rangemap_iter_set_value(&it, it.entry.value | VI_REC_STALE);
		report(r, VIOMMU_RECON_ERR_BACKEND, rc, first, last, b, p, true);
		return rc;
	}
	b->st.unmap_bytes += done;
	n = viommu_rangemap_remove_inside(b->maps, lo, hi, NULL, NULL);
	b->st.mappings -= n > 0 ? (uint64_t)n : 0;
	if (done != held) {
		vi_warn("reconcile: unmap of [0x%llx, 0x%llx] removed 0x%llx bytes, the record held 0x%llx",
			(unsigned long long)first, (unsigned long long)last, (unsigned long long)done,
			(unsigned long long)held);
		report(r, VIOMMU_RECON_ERR_BACKEND, -EIO, first, last, b, p, true);
	}
	return 0;
}

void vi_recon_unmap_span(struct viommu_recon *r, struct vi_recon_backend *b, uint64_t first, uint64_t last,
			 uint64_t keep, const struct viommu_mr *mr)
{
	/*
	 * QEMU ignores iommufd's ENOENT here; it means part of the span was not
	 * removed, so the record keeps it all, marked stale.
	 */
	struct vi_recon_piece p = { .first = first, .last = last, .out = first, .mr = mr };

	if (unmap_range(r, b, first, last, &p) == 0 && keep) {
		b->st.windows++;
		b->st.window_bytes += keep;
	}
}

/* ---- mapping what is missing ------------------------------------------- */

/*
 * A run: mappable pieces with one translation (kind, delta, permissions),
 * glued where they meet inside a page. Such a page can only be mapped whole,
 * so whether it is mapped must not depend on where the pieces meet (a change
 * the source calls "unchanged" can move that point). Runs still break at
 * page-aligned piece boundaries: different regions (and different IOMMU
 * extents) keep different host extents, so a later change to one never
 * bisects the other's. @p is the first piece's translation with the run's
 * bounds.
 */
struct run {
	struct vi_recon_piece p;
};

/*
 * The next run starting at or before @last; the iterator moves past it. With
 * @b set, pieces the source refuses (an IOMMU translation onto MMIO) are
 * reported on the way, clipped to [from, last].
 */
static bool next_run(struct viommu_recon *r, struct vi_recon_backend *b, uint64_t pm, struct piece_iter *it,
		     uint64_t from, uint64_t last, struct run *out)
{
	const struct vi_recon_piece *p;

	for (;;) {
		p = piece_peek(it);
		if (!p || p->first > last)
			return false;
		if (p->mappable)
			break;
		if (b && p->refuse && p->last >= from)
			report(r, p->refuse, -EFAULT, VI_MAX(p->first, from), VI_MIN(p->last, last), b, p, false);
		piece_pop(it);
	}
	out->p = *p;
	piece_pop(it);
	/*
	 * A run ending on a page boundary cannot glue to the next piece (runs
	 * break there): do not make the source look the next piece up.
	 */
	while (out->p.last != UINT64_MAX && ((out->p.last + 1) & pm) && (p = piece_peek(it))) {
		if (out->p.last == UINT64_MAX || p->first != out->p.last + 1 || !p->mappable ||
		    !same_translation(&out->p, p) || (p->first & pm) == 0)
			break;
		out->p.last = p->last;
		out->p.unmergeable |= p->unmergeable;
		piece_pop(it);
	}
	return true;
}

/*
 * A pending host extent being grown from contiguous pieces before it is
 * mapped (pieces of one run, or of several with coalescing on).
 */
struct pending {
	bool valid;
	uint64_t first, last, vaddr;
	unsigned perm;
	bool unmergeable;
	struct vi_recon_piece p;	/* for reports */
};

static void flush_pending(struct viommu_recon *r, struct vi_recon_backend *b, struct pending *pe)
{
	uint64_t g = r->opts.extent_granule, first, vaddr;

	if (!pe->valid)
		return;
	pe->valid = false;
	first = pe->first;
	vaddr = pe->vaddr;
	/*
	 * Split at multiples of the granule so an unplug of one never bisects,
	 * and (unless coalescing for the budget) at region boundaries, where
	 * the tree can change independently even if the pieces continue.
	 */
	for (;;) {
		uint64_t last = pe->last, bd;

		if (b->full) {
			/*
			 * The backend is out of mappings: one report for the rest
			 * of the run instead of a failing call per extent.
			 */
			report(r, VIOMMU_RECON_ERR_BACKEND, -ENOSPC, first, pe->last, b, &pe->p, false);
			return;
		}
		if (g && (first | (g - 1)) < last)
			last = first | (g - 1);
		/* a cut is page aligned and above @first: none within one page */
		if (!r->opts.coalesce && (first | (b->page - 1)) < last &&
		    (bd = r->src->next_cut(r, b->page - 1, first, last)))
			last = bd - 1;
		host_map(r, b, first, last, vaddr, pe->perm, &pe->p);
		if (last == pe->last)
			break;
		vaddr += last - first + 1;
		first = last + 1;
	}
}

/* Add [first, last] of run piece @p (aligned, usable, unmapped) to the pending extent. */
static void add_extent(struct viommu_recon *r, struct vi_recon_backend *b, struct pending *pe,
		       const struct vi_recon_piece *p, uint64_t first, uint64_t last)
{
	uint64_t vaddr = p->delta + first;

	if (pe->valid && r->opts.coalesce && pe->last + 1 == first && pe->vaddr + (first - pe->first) == vaddr &&
	    pe->perm == p->perm && !pe->unmergeable && !p->unmergeable) {
		pe->last = last;
		return;
	}
	flush_pending(r, b, pe);
	*pe = (struct pending){ .valid = true, .first = first, .last = last, .vaddr = vaddr, .perm = p->perm,
				.unmergeable = p->unmergeable, .p = *p };
}

/* Map [a, z] of run @p, which nothing maps yet: alignment and reserved windows first. */
static void map_piece(struct viommu_recon *r, struct vi_recon_backend *b, struct pending *pe,
		      const struct vi_recon_piece *p, uint64_t a, uint64_t z)
{
	enum viommu_recon_report_kind unaligned = p->device ? VIOMMU_RECON_SKIP_UNALIGNED_DEVICE
							    : VIOMMU_RECON_ERR_UNALIGNED_RAM;
	enum viommu_recon_report_kind reserved = p->device ? VIOMMU_RECON_SKIP_RESERVED_DEVICE
							   : VIOMMU_RECON_ERR_RESERVED_RAM;
	uint64_t pm = b->page - 1, a2, z2, cur;
	bool done = false;

	if (p->delta & pm) {
		/* host memory not aligned like the IOVA: no page of it can be mapped */
		report(r, unaligned, -EINVAL, a, z, b, p, false);
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
		report(r, unaligned, -EINVAL, a, z, b, p, false);
		return;
	}
	if (a2 != a)
		report(r, unaligned, -EINVAL, a, a2 - 1, b, p, false);
	if (z2 != z)
		report(r, unaligned, -EINVAL, z2 + 1, z, b, p, false);

	/* Split by the usable ranges; what falls outside them is reserved. */
	cur = a2;
	for (uint32_t i = 0; i < b->nranges && !done; i++) {
		const struct viommu_host_iova_range *u = &b->ranges[i];
		uint64_t lo, hi;

		if (u->last < cur)
			continue;
		if (u->first > z2)
			break;
		if (u->first > cur)
			report(r, reserved, -EINVAL, cur, u->first - 1, b, p, false);
		lo = VI_MAX(cur, u->first);
		hi = VI_MIN(z2, u->last);
		add_extent(r, b, pe, p, lo, hi);
		if (hi == z2)
			done = true;
		else
			cur = hi + 1;
	}
	if (!done)
		report(r, reserved, -EINVAL, cur, z2, b, p, false);
}

struct gap { uint64_t first, last; };

/*
 * vi_recon_map_missing; @empty: the caller knows the record holds nothing in
 * [first, last], so every run is one gap (what is mapped here lands only in
 * the run being mapped, below the next run).
 */
static void map_missing(struct viommu_recon *r, struct vi_recon_backend *b, uint64_t first, uint64_t last,
			bool empty)
{
	struct pending pe = { 0 };
	struct piece_iter pit;
	struct run run;
	bool more = true;

	pieces_from(&pit, r, first);
	while (more && next_run(r, b, b->page - 1, &pit, first, last, &run)) {
		struct viommu_rangemap_iter it;
		struct gap gaps_small[8], *gaps = gaps_small;
		size_t ngaps = 0, cap = VI_ARRAY_SIZE(gaps_small);
		uint64_t a = VI_MAX(run.p.first, first), z = VI_MIN(run.p.last, last), cur = a;
		bool end = false;

		/* a run reaching @last is the last one: no lookup of a piece beyond */
		more = run.p.last < last;
		if (empty) {
			gaps[ngaps++] = (struct gap){ a, z };
			end = true;
		}
		/* The record changes while we map: collect the gaps first. */
		for (bool ok = !empty && viommu_rangemap_iter_start(&it, b->maps, a, z); ok;
		     ok = viommu_rangemap_iter_next(&it)) {
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
				report(r, VIOMMU_RECON_ERR_BACKEND, -ENOMEM, cur, z, b, &run.p, false);
			else
				gaps[ngaps++] = (struct gap){ cur, z };
		}
		for (size_t k = 0; k < ngaps; k++)
			map_piece(r, b, &pe, &run.p, gaps[k].first, gaps[k].last);
		if (gaps != gaps_small)
			free(gaps);
	}
	flush_pending(r, b, &pe);
}

void vi_recon_map_missing(struct viommu_recon *r, struct vi_recon_backend *b, uint64_t first, uint64_t last)
{
	map_missing(r, b, first, last, false);
}

/* Does the whole recorded extent translate exactly as desired? */
static bool extent_matches(const struct viommu_recon *r, uint64_t first, uint64_t last, uint64_t value)
{
	uint64_t expect = first, delta = (value & ~VI_REC_FLAGS) - first;
	unsigned perm = (unsigned)(value & VI_REC_PERM);
	const struct vi_recon_piece *p;
	struct piece_iter it;

	pieces_from(&it, r, first);
	for (; (p = piece_peek(&it)) && p->first <= last; piece_pop(&it)) {
		if (p->first > expect || !p->mappable || p->perm != perm || p->delta != delta)
			return false;
		if (p->last >= last)
			return true;
		expect = p->last + 1;
	}
	return false;
}

/*
 * Bytes of the extent whose translation the desired mapping keeps (what an
 * unmap of it takes away for nothing). Pieces are disjoint, so the extent
 * matches (extent_matches) exactly when that is all of it.
 */
static uint64_t unchanged_bytes(const struct viommu_recon *r, uint64_t first, uint64_t last, uint64_t value)
{
	uint64_t delta = (value & ~VI_REC_FLAGS) - first, n = 0;
	unsigned perm = (unsigned)(value & VI_REC_PERM);
	const struct vi_recon_piece *p;
	struct piece_iter it;

	pieces_from(&it, r, first);
	for (; (p = piece_peek(&it)) && p->first <= last; piece_pop(&it)) {
		if (p->mappable && p->perm == perm && p->delta == delta)
			n += VI_MIN(p->last, last) - VI_MAX(p->first, first) + 1;
		if (p->last >= last)
			break;
	}
	return n;
}

/* A recorded extent that no longer translates as desired, and its unchanged bytes. */
struct stale {
	struct viommu_range_entry e;
	uint64_t keep;
};

/*
 * Unmap recorded extent @e (exactly one record entry) with one host call:
 * unmap_range without the record walks, as the extent is known.
 */
static int unmap_extent(struct viommu_recon *r, struct vi_recon_backend *b, const struct viommu_range_entry *e)
{
	uint64_t done = 0, len = e->last - e->first + 1;
	long n;
	int rc;

	b->st.unmap_ops++;
	rc = viommu_host_unmap(b->h, e->first, len, &done);
	if (rc) {
		if (!(e->value & VI_REC_STALE))
			viommu_rangemap_set_value(b->maps, e->first, e->value | VI_REC_STALE);
		report(r, VIOMMU_RECON_ERR_BACKEND, rc, e->first, e->last, b, NULL, true);
		return rc;
	}
	b->st.unmap_bytes += done;
	n = viommu_rangemap_remove_inside(b->maps, e->first, e->last, NULL, NULL);
	b->st.mappings -= n > 0 ? (uint64_t)n : 0;
	if (done != len) {
		vi_warn("reconcile: unmap of [0x%llx, 0x%llx] removed 0x%llx bytes, the record held 0x%llx",
			(unsigned long long)e->first, (unsigned long long)e->last, (unsigned long long)done,
			(unsigned long long)len);
		report(r, VIOMMU_RECON_ERR_BACKEND, -EIO, e->first, e->last, b, NULL, true);
	}
	return 0;
}

/*
 * Reconcile over the sorted, disjoint ranges @d. Each work range grows to
 * cover the stale host extents it touches (and the changed ranges those
 * touch in turn), so that after the stale extents are unmapped one fill pass
 * maps every run whole: the fewest calls, and the unchanged remainders of the
 * stale extents are back as soon as their work range is filled.
 *
 * Per work range the record is walked once per growth pass; the last pass
 * (nothing grew) names the stale extents, each compared once, and whether
 * anything else lies in the range. Up to VI_ARRAY_SIZE(st) of them are
 * unmapped from that list; beyond it the record is searched again from where
 * the last one ended, as a list of unbounded length would need memory a
 * failure could deny.
 */
static void reconcile(struct viommu_recon *r, struct vi_recon_backend *b, const struct vi_recon_range *d, size_t n)
{
	const uint64_t pm = b->page - 1;
	size_t i = 0;

	b->full = false;
	while (i < n) {
		/*
		 * Work in whole pages: a changed range may end inside a page whose
		 * other part also changed or is mapped; host extents are whole
		 * pages, so the widening costs nothing.
		 */
		uint64_t wf = d[i].first & ~pm, wl = d[i].last | pm;
		struct viommu_rangemap_iter it;
		struct stale st[8];
		size_t nst;
		bool grew, more, kept, empty;

		i++;
		do {
			grew = false;
			nst = 0;
			more = false;	/* stale extents beyond st[] */
			kept = false;	/* a matching extent overlaps [wf, wl] */
			/* stale extents that overlap or touch: a run may continue into them */
			viommu_rangemap_for_each(&it, b->maps, wf ? wf - 1 : 0, wl == UINT64_MAX ? wl : wl + 1) {
				uint64_t keep;

				/*
				 * An extent that only touches the range and overlaps no
				 * changed range (below: the earlier ones were reconciled
				 * in earlier work ranges, which would have grown to it;
				 * above: d[i] is the next) still matches, as every
				 * recorded extent does after a reconcile unless its
				 * unmap failed (viommu_recon_check's -EIO is that
				 * invariant broken): no need to compare it.
				 */
				if (!(it.entry.value & VI_REC_STALE) &&
				    (it.entry.last < wf ||
				     (it.entry.first > wl && (i >= n || it.entry.last < (d[i].first & ~pm)))))
					continue;
				keep = unchanged_bytes(r, it.entry.first, it.entry.last, it.entry.value);
				if (keep == it.entry.last - it.entry.first + 1) {
					kept |= it.entry.last >= wf && it.entry.first <= wl;
					continue;
				}
				if (it.entry.first < wf) {
					wf = it.entry.first;
					grew = true;
				}
				if (it.entry.last > wl) {
					wl = it.entry.last;
					grew = true;
				}
				if (nst < VI_ARRAY_SIZE(st))
					st[nst++] = (struct stale){ it.entry, keep };
				else
					more = true;
			}
			while (i < n && wl != UINT64_MAX && (d[i].first & ~pm) <= wl + 1) {
				wl = VI_MAX(wl, d[i].last | pm);
				i++;
				grew = true;
			}
		} while (grew);

		/* nothing grew: every stale extent found lies in [wf, wl] */
		empty = !kept && !more;
		for (size_t k = 0; k < nst; k++) {
			if (unmap_extent(r, b, &st[k].e)) {
				empty = false;
				continue;
			}
			b->full = false;	/* an unmap made room */
			if (st[k].keep) {
				b->st.windows++;
				b->st.window_bytes += st[k].keep;
			}
		}
		/*
		 * Beyond the list: the next stale extent from where the last one
		 * ended (an unmap changes the record under an iterator).
		 */
		for (uint64_t cur = more ? st[nst - 1].e.last + 1 : 0; more;) {
			struct viommu_range_entry e;
			bool found = false;
			uint64_t keep = 0;

			viommu_rangemap_for_each(&it, b->maps, cur, wl) {
				keep = unchanged_bytes(r, it.entry.first, it.entry.last, it.entry.value);
				if (keep != it.entry.last - it.entry.first + 1) {
					e = it.entry;
					found = true;
					break;
				}
			}
			if (!found)
				break;
			if (unmap_extent(r, b, &e) == 0) {
				b->full = false;
				if (keep) {
					b->st.windows++;
					b->st.window_bytes += keep;
				}
			}
			if (e.last >= wl)
				break;
			cur = e.last + 1;
		}
		map_missing(r, b, wf, wl, empty);
	}
}

static void reconcile_all(struct viommu_recon *r, struct vi_recon_backend *b)
{
	const struct vi_recon_range all = { 0, UINT64_MAX };

	reconcile(r, b, &all, 1);
}

/* ---- changes, as the sources report them -------------------------------- */

void vi_recon_dirty_reset(struct viommu_recon *r)
{
	r->ndirty = 0;
	r->dirty_all = false;
}

void vi_recon_dirty_add(struct viommu_recon *r, uint64_t first, uint64_t last)
{
	if (r->dirty_all)
		return;
	if (r->ndirty && r->dirty[r->ndirty - 1].last != UINT64_MAX && r->dirty[r->ndirty - 1].last + 1 == first) {
		r->dirty[r->ndirty - 1].last = last;
		return;
	}
	if (r->ndirty == r->dirty_cap) {
		size_t nc = r->dirty_cap ? r->dirty_cap * 2 : 16;
		void *nd = nc > SIZE_MAX / sizeof(*r->dirty) ? NULL : realloc(r->dirty, nc * sizeof(*r->dirty));

		if (!nd) {
			r->dirty_all = true;
			return;
		}
		r->dirty = nd;
		r->dirty_cap = nc;
	}
	r->dirty[r->ndirty].first = first;
	r->dirty[r->ndirty].last = last;
	r->ndirty++;
}

static int range_cmp(const void *a, const void *b)
{
	const struct vi_recon_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/* Sort and merge the changed ranges (overlapping or touching ones become one). */
static void dirty_normalise(struct viommu_recon *r)
{
	size_t n = 0;
	bool sorted = true;

	for (size_t i = 1; i < r->ndirty && sorted; i++)
		sorted = r->dirty[i - 1].first <= r->dirty[i].first;
	if (!sorted)
		qsort(r->dirty, r->ndirty, sizeof(*r->dirty), range_cmp);
	for (size_t i = 0; i < r->ndirty; i++) {
		struct vi_recon_range *t = n ? &r->dirty[n - 1] : NULL;

		if (t && (t->last == UINT64_MAX || r->dirty[i].first <= t->last + 1)) {
			t->last = VI_MAX(t->last, r->dirty[i].last);
			continue;
		}
		r->dirty[n++] = r->dirty[i];
	}
	r->ndirty = n;
}

void vi_recon_apply(struct viommu_recon *r)
{
	r->status = 0;
	r->commits++;
	dirty_normalise(r);
	for (struct vi_recon_backend *b = r->backends; b; b = b->next) {
		b->st.commits++;
		if (r->dirty_all)
			reconcile_all(r, b);
		else if (r->ndirty)
			reconcile(r, b, r->dirty, r->ndirty);
	}
}

/* ---- flat-view lookups both sources use ------------------------------------ */

size_t vi_recon_section_from(const struct viommu_flatview *v, uint64_t addr)
{
	return viommu_flatview_lower(v, addr);	/* one descent: O(log n) */
}

bool vi_recon_view_cut(const struct viommu_flatview *v, uint64_t pm, uint64_t shift, uint64_t first,
		       uint64_t last, uint64_t *cut)
{
	uint64_t b;

	if (!v)
		return false;
	/* one O(log n) descent per boundary looked at, never the whole array */
	for (uint64_t a = first; a <= last && !viommu_flatview_next_boundary(v, a, &b) && b <= last; a = b + 1) {
		if (!((b + shift) & pm)) {
			*cut = b;
			return true;
		}
		if (b == UINT64_MAX)
			break;
	}
	return false;
}

/* ---- the shared API ------------------------------------------------------ */

struct viommu_recon *vi_recon_alloc(struct viommu_memory *m, const struct viommu_recon_opts *opts,
				    const struct vi_recon_source_ops *src, const char *who)
{
	struct viommu_recon *r;

	if (!VI_OPTS_VALID(opts, viommu_recon_opts))
		return vi_null(EINVAL);
	r = calloc(1, sizeof(*r));
	if (!r)
		return vi_null(ENOMEM);
	VI_OPTS_COPY(&r->opts, opts);
	r->opts.sz = sizeof(r->opts);
	if (r->opts.policy != VIOMMU_RECON_MINIMAL && (r->opts.policy != VIOMMU_RECON_NAIVE || !src->naive_commit)) {
		vi_warn("%s: policy %d refused (%s)", who, (int)r->opts.policy,
			src->naive_commit ? "minimal or naive" : "this path takes only the minimal policy");
		free(r);
		return vi_null(EINVAL);
	}
	if (r->opts.extent_granule & (r->opts.extent_granule - 1)) {
		vi_warn("%s: extent granule 0x%llx is not a power of two", who,
			(unsigned long long)r->opts.extent_granule);
		free(r);
		return vi_null(EINVAL);
	}
	r->m = m;
	r->src = src;
	return r;
}

static void backend_free(struct vi_recon_backend *b)
{
	viommu_rangemap_free(b->maps);
	free(b);
}

void vi_recon_release(struct viommu_recon *r)
{
	if (r->view)
		viommu_flatview_put(r->view);
	free(r->dirty);
	free(r);
}

VIOMMU_API void viommu_recon_free(struct viommu_recon *r)
{
	struct vi_recon_backend *b, *n;

	if (!r)
		return;
	/* Forget the backends first: unregistering reports the removal of everything. */
	for (b = r->backends; b; b = n) {
		n = b->next;
		backend_free(b);
	}
	r->backends = NULL;
	r->src->destroy(r);
	vi_recon_release(r);
}

static struct vi_recon_backend *find_backend(const struct viommu_recon *r, const struct viommu_host *h)
{
	for (struct vi_recon_backend *b = r->backends; b; b = b->next)
		if (b->h == h)
			return b;
	return NULL;
}

VIOMMU_API int viommu_recon_attach(struct viommu_recon *r, struct viommu_host *h)
{
	struct viommu_host_caps caps = { .sz = sizeof(caps) };
	struct vi_recon_backend *b, **tail;
	int rc;

	if (!r || !h) {
		vi_warn("viommu_recon_attach: %s is NULL", r ? "the backend" : "the reconciler");
		return vi_errno(-EINVAL);
	}
	if (find_backend(r, h)) {
		vi_warn("viommu_recon_attach: the backend is already attached");
		return vi_errno(-EEXIST);
	}
	rc = viommu_host_get_caps(h, &caps);
	if (rc) {
		vi_warn("viommu_recon_attach: the backend's capabilities cannot be read (%d)", rc);
		return rc;
	}
	if (caps.iova_alignment < 8 || (caps.iova_alignment & (caps.iova_alignment - 1)) ||
	    (r->opts.extent_granule && r->opts.extent_granule < caps.iova_alignment)) {
		vi_warn("reconcile: backend refused: IOMMU page 0x%llx (a power of two of at least 8 bytes, "
			"at most the extent granule 0x%llx)", (unsigned long long)caps.iova_alignment,
			(unsigned long long)r->opts.extent_granule);
		return vi_errno(-EINVAL);
	}
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
	/* The full current mapping, from the source: never a replay of history. */
	r->status = 0;
	r->src->refresh(r);
	reconcile_all(r, b);
	return r->status ? vi_errno(r->status) : 0;
}

VIOMMU_API int viommu_recon_detach(struct viommu_recon *r, struct viommu_host *h, bool unmap)
{
	struct vi_recon_backend **pp, *b;
	struct viommu_range_entry e;
	int rc = 0;

	if (!r || !h) {
		vi_warn("viommu_recon_detach: %s is NULL", r ? "the backend" : "the reconciler");
		return vi_errno(-EINVAL);
	}
	for (pp = &r->backends; *pp && (*pp)->h != h; pp = &(*pp)->next)
		;
	b = *pp;
	if (!b) {
		vi_warn("viommu_recon_detach: the backend is not attached");
		return vi_errno(-ENOENT);
	}
	r->status = 0;
	while (unmap && viommu_rangemap_first(b->maps, &e)) {
		rc = unmap_range(r, b, e.first, e.last, NULL);
		if (rc)
			return rc;	/* still attached, record exact: the caller may retry */
	}
	*pp = b->next;
	backend_free(b);
	return 0;
}

VIOMMU_API int viommu_recon_status(const struct viommu_recon *r, struct viommu_recon_report *first_error)
{
	if (!r) {
		vi_warn("viommu_recon_status: the reconciler is NULL");
		return vi_errno(-EINVAL);
	}
	if (first_error)
		*first_error = r->first_error;
	return r->status;
}

VIOMMU_API int viommu_recon_resync(struct viommu_recon *r)
{
	if (!r) {
		vi_warn("viommu_recon_resync: the reconciler is NULL");
		return vi_errno(-EINVAL);
	}
	r->status = 0;
	r->src->refresh(r);
	for (struct vi_recon_backend *b = r->backends; b; b = b->next)
		reconcile_all(r, b);
	return r->status ? vi_errno(r->status) : 0;
}

VIOMMU_API int viommu_recon_get_stats(const struct viommu_recon *r, const struct viommu_host *h,
				      struct viommu_recon_stats *st)
{
	struct viommu_recon_stats sum = { .sz = sizeof(sum) };

	if (!r || !st) {
		vi_warn("viommu_recon_get_stats: %s is NULL", r ? "the statistics" : "the reconciler");
		return vi_errno(-EINVAL);
	}
	if (h) {
		const struct vi_recon_backend *b = find_backend(r, h);

		if (!b) {
			vi_warn("viommu_recon_get_stats: the backend is not attached");
			return vi_errno(-ENOENT);
		}
		sum = b->st;
	} else {
		for (const struct vi_recon_backend *b = r->backends; b; b = b->next) {
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
	return vi_errno(VI_OPTS_OUT(st, &sum, viommu_recon_stats));
}

/* ---- the invariant check -------------------------------------------------- */

struct recon_check {
	const struct viommu_recon *r;
	const struct vi_recon_backend *b;
	int rc;				/* the most serious finding: -EIO, then -ESTALE, then -ENOENT */
	uint64_t first, last;
	size_t n;
};

static int severity(int rc)
{
	return rc == -EIO ? 3 : rc == -ESTALE ? 2 : rc == -ENOENT ? 1 : 0;
}

static void found(struct recon_check *c, int rc, uint64_t first, uint64_t last)
{
	if (severity(rc) <= severity(c->rc))
		return;
	c->rc = rc;
	c->first = first;
	c->last = last;
}

static void check_mapping(const struct viommu_host_mapping *hm, void *ctx)
{
	struct recon_check *c = ctx;
	struct viommu_range_entry e;
	uint64_t last = hm->iova + hm->length - 1;

	c->n++;
	/* the record holds exactly this mapping ... */
	if (!viommu_rangemap_find(c->b->maps, hm->iova, &e) || e.first != hm->iova || e.last != last ||
	    (e.value & ~VI_REC_STALE) != (hm->vaddr | hm->prot)) {
		found(c, -EIO, hm->iova, last);
		return;
	}
	/* ... and the desired mapping agrees, unless its unmap failed */
	if (!extent_matches(c->r, hm->iova, last, e.value))
		found(c, e.value & VI_REC_STALE ? -ESTALE : -EIO, hm->iova, last);
}

/* Every page of [first, last] the reconciler can map is mapped, as desired. */
static void check_coverage(struct recon_check *c, struct viommu_host *h, uint64_t first, uint64_t last)
{
	const struct vi_recon_backend *b = c->b;
	uint64_t pm = b->page - 1;
	struct piece_iter pit;
	struct run run;

	pieces_from(&pit, c->r, first);
	while (c->rc != -EIO && next_run((struct viommu_recon *)c->r, NULL, pm, &pit, first, last, &run)) {
		uint64_t a, z;

		if (run.p.delta & pm)
			continue;
		a = (run.p.first + pm) & ~pm;
		z = run.p.last == UINT64_MAX ? run.p.last : ((run.p.last + 1) & ~pm) - 1;
		if (a < run.p.first || z > run.p.last || a > z)
			continue;
		a = VI_MAX(a, first);
		z = VI_MIN(z, last);
		if (a > z)
			continue;
		for (uint32_t k = 0; k < b->nranges && c->rc != -EIO; k++) {
			uint64_t lo = VI_MAX(a, b->ranges[k].first), hi = VI_MIN(z, b->ranges[k].last), x = lo;

			if (lo > hi)
				continue;
			for (;;) {
				struct viommu_range_entry e;
				uint64_t vaddr;
				unsigned prot;

				if (!viommu_rangemap_find(b->maps, x, &e)) {
					/* not mapped: legitimate only after a reported error */
					found(c, -ENOENT, x, hi);
					break;
				}
				if (!(e.value & VI_REC_STALE) &&
				    (viommu_host_sim_translate(h, x, &vaddr, &prot) || vaddr != run.p.delta + x ||
				     prot != run.p.perm)) {
					found(c, -EIO, x, hi);
					break;
				}
				if (e.last >= hi)
					break;
				x = e.last + 1;
			}
		}
	}
}

/* The simulator's page table over [c->first, c->last]: every leaf is a translation the record holds. */
static int check_leaf(const struct viommu_pt_mapping *m, void *ctx)
{
	struct recon_check *c = ctx;
	uint64_t last = m->iova + m->size - 1, x = VI_MAX(m->iova, c->first), z = VI_MIN(last, c->last);
	struct viommu_range_entry e;

	while (x <= z) {
		if (!viommu_rangemap_find(c->b->maps, x, &e) ||
		    (e.value & ~VI_REC_FLAGS) + (x - e.first) != m->phys + (x - m->iova) ||
		    (e.value & VI_REC_PERM) != (m->perm & VIOMMU_PERM_RW)) {
			found(c, -EIO, x, z);
			return 1;
		}
		if (e.last >= z)
			break;
		x = e.last + 1;
	}
	return 0;
}

static int recon_check(struct viommu_recon *r, struct viommu_host *h, uint64_t first, uint64_t last,
		       struct viommu_recon_report *where, const char *fn)
{
	struct recon_check c = { .r = r };
	long n;

	if (!r || !h || !(c.b = find_backend(r, h)) || viommu_host_kind(h) != VIOMMU_HOST_KIND_SIM || first > last) {
		vi_warn("%s: %s", fn, !r || !h ? "NULL argument" : !c.b ? "the backend is not attached"
			: first > last ? "first > last" : "the backend is not simulated");
		return vi_errno(-EINVAL);
	}
	r->src->refresh(r);
	if (first == 0 && last == UINT64_MAX) {
		n = viommu_host_sim_mappings(h, check_mapping, &c);
		if (n < 0)
			return (int)n;
		if ((size_t)viommu_rangemap_count(c.b->maps) != c.n)
			found(&c, -EIO, 0, UINT64_MAX);
	} else {
		struct viommu_rangemap_iter it;

		/* as many mappings as the record holds (O(1)) ... */
		n = viommu_host_sim_mappings(h, NULL, NULL);
		if (n < 0)
			return (int)n;
		if ((size_t)viommu_rangemap_count(c.b->maps) != (size_t)n)
			found(&c, -EIO, 0, UINT64_MAX);
		/* ... each record entry in the range desired (or stale), and translating so in the host ... */
		viommu_rangemap_for_each(&it, c.b->maps, first, last) {
			uint64_t vaddr;
			unsigned prot;

			if (viommu_host_sim_translate(h, it.entry.first, &vaddr, &prot) ||
			    vaddr != (it.entry.value & ~VI_REC_FLAGS) || prot != (it.entry.value & VI_REC_PERM))
				found(&c, -EIO, it.entry.first, it.entry.last);
			else if (!extent_matches(r, it.entry.first, it.entry.last, it.entry.value))
				found(&c, it.entry.value & VI_REC_STALE ? -ESTALE : -EIO, it.entry.first, it.entry.last);
		}
		/* ... and nothing else translates there */
		if (c.rc != -EIO) {
			const struct viommu_pgtable *pt = viommu_host_sim_pgtable(h);

			if (!pt)
				return vi_errno(-EINVAL);
			{
				struct recon_check leaves = c;

				leaves.rc = 0;
				leaves.first = first;
				leaves.last = last;
				viommu_pgtable_for_each(pt, first, last, check_leaf, &leaves);
				if (leaves.rc)
					found(&c, leaves.rc, leaves.first, leaves.last);
			}
		}
	}
	if (c.rc != -EIO)
		check_coverage(&c, h, first, last);
	if (c.rc && where)
		*where = (struct viommu_recon_report){ .kind = VIOMMU_RECON_ERR_BACKEND, .err = c.rc,
						      .first = c.first, .last = c.last, .backend = h, .out = c.first };
	return c.rc ? vi_errno(c.rc) : 0;
}

VIOMMU_API int viommu_recon_check(struct viommu_recon *r, struct viommu_host *h, struct viommu_recon_report *where)
{
	return recon_check(r, h, 0, UINT64_MAX, where, "viommu_recon_check");
}

VIOMMU_API int viommu_recon_check_range(struct viommu_recon *r, struct viommu_host *h, uint64_t first, uint64_t last,
					struct viommu_recon_report *where)
{
	return recon_check(r, h, first, last, where, "viommu_recon_check_range");
}

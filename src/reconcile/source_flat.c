// SPDX-License-Identifier: MIT
/*
 * The flat-view source: the desired mapping is every RAM and RAM-device
 * section of an address space's flat view, at IOVA = guest-physical address,
 * read-only sections without write permission (what QEMU's VFIO memory
 * listener, hw/vfio/listener.c, maps for a device without a vIOMMU). A memory
 * commit's diff says which ranges changed; the naive policy replays QEMU's
 * region_del / region_add instead, for comparison.
 */
#include <stdlib.h>

#include "reconcile/recon_int.h"
#include "util/compiler.h"
#include "util/log.h"

struct flat_source {
	struct viommu_as *as;
	struct viommu_memory_listener l;
	bool view_emptied;		/* no diff entry of this commit has an after side */
};

static struct flat_source *flat(const struct viommu_recon *r)
{
	return r->src_priv;
}

static bool section_mappable(const struct viommu_recon *r, const struct viommu_mr_section *s)
{
	return s->kind == VIOMMU_MR_RAM || (s->kind == VIOMMU_MR_RAM_DEVICE && !r->opts.skip_ram_device);
}

static unsigned section_perm(const struct viommu_mr_section *s)
{
	return s->readonly ? VIOMMU_PERM_READ : VIOMMU_PERM_RW;
}

/* Host address minus IOVA, modulo 2^64: equal deltas mean one translation. */
static uint64_t section_delta(const struct viommu_mr_section *s)
{
	return (uint64_t)(uintptr_t)s->host - s->first;
}

/* ---- the pieces: one per section ------------------------------------------- */

static void flat_seek(const struct viommu_recon *r, struct vi_recon_cursor *c, uint64_t addr)
{
	c->idx = vi_recon_section_from(r->view, addr);
}

static bool flat_next(const struct viommu_recon *r, struct vi_recon_cursor *c, struct vi_recon_piece *p)
{
	const struct viommu_mr_section *s;

	if (!r->view || c->idx >= viommu_flatview_count(r->view))
		return false;
	s = viommu_flatview_section(r->view, c->idx++);
	*p = (struct vi_recon_piece){
		.first = s->first, .last = s->last, .delta = section_delta(s), .perm = section_perm(s),
		.mappable = section_mappable(r, s), .device = s->kind == VIOMMU_MR_RAM_DEVICE,
		.unmergeable = s->unmergeable, .mr = s->mr, .out = s->first,
	};
	return true;
}

static uint64_t flat_next_cut(const struct viommu_recon *r, uint64_t pm, uint64_t first, uint64_t last)
{
	uint64_t cut;

	return first != UINT64_MAX && vi_recon_view_cut(r->view, pm, 0, first + 1, last, &cut) ? cut : 0;
}

static void flat_refresh(struct viommu_recon *r)
{
	struct viommu_flatview *v;

	if (!r->view)
		return;		/* empty, or the address space is gone */
	v = viommu_as_get_flatview(flat(r)->as);
	viommu_flatview_put(r->view);
	r->view = v;
}

/* ---- the naive policy (QEMU's VFIO listener) ---------------------------- */

static bool section_equal(const struct viommu_mr_section *a, const struct viommu_mr_section *b)
{
	return a->first == b->first && a->last == b->last && a->mr == b->mr && a->offset == b->offset &&
	       a->host == b->host && a->kind == b->kind && a->readonly == b->readonly;
}

static bool view_has_section(const struct viommu_flatview *v, const struct viommu_mr_section *s)
{
	size_t i = vi_recon_section_from(v, s->first);

	return v && i < viommu_flatview_count(v) && section_equal(viommu_flatview_section(v, i), s);
}

static void flat_naive_commit(struct viommu_recon *r, const struct viommu_flatview *before)
{
	const struct viommu_flatview *after = r->view;
	size_t nb = before ? viommu_flatview_count(before) : 0, na = after ? viommu_flatview_count(after) : 0;

	r->status = 0;
	r->commits++;
	for (struct vi_recon_backend *b = r->backends; b; b = b->next) {
		uint64_t pm = b->page - 1;

		b->st.commits++;
		/* region_del for every old section not identical in the new view */
		for (size_t i = 0; i < nb; i++) {
			const struct viommu_mr_section *s = viommu_flatview_section(before, i);
			uint64_t a, z, keep = 0;

			if (!section_mappable(r, s) || view_has_section(after, s))
				continue;
			a = (s->first + pm) & ~pm;
			z = s->last == UINT64_MAX ? s->last : ((s->last + 1) & ~pm) - 1;
			if (a < s->first || a > z || !viommu_rangemap_find_overlap(b->maps, a, z, NULL))
				continue;
			/* bytes whose translation the new view keeps: a window */
			for (size_t j = vi_recon_section_from(after, a); j < na; j++) {
				const struct viommu_mr_section *t = viommu_flatview_section(after, j);

				if (t->first > z)
					break;
				if (section_mappable(r, t) && section_perm(t) == section_perm(s) &&
				    section_delta(t) == section_delta(s))
					keep += VI_MIN(t->last, z) - VI_MAX(t->first, a) + 1;
			}
			vi_recon_unmap_span(r, b, a, z, keep, s->mr);
		}
		/* region_add for every new section that was not identical before */
		for (size_t i = 0; i < na; i++) {
			const struct viommu_mr_section *s = viommu_flatview_section(after, i);

			if (section_mappable(r, s) && !view_has_section(before, s))
				vi_recon_map_missing(r, b, s->first, s->last);
		}
	}
}

/* ---- the listener --------------------------------------------------------- */

static void flat_begin(struct viommu_memory_listener *l, struct viommu_as *as)
{
	struct viommu_recon *r = l->opaque;

	(void)as;
	vi_recon_dirty_reset(r);
	flat(r)->view_emptied = true;
}

static void flat_diff(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_diff *d,
		      size_t n)
{
	struct viommu_recon *r = l->opaque;

	(void)as;
	for (size_t i = 0; i < n; i++) {
		if (d[i].has_after)
			flat(r)->view_emptied = false;
		if (d[i].changed)
			vi_recon_dirty_add(r, d[i].first, d[i].last);
	}
}

static void flat_commit(struct viommu_memory_listener *l, struct viommu_as *as)
{
	struct viommu_recon *r = l->opaque;
	struct viommu_flatview *before = r->view;

	r->view = viommu_as_get_flatview(as);	/* empty when the space is being freed */
	if (r->opts.policy == VIOMMU_RECON_NAIVE)
		flat_naive_commit(r, before);
	else
		vi_recon_apply(r);
	if (before)
		viommu_flatview_put(before);
}

static void flat_destroy(struct viommu_recon *r)
{
	struct flat_source *f = flat(r);

	viommu_memory_listener_unregister(r->m, &f->l);
	free(f);
}

static const struct vi_recon_source_ops flat_ops = {
	.seek = flat_seek,
	.next = flat_next,
	.next_cut = flat_next_cut,
	.refresh = flat_refresh,
	.naive_commit = flat_naive_commit,
	.destroy = flat_destroy,
};

VIOMMU_API struct viommu_recon *viommu_recon_new(struct viommu_memory *m, struct viommu_as *as,
						 const struct viommu_recon_opts *opts)
{
	struct viommu_recon *r;
	struct flat_source *f;
	int rc;

	if (!m || !as) {
		vi_warn("viommu_recon_new: %s is NULL", m ? "the address space" : "the memory model");
		return vi_null(EINVAL);
	}
	r = vi_recon_alloc(m, opts, &flat_ops, "viommu_recon_new");
	if (!r)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f) {
		vi_recon_release(r);
		return vi_null(ENOMEM);
	}
	r->src_priv = f;
	f->as = as;
	f->l = (struct viommu_memory_listener){
		.sz = sizeof(f->l), .as = as, .opaque = r,
		.begin = flat_begin, .diff = flat_diff, .commit = flat_commit,
	};
	rc = viommu_memory_listener_register(m, &f->l);
	if (rc) {
		free(f);
		vi_recon_release(r);
		return vi_null(-rc);
	}
	return r;
}

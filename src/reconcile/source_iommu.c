// SPDX-License-Identifier: MIT
/*
 * The IOMMU source: the desired mapping of a passthrough device behind a
 * vIOMMU is its IOMMU address space's shadow (IOVA -> guest-physical, perm),
 * composed with the system address space's flat view (guest-physical -> host
 * address): an IOVA page is desired iff its output lies in RAM or a RAM
 * device, with the IOMMU's permissions less write on read-only memory. QEMU's
 * vfio_iommu_map_notify (hw/vfio/listener.c) makes that composition at each
 * notifier call and never again; here it is a source of the one engine, so a
 * later change of either side is reconciled like any other.
 *
 * Two listeners say what changed:
 *  - the IOMMU listener (whole space, arbitrary ranges, CHANGE): an event's
 *    extent is the changed IOVA range, reconciled at once;
 *  - the memory listener on @sys: the diff's changed guest-physical ranges,
 *    mapped back to IOVA through the output index (out_index.h), so a commit
 *    costs what it changed and nothing when no extent points there.
 * The pieces are read from the IOMMU address space's shadow
 * (viommu_iommu_lookup_next) and the flat view the source holds, one piece
 * per (extent, section) overlap, holes and MMIO included as refused pieces.
 */
#include <stdlib.h>

#include "reconcile/out_index.h"
#include "reconcile/recon_int.h"
#include "util/compiler.h"
#include "util/log.h"

struct iommu_source {
	struct viommu_iommu_as *ias;
	struct viommu_as *sys;
	struct viommu_iommu_listener il;
	struct viommu_memory_listener ml;
	bool il_registered, ml_registered;
	/*
	 * IOVA extents by output address. @index_lost: an insert ran out of
	 * memory, so the index misses an extent; memory commits reconcile the
	 * whole space until a rebuild from the shadow succeeds.
	 */
	struct vi_out_index index;
	bool index_lost;
	/*
	 * What the last event said of the shadow, true until the next event
	 * (every change of the shadow is an event to this listener): a MAP's
	 * extent is in it (perm != 0), an UNMAP's range holds nothing (perm
	 * 0). The reconcile that follows reads the pieces of exactly that range,
	 * so it needs no shadow lookup for them.
	 */
	struct viommu_iommu_xlat hint;
	bool hint_valid;
	bool quiet;			/* registration replay or unregistration: nothing to reconcile */
	bool collecting;		/* the events of a sync are being collected as changed ranges */
	/* the changed guest-physical ranges of the memory commit being received */
	struct vi_recon_range *gpa;
	size_t ngpa, gpa_cap;
	bool gpa_all;			/* a range could not be recorded */
	bool view_emptied;
};

static struct iommu_source *iosrc(const struct viommu_recon *r)
{
	return r->src_priv;
}

/* ---- the pieces: extent by extent, section by section ----------------------- */

/* Position on the extent holding c->addr, or the next one. */
static bool io_load_extent(const struct viommu_recon *r, struct vi_recon_cursor *c)
{
	const struct iommu_source *io = iosrc(r);

	if (io->hint_valid && c->addr >= io->hint.first && c->addr <= io->hint.last) {
		/* the extent holding c->addr, or (perm 0) a hole around it */
		c->x = io->hint;
		c->in_x = true;
		if (c->x.perm)
			c->idx = vi_recon_section_from(r->view, c->x.out + (c->addr - c->x.first));
		return true;
	}
	if (!viommu_iommu_lookup_next(io->ias, c->addr, &c->x)) {
		c->done = true;
		return false;
	}
	if (c->x.first > c->addr)
		c->addr = c->x.first;
	c->in_x = true;
	c->idx = vi_recon_section_from(r->view, c->x.out + (c->addr - c->x.first));
	return true;
}

static void io_seek(const struct viommu_recon *r, struct vi_recon_cursor *c, uint64_t addr)
{
	*c = (struct vi_recon_cursor){ .addr = addr };
}

static bool io_next(const struct viommu_recon *r, struct vi_recon_cursor *c, struct vi_recon_piece *p)
{
	const struct viommu_mr_section *s = NULL;
	size_t n = r->view ? viommu_flatview_count(r->view) : 0;
	uint64_t cur, g, rest, end;

	if (c->done || (!c->in_x && !io_load_extent(r, c)))
		return false;
	cur = c->addr;
	if (!c->x.perm) {
		/* a hole the last event named: nothing desired, nothing to report */
		*p = (struct vi_recon_piece){ .first = cur, .last = c->x.last, .out = cur };
		c->in_x = false;
		if (c->x.last == UINT64_MAX)
			c->done = true;
		else
			c->addr = c->x.last + 1;
		return true;
	}
	g = c->x.out + (cur - c->x.first);
	rest = c->x.last - cur;		/* bytes left in the extent - 1 */
	while (c->idx < n && viommu_flatview_section(r->view, c->idx)->last < g)
		c->idx++;
	if (c->idx < n)
		s = viommu_flatview_section(r->view, c->idx);
	*p = (struct vi_recon_piece){ .first = cur, .out = g };
	if (!s || s->first > g) {
		/* nothing at this guest-physical address, up to the next section */
		end = !s || s->first - g - 1 >= rest ? c->x.last : cur + (s->first - g - 1);
		p->refuse = VIOMMU_RECON_SKIP_NOT_RAM;
	} else {
		end = s->last - g >= rest ? c->x.last : cur + (s->last - g);
		p->mr = s->mr;
		if (s->kind == VIOMMU_MR_RAM || s->kind == VIOMMU_MR_RAM_DEVICE) {
			p->perm = c->x.perm & (s->readonly ? VIOMMU_PERM_READ : VIOMMU_PERM_RW);
			p->delta = (uint64_t)(uintptr_t)s->host + (g - s->first) - cur;
			p->device = s->kind == VIOMMU_MR_RAM_DEVICE;
			p->unmergeable = s->unmergeable;
			/* a write-only translation onto read-only memory grants nothing */
			p->mappable = p->perm && !(p->device && r->opts.skip_ram_device);
		} else {
			p->refuse = VIOMMU_RECON_SKIP_NOT_RAM;
		}
	}
	p->last = end;
	if (end == c->x.last) {
		c->in_x = false;
		if (end == UINT64_MAX)
			c->done = true;
		else
			c->addr = end + 1;
	} else {
		c->addr = end + 1;
	}
	return true;
}

/* The first region boundary inside an extent's output that falls on an IOVA page boundary. */
static uint64_t io_next_cut(const struct viommu_recon *r, uint64_t pm, uint64_t first, uint64_t last)
{
	struct viommu_iommu_xlat x;
	uint64_t addr = first + 1, cut;

	if (first == UINT64_MAX)
		return 0;
	while (addr <= last && viommu_iommu_lookup_next(iosrc(r)->ias, addr, &x) && x.first <= last) {
		uint64_t a = VI_MAX(addr, x.first), z = VI_MIN(last, x.last);


		if (vi_recon_view_cut(r->view, pm, x.first - x.out, x.out + (a - x.first), x.out + (z - x.first),
				      &cut))
			return x.first + (cut - x.out);
		if (x.last >= last)
			break;
		addr = x.last + 1;
	}
	return 0;
}

/* ---- the output index --------------------------------------------------------- */

static void index_add(struct iommu_source *io, uint64_t first, uint64_t last, uint64_t out)
{
	if (io->index_lost)
		return;
	if (vi_out_index_insert(&io->index, out, out + (last - first), first)) {
		vi_warn("reconcile: out of memory indexing IOVA [0x%llx, 0x%llx]: memory commits now reconcile "
			"everything until the index is rebuilt", (unsigned long long)first, (unsigned long long)last);
		io->index_lost = true;
	}
}

static void index_del(struct iommu_source *io, uint64_t first, uint64_t out)
{
	if (!io->index_lost)
		vi_out_index_remove(&io->index, out, first);
}

/* Rebuild the index from the shadow; true on success. */
static bool index_rebuild(struct iommu_source *io)
{
	struct viommu_iommu_xlat x;
	uint64_t addr = 0;

	vi_out_index_clear(&io->index);
	while (viommu_iommu_lookup_next(io->ias, addr, &x)) {
		if (vi_out_index_insert(&io->index, x.out, x.out + (x.last - x.first), x.first)) {
			vi_out_index_clear(&io->index);
			return false;
		}
		if (x.last == UINT64_MAX)
			break;
		addr = x.last + 1;
	}
	io->index_lost = false;
	return true;
}

/* ---- the IOMMU listener -------------------------------------------------------- */

static void io_refresh(struct viommu_recon *r)
{
	struct viommu_flatview *v;

	if (!iosrc(r)->ml_registered)
		return;
	v = viommu_as_get_flatview(iosrc(r)->sys);
	if (r->view)
		viommu_flatview_put(r->view);
	r->view = v;
}

/*
 * One event: the index follows at once (later events of the same sync may
 * need it), the changed IOVA range waits for the commit at the end of the
 * sync, so a whole invalidation is reconciled in one pass.
 */
static void io_event(struct viommu_iommu_listener *l, const struct viommu_iommu_event *ev)
{
	struct viommu_recon *r = l->opaque;
	struct iommu_source *io = iosrc(r);

	switch (ev->kind) {
	case VIOMMU_IOMMU_EV_MAP:
		index_add(io, ev->first, ev->last, ev->out);
		io->hint = (struct viommu_iommu_xlat){ ev->first, ev->last, ev->out, ev->perm };
		io->hint_valid = ev->perm != 0;
		break;
	case VIOMMU_IOMMU_EV_UNMAP:
		index_del(io, ev->first, ev->out);
		io->hint = (struct viommu_iommu_xlat){ ev->first, ev->last, 0, 0 };
		io->hint_valid = true;
		break;
	case VIOMMU_IOMMU_EV_CHANGE:
		io->hint_valid = false;
		index_del(io, ev->first, ev->out);
		for (size_t i = 0; i < ev->npieces; i++)
			index_add(io, ev->pieces[i].first, ev->pieces[i].last, ev->pieces[i].out);
		break;
	default:
		return;
	}
	if (io->quiet)
		return;
	if (!io->collecting) {
		vi_recon_dirty_reset(r);
		io->collecting = true;
	}
	vi_recon_dirty_add(r, ev->first, ev->last);
}

static void io_commit(struct viommu_iommu_listener *l)
{
	struct viommu_recon *r = l->opaque;
	struct iommu_source *io = iosrc(r);

	if (!io->collecting)
		return;
	io->collecting = false;
	io_refresh(r);
	vi_recon_apply(r);
}

/* ---- the memory listener on the system address space ------------------------- */

static void io_mem_begin(struct viommu_memory_listener *l, struct viommu_as *as)
{
	struct viommu_recon *r = l->opaque;
	struct iommu_source *io = iosrc(r);

	(void)as;
	io->ngpa = 0;
	io->gpa_all = false;
	io->view_emptied = true;
}

static void io_mem_diff(struct viommu_memory_listener *l, struct viommu_as *as, const struct viommu_mr_diff *d,
			size_t n)
{
	struct viommu_recon *r = l->opaque;
	struct iommu_source *io = iosrc(r);

	(void)as;
	for (size_t i = 0; i < n; i++) {
		if (d[i].has_after)
			io->view_emptied = false;
		if (!d[i].changed || io->gpa_all)
			continue;
		if (io->ngpa && io->gpa[io->ngpa - 1].last != UINT64_MAX && io->gpa[io->ngpa - 1].last + 1 == d[i].first) {
			io->gpa[io->ngpa - 1].last = d[i].last;
			continue;
		}
		if (io->ngpa == io->gpa_cap) {
			size_t nc = io->gpa_cap ? io->gpa_cap * 2 : 16;
			void *ng = nc > SIZE_MAX / sizeof(*io->gpa) ? NULL : realloc(io->gpa, nc * sizeof(*io->gpa));

			if (!ng) {
				io->gpa_all = true;
				continue;
			}
			io->gpa = ng;
			io->gpa_cap = nc;
		}
		io->gpa[io->ngpa++] = (struct vi_recon_range){ d[i].first, d[i].last };
	}
}

struct preimage_ctx {
	struct viommu_recon *r;
	uint64_t first, last;		/* the changed guest-physical range */
};

/* The IOVA range of extent @n whose output lies in the changed range. */
static void add_preimage(void *ctx, const struct vi_out_node *n)
{
	struct preimage_ctx *c = ctx;
	uint64_t lo = VI_MAX(n->out_first, c->first), hi = VI_MIN(n->out_last, c->last);

	vi_recon_dirty_add(c->r, n->iova + (lo - n->out_first), n->iova + (hi - n->out_first));
}

static void io_mem_commit(struct viommu_memory_listener *l, struct viommu_as *as)
{
	struct viommu_recon *r = l->opaque;
	struct iommu_source *io = iosrc(r);
	struct viommu_flatview *before = r->view;

	r->view = viommu_as_get_flatview(as);	/* empty when the space is being freed */
	if (!io->quiet) {
		vi_recon_dirty_reset(r);
		if (io->index_lost && !index_rebuild(io))
			r->dirty_all = true;
		if (io->gpa_all) {
			r->dirty_all = true;
		} else {
			for (size_t i = 0; i < io->ngpa && !r->dirty_all; i++) {
				struct preimage_ctx c = { r, io->gpa[i].first, io->gpa[i].last };

				vi_out_index_query(&io->index, c.first, c.last, add_preimage, &c);
			}
		}
		/* a commit no extent's output touches is no change of the desired mapping */
		if (r->dirty_all || r->ndirty)
			vi_recon_apply(r);
	}
	if (before)
		viommu_flatview_put(before);
}

/* ---- lifecycle ---------------------------------------------------------------- */

static void io_destroy(struct viommu_recon *r)
{
	struct iommu_source *io = iosrc(r);

	io->quiet = true;
	if (io->il_registered)
		viommu_iommu_listener_unregister(io->ias, &io->il);
	if (io->ml_registered)
		viommu_memory_listener_unregister(r->m, &io->ml);
	vi_out_index_clear(&io->index);
	free(io->gpa);
	free(io);
}

static const struct vi_recon_source_ops iommu_ops = {
	.seek = io_seek,
	.next = io_next,
	.next_cut = io_next_cut,
	.refresh = io_refresh,
	.naive_commit = NULL,
	.destroy = io_destroy,
};

VIOMMU_API struct viommu_recon *viommu_recon_new_iommu(struct viommu_memory *m, struct viommu_as *sys,
						       struct viommu_iommu_as *ias,
						       const struct viommu_recon_opts *opts)
{
	struct viommu_recon *r;
	struct iommu_source *io;
	int rc;

	if (!m || !sys || !ias) {
		vi_warn("viommu_recon_new_iommu: %s is NULL",
			!m ? "the memory model" : !sys ? "the system address space" : "the IOMMU address space");
		return vi_null(EINVAL);
	}
	r = vi_recon_alloc(m, opts, &iommu_ops, "viommu_recon_new_iommu");
	if (!r)
		return NULL;
	io = calloc(1, sizeof(*io));
	if (!io) {
		vi_recon_release(r);
		return vi_null(ENOMEM);
	}
	r->src_priv = io;
	io->ias = ias;
	io->sys = sys;
	io->quiet = true;	/* the replays: no backend yet, only the view and the index to fill */
	io->ml = (struct viommu_memory_listener){
		.sz = sizeof(io->ml), .as = sys, .opaque = r,
		.begin = io_mem_begin, .diff = io_mem_diff, .commit = io_mem_commit,
	};
	rc = viommu_memory_listener_register(m, &io->ml);
	if (!rc) {
		io->ml_registered = true;
		io->il = (struct viommu_iommu_listener){
			.sz = sizeof(io->il), .first = 0, .last = UINT64_MAX,
			.kinds = VIOMMU_IOMMU_EV_MAP | VIOMMU_IOMMU_EV_UNMAP | VIOMMU_IOMMU_EV_CHANGE,
			.caps = VIOMMU_IOMMU_CAP_ARBITRARY | VIOMMU_IOMMU_CAP_CHANGE,
			.notify = io_event, .opaque = r, .commit = io_commit,
		};
		rc = viommu_iommu_listener_register(ias, &io->il);
		io->il_registered = !rc;
	}
	if (rc) {
		io_destroy(r);
		vi_recon_release(r);
		return vi_null(-rc);
	}
	io->quiet = false;
	return r;
}

// SPDX-License-Identifier: MIT
/*
 * IOMMU address spaces the unit keeps equal to the guest's view
 * (include/viommu/iommu.h; QEMU's vtd_sync_shadow_page_table and
 * vtd_iotlb_page_invalidate_notify are the peer's version).
 *
 * Two kinds of target, both a struct vtd_target (an IOMMU address space
 * plus the translation it reads, cfg):
 *  - a device's, created when the first listener registers for the
 *    requester id;
 *  - a host group's: devices attached to host backends whose contexts
 *    resolve to the same translation (same domain id, tables and widths; or
 *    untranslated) are members of one group, and each backend follows the
 *    group with one set of host mappings (a "link"), however many member
 *    devices are attached to it. So two devices in one domain behind one
 *    VFIO container or IOAS map each IOVA once, not once per device (their
 *    per-device spaces would map the same IOVA twice and the second map
 *    would fail with EEXIST).
 *
 *      requester 00:03.0 ─┐ cfg {did 5, root R}      ┌─ link ─▶ backend A
 *      requester 00:04.0 ─┴──────────▶ group (did 5, R) ┤
 *      requester 00:05.0 ── cfg {did 6, root S} ─▶ group ─┴─ link ─▶ backend B
 *
 * Invalidations mark ranges pending on the targets in scope (a PSI: the
 * decoded range on every target of that domain; domain and global: the
 * whole space); vtd_sync_flush() turns each pending range into exactly one
 * viommu_iommu_sync() over it. A context-cache invalidation, SRTP or a TE
 * change re-resolves the devices in scope: a device whose translation
 * changed is synced in full against the new one, and its backends move to
 * the group of the new translation (the old group's mappings are removed
 * first: no backend ever holds two groups' mappings of one device).
 *
 * Costs: marking is O(targets); a flush is one sync per pending range (at
 * most VTD_PEND_MAX per target before they are merged into their cover).
 */
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/opts.h"
#include "vtd/vtd_int.h"

#define viommu_vtd_host_opts__last_field report_ctx
#define viommu_vtd_host_stats__last_field errors

#define CAP_CM (UINT64_C(1) << 7)
#define ECAP_DT (UINT64_C(1) << 2)
#define EV_TRACKING (VIOMMU_IOMMU_EV_MAP | VIOMMU_IOMMU_EV_UNMAP | VIOMMU_IOMMU_EV_CHANGE)

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t n = *cap ? *cap * 2 : 4;
	void *q;

	while (n < need)
		n *= 2;
	q = realloc(*p, n * elem);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = n;
	return 0;
}

/* Drop @p from the unordered array @a of *n pointers (order does not matter). */
static void drop_ptr(void **a, size_t *n, const void *p)
{
	for (size_t i = 0; i < *n; i++) {
		if (a[i] == p) {
			a[i] = a[--*n];
			return;
		}
	}
}

/* ---- targets ---------------------------------------------------------- */

static int target_read(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *view)
{
	struct vtd_target *t = ctx;

	return vtd_read_view(t->v, &t->cfg, first, last, view);
}

static void target_sync(struct vtd_target *t, uint64_t first, uint64_t last)
{
	struct viommu_vtd *v = t->v;
	int r = viommu_iommu_sync(t->ias, first, last);

	v->st.syncs++;
	if (first == 0 && last == UINT64_MAX)
		v->st.full_syncs++;
	else
		v->st.sync_bytes += last - first + 1;
	if (r < 0) {
		v->st.sync_errors++;
		vtd_guest_log(v, "sync of [%#llx, %#llx] failed (%d): guest tables unreadable, view kept",
			      (unsigned long long)first, (unsigned long long)last, r);
	}
}

/* A new IOMMU address space for @t reading @t->cfg, synced in full (no listener yet: no events). */
static int target_open(struct viommu_vtd *v, struct vtd_target *t, uint32_t source_id)
{
	struct viommu_iommu_as_opts o = {
		.sz = sizeof(o), .read = target_read, .read_ctx = t, .page_shift = 12,
		.source_id = source_id, .msi_window = true,
		.msi_first = VTD_WIN_FIRST, .msi_last = VTD_WIN_LAST,
	};

	t->v = v;
	t->ias = viommu_iommu_as_new(&o);
	if (!t->ias)
		return -ENOMEM;
	t->pend_all = false;
	t->npend = 0;
	target_sync(t, 0, UINT64_MAX);
	return 0;
}

static void pend_add(struct vtd_target *t, uint64_t first, uint64_t last)
{
	unsigned i = 0, j;

	if (!t->ias || t->pend_all)
		return;
	/* the ranges stay sorted and disjoint; touching or overlapping ones merge */
	while (i < t->npend && t->pend[i].last < first && t->pend[i].last + 1 < first)
		i++;
	j = i;
	while (j < t->npend && (t->pend[j].first <= last || (last != UINT64_MAX && t->pend[j].first == last + 1))) {
		first = VI_MIN(first, t->pend[j].first);
		last = VI_MAX(last, t->pend[j].last);
		j++;
	}
	if (j > i) {
		t->pend[i].first = first;
		t->pend[i].last = last;
		memmove(&t->pend[i + 1], &t->pend[j], (t->npend - j) * sizeof(t->pend[0]));
		t->npend -= j - i - 1;
		return;
	}
	if (t->npend == VTD_PEND_MAX) {
		/* too many scattered ranges: their cover (over-syncing only re-reads the guest) */
		t->pend[0].first = VI_MIN(first, t->pend[0].first);
		t->pend[0].last = VI_MAX(last, t->pend[t->npend - 1].last);
		t->npend = 1;
		return;
	}
	memmove(&t->pend[i + 1], &t->pend[i], (t->npend - i) * sizeof(t->pend[0]));
	t->pend[i].first = first;
	t->pend[i].last = last;
	t->npend++;
}

static void pend_run(struct vtd_target *t)
{
	if (!t->ias)
		return;
	if (t->pend_all)
		target_sync(t, 0, UINT64_MAX);
	else
		for (unsigned i = 0; i < t->npend; i++)
			target_sync(t, t->pend[i].first, t->pend[i].last);
	t->pend_all = false;
	t->npend = 0;
}

/* Call @fn on every target (devices' with an address space, then groups'). */
static void for_targets(struct viommu_vtd *v, void (*fn)(struct vtd_target *, const void *), const void *arg)
{
	for (size_t i = 0; i < v->ndevs; i++)
		if (v->devs[i]->t.ias)
			fn(&v->devs[i]->t, arg);
	for (size_t i = 0; i < v->ngroups; i++)
		fn(&v->groups[i]->t, arg);
}

struct scope {
	bool all;		/* every translated target */
	uint16_t did;
	bool whole;		/* the whole space, else [first, last] */
	uint64_t first, last;
};

static void mark(struct vtd_target *t, const void *arg)
{
	const struct scope *s = arg;

	if (t->cfg.kind != VTD_CFG_SECOND || (!s->all && t->cfg.did != s->did))
		return;
	if (s->whole) {
		t->pend_all = true;
		t->npend = 0;
	} else {
		pend_add(t, s->first, s->last);
	}
}

void vtd_sync_range(struct viommu_vtd *v, uint16_t did, uint64_t first, uint64_t last)
{
	for_targets(v, mark, &(struct scope){ false, did, false, first, last });
}

void vtd_sync_domain(struct viommu_vtd *v, uint16_t did)
{
	for_targets(v, mark, &(struct scope){ false, did, true, 0, 0 });
}

void vtd_sync_all(struct viommu_vtd *v)
{
	for_targets(v, mark, &(struct scope){ true, 0, true, 0, 0 });
}

static void run(struct vtd_target *t, const void *arg)
{
	pend_run(t);
}

void vtd_sync_flush(struct viommu_vtd *v)
{
	for_targets(v, run, NULL);
}

/* ---- groups ------------------------------------------------------------ */

static struct vtd_group *group_get(struct viommu_vtd *v, const struct vtd_cfg *c)
{
	struct vtd_group *g;

	for (size_t i = 0; i < v->ngroups; i++)
		if (vtd_cfg_same_view(&v->groups[i]->t.cfg, c))
			return v->groups[i];
	if (grow((void **)&v->groups, &v->gcap, v->ngroups + 1, sizeof(*v->groups)))
		return NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return NULL;
	g->t.cfg = *c;
	if (target_open(v, &g->t, c->did)) {
		free(g);
		return NULL;
	}
	v->groups[v->ngroups++] = g;
	return g;
}

static void group_free(struct viommu_vtd *v, struct vtd_group *g, bool unmap)
{
	for (size_t i = 0; i < g->nlinks; i++)
		vtd_host_link_free(g->links[i].hl, unmap);
	viommu_iommu_as_free(g->t.ias);
	drop_ptr((void **)v->groups, &v->ngroups, g);
	free(g->links);
	free(g);
}

static void group_ref(struct viommu_vtd *v, struct vtd_group *g, const struct vtd_hostref *hr, uint16_t sid)
{
	struct vtd_link *l;

	for (size_t i = 0; i < g->nlinks; i++) {
		if (g->links[i].h == hr->h) {
			g->links[i].refs++;
			return;
		}
	}
	if (grow((void **)&g->links, &g->lcap, g->nlinks + 1, sizeof(*g->links))) {
		vi_err("vtd: out of memory linking a backend for %04x", sid);
		return;
	}
	l = &g->links[g->nlinks++];
	l->h = hr->h;
	l->refs = 1;
	/* pending ranges first: the link is built from a current shadow */
	pend_run(&g->t);
	l->hl = vtd_host_link_new(v, g->t.ias, hr->h, sid, &hr->opts);
	if (!l->hl)
		vi_err("vtd: the host link for %04x could not be made (%d)", sid, -errno);
}

static void group_unref(struct viommu_vtd *v, struct vtd_group *g, struct viommu_host *h)
{
	for (size_t i = 0; i < g->nlinks; i++) {
		if (g->links[i].h != h)
			continue;
		if (--g->links[i].refs)
			return;
		vtd_host_link_free(g->links[i].hl, true);
		g->links[i] = g->links[--g->nlinks];
		return;
	}
}

/* Make @d's group the one of its cfg (NULL when blocked or without backends). */
static void dev_regroup(struct viommu_vtd *v, struct vtd_dev *d)
{
	struct vtd_group *old = d->group, *g = NULL;

	if (d->nhosts && d->t.cfg.kind != VTD_CFG_BLOCKED) {
		g = group_get(v, &d->t.cfg);
		if (!g)
			vi_err("vtd: out of memory: %04x's backends follow no translation", d->sid);
	}
	if (g == old)
		return;
	if (old) {
		for (size_t i = 0; i < d->nhosts; i++)
			group_unref(v, old, d->hosts[i].h);
		if (!--old->members)
			group_free(v, old, true);
	}
	d->group = g;
	if (g) {
		g->members++;
		for (size_t i = 0; i < d->nhosts; i++)
			group_ref(v, g, &d->hosts[i], d->sid);
	}
}

/* ---- devices ----------------------------------------------------------- */

static struct vtd_dev *dev_find(struct viommu_vtd *v, uint16_t sid)
{
	for (size_t i = 0; i < v->ndevs; i++)
		if (v->devs[i]->sid == sid)
			return v->devs[i];
	return NULL;
}

static struct vtd_dev *dev_get(struct viommu_vtd *v, uint16_t sid)
{
	struct vtd_dev *d = dev_find(v, sid);

	if (d)
		return d;
	if (grow((void **)&v->devs, &v->dcap, v->ndevs + 1, sizeof(*v->devs)))
		return NULL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->sid = sid;
	d->t.v = v;
	vtd_resolve(v, sid, &d->t.cfg);
	v->devs[v->ndevs++] = d;
	return d;
}

/* Forget @d once nothing needs it. */
static void dev_put(struct viommu_vtd *v, struct vtd_dev *d)
{
	if (d->nlisteners || d->nhosts)
		return;
	viommu_iommu_as_free(d->t.ias);
	drop_ptr((void **)v->devs, &v->ndevs, d);
	free(d->hosts);
	free(d);
}

static bool sid_match(uint16_t a, uint16_t sid, unsigned fm)
{
	static const uint8_t masks[4] = { 0, 4, 6, 7 };
	uint16_t m = masks[fm & 3];

	return (a & ~m) == (sid & ~m);
}

void vtd_sync_refresh(struct viommu_vtd *v, bool all, uint16_t sid, unsigned fm)
{
	for (size_t i = 0; i < v->ndevs; i++) {
		struct vtd_dev *d = v->devs[i];
		struct vtd_cfg c;

		if (!all && !sid_match(d->sid, sid, fm))
			continue;
		vtd_resolve(v, d->sid, &c);
		if (vtd_cfg_same_view(&c, &d->t.cfg)) {
			d->t.cfg = c;
			continue;
		}
		d->t.cfg = c;
		if (d->t.ias) {
			d->t.pend_all = false;
			d->t.npend = 0;
			target_sync(&d->t, 0, UINT64_MAX);
		}
		dev_regroup(v, d);
	}
}

void vtd_sync_devtlb(struct viommu_vtd *v, uint16_t sid, uint64_t first, uint64_t last)
{
	struct vtd_dev *d = dev_find(v, sid);

	vtd_sync_flush(v);
	if (d && d->t.ias)
		viommu_iommu_deviotlb_unmap(d->t.ias, first, last);
}

void vtd_sync_free(struct viommu_vtd *v)
{
	while (v->ngroups)
		group_free(v, v->groups[v->ngroups - 1], false);
	for (size_t i = 0; i < v->ndevs; i++) {
		viommu_iommu_as_free(v->devs[i]->t.ias);
		free(v->devs[i]->hosts);
		free(v->devs[i]);
	}
	free(v->devs);
	free(v->groups);
}

/* ---- public: listeners ------------------------------------------------- */

VIOMMU_API int viommu_vtd_listener_register(struct viommu_vtd *v, uint16_t sid, struct viommu_iommu_listener *l)
{
	struct vtd_dev *d;
	int r = 0;

	if (!v || !l)
		return vi_errno(-EINVAL);
	if ((l->kinds & EV_TRACKING) && !(v->cap & CAP_CM)) {
		vi_warn("vtd: listener for %04x refused: MAP/UNMAP/CHANGE need caching mode (kinds %#x); "
			"without it the guest does not invalidate new mappings", sid, l->kinds);
		return vi_errno(-EINVAL);
	}
	if ((l->kinds & VIOMMU_IOMMU_EV_DEVIOTLB_UNMAP) && !(v->ecap & ECAP_DT)) {
		vi_warn("vtd: listener for %04x refused: DEVIOTLB_UNMAP needs ECAP.DT (device_iotlb)", sid);
		return vi_errno(-EINVAL);
	}
	if (vtd_in_callback(v))
		return vi_errno(-EDEADLK);
	vtd_lock(v);
	vtd_sync_flush(v);
	d = dev_get(v, sid);
	if (!d)
		r = -ENOMEM;
	else if (!d->t.ias)
		r = target_open(v, &d->t, sid);
	if (!r)
		r = viommu_iommu_listener_register(d->t.ias, l);
	if (!r) {
		d->nlisteners++;
	} else if (d) {
		if (!d->nlisteners) {
			viommu_iommu_as_free(d->t.ias);
			d->t.ias = NULL;
		}
		dev_put(v, d);
	}
	vtd_unlock(v);
	return vi_errno(r);
}

VIOMMU_API int viommu_vtd_listener_unregister(struct viommu_vtd *v, uint16_t sid,
					      struct viommu_iommu_listener *l)
{
	struct vtd_dev *d;
	int r;

	if (!v || !l)
		return vi_errno(-EINVAL);
	if (vtd_in_callback(v))
		return vi_errno(-EDEADLK);
	vtd_lock(v);
	d = dev_find(v, sid);
	r = d && d->t.ias ? viommu_iommu_listener_unregister(d->t.ias, l) : -ENOENT;
	if (!r && !--d->nlisteners) {
		viommu_iommu_as_free(d->t.ias);
		d->t.ias = NULL;
		dev_put(v, d);
	}
	vtd_unlock(v);
	return vi_errno(r);
}

/* ---- public: host backends --------------------------------------------- */

VIOMMU_API int viommu_vtd_host_attach(struct viommu_vtd *v, uint16_t sid, struct viommu_host *h,
				      const struct viommu_vtd_host_opts *opts)
{
	struct vtd_hostref hr = { h, { 0 } };
	struct vtd_dev *d;
	int r = 0;

	if (!v || !h || !VI_OPTS_VALID(opts, viommu_vtd_host_opts))
		return vi_errno(-EINVAL);
	if (!(v->cap & CAP_CM)) {
		vi_warn("vtd: host backend for %04x refused: a passthrough device needs caching mode", sid);
		return vi_errno(-EINVAL);
	}
	if (!v->host_ok) {
		vi_warn("vtd: host backend for %04x refused: the unit has no memory model (opts.memory, opts.sys)",
			sid);
		return vi_errno(-EINVAL);
	}
	if (vtd_in_callback(v))
		return vi_errno(-EDEADLK);
	VI_OPTS_COPY(&hr.opts, opts);
	vtd_lock(v);
	vtd_sync_flush(v);
	d = dev_get(v, sid);
	if (!d) {
		r = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < d->nhosts; i++)
		if (d->hosts[i].h == h)
			r = -EEXIST;
	if (!r && grow((void **)&d->hosts, &d->hcap, d->nhosts + 1, sizeof(*d->hosts)))
		r = -ENOMEM;
	if (r) {
		dev_put(v, d);
		goto out;
	}
	d->hosts[d->nhosts++] = hr;
	if (d->group)
		group_ref(v, d->group, &hr, sid);
	else
		dev_regroup(v, d);
out:
	vtd_unlock(v);
	return vi_errno(r);
}

VIOMMU_API int viommu_vtd_host_detach(struct viommu_vtd *v, uint16_t sid, struct viommu_host *h)
{
	struct vtd_dev *d;
	int r = -ENOENT;

	if (!v || !h)
		return vi_errno(-EINVAL);
	if (vtd_in_callback(v))
		return vi_errno(-EDEADLK);
	vtd_lock(v);
	d = dev_find(v, sid);
	for (size_t i = 0; d && i < d->nhosts; i++) {
		if (d->hosts[i].h != h)
			continue;
		if (d->group)
			group_unref(v, d->group, h);
		d->hosts[i] = d->hosts[--d->nhosts];
		if (!d->nhosts)
			dev_regroup(v, d);
		dev_put(v, d);
		r = 0;
		break;
	}
	vtd_unlock(v);
	return vi_errno(r);
}

VIOMMU_API int viommu_vtd_host_get_stats(struct viommu_vtd *v, struct viommu_host *h,
					 struct viommu_vtd_host_stats *st)
{
	struct viommu_vtd_host_stats s = { .sz = sizeof(s) };
	int r;

	if (!v || !h || !st)
		return vi_errno(-EINVAL);
	if (vtd_in_callback(v))
		return vi_errno(-EDEADLK);
	vtd_lock(v);
	for (size_t i = 0; i < v->ngroups; i++) {
		struct vtd_group *g = v->groups[i];

		for (size_t k = 0; k < g->nlinks; k++) {
			if (g->links[k].h != h)
				continue;
			s.links++;
			vtd_host_link_stats(g->links[k].hl, &s);
		}
	}
	vtd_unlock(v);
	if (!s.links)
		return vi_errno(-ENOENT);
	r = VI_OPTS_OUT(st, &s, viommu_vtd_host_stats);
	return vi_errno(r);
}

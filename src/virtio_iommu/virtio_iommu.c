// SPDX-License-Identifier: MIT
/*
 * The virtio-iommu device (virtio spec 1.2/1.3, "IOMMU device"; the section
 * numbers below are of that chapter): configuration, endpoints, domains,
 * the five requests, translation and faults.
 *
 * Every request is checked completely before anything changes, so a refused
 * request changes nothing. The one exception is a MAP the host backend
 * refuses after the mapping was recorded: it is taken back (the IOMMU
 * address space syncs it away again, the backend unmaps what it mapped) and
 * the guest sees NOMEM (out of host mappings), RANGE (an IOVA the backend
 * cannot map) or DEVERR.
 *
 * Who sees what:
 *   domain mappings (rangemap) --sync--> domain IOMMU address space --> hostset
 *                                   \--> each endpoint's address space --> user listeners
 * A mapping is fed to the IOMMU address spaces unless it is MMIO (QEMU's
 * hw/virtio/virtio-iommu.c does not notify those either), has no
 * permission, or is not aligned to their page (a granule below 4 bytes).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <viommu/virtio_iommu.h>

#include "util/compiler.h"
#include "util/log.h"
#include "util/opts.h"
#include "virtio_iommu/virtio_iommu_int.h"

#define viommu_virtio_iommu_opts__last_field sys
#define viommu_virtio_iommu_endpoint_opts__last_field nresv
#define viommu_virtio_iommu_stats__last_field host_conflicts

#define F(bit) VIOMMU_VIRTIO_IOMMU_FEATURE(VIOMMU_VIRTIO_IOMMU_F_##bit)
#define FEATURES_KNOWN (F(INPUT_RANGE) | F(DOMAIN_RANGE) | F(MAP_UNMAP) | F(BYPASS) | F(PROBE) | F(MMIO) | \
			F(BYPASS_CONFIG))
#define FEATURES_DEFAULT (F(INPUT_RANGE) | F(DOMAIN_RANGE) | F(MAP_UNMAP) | F(PROBE) | F(MMIO) | F(BYPASS_CONFIG))

#define MAP_FLAGS_MASK 0x7u
#define S(x) VIOMMU_VIRTIO_IOMMU_S_##x

static inline uint64_t map_enc(uint64_t phys, uint32_t flags) { return phys << 3 | flags; }
static inline uint64_t map_phys(uint64_t v) { return v >> 3; }
static inline uint32_t map_flags(uint64_t v) { return (uint32_t)(v & MAP_FLAGS_MASK); }

static inline unsigned map_perm(uint32_t flags)
{
	return (flags & VIOMMU_VIRTIO_IOMMU_MAP_F_READ ? VIOMMU_PERM_READ : 0) |
	       (flags & VIOMMU_VIRTIO_IOMMU_MAP_F_WRITE ? VIOMMU_PERM_WRITE : 0);
}

static inline bool negotiated(const struct viommu_virtio_iommu *dev, uint64_t f)
{
	return (dev->driver_features & f) != 0;
}

/* ---- lookups ------------------------------------------------------------- */

static struct vio_endpoint *ep_find(const struct viommu_virtio_iommu *dev, uint32_t id)
{
	struct viommu_range_entry e;

	if (!viommu_rangemap_find(dev->eps, id, &e))
		return NULL;
	return (struct vio_endpoint *)(uintptr_t)e.value;
}

static struct vio_domain *dom_find(const struct viommu_virtio_iommu *dev, uint32_t id)
{
	struct viommu_range_entry e;

	if (!viommu_rangemap_find(dev->doms, id, &e))
		return NULL;
	return (struct vio_domain *)(uintptr_t)e.value;
}

/* Unattached endpoints are in bypass (spec "Device operations"). */
static bool unattached_bypass(const struct viommu_virtio_iommu *dev)
{
	return ((dev->features & F(BYPASS_CONFIG)) && dev->bypass) || negotiated(dev, F(BYPASS));
}

static bool ep_in_bypass(const struct vio_endpoint *ep)
{
	return ep->domain ? ep->domain->bypass : unattached_bypass(ep->dev);
}

static bool fed(const struct viommu_virtio_iommu *dev, uint64_t first, uint64_t last, uint64_t phys, uint32_t flags)
{
	uint64_t pm = vi_mask(dev->ias_shift);

	return !(flags & VIOMMU_VIRTIO_IOMMU_MAP_F_MMIO) && map_perm(flags) &&
	       !((first | (last + 1) | phys) & pm);
}

/* ---- refusals are logged with the exact request --------------------------- */

static const char *const type_names[] = { "?", "ATTACH", "DETACH", "MAP", "UNMAP", "PROBE" };

__attribute__((format(printf, 3, 4)))
static int refuse(int status, unsigned type, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	vi_info("virtio-iommu: %s refused with status %d: %s", type_names[type < 6 ? type : 0], status, buf);
	return status;
}

/* ---- IOMMU address spaces ------------------------------------------------- */

/* The domain's fed mappings overlapping [first, last], as guest leaves. */
static int domain_read(const struct vio_domain *d, uint64_t first, uint64_t last, struct viommu_iommu_view *v)
{
	struct viommu_rangemap_iter it;

	if (d->known && first == d->known_e.first && last == d->known_e.last) {
		uint64_t phys = map_phys(d->known_e.value);
		uint32_t flags = map_flags(d->known_e.value);

		if (!d->known_map || !fed(d->dev, first, last, phys, flags))
			return 0;
		return viommu_iommu_view_add(v, first, last, phys, map_perm(flags));
	}

	viommu_rangemap_for_each(&it, d->maps, first, last) {
		uint64_t phys = map_phys(it.entry.value);
		uint32_t flags = map_flags(it.entry.value);

		if (!fed(d->dev, it.entry.first, it.entry.last, phys, flags))
			continue;
		int r = viommu_iommu_view_add(v, it.entry.first, it.entry.last, phys, map_perm(flags));

		if (r)
			return r;
	}
	return 0;
}

static int domain_read_cb(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *v)
{
	return domain_read(ctx, first, last, v);
}

/* What an endpoint can reach: its domain's mappings, everything in bypass, or nothing. */
static int ep_read_cb(void *ctx, uint64_t first, uint64_t last, struct viommu_iommu_view *v)
{
	struct vio_endpoint *ep = ctx;

	if (ep_in_bypass(ep))
		return viommu_iommu_view_add(v, 0, UINT64_MAX, 0, VIOMMU_PERM_RW);
	if (ep->domain)
		return domain_read(ep->domain, first, last, v);
	return 0;
}

static struct viommu_iommu_as *ias_new(struct viommu_virtio_iommu *dev, viommu_iommu_read_fn read, void *ctx,
				       uint32_t source_id)
{
	/* merge_granule = the page: every mapping stays its own extent */
	struct viommu_iommu_as_opts o = { .sz = sizeof(o), .read = read, .read_ctx = ctx,
					  .page_shift = dev->ias_shift, .source_id = source_id,
					  .merge_granule = UINT64_C(1) << dev->ias_shift };

	return viommu_iommu_as_new(&o);
}

/* Bring every endpoint address space of @d up to date over [first, last]. */
static void sync_eps(struct vio_domain *d, uint64_t first, uint64_t last)
{
	for (struct vio_endpoint *ep = d->eps; ep; ep = ep->dnext)
		if (ep->ias && viommu_iommu_sync(ep->ias, first, last) < 0)
			vi_warn("virtio-iommu: endpoint %u address space [%#llx, %#llx] not synced: %s", ep->id,
				(unsigned long long)first, (unsigned long long)last, strerror(errno));
}

/*
 * The endpoint now reaches something else (it moved, or bypass changed):
 * everything it reached is unmapped, then what it reaches now is mapped,
 * one event per mapping each way. A sync would keep translations that did
 * not change, but would leave the new extents cut where the old ones ended,
 * and a later UNMAP would then come in pieces.
 */
static void ep_resync(struct vio_endpoint *ep)
{
	if (!ep->ias)
		return;
	if (viommu_iommu_unmap_all(ep->ias, 0, UINT64_MAX) < 0 || viommu_iommu_sync(ep->ias, 0, UINT64_MAX) < 0)
		vi_warn("virtio-iommu: endpoint %u address space not synced: %s", ep->id, strerror(errno));
}

/* ---- host contexts --------------------------------------------------------- */

static struct vio_hostset *identity_set(struct viommu_virtio_iommu *dev)
{
	if (!dev->identity)
		dev->identity = vio_hostset_new(dev->opts.memory, dev->opts.sys, NULL, &dev->hc);
	return dev->identity;
}

static struct vio_hostset *domain_set(struct vio_domain *d)
{
	if (!d->hs)
		d->hs = vio_hostset_new(d->dev->opts.memory, d->dev->opts.sys, d->ias, &d->dev->hc);
	return d->hs;
}

/* The context an endpoint's backend should be in: a key, and its hostset (created if needed). */
static const void *ep_context(struct vio_endpoint *ep)
{
	if (ep_in_bypass(ep))
		return &ep->dev->identity;
	return ep->domain;	/* NULL: unattached, blocked */
}

static struct vio_hostset *context_set(struct viommu_virtio_iommu *dev, const void *key)
{
	if (!key)
		return NULL;
	if (key == &dev->identity)
		return identity_set(dev);
	return domain_set((struct vio_domain *)(uintptr_t)key);
}

/*
 * Put backend @be where its endpoints are. They share one IOVA space, so
 * when they disagree the backend can serve none of them safely: it is
 * emptied until they agree again (the guest is told to attach endpoints
 * that cannot be isolated to one domain, spec "ATTACH request").
 */
static void backend_update(struct viommu_virtio_iommu *dev, struct vio_backend *be)
{
	const void *key = NULL;
	bool conflict = false, first = true;

	for (struct vio_endpoint *ep = be->eps; ep; ep = ep->bnext) {
		const void *k = ep_context(ep);

		if (first)
			key = k;
		else if (k != key)
			conflict = true;
		first = false;
	}
	if (conflict)
		key = NULL;
	if (conflict && !be->conflict) {
		dev->st.host_conflicts++;
		vi_warn("virtio-iommu: endpoints sharing a host backend are in different domains: it holds nothing");
	}
	be->conflict = conflict;
	struct vio_hostset *target = context_set(dev, key);

	if (key && !target)
		vi_err("virtio-iommu: no host mapping set for a domain: %s", strerror(errno));
	if (target == be->cur)
		return;
	if (be->cur)
		vio_hostset_detach(be->cur, be->h);
	be->cur = NULL;
	if (target) {
		int r = vio_hostset_attach(target, be->h);

		if (r)
			vi_err("virtio-iommu: host backend not attached: %s", strerror(-r));
		else
			be->cur = target;
	}
}

/* Every backend and endpoint address space after a change of the bypass state. */
static void refresh_all(struct viommu_virtio_iommu *dev)
{
	struct viommu_rangemap_iter it;

	for (size_t i = 0; i < dev->nbes; i++)
		backend_update(dev, dev->bes[i]);
	viommu_rangemap_for_each(&it, dev->eps, 0, UINT32_MAX) {
		struct vio_endpoint *ep = (struct vio_endpoint *)(uintptr_t)it.entry.value;

		if (!ep->domain)
			ep_resync(ep);
	}
}

/* ---- domains ------------------------------------------------------------------ */

static struct vio_domain *domain_new(struct viommu_virtio_iommu *dev, uint32_t id, bool bypass)
{
	struct vio_domain *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->id = id;
	d->bypass = bypass;
	d->dev = dev;
	d->maps = viommu_rangemap_new();
	if (!d->maps)
		goto fail;
	if (!bypass && !(d->ias = ias_new(dev, domain_read_cb, d, id)))
		goto fail;
	if (viommu_rangemap_insert(dev->doms, id, id, (uint64_t)(uintptr_t)d))
		goto fail;
	dev->st.domains++;
	return d;
fail:
	viommu_iommu_as_free(d->ias);
	viommu_rangemap_free(d->maps);
	free(d);
	return NULL;
}

/* Free a domain with no endpoint left (its backends have moved away already). */
static void domain_free(struct viommu_virtio_iommu *dev, struct vio_domain *d)
{
	viommu_rangemap_remove(dev->doms, d->id, d->id, NULL);
	dev->st.domains--;
	dev->st.mappings -= viommu_rangemap_count(d->maps);
	dev->st.unfed -= d->unfed;
	vio_hostset_free(d->hs);
	viommu_iommu_as_free(d->ias);
	viommu_rangemap_free(d->maps);
	free(d);
}

/*
 * Move @ep to domain @to (NULL: detach): the endpoint leaves its old domain
 * (freed if it was the last), its backend follows, its address space is
 * redone (detach -> UNMAP of what it could reach, attach -> MAP of the
 * domain's mappings: the replay).
 */
static void ep_move(struct viommu_virtio_iommu *dev, struct vio_endpoint *ep, struct vio_domain *to)
{
	struct vio_domain *old = ep->domain;

	if (old) {
		if (ep->dprev)
			ep->dprev->dnext = ep->dnext;
		else
			old->eps = ep->dnext;
		if (ep->dnext)
			ep->dnext->dprev = ep->dprev;
		old->nep--;
	}
	ep->dnext = ep->dprev = NULL;
	ep->domain = to;
	if (to) {
		ep->dnext = to->eps;
		if (to->eps)
			to->eps->dprev = ep;
		to->eps = ep;
		to->nep++;
	}
	if (ep->be)
		backend_update(dev, ep->be);
	ep_resync(ep);
	if (old && !old->nep)
		domain_free(dev, old);
}

/* ---- reserved regions ------------------------------------------------------------ */

static int resv_cmp(const void *a, const void *b)
{
	const struct viommu_virtio_iommu_resv *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * Check a set of regions (the device's, plus an endpoint's own if @own):
 * well formed, pairwise disjoint, at most one MSI region, and their PROBE
 * properties fit in probe_size. Returns a sorted copy in *out.
 */
static int resv_check(const struct viommu_virtio_iommu *dev, const struct viommu_virtio_iommu_resv *r, size_t n,
		      bool own, struct viommu_virtio_iommu_resv **out)
{
	size_t ndev = own ? dev->nresv : 0;

	*out = NULL;
	if (n && !r)
		return -EINVAL;
	if (n > SIZE_MAX / VIOMMU_VIRTIO_IOMMU_RESV_PROP_SIZE - ndev ||
	    (n + ndev) * VIOMMU_VIRTIO_IOMMU_RESV_PROP_SIZE > dev->opts.probe_size) {
		vi_warn("virtio-iommu: %zu reserved regions do not fit in probe_size %u", n + ndev,
			dev->opts.probe_size);
		return -EINVAL;
	}
	if (!n)
		return 0;
	struct viommu_virtio_iommu_resv *all = malloc((n + ndev) * sizeof(*all));

	if (!all)
		return -ENOMEM;
	memcpy(all, r, n * sizeof(*all));
	if (ndev)
		memcpy(all + n, dev->resv_list, ndev * sizeof(*all));
	qsort(all, n + ndev, sizeof(*all), resv_cmp);
	unsigned msi = 0;

	for (size_t i = 0; i < n + ndev; i++) {
		if (all[i].first > all[i].last || all[i].subtype > VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_MSI ||
		    (i && all[i].first <= all[i - 1].last)) {
			vi_warn("virtio-iommu: reserved region [%#llx, %#llx] subtype %u is malformed or overlaps",
				(unsigned long long)all[i].first, (unsigned long long)all[i].last, all[i].subtype);
			free(all);
			return -EINVAL;
		}
		msi += all[i].subtype == VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_MSI;
	}
	if (msi > 1) {
		vi_warn("virtio-iommu: more than one MSI region per endpoint");
		free(all);
		return -EINVAL;
	}
	/* keep only the caller's own, sorted */
	memcpy(all, r, n * sizeof(*all));
	qsort(all, n, sizeof(*all), resv_cmp);
	*out = all;
	return 0;
}

/*
 * The first of @ep's own regions (sorted, disjoint) that overlaps
 * [first, last], or NULL: a binary search, O(log nresv).
 */
static const struct viommu_virtio_iommu_resv *ep_resv_overlap(const struct vio_endpoint *ep, uint64_t first,
							     uint64_t last)
{
	size_t lo = 0, hi = ep->nresv;

	/* the first region ending at or after @first */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ep->resv[mid].last < first)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < ep->nresv && ep->resv[lo].first <= last ? &ep->resv[lo] : NULL;
}

/* The reserved region of @ep containing @addr (device-wide first). */
static bool resv_at(const struct viommu_virtio_iommu *dev, const struct vio_endpoint *ep, uint64_t addr,
		    struct viommu_virtio_iommu_resv *out)
{
	struct viommu_range_entry e;

	if (viommu_rangemap_find(dev->resv, addr, &e)) {
		*out = (struct viommu_virtio_iommu_resv){ e.first, e.last, (unsigned)e.value };
		return true;
	}
	const struct viommu_virtio_iommu_resv *r = ep_resv_overlap(ep, addr, addr);

	if (r)
		*out = *r;
	return r != NULL;
}

/* A reserved region of any endpoint of @d overlapping [first, last]. */
static bool resv_overlap(const struct viommu_virtio_iommu *dev, const struct vio_domain *d, uint64_t first,
			 uint64_t last, struct viommu_virtio_iommu_resv *out)
{
	struct viommu_range_entry e;

	if (viommu_rangemap_find_overlap(dev->resv, first, last, &e)) {
		*out = (struct viommu_virtio_iommu_resv){ e.first, e.last, (unsigned)e.value };
		return true;
	}
	for (const struct vio_endpoint *ep = d->eps; ep; ep = ep->dnext) {
		const struct viommu_virtio_iommu_resv *r = ep_resv_overlap(ep, first, last);

		if (r) {
			*out = *r;
			return true;
		}
	}
	return false;
}

/* ---- the device ------------------------------------------------------------------- */

VIOMMU_API struct viommu_virtio_iommu *viommu_virtio_iommu_new(const struct viommu_virtio_iommu_opts *opts)
{
	if (!VI_OPTS_VALID(opts, viommu_virtio_iommu_opts))
		return vi_null(EINVAL);
	struct viommu_virtio_iommu *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return vi_null(ENOMEM);
	VI_OPTS_COPY(&dev->opts, opts);
	struct viommu_virtio_iommu_opts *o = &dev->opts;
	int err = EINVAL;

	o->sz = sizeof(*o);
	if (!o->features)
		o->features = FEATURES_DEFAULT;
	if (!o->page_size_mask)
		o->page_size_mask = UINT64_C(0xfffffffffffff000);
	if (!o->input_first && !o->input_last)
		o->input_last = UINT64_MAX;
	if (!o->domain_first && !o->domain_last)
		o->domain_last = UINT32_MAX;
	if (!o->probe_size)
		o->probe_size = 512;
	if (!o->phys_bits)
		o->phys_bits = 52;
	if (!o->max_mappings)
		o->max_mappings = UINT64_C(1) << 20;
	if (!o->max_chain)
		o->max_chain = 1024;
	if ((o->features & ~FEATURES_KNOWN) || ((o->features & F(BYPASS)) && (o->features & F(BYPASS_CONFIG))) ||
	    o->input_first > o->input_last || o->domain_first > o->domain_last || o->phys_bits > 61 ||
	    o->probe_size > 65536 || o->max_chain > 32768 || ((o->memory == NULL) != (o->sys == NULL))) {
		vi_warn("virtio-iommu: options out of range");
		goto fail;
	}
	/* Without the range features the ranges are the whole space (spec "Device operations"). */
	if (!(o->features & F(INPUT_RANGE)) && (o->input_first || o->input_last != UINT64_MAX)) {
		vi_warn("virtio-iommu: an input range needs VIRTIO_IOMMU_F_INPUT_RANGE");
		goto fail;
	}
	if (!(o->features & F(DOMAIN_RANGE)) && (o->domain_first || o->domain_last != UINT32_MAX)) {
		vi_warn("virtio-iommu: a domain range needs VIRTIO_IOMMU_F_DOMAIN_RANGE");
		goto fail;
	}
	dev->features = dev->driver_features = o->features;
	dev->gshift = vi_ffs64(o->page_size_mask);
	dev->ias_shift = VI_MIN(VI_MAX(dev->gshift, 2u), 30u);
	dev->phys_last = vi_mask(o->phys_bits);
	dev->bypass = o->boot_bypass;
	err = ENOMEM;
	dev->eps = viommu_rangemap_new();
	dev->doms = viommu_rangemap_new();
	dev->resv = viommu_rangemap_new();
	dev->outbuf = calloc(1, (size_t)o->probe_size + VIOMMU_VIRTIO_IOMMU_TAIL_SIZE);
	if (!dev->eps || !dev->doms || !dev->resv || !dev->outbuf)
		goto fail;
	int r = resv_check(dev, o->resv, o->nresv, false, &dev->resv_list);

	if (r) {
		err = -r;
		goto fail;
	}
	dev->nresv = o->nresv;
	o->resv = NULL;		/* not kept: the caller's array */
	for (size_t i = 0; i < dev->nresv; i++)
		if (viommu_rangemap_insert(dev->resv, dev->resv_list[i].first, dev->resv_list[i].last,
					   dev->resv_list[i].subtype))
			goto fail;
	return dev;
fail:
	viommu_virtio_iommu_free(dev);
	return vi_null(err);
}

static void ep_free(struct viommu_virtio_iommu *dev, struct vio_endpoint *ep)
{
	viommu_iommu_as_free(ep->ias);
	ep->ias = NULL;
	ep_move(dev, ep, NULL);
	struct vio_backend *be = ep->be;

	if (be) {
		struct vio_endpoint **pp = &be->eps;

		while (*pp != ep)
			pp = &(*pp)->bnext;
		*pp = ep->bnext;
		if (be->eps) {
			backend_update(dev, be);
		} else {
			if (be->cur)
				vio_hostset_detach(be->cur, be->h);
			for (size_t i = 0; i < dev->nbes; i++) {
				if (dev->bes[i] == be) {
					dev->bes[i] = dev->bes[--dev->nbes];
					break;
				}
			}
			free(be);
		}
	}
	viommu_rangemap_remove(dev->eps, ep->id, ep->id, NULL);
	dev->st.endpoints--;
	free(ep->resv);
	free(ep);
}

VIOMMU_API void viommu_virtio_iommu_free(struct viommu_virtio_iommu *dev)
{
	struct viommu_range_entry e;

	if (!dev)
		return;
	while (dev->eps && viommu_rangemap_first(dev->eps, &e))
		ep_free(dev, (struct vio_endpoint *)(uintptr_t)e.value);
	vio_hostset_free(dev->identity);
	viommu_rangemap_free(dev->eps);
	viommu_rangemap_free(dev->doms);
	viommu_rangemap_free(dev->resv);
	free(dev->resv_list);
	free(dev->bes);
	free(dev->outbuf);
	free(dev);
}

VIOMMU_API int viommu_virtio_iommu_add_endpoint(struct viommu_virtio_iommu *dev, uint32_t id,
						const struct viommu_virtio_iommu_endpoint_opts *opts)
{
	struct viommu_virtio_iommu_endpoint_opts o;

	if (!dev || !VI_OPTS_VALID(opts, viommu_virtio_iommu_endpoint_opts))
		return vi_errno(-EINVAL);
	VI_OPTS_COPY(&o, opts);
	if (ep_find(dev, id))
		return vi_errno(-EEXIST);
	if (o.backend && !dev->opts.memory) {
		vi_warn("virtio-iommu: endpoint %u has a host backend but the device has no memory model", id);
		return vi_errno(-EINVAL);
	}
	struct vio_endpoint *ep = calloc(1, sizeof(*ep));

	if (!ep)
		return vi_errno(-ENOMEM);
	ep->id = id;
	ep->dev = dev;
	int r = resv_check(dev, o.resv, o.nresv, true, &ep->resv);

	if (r) {
		free(ep);
		return vi_errno(r);
	}
	ep->nresv = o.nresv;
	struct vio_backend *be = NULL;

	if (o.backend) {
		for (size_t i = 0; i < dev->nbes && !be; i++)
			if (dev->bes[i]->h == o.backend)
				be = dev->bes[i];
		if (!be) {
			if (dev->nbes == dev->bcap) {
				size_t cap = dev->bcap ? 2 * dev->bcap : 4;
				struct vio_backend **b = realloc(dev->bes, cap * sizeof(*b));

				if (!b)
					goto nomem;
				dev->bes = b;
				dev->bcap = cap;
			}
			be = calloc(1, sizeof(*be));
			if (!be)
				goto nomem;
			be->h = o.backend;
			dev->bes[dev->nbes++] = be;
		}
	}
	if (viommu_rangemap_insert(dev->eps, id, id, (uint64_t)(uintptr_t)ep)) {
		if (be && !be->eps) {
			dev->nbes--;
			free(be);
		}
		goto nomem;
	}
	dev->st.endpoints++;
	if (be) {
		ep->be = be;
		ep->bnext = be->eps;
		be->eps = ep;
		backend_update(dev, be);
	}
	return 0;
nomem:
	free(ep->resv);
	free(ep);
	return vi_errno(-ENOMEM);
}

VIOMMU_API int viommu_virtio_iommu_remove_endpoint(struct viommu_virtio_iommu *dev, uint32_t id)
{
	struct vio_endpoint *ep = dev ? ep_find(dev, id) : NULL;

	if (!ep)
		return vi_errno(-ENOENT);
	ep_free(dev, ep);
	return 0;
}

VIOMMU_API uint64_t viommu_virtio_iommu_features(const struct viommu_virtio_iommu *dev)
{
	return dev ? dev->features : 0;
}

VIOMMU_API int viommu_virtio_iommu_set_features(struct viommu_virtio_iommu *dev, uint64_t features)
{
	if (!dev || (features & ~dev->features)) {
		vi_warn("virtio-iommu: driver features %#llx are not a subset of the offer", (unsigned long long)features);
		return vi_errno(-EINVAL);
	}
	bool before = unattached_bypass(dev);

	dev->driver_features = features;
	if (unattached_bypass(dev) != before)
		refresh_all(dev);
	return 0;
}

VIOMMU_API void viommu_virtio_iommu_reset(struct viommu_virtio_iommu *dev, bool system)
{
	struct viommu_range_entry e;

	if (!dev)
		return;
	/* Detach every endpoint: the domains go with their last endpoint. */
	while (viommu_rangemap_first(dev->doms, &e)) {
		struct vio_domain *d = (struct vio_domain *)(uintptr_t)e.value;

		ep_move(dev, d->eps, NULL);
	}
	bool before = unattached_bypass(dev);

	dev->driver_features = dev->features;
	if (system)
		dev->bypass = dev->opts.boot_bypass;
	if (unattached_bypass(dev) != before)
		refresh_all(dev);
}

static void config_image(const struct viommu_virtio_iommu *dev, uint8_t *c)
{
	memset(c, 0, VIOMMU_VIRTIO_IOMMU_CONFIG_SIZE);
	vi_put64(c + 0, dev->opts.page_size_mask);
	vi_put64(c + 8, dev->opts.input_first);
	vi_put64(c + 16, dev->opts.input_last);
	vi_put32(c + 24, dev->opts.domain_first);
	vi_put32(c + 28, dev->opts.domain_last);
	vi_put32(c + 32, dev->opts.probe_size);
	c[36] = dev->bypass;
}

VIOMMU_API int viommu_virtio_iommu_config_read(const struct viommu_virtio_iommu *dev, uint32_t offset, void *buf,
					       size_t len)
{
	uint8_t c[VIOMMU_VIRTIO_IOMMU_CONFIG_SIZE];

	if (!dev || (len && !buf) || offset > sizeof(c) || len > sizeof(c) - offset)
		return vi_errno(-EINVAL);
	config_image(dev, c);
	memcpy(buf, c + offset, len);
	return 0;
}

VIOMMU_API int viommu_virtio_iommu_config_write(struct viommu_virtio_iommu *dev, uint32_t offset, const void *buf,
						size_t len)
{
	if (!dev || (len && !buf) || offset > VIOMMU_VIRTIO_IOMMU_CONFIG_SIZE ||
	    len > VIOMMU_VIRTIO_IOMMU_CONFIG_SIZE - offset) {
		vi_info("virtio-iommu: config write [%u, +%zu) outside the structure", offset, len);
		return vi_errno(-EINVAL);
	}
	if (!len)
		return 0;
	/* The driver MUST NOT write any other field (spec "Device configuration layout"). */
	if (offset != 36 || len != 1) {
		vi_info("virtio-iommu: config write [%u, +%zu): only bypass (36) is writable", offset, len);
		return vi_errno(-EPERM);
	}
	uint8_t v = *(const uint8_t *)buf;

	if (!negotiated(dev, F(BYPASS_CONFIG))) {
		vi_info("virtio-iommu: config bypass written without VIRTIO_IOMMU_F_BYPASS_CONFIG");
		return vi_errno(-EPERM);
	}
	if (v > 1) {
		vi_info("virtio-iommu: config bypass written with %u (0 or 1 only)", v);
		return vi_errno(-EINVAL);
	}
	if (v != dev->bypass) {
		dev->bypass = v;
		refresh_all(dev);
	}
	return 0;
}

/* ---- requests ----------------------------------------------------------------------- */

static bool domain_in_range(const struct viommu_virtio_iommu *dev, uint32_t id)
{
	return id >= dev->opts.domain_first && id <= dev->opts.domain_last;
}

/* ATTACH (spec "ATTACH request"). */
static int req_attach(struct viommu_virtio_iommu *dev, const uint8_t *r)
{
	uint32_t dom = vi_le32(r + 4), epid = vi_le32(r + 8), flags = vi_le32(r + 12);
	uint32_t known = negotiated(dev, F(BYPASS_CONFIG)) ? VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS : 0;
	bool bypass = flags & VIOMMU_VIRTIO_IOMMU_ATTACH_F_BYPASS;
	const unsigned T = VIOMMU_VIRTIO_IOMMU_T_ATTACH;

	if (vi_le32(r + 16))
		return refuse(S(INVAL), T, "endpoint %u domain %u: reserved field is not zero", epid, dom);
	if (flags & ~known)
		return refuse(S(INVAL), T, "endpoint %u domain %u: unknown flags %#x", epid, dom, flags & ~known);
	struct vio_endpoint *ep = ep_find(dev, epid);

	if (!ep)
		return refuse(S(NOENT), T, "endpoint %u does not exist", epid);
	if (!domain_in_range(dev, dom))
		return refuse(S(RANGE), T, "endpoint %u: domain %u outside domain_range [%u, %u]", epid, dom,
			      dev->opts.domain_first, dev->opts.domain_last);
	struct vio_domain *d = dom_find(dev, dom);

	if (d && d->bypass != bypass)
		return refuse(S(INVAL), T, "endpoint %u: domain %u is%s a bypass domain", epid, dom,
			      d->bypass ? "" : " not");
	if (d && ep->domain == d)
		return S(OK);
	if (d) {
		/* The endpoint's own reserved regions must be free in the domain. */
		for (size_t i = 0; i < ep->nresv; i++) {
			struct viommu_range_entry e;

			if (viommu_rangemap_find_overlap(d->maps, ep->resv[i].first, ep->resv[i].last, &e))
				return refuse(S(UNSUPP), T,
					      "endpoint %u: its reserved [%#llx, %#llx] is mapped in domain %u "
					      "([%#llx, %#llx])", epid, (unsigned long long)ep->resv[i].first,
					      (unsigned long long)ep->resv[i].last, dom, (unsigned long long)e.first,
					      (unsigned long long)e.last);
		}
	} else if (!(d = domain_new(dev, dom, bypass))) {
		return refuse(S(NOMEM), T, "endpoint %u: domain %u cannot be created", epid, dom);
	}
	ep_move(dev, ep, d);
	return S(OK);
}

/* DETACH (spec "DETACH request"); its reserved field is ignored. */
static int req_detach(struct viommu_virtio_iommu *dev, const uint8_t *r)
{
	uint32_t dom = vi_le32(r + 4), epid = vi_le32(r + 8);
	struct vio_endpoint *ep = ep_find(dev, epid);
	const unsigned T = VIOMMU_VIRTIO_IOMMU_T_DETACH;

	if (!ep)
		return refuse(S(NOENT), T, "endpoint %u does not exist", epid);
	if (!ep->domain || ep->domain->id != dom)
		return refuse(S(INVAL), T, "endpoint %u is not attached to domain %u", epid, dom);
	ep_move(dev, ep, NULL);
	return S(OK);
}

/* The domain named by a MAP or UNMAP, or a refusal status in *status. */
static struct vio_domain *map_domain(struct viommu_virtio_iommu *dev, unsigned T, uint32_t dom, uint64_t first,
				     uint64_t last, int *status)
{
	struct vio_domain *d;

	if (!negotiated(dev, F(MAP_UNMAP)))
		*status = refuse(S(UNSUPP), T, "VIRTIO_IOMMU_F_MAP_UNMAP was not negotiated");
	else if (!domain_in_range(dev, dom))
		*status = refuse(S(RANGE), T, "domain %u outside domain_range [%u, %u]", dom, dev->opts.domain_first,
				 dev->opts.domain_last);
	else if (!(d = dom_find(dev, dom)))
		*status = refuse(S(NOENT), T, "domain %u does not exist", dom);
	else if (d->bypass)
		*status = refuse(S(INVAL), T, "domain %u is a bypass domain", dom);
	else if (first > last)
		*status = refuse(S(INVAL), T, "domain %u: virt_start %#llx > virt_end %#llx", dom,
				 (unsigned long long)first, (unsigned long long)last);
	else
		return d;
	return NULL;
}

/* A host refusal as a status: out of mappings, an IOVA the backend cannot map, anything else. */
static int host_status(int err)
{
	if (err == -ENOSPC || err == -ENOMEM)
		return S(NOMEM);
	return err == -ERANGE ? S(RANGE) : S(DEVERR);
}

/* MAP (spec "MAP request"). */
static int req_map(struct viommu_virtio_iommu *dev, const uint8_t *r)
{
	uint32_t dom = vi_le32(r + 4), flags = vi_le32(r + 32);
	uint64_t first = vi_le64(r + 8), last = vi_le64(r + 16), phys = vi_le64(r + 24);
	uint32_t known = VIOMMU_VIRTIO_IOMMU_MAP_F_READ | VIOMMU_VIRTIO_IOMMU_MAP_F_WRITE |
			 (negotiated(dev, F(MMIO)) ? VIOMMU_VIRTIO_IOMMU_MAP_F_MMIO : 0);
	const unsigned T = VIOMMU_VIRTIO_IOMMU_T_MAP;
	uint64_t gm = vi_mask(dev->gshift);
	struct viommu_virtio_iommu_resv rv;
	struct viommu_range_entry e;
	int status;

	if (flags & ~known)
		return refuse(S(INVAL), T, "domain %u [%#llx, %#llx]: unknown flags %#x", dom,
			      (unsigned long long)first, (unsigned long long)last, flags & ~known);
	struct vio_domain *d = map_domain(dev, T, dom, first, last, &status);

	if (!d)
		return status;
	if ((first | phys | (last + 1)) & gm)
		return refuse(S(RANGE), T, "domain %u [%#llx, %#llx] -> %#llx: not aligned to the granule %#llx",
			      dom, (unsigned long long)first, (unsigned long long)last, (unsigned long long)phys,
			      (unsigned long long)gm + 1);
	if (first < dev->opts.input_first || last > dev->opts.input_last)
		return refuse(S(RANGE), T, "domain %u [%#llx, %#llx]: outside input_range [%#llx, %#llx]", dom,
			      (unsigned long long)first, (unsigned long long)last,
			      (unsigned long long)dev->opts.input_first, (unsigned long long)dev->opts.input_last);
	if (phys > dev->phys_last || last - first > dev->phys_last - phys)
		return refuse(S(RANGE), T, "domain %u [%#llx, %#llx] -> %#llx: beyond the %u-bit physical space", dom,
			      (unsigned long long)first, (unsigned long long)last, (unsigned long long)phys,
			      dev->opts.phys_bits);
	if (resv_overlap(dev, d, first, last, &rv))
		return refuse(S(RANGE), T, "domain %u [%#llx, %#llx]: overlaps reserved region [%#llx, %#llx]", dom,
			      (unsigned long long)first, (unsigned long long)last, (unsigned long long)rv.first,
			      (unsigned long long)rv.last);
	/* The insert finds an overlap itself: look it up only to log a refusal. */
	bool full = viommu_rangemap_count(d->maps) >= dev->opts.max_mappings;
	int ir = full ? 0 : viommu_rangemap_insert(d->maps, first, last, map_enc(phys, flags));

	if ((full || ir == -EEXIST) && viommu_rangemap_find_overlap(d->maps, first, last, &e))
		return refuse(S(INVAL), T, "domain %u [%#llx, %#llx]: overlaps mapping [%#llx, %#llx]", dom,
			      (unsigned long long)first, (unsigned long long)last, (unsigned long long)e.first,
			      (unsigned long long)e.last);
	if (full)
		return refuse(S(NOMEM), T, "domain %u [%#llx, %#llx]: %llu mappings already", dom,
			      (unsigned long long)first, (unsigned long long)last,
			      (unsigned long long)dev->opts.max_mappings);
	if (ir)
		return refuse(S(NOMEM), T, "domain %u [%#llx, %#llx]: out of memory", dom, (unsigned long long)first,
			      (unsigned long long)last);
	dev->st.mappings++;
	if (!fed(dev, first, last, phys, flags)) {
		if ((flags & VIOMMU_VIRTIO_IOMMU_MAP_F_MMIO) || map_perm(flags)) {
			d->unfed++;
			dev->st.unfed++;
		}
		return S(OK);
	}
	/* Host first: a refusal there takes the mapping back before any endpoint saw it. */
	dev->hc.last_err = 0;
	d->known = d->known_map = true;
	d->known_e = (struct viommu_range_entry){ first, last, map_enc(phys, flags) };
	int n = viommu_iommu_sync(d->ias, first, last);

	if (n < 0 || dev->hc.last_err) {
		int err = n < 0 ? n : dev->hc.last_err;

		viommu_rangemap_remove(d->maps, first, last, NULL);
		dev->st.mappings--;
		d->known_map = false;
		viommu_iommu_sync(d->ias, first, last);
		d->known = false;
		return refuse(host_status(err), T, "domain %u [%#llx, %#llx] -> %#llx: host refused it (%s)", dom,
			      (unsigned long long)first, (unsigned long long)last, (unsigned long long)phys,
			      strerror(-err));
	}
	sync_eps(d, first, last);
	d->known = false;
	return S(OK);
}

struct unmap_ctx {
	struct viommu_virtio_iommu *dev;
	struct vio_domain *d;
	size_t fed_removed;
};

static void on_removed(const struct viommu_range_entry *e, void *ctx)
{
	struct unmap_ctx *u = ctx;
	uint64_t phys = map_phys(e->value);
	uint32_t flags = map_flags(e->value);

	if (fed(u->dev, e->first, e->last, phys, flags)) {
		u->fed_removed++;
	} else if ((flags & VIOMMU_VIRTIO_IOMMU_MAP_F_MMIO) || map_perm(flags)) {
		u->d->unfed--;
		u->dev->st.unfed--;
	}
}

/* UNMAP (spec "UNMAP request"): whole mappings only; its reserved field is ignored. */
static int req_unmap(struct viommu_virtio_iommu *dev, const uint8_t *r)
{
	uint32_t dom = vi_le32(r + 4);
	uint64_t first = vi_le64(r + 8), last = vi_le64(r + 16);
	const unsigned T = VIOMMU_VIRTIO_IOMMU_T_UNMAP;
	struct viommu_range_entry e;
	int status;
	struct vio_domain *d = map_domain(dev, T, dom, first, last, &status);

	if (!d)
		return status;
	struct unmap_ctx u = { dev, d, 0 };
	long n;

	/*
	 * The range is exactly one mapping (the common case): nothing else can
	 * lie in it and nothing is split, so one descent removes it.
	 */
	e = (struct viommu_range_entry){ first, last, 0 };
	if (!viommu_rangemap_remove(d->maps, first, last, &e.value)) {
		on_removed(&e, &u);
		n = 1;
	} else {
		/* A mapping split at either end: refuse before removing anything. */
		struct viommu_rangemap_iter it;
		bool any = viommu_rangemap_iter_start(&it, d->maps, first, last),
		     split = any && it.entry.first < first;

		e = it.entry;
		while (any && !split && it.entry.last < last && viommu_rangemap_iter_next(&it))
			e = it.entry;
		split = split || (any && e.last > last);
		if (split)
			return refuse(S(RANGE), T, "domain %u [%#llx, %#llx]: would split mapping [%#llx, %#llx]",
				      dom, (unsigned long long)first, (unsigned long long)last,
				      (unsigned long long)e.first, (unsigned long long)e.last);
		if (!any)
			return S(OK);
		n = viommu_rangemap_remove_inside(d->maps, first, last, on_removed, &u);
	}

	if (n <= 0)
		return S(OK);
	dev->st.mappings -= (uint64_t)n;
	if (!u.fed_removed)
		return S(OK);
	dev->hc.last_err = 0;
	d->known = true;
	d->known_map = false;
	d->known_e = (struct viommu_range_entry){ first, last, 0 };
	int k = viommu_iommu_sync(d->ias, first, last);

	sync_eps(d, first, last);
	d->known = false;
	if (k < 0 || dev->hc.last_err) {
		int err = k < 0 ? k : dev->hc.last_err;

		/* Removed here; the host may still hold it (reported): tell the guest. */
		return refuse(S(DEVERR), T, "domain %u [%#llx, %#llx]: host unmap failed (%s)", dom,
			      (unsigned long long)first, (unsigned long long)last, strerror(-err));
	}
	return S(OK);
}

/* PROBE (spec "PROBE request"): the answer is properties[probe_size] then the tail. */
static int req_probe(struct viommu_virtio_iommu *dev, const uint8_t *r, uint64_t rdlen, uint64_t wrlen,
		     uint32_t *outoff, uint32_t *outlen)
{
	const unsigned T = VIOMMU_VIRTIO_IOMMU_T_PROBE;
	uint32_t ps = dev->opts.probe_size;
	uint8_t *o = dev->outbuf;
	int status = S(OK);

	if (wrlen < (uint64_t)ps + VIOMMU_VIRTIO_IOMMU_TAIL_SIZE) {
		/* No property is written; the tail goes where the driver's buffer ends. */
		*outoff = (uint32_t)wrlen - VIOMMU_VIRTIO_IOMMU_TAIL_SIZE;
		*outlen = VIOMMU_VIRTIO_IOMMU_TAIL_SIZE;
		memset(o, 0, VIOMMU_VIRTIO_IOMMU_TAIL_SIZE);
		o[0] = S(INVAL);
		return refuse(S(INVAL), T, "writable part of %llu bytes is smaller than probe_size %u + tail",
			      (unsigned long long)wrlen, ps);
	}
	*outoff = 0;
	*outlen = ps + VIOMMU_VIRTIO_IOMMU_TAIL_SIZE;
	memset(o, 0, *outlen);
	if (rdlen < VIOMMU_VIRTIO_IOMMU_PROBE_SIZE) {
		status = refuse(S(INVAL), T, "request of %llu bytes, %u needed", (unsigned long long)rdlen,
				VIOMMU_VIRTIO_IOMMU_PROBE_SIZE);
	} else {
		uint32_t epid = vi_le32(r + 4);
		struct vio_endpoint *ep = ep_find(dev, epid);

		if (!ep) {
			status = refuse(S(NOENT), T, "endpoint %u does not exist", epid);
		} else {
			uint8_t *p = o;
			const struct viommu_virtio_iommu_resv *lists[2] = { dev->resv_list, ep->resv };
			size_t counts[2] = { dev->nresv, ep->nresv };

			/* They fit: checked when the regions were configured. */
			for (int l = 0; l < 2; l++) {
				for (size_t i = 0; i < counts[l]; i++, p += VIOMMU_VIRTIO_IOMMU_RESV_PROP_SIZE) {
					vi_put16(p, VIOMMU_VIRTIO_IOMMU_PROBE_T_RESV_MEM);
					vi_put16(p + 2, VIOMMU_VIRTIO_IOMMU_RESV_PROP_SIZE - 4);
					p[4] = (uint8_t)lists[l][i].subtype;
					vi_put64(p + 8, lists[l][i].first);
					vi_put64(p + 16, lists[l][i].last);
				}
			}
		}
	}
	o[ps] = (uint8_t)status;
	return status;
}

static const uint32_t req_size[6] = {
	0, VIOMMU_VIRTIO_IOMMU_ATTACH_SIZE, VIOMMU_VIRTIO_IOMMU_DETACH_SIZE, VIOMMU_VIRTIO_IOMMU_MAP_SIZE,
	VIOMMU_VIRTIO_IOMMU_UNMAP_SIZE, VIOMMU_VIRTIO_IOMMU_PROBE_SIZE,
};

int vio_handle(struct viommu_virtio_iommu *dev, const uint8_t *req, uint64_t rdlen, uint64_t wrlen,
	       uint32_t *outoff, uint32_t *outlen)
{
	unsigned type;
	int status;

	*outoff = *outlen = 0;
	/* Without a head or room for a tail the device cannot answer (spec "Device operations"). */
	if (rdlen < 4 || wrlen < VIOMMU_VIRTIO_IOMMU_TAIL_SIZE) {
		vi_info("virtio-iommu: request with %llu readable and %llu writable bytes returned unwritten",
			(unsigned long long)rdlen, (unsigned long long)wrlen);
		goto unwritten;
	}
	type = req[0];
	if (type < VIOMMU_VIRTIO_IOMMU_T_ATTACH || type > VIOMMU_VIRTIO_IOMMU_T_PROBE ||
	    (type == VIOMMU_VIRTIO_IOMMU_T_PROBE && !(dev->features & F(PROBE)))) {
		vi_info("virtio-iommu: request type %u %s: returned unwritten", type,
			type == VIOMMU_VIRTIO_IOMMU_T_PROBE ? "without VIRTIO_IOMMU_F_PROBE" : "is unknown");
		dev->st.unwritten++;
		return vi_errno(-EOPNOTSUPP);
	}
	if (type == VIOMMU_VIRTIO_IOMMU_T_PROBE) {
		status = req_probe(dev, req, rdlen, wrlen, outoff, outlen);
	} else {
		if (rdlen < req_size[type]) {
			status = refuse(S(INVAL), type, "request of %llu bytes, %u needed", (unsigned long long)rdlen,
					req_size[type]);
		} else {
			switch (type) {
			case VIOMMU_VIRTIO_IOMMU_T_ATTACH: status = req_attach(dev, req); break;
			case VIOMMU_VIRTIO_IOMMU_T_DETACH: status = req_detach(dev, req); break;
			case VIOMMU_VIRTIO_IOMMU_T_MAP: status = req_map(dev, req); break;
			default: status = req_unmap(dev, req); break;
			}
		}
		memset(dev->outbuf, 0, VIOMMU_VIRTIO_IOMMU_TAIL_SIZE);
		dev->outbuf[0] = (uint8_t)status;
		*outlen = VIOMMU_VIRTIO_IOMMU_TAIL_SIZE;
	}
	dev->st.requests++;
	dev->st.status[status]++;
	return status;
unwritten:
	dev->st.unwritten++;
	return vi_errno(-EINVAL);
}

static uint64_t iov_total(const struct iovec *v, size_t n)
{
	uint64_t t = 0;

	for (size_t i = 0; i < n; i++)
		t = v[i].iov_len > UINT64_MAX - t ? UINT64_MAX : t + v[i].iov_len;
	return t;
}

VIOMMU_API int viommu_virtio_iommu_handle_request(struct viommu_virtio_iommu *dev, const struct iovec *rd,
						  size_t nrd, const struct iovec *wr, size_t nwr,
						  uint32_t *used_len)
{
	uint8_t req[VIO_REQ_MAX] = { 0 };
	uint32_t off, len;
	size_t got = 0;

	if (used_len)
		*used_len = 0;
	if (!dev || (nrd && !rd) || (nwr && !wr))
		return vi_errno(-EINVAL);
	/* A buffer with a length but no address: a bug of the caller, not guest input. */
	for (size_t i = 0; i < nrd; i++)
		if (rd[i].iov_len && !rd[i].iov_base)
			return vi_errno(-EINVAL);
	for (size_t i = 0; i < nwr; i++)
		if (wr[i].iov_len && !wr[i].iov_base)
			return vi_errno(-EINVAL);
	for (size_t i = 0; i < nrd && got < sizeof(req); i++) {
		size_t k = VI_MIN(rd[i].iov_len, sizeof(req) - got);

		if (!k)
			continue;
		memcpy(req + got, rd[i].iov_base, k);
		got += k;
	}
	int status = vio_handle(dev, req, iov_total(rd, nrd), iov_total(wr, nwr), &off, &len);

	if (status < 0)
		return status;
	/* Scatter the answer into the writable part at @off. */
	const uint8_t *src = dev->outbuf;
	uint64_t pos = 0;

	for (size_t i = 0; i < nwr && len; i++) {
		uint64_t a = pos, b = pos + wr[i].iov_len;

		pos = b;
		if (b <= off)
			continue;
		size_t skip = off > a ? (size_t)(off - a) : 0;
		size_t k = VI_MIN(wr[i].iov_len - skip, (size_t)len);

		memcpy((uint8_t *)wr[i].iov_base + skip, src, k);
		src += k;
		len -= (uint32_t)k;
		off += (uint32_t)k;
	}
	if (used_len)
		*used_len = off;
	return status;
}

/* ---- translation ------------------------------------------------------------------------ */

static int fault(struct viommu_virtio_iommu *dev, unsigned reason, uint32_t ep, uint64_t addr, unsigned perm,
		 struct viommu_virtio_iommu_fault *out)
{
	struct viommu_virtio_iommu_fault f = {
		.reason = reason,
		.flags = (perm & VIOMMU_PERM_READ ? VIOMMU_VIRTIO_IOMMU_FAULT_F_READ : 0) |
			 (perm & VIOMMU_PERM_WRITE ? VIOMMU_VIRTIO_IOMMU_FAULT_F_WRITE : 0) |
			 VIOMMU_VIRTIO_IOMMU_FAULT_F_ADDRESS,
		.endpoint = ep,
		.address = addr,
	};

	dev->st.faults++;
	if (!dev->opts.event || dev->opts.event(dev->opts.event_ctx, &f))
		dev->st.events_dropped++;
	if (out)
		*out = f;
	return -EFAULT;
}

VIOMMU_API int viommu_virtio_iommu_translate(struct viommu_virtio_iommu *dev, uint32_t epid, uint64_t addr,
					     unsigned perm, struct viommu_virtio_iommu_xlat *x,
					     struct viommu_virtio_iommu_fault *fault_out)
{
	struct viommu_virtio_iommu_xlat r = { 0 };
	struct viommu_virtio_iommu_resv rv;
	struct viommu_range_entry e;

	if (!dev || !perm || (perm & ~VIOMMU_PERM_RW))
		return vi_errno(-EINVAL);
	struct vio_endpoint *ep = ep_find(dev, epid);

	if (!ep) {
		fault(dev, VIOMMU_VIRTIO_IOMMU_FAULT_R_UNKNOWN, epid, addr, perm, fault_out);
		return vi_errno(-ENOENT);
	}
	if (ep_in_bypass(ep)) {
		r = (struct viommu_virtio_iommu_xlat){ VIOMMU_VIRTIO_IOMMU_XLAT_BYPASS, addr, 0, UINT64_MAX, 0,
						       VIOMMU_PERM_RW, false };
		goto ok;
	}
	/* Reserved regions first, attached or not, as QEMU's translate does. */
	if (resv_at(dev, ep, addr, &rv)) {
		if (rv.subtype != VIOMMU_VIRTIO_IOMMU_RESV_MEM_T_MSI)
			return vi_errno(fault(dev, VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING, epid, addr, perm, fault_out));
		r = (struct viommu_virtio_iommu_xlat){ VIOMMU_VIRTIO_IOMMU_XLAT_MSI, addr, rv.first, rv.last, rv.first,
						       VIOMMU_PERM_RW, false };
		goto ok;
	}
	if (!ep->domain)
		return vi_errno(fault(dev, VIOMMU_VIRTIO_IOMMU_FAULT_R_DOMAIN, epid, addr, perm, fault_out));
	if (!viommu_rangemap_find(ep->domain->maps, addr, &e) || (perm & ~map_perm(map_flags(e.value))))
		return vi_errno(fault(dev, VIOMMU_VIRTIO_IOMMU_FAULT_R_MAPPING, epid, addr, perm, fault_out));
	r.kind = VIOMMU_VIRTIO_IOMMU_XLAT_MAPPED;
	r.first = e.first;
	r.last = e.last;
	r.out = map_phys(e.value);
	r.addr = r.out + (addr - e.first);
	r.perm = map_perm(map_flags(e.value));
	r.mmio = map_flags(e.value) & VIOMMU_VIRTIO_IOMMU_MAP_F_MMIO;
ok:
	if (x)
		*x = r;
	return 0;
}

VIOMMU_API struct viommu_iommu_as *viommu_virtio_iommu_endpoint_as(struct viommu_virtio_iommu *dev, uint32_t epid)
{
	struct vio_endpoint *ep = dev ? ep_find(dev, epid) : NULL;

	if (!ep)
		return vi_null(ENOENT);
	if (ep->ias)
		return ep->ias;
	ep->ias = ias_new(dev, ep_read_cb, ep, epid);
	if (!ep->ias)
		return NULL;
	/* No listener yet: this only records what the endpoint reaches now. */
	int r = viommu_iommu_sync(ep->ias, 0, UINT64_MAX);

	if (r < 0) {
		viommu_iommu_as_free(ep->ias);
		ep->ias = NULL;
		return vi_null(-r);
	}
	return ep->ias;
}

/* ---- inspection ----------------------------------------------------------------------------- */

VIOMMU_API long viommu_virtio_iommu_domain_mappings(const struct viommu_virtio_iommu *dev, uint32_t domain,
						   viommu_virtio_iommu_mapping_fn fn, void *ctx)
{
	struct vio_domain *d = dev ? dom_find(dev, domain) : NULL;
	struct viommu_rangemap_iter it;

	if (!d)
		return vi_errno(-ENOENT);
	if (fn) {
		viommu_rangemap_for_each(&it, d->maps, 0, UINT64_MAX) {
			struct viommu_virtio_iommu_mapping m = { it.entry.first, it.entry.last,
								 map_phys(it.entry.value), map_flags(it.entry.value) };

			fn(ctx, &m);
		}
	}
	return (long)viommu_rangemap_count(d->maps);
}

VIOMMU_API int viommu_virtio_iommu_endpoint_state(const struct viommu_virtio_iommu *dev, uint32_t epid,
						  struct viommu_virtio_iommu_endpoint_state *st)
{
	struct vio_endpoint *ep = dev ? ep_find(dev, epid) : NULL;

	if (!ep || !st)
		return vi_errno(ep ? -EINVAL : -ENOENT);
	st->attached = ep->domain != NULL;
	st->domain = ep->domain ? ep->domain->id : 0;
	st->bypass = ep_in_bypass(ep);
	return 0;
}

VIOMMU_API int viommu_virtio_iommu_get_stats(const struct viommu_virtio_iommu *dev,
					     struct viommu_virtio_iommu_stats *st)
{
	struct viommu_rangemap_iter it;

	if (!dev)
		return vi_errno(-EINVAL);
	struct viommu_virtio_iommu_stats s = dev->st;
	struct vio_host_counts c = dev->hc;

	s.host_mappings = vio_hostset_counts(dev->identity, &c);
	viommu_rangemap_for_each(&it, dev->doms, 0, UINT32_MAX) {
		const struct vio_domain *d = (const struct vio_domain *)(uintptr_t)it.entry.value;

		s.host_mappings += vio_hostset_counts(d->hs, &c);
	}
	s.host_map_ops = c.map_ops;
	s.host_unmap_ops = c.unmap_ops;
	s.host_errors = c.errors;
	return VI_OPTS_OUT(st, &s, viommu_virtio_iommu_stats);
}

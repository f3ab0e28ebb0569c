// SPDX-License-Identifier: MIT
/*
 * Host mapping sets of the virtio-iommu device (see host_link.h).
 *
 * Bypass goes through the reconciler over the system address space's flat
 * view (IOVA = GPA). A domain goes through its IOMMU address space: until
 * the reconcile engine's IOMMU path (viommu_recon_new_iommu) is available,
 * one host connector (viommu_iommu_host_new) per attached backend, each a
 * listener of that one address space, so a backend shared by several
 * endpoints of the domain is attached, and mapped, once.
 */
#include <stdlib.h>

#include <viommu/reconcile.h>

#include "util/compiler.h"
#include "util/log.h"
#include "virtio_iommu/host_link.h"

struct link {
	struct viommu_host *h;
	struct viommu_iommu_host *c;	/* IOMMU path: this backend's connector */
};

/*
 * Invariants: exactly one of @recon (bypass) and @ias (domain) is set; @links
 * holds each attached backend once; *@retired holds the calls of backends
 * that left. Locking: the device's.
 */
struct vio_hostset {
	struct viommu_memory *m;
	struct viommu_as *sys;
	struct viommu_iommu_as *ias;
	struct viommu_recon *recon;
	struct vio_host_counts *retired;
	struct link *links;
	size_t n, cap;
};

static void on_recon_report(void *ctx, const struct viommu_recon_report *r)
{
	struct vio_hostset *hs = ctx;

	if (r->kind == VIOMMU_RECON_ERR_BACKEND)
		hs->retired->last_err = r->err;
	vi_debug("virtio-iommu: bypass host %s [%#llx, %#llx]: report %d (%d)", r->is_unmap ? "unmap" : "map",
		 (unsigned long long)r->first, (unsigned long long)r->last, (int)r->kind, r->err);
}

static void on_conn_report(void *ctx, const struct viommu_iommu_host_report *r)
{
	struct vio_hostset *hs = ctx;

	if (r->kind == VIOMMU_IOMMU_HOST_BACKEND)
		hs->retired->last_err = r->err;
	vi_debug("virtio-iommu: host %s [%#llx, %#llx]: report %d (%d)", r->is_unmap ? "unmap" : "map",
		 (unsigned long long)r->first, (unsigned long long)r->last, (int)r->kind, r->err);
}

/* Add the calls and mappings of link @l now to *c; returns its mappings. */
static uint64_t link_counts(const struct vio_hostset *hs, const struct link *l, struct vio_host_counts *c)
{
	if (hs->recon) {
		struct viommu_recon_stats st = { .sz = sizeof(st) };

		if (viommu_recon_get_stats(hs->recon, l->h, &st))
			return 0;
		c->map_ops += st.map_ops;
		c->unmap_ops += st.unmap_ops;
		c->errors += st.errors;
		return st.mappings;
	}
	struct viommu_iommu_host_stats st = { .sz = sizeof(st) };

	if (viommu_iommu_host_get_stats(l->c, &st))
		return 0;
	c->map_ops += st.map_ops;
	c->unmap_ops += st.unmap_ops;
	c->errors += st.errors;
	return st.mappings;
}

struct vio_hostset *vio_hostset_new(struct viommu_memory *m, struct viommu_as *sys, struct viommu_iommu_as *ias,
				    struct vio_host_counts *counts)
{
	if (!m || !sys || !counts)
		return vi_null(EINVAL);
	struct vio_hostset *hs = calloc(1, sizeof(*hs));

	if (!hs)
		return vi_null(ENOMEM);
	hs->m = m;
	hs->sys = sys;
	hs->ias = ias;
	hs->retired = counts;
	if (!ias) {
		struct viommu_recon_opts ro = { .sz = sizeof(ro), .report = on_recon_report, .report_ctx = hs };

		hs->recon = viommu_recon_new(m, sys, &ro);
		if (!hs->recon) {
			int e = errno;

			free(hs);
			return vi_null(e);
		}
	}
	return hs;
}

static struct link *find(struct vio_hostset *hs, const struct viommu_host *h)
{
	for (size_t i = 0; i < hs->n; i++)
		if (hs->links[i].h == h)
			return &hs->links[i];
	return NULL;
}

int vio_hostset_attach(struct vio_hostset *hs, struct viommu_host *h)
{
	if (find(hs, h))
		return -EEXIST;
	if (hs->n == hs->cap) {
		size_t cap = hs->cap ? 2 * hs->cap : 4;
		struct link *l = realloc(hs->links, cap * sizeof(*l));

		if (!l)
			return -ENOMEM;
		hs->links = l;
		hs->cap = cap;
	}
	struct link *l = &hs->links[hs->n];

	*l = (struct link){ .h = h };
	if (hs->recon) {
		int r = viommu_recon_attach(hs->recon, h);

		/* Attached even if a map failed: the failure was reported and counted. */
		if (r == -EEXIST || r == -EINVAL)
			return r;
	} else {
		struct viommu_iommu_host_opts co = { .sz = sizeof(co), .report = on_conn_report, .report_ctx = hs,
						     .memory = hs->m };

		l->c = viommu_iommu_host_new(hs->ias, hs->sys, h, &co);
		if (!l->c)
			return -errno;
	}
	hs->n++;
	return 0;
}

/* Unmap what @l holds, detach it, and keep its calls in the retired counts. */
static void drop(struct vio_hostset *hs, struct link *l)
{
	uint64_t held = link_counts(hs, l, hs->retired);

	if (hs->recon) {
		/* One unmap per mapping held; a failure leaves the rest (reported). */
		struct viommu_recon_stats st = { .sz = sizeof(st) };
		int r = viommu_recon_detach(hs->recon, l->h, true);

		if (r < 0) {
			if (!viommu_recon_get_stats(hs->recon, l->h, &st)) {
				hs->retired->unmap_ops += held - st.mappings + 1;
				hs->retired->errors++;
			}
			hs->retired->last_err = r;
			viommu_recon_detach(hs->recon, l->h, false);
		} else {
			hs->retired->unmap_ops += held;
		}
	} else {
		/* The connector unmaps all it holds with one call over its extent. */
		viommu_iommu_host_free(l->c, true);
		if (held)
			hs->retired->unmap_ops++;
	}
	*l = hs->links[--hs->n];
}

int vio_hostset_detach(struct vio_hostset *hs, struct viommu_host *h)
{
	struct link *l = find(hs, h);

	if (!l)
		return -ENOENT;
	drop(hs, l);
	return 0;
}

void vio_hostset_free(struct vio_hostset *hs)
{
	if (!hs)
		return;
	while (hs->n)
		drop(hs, &hs->links[hs->n - 1]);
	viommu_recon_free(hs->recon);
	free(hs->links);
	free(hs);
}

uint64_t vio_hostset_counts(const struct vio_hostset *hs, struct vio_host_counts *c)
{
	uint64_t n = 0;

	for (size_t i = 0; hs && i < hs->n; i++)
		n += link_counts(hs, &hs->links[i], c);
	return n;
}

size_t vio_hostset_backends(const struct vio_hostset *hs)
{
	return hs ? hs->n : 0;
}

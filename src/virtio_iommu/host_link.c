// SPDX-License-Identifier: MIT
/*
 * Host mapping sets of the virtio-iommu device (see host_link.h): each is one
 * reconciler of the one reconcile engine (include/viommu/reconcile.h). Bypass
 * is the system address space's flat view (viommu_recon_new: IOVA = GPA); a
 * domain is its IOMMU address space composed with that flat view
 * (viommu_recon_new_iommu). A backend shared by several endpoints of the
 * context is attached, and mapped, once.
 */
#include <stdlib.h>
#include <string.h>

#include <viommu/reconcile.h>

#include "util/compiler.h"
#include "util/log.h"
#include "virtio_iommu/host_link.h"

/*
 * Invariants: @backends holds each backend attached to @recon once; *@retired
 * holds the calls of backends that left. Locking: the device's.
 */
struct vio_hostset {
	struct viommu_recon *recon;
	struct vio_host_counts *retired;
	struct viommu_host **backends;
	size_t n, cap;
};

static void on_report(void *ctx, const struct viommu_recon_report *r)
{
	struct vio_hostset *hs = ctx;

	switch (r->kind) {
	case VIOMMU_RECON_ERR_BACKEND:
		hs->retired->last_err = r->err ? r->err : -EIO;
		break;
	case VIOMMU_RECON_ERR_UNALIGNED_RAM:
	case VIOMMU_RECON_ERR_RESERVED_RAM:
		/* The backend cannot map this IOVA at all. */
		hs->retired->last_err = -ERANGE;
		break;
	default:
		break;		/* skipped (not RAM, RAM devices): DMA there faults, the guest's choice */
	}
	vi_debug("virtio-iommu: host %s [%#llx, %#llx] -> %#llx: report %d (%d)", r->is_unmap ? "unmap" : "map",
		 (unsigned long long)r->first, (unsigned long long)r->last, (unsigned long long)r->out, (int)r->kind,
		 r->err);
}

struct vio_hostset *vio_hostset_new(struct viommu_memory *m, struct viommu_as *sys, struct viommu_iommu_as *ias,
				    struct vio_host_counts *counts)
{
	if (!m || !sys || !counts)
		return vi_null(EINVAL);
	struct vio_hostset *hs = calloc(1, sizeof(*hs));

	if (!hs)
		return vi_null(ENOMEM);
	hs->retired = counts;
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .report = on_report, .report_ctx = hs };

	hs->recon = ias ? viommu_recon_new_iommu(m, sys, ias, &ro) : viommu_recon_new(m, sys, &ro);
	if (!hs->recon) {
		int e = errno;

		free(hs);
		return vi_null(e);
	}
	return hs;
}

static struct viommu_host **find(struct vio_hostset *hs, const struct viommu_host *h)
{
	for (size_t i = 0; i < hs->n; i++)
		if (hs->backends[i] == h)
			return &hs->backends[i];
	return NULL;
}

int vio_hostset_attach(struct vio_hostset *hs, struct viommu_host *h)
{
	if (find(hs, h))
		return -EEXIST;
	if (hs->n == hs->cap) {
		size_t cap = hs->cap ? 2 * hs->cap : 4;
		struct viommu_host **b = realloc(hs->backends, cap * sizeof(*b));

		if (!b)
			return -ENOMEM;
		hs->backends = b;
		hs->cap = cap;
	}
	int r = viommu_recon_attach(hs->recon, h);

	/* Attached even if a map failed: the failure was reported and counted. */
	if (r == -EEXIST || r == -EINVAL)
		return r;
	hs->backends[hs->n++] = h;
	return 0;
}

/* Add the calls and mappings of backend @h now to *c; returns its mappings. */
static uint64_t backend_counts(const struct vio_hostset *hs, const struct viommu_host *h, struct vio_host_counts *c)
{
	struct viommu_recon_stats st = { .sz = sizeof(st) };

	if (viommu_recon_get_stats(hs->recon, h, &st))
		return 0;
	c->map_ops += st.map_ops;
	c->unmap_ops += st.unmap_ops;
	c->errors += st.errors;
	return st.mappings;
}

/* Unmap what @h holds, detach it, and keep its calls in the retired counts. */
static void drop(struct vio_hostset *hs, struct viommu_host **slot)
{
	struct viommu_host *h = *slot;
	uint64_t held = backend_counts(hs, h, hs->retired);
	int r = viommu_recon_detach(hs->recon, h, true);

	if (r < 0) {
		/* One unmap per mapping; a failure leaves the rest mapped (reported). */
		struct viommu_recon_stats st = { .sz = sizeof(st) };

		if (!viommu_recon_get_stats(hs->recon, h, &st)) {
			hs->retired->unmap_ops += held - st.mappings + 1;
			hs->retired->errors++;
		}
		hs->retired->last_err = r;
		vi_warn("virtio-iommu: host backend detached with mappings left: %s", strerror(-r));
		viommu_recon_detach(hs->recon, h, false);
	} else {
		hs->retired->unmap_ops += held;
	}
	*slot = hs->backends[--hs->n];
}

int vio_hostset_detach(struct vio_hostset *hs, struct viommu_host *h)
{
	struct viommu_host **slot = find(hs, h);

	if (!slot)
		return -ENOENT;
	drop(hs, slot);
	return 0;
}

void vio_hostset_free(struct vio_hostset *hs)
{
	if (!hs)
		return;
	while (hs->n)
		drop(hs, &hs->backends[hs->n - 1]);
	viommu_recon_free(hs->recon);
	free(hs->backends);
	free(hs);
}

uint64_t vio_hostset_counts(const struct vio_hostset *hs, struct vio_host_counts *c)
{
	uint64_t n = 0;

	for (size_t i = 0; hs && i < hs->n; i++)
		n += backend_counts(hs, hs->backends[i], c);
	return n;
}

size_t vio_hostset_backends(const struct vio_hostset *hs)
{
	return hs ? hs->n : 0;
}

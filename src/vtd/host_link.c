// SPDX-License-Identifier: MIT
/*
 * The one seam between the VT-d model and the host engine: a host link
 * keeps backend @h equal to an IOMMU address space (IOVA -> GPA) composed
 * with the system address space (GPA -> host address).
 *
 * Today it is the host connector of include/viommu/iommu.h
 * (viommu_iommu_host_new), one per (group, backend). When the reconcile
 * engine's IOMMU path (viommu_recon_new_iommu + viommu_recon_attach) is on
 * main, this file becomes one reconciler per group with its backends
 * attached to it; nothing else in src/vtd changes.
 *
 * The link listens to opts.memory's commits as well (memory-map changes
 * under live IOMMU mappings are composed again); those commits must be
 * serialised with the unit's MMIO, as QEMU's BQL serialises them.
 */
#include <stdlib.h>

#include "vtd/vtd_int.h"

struct vtd_host_link {
	struct viommu_iommu_host *c;
	struct viommu_host *h;
	uint16_t sid;
	struct viommu_vtd_host_opts opts;
};

static void on_report(void *ctx, const struct viommu_iommu_host_report *r)
{
	struct vtd_host_link *hl = ctx;
	struct viommu_vtd_host_report out = { hl->h, hl->sid, r->err, r->first, r->last };

	if (hl->opts.report)
		hl->opts.report(hl->opts.report_ctx, &out);
}

struct vtd_host_link *vtd_host_link_new(struct viommu_vtd *v, struct viommu_iommu_as *ias, struct viommu_host *h,
					uint16_t sid, const struct viommu_vtd_host_opts *opts)
{
	struct vtd_host_link *hl = calloc(1, sizeof(*hl));
	struct viommu_iommu_host_opts o = { .sz = sizeof(o), .report = on_report, .memory = v->o.memory };

	if (!hl)
		return vi_null(ENOMEM);
	hl->h = h;
	hl->sid = sid;
	hl->opts = *opts;
	o.report_ctx = hl;
	hl->c = viommu_iommu_host_new(ias, v->o.sys, h, &o);
	if (!hl->c) {
		int e = errno;

		free(hl);
		return vi_null(e);
	}
	return hl;
}

void vtd_host_link_free(struct vtd_host_link *hl, bool unmap)
{
	if (!hl)
		return;
	viommu_iommu_host_free(hl->c, unmap);
	free(hl);
}

void vtd_host_link_stats(const struct vtd_host_link *hl, struct viommu_vtd_host_stats *acc)
{
	struct viommu_iommu_host_stats s = { .sz = sizeof(s) };

	if (!hl || viommu_iommu_host_get_stats(hl->c, &s))
		return;
	acc->map_ops += s.map_ops;
	acc->unmap_ops += s.unmap_ops;
	acc->mappings += s.mappings;
	acc->errors += s.errors;
}

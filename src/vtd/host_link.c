// SPDX-License-Identifier: MIT
/*
 * The one seam between the VT-d model and the host side: a host link keeps
 * backend @h equal to an IOMMU address space (IOVA -> GPA) composed with the
 * system address space (GPA -> host address). It is the reconcile engine's
 * IOMMU path (viommu_recon_new_iommu, include/viommu/reconcile.h) with one
 * backend attached, so every rule of the engine holds for a VT-d device:
 * unchanged translations are never unmapped, usable ranges and the backend's
 * granule are honoured, memory commits cost what they changed.
 *
 * The engine listens to opts.memory's commits as well (memory-map changes
 * under live IOMMU mappings are composed again); those commits must be
 * serialised with the unit's MMIO, as QEMU's BQL serialises them.
 */
#include <stdlib.h>

#include "vtd/vtd_int.h"

struct vtd_host_link {
	struct viommu_recon *recon;
	struct viommu_host *h;
	uint16_t sid;
	struct viommu_vtd_host_opts opts;
};

static void on_report(void *ctx, const struct viommu_recon_report *r)
{
	struct vtd_host_link *hl = ctx;
	struct viommu_vtd_host_report out = {
		.backend = hl->h, .sid = hl->sid, .err = r->err, .first = r->first, .last = r->last,
		.kind = r->kind, .out = r->out,
	};

	if (hl->opts.report)
		hl->opts.report(hl->opts.report_ctx, &out);
}

struct vtd_host_link *vtd_host_link_new(struct viommu_vtd *v, struct viommu_iommu_as *ias, struct viommu_host *h,
					uint16_t sid, const struct viommu_vtd_host_opts *opts)
{
	struct vtd_host_link *hl = calloc(1, sizeof(*hl));
	struct viommu_recon_opts ro = { .sz = sizeof(ro), .report = on_report };
	int r;

	if (!hl)
		return vi_null(ENOMEM);
	hl->h = h;
	hl->sid = sid;
	hl->opts = *opts;
	ro.report_ctx = hl;
	hl->recon = viommu_recon_new_iommu(v->o.memory, v->o.sys, ias, &ro);
	if (!hl->recon) {
		int e = errno;

		free(hl);
		return vi_null(e);
	}
	/*
	 * An error of the initial mapping (a conflict with another set in the
	 * same backend, a backend error) leaves the backend attached and its
	 * record exact; it was reported through on_report and counted. Only a
	 * backend the engine refused to attach fails the link.
	 */
	r = viommu_recon_attach(hl->recon, h);
	if (r && viommu_recon_get_stats(hl->recon, h, &(struct viommu_recon_stats){ .sz = sizeof(struct viommu_recon_stats) })) {
		viommu_recon_free(hl->recon);
		free(hl);
		return vi_null(-r);
	}
	return hl;
}

void vtd_host_link_free(struct vtd_host_link *hl, bool unmap)
{
	if (!hl)
		return;
	if (unmap)
		viommu_recon_detach(hl->recon, hl->h, true);
	viommu_recon_free(hl->recon);
	free(hl);
}

void vtd_host_link_stats(const struct vtd_host_link *hl, struct viommu_vtd_host_stats *acc)
{
	struct viommu_recon_stats s = { .sz = sizeof(s) };

	if (!hl || viommu_recon_get_stats(hl->recon, hl->h, &s))
		return;
	acc->map_ops += s.map_ops;
	acc->unmap_ops += s.unmap_ops;
	acc->mappings += s.mappings;
	acc->errors += s.errors;
}

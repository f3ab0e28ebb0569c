/* SPDX-License-Identifier: MIT */
/*
 * The one place the virtio-iommu device reaches host backends: a host
 * mapping set ("hostset") is what one translation context (a domain, or
 * bypass) needs in every backend attached to it. The device decides which
 * backend belongs to which context; this seam only attaches, detaches and
 * counts. It is one reconciler of the one reconcile engine
 * (include/viommu/reconcile.h): bypass is the flat view of the system address
 * space (viommu_recon_new), a domain is its IOMMU address space composed with
 * that flat view (viommu_recon_new_iommu).
 */
#ifndef VI_VIRTIO_IOMMU_HOST_LINK_H
#define VI_VIRTIO_IOMMU_HOST_LINK_H

#include <viommu/host.h>
#include <viommu/iommu.h>
#include <viommu/memory.h>

struct vio_hostset;

/* Totals of backend work, kept across hostsets that came and went. */
struct vio_host_counts {
	uint64_t map_ops, unmap_ops, errors;
	/*
	 * The most recent backend failure as a negative errno (-ERANGE: an
	 * IOVA the backend cannot map, in a reserved window or misaligned), 0
	 * if none.
	 */
	int last_err;
};

/*
 * A hostset for IOMMU address space @ias (NULL: the identity map of @sys,
 * for bypass). *@counts receives the calls of backends when they leave, and
 * the last backend failure (last_err) as it happens. NULL with errno set.
 */
struct vio_hostset *vio_hostset_new(struct viommu_memory *m, struct viommu_as *sys, struct viommu_iommu_as *ias,
				    struct vio_host_counts *counts);
/* Unmap everything from every backend still attached, then free. NULL allowed. */
void vio_hostset_free(struct vio_hostset *hs);
/* Attach backend @h and map the context's current state into it. 0 or a negative errno. */
int vio_hostset_attach(struct vio_hostset *hs, struct viommu_host *h);
/* Unmap what the context mapped in @h and detach it. 0, -ENOENT. */
int vio_hostset_detach(struct vio_hostset *hs, struct viommu_host *h);
/*
 * Add the calls made so far by the backends attached now to *@c (those that
 * left are in the retired counts given to vio_hostset_new); returns the host
 * mappings they hold now. NULL allowed.
 */
uint64_t vio_hostset_counts(const struct vio_hostset *hs, struct vio_host_counts *c);
/* Number of backends attached. */
size_t vio_hostset_backends(const struct vio_hostset *hs);

#endif

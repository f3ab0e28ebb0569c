/* SPDX-License-Identifier: MIT */
/*
 * The seam between the public host API (host.c) and the backends. Each
 * backend embeds struct viommu_host and reaches its own state with
 * vi_container_of(); host.c validates what is library policy (NULL handles,
 * prot bits, caps size) and dispatches everything else, so each backend sees
 * exactly the arguments the kernel would.
 */
#ifndef VI_HOST_INTERNAL_H
#define VI_HOST_INTERNAL_H

#include <viommu/host.h>

struct vi_host_ops {
	int (*map)(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot);
	/* NULL when the backend has no auto-IOVA (type1). */
	int (*map_auto)(struct viommu_host *h, uint64_t vaddr, uint64_t length, unsigned prot,
			uint64_t *iova);
	/* *unmapped is always written (0 on failure). */
	int (*unmap)(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags,
		     uint64_t *unmapped);
	/* Fill the whole struct; caps->sz is ignored. */
	int (*get_caps)(struct viommu_host *h, struct viommu_host_caps *caps);
	int (*iova_ranges)(struct viommu_host *h, struct viommu_host_iova_range *ranges, uint32_t *num,
			   uint64_t *alignment);
	void (*free)(struct viommu_host *h);
};

/* Invariant: ops, kind and semantics never change after construction. */
struct viommu_host {
	const struct vi_host_ops *ops;
	enum viommu_host_kind kind;
	enum viommu_host_semantics semantics;
};

/*
 * Copy a sorted range list into the caller's buffer with the IOVA_RANGES
 * contract (EMSGSIZE with the needed count). Shared by every backend.
 */
int vi_host_copy_ranges(const struct viommu_host_iova_range *src, uint32_t n,
			struct viommu_host_iova_range *dst, uint32_t *num);

/* Fill caps->ranges / nranges / the TRUNCATED flag from a list. */
void vi_host_caps_set_ranges(struct viommu_host_caps *caps, const struct viommu_host_iova_range *src,
			     uint32_t n);

#endif

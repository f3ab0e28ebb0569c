// SPDX-License-Identifier: MIT
/*
 * Public host API: library policy checks, then dispatch through the backend's
 * ops table. Nothing here talks to the kernel.
 */
#include <string.h>

#include "util/compiler.h"
#include "host/host_internal.h"

#define VI_HOST_PROT_MASK (VIOMMU_HOST_PROT_READ | VIOMMU_HOST_PROT_WRITE)

int vi_host_copy_ranges(const struct viommu_host_iova_range *src, uint32_t n,
			struct viommu_host_iova_range *dst, uint32_t *num)
{
	uint32_t cap = *num;

	for (uint32_t i = 0; i < n && i < cap; i++)
		dst[i] = src[i];
	*num = n;
	return n > cap ? -EMSGSIZE : 0;
}

void vi_host_caps_set_ranges(struct viommu_host_caps *caps, const struct viommu_host_iova_range *src,
			     uint32_t n)
{
	uint32_t k = n < VIOMMU_HOST_CAPS_MAX_RANGES ? n : VIOMMU_HOST_CAPS_MAX_RANGES;

	memcpy(caps->ranges, src, k * sizeof(*src));
	caps->nranges = k;
	if (k < n)
		caps->flags |= VIOMMU_HOST_CAP_RANGES_TRUNCATED;
}

int viommu_host_map(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot)
{
	if (!h || (prot & ~VI_HOST_PROT_MASK))
		return vi_errno(-EINVAL);
	return vi_errno(h->ops->map(h, iova, length, vaddr, prot));
}

int viommu_host_map_auto(struct viommu_host *h, uint64_t vaddr, uint64_t length, unsigned prot,
			 uint64_t *iova)
{
	if (!h || !iova || (prot & ~VI_HOST_PROT_MASK))
		return vi_errno(-EINVAL);
	if (!h->ops->map_auto)
		return vi_errno(-EOPNOTSUPP);
	return vi_errno(h->ops->map_auto(h, vaddr, length, prot, iova));
}

int viommu_host_unmap_flags(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags,
			    uint64_t *unmapped)
{
	uint64_t dummy;

	if (!unmapped)
		unmapped = &dummy;
	*unmapped = 0;
	if (!h || (flags & ~VIOMMU_HOST_UNMAP_ALL))
		return vi_errno(-EINVAL);
	if (flags && h->semantics == VIOMMU_HOST_IOMMUFD)
		return vi_errno(-EOPNOTSUPP);
	return vi_errno(h->ops->unmap(h, iova, length, flags, unmapped));
}

int viommu_host_unmap(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t *unmapped)
{
	return viommu_host_unmap_flags(h, iova, length, 0, unmapped);
}

int viommu_host_unmap_all(struct viommu_host *h, uint64_t *unmapped)
{
	if (h && h->semantics == VIOMMU_HOST_IOMMUFD)
		return viommu_host_unmap_flags(h, 0, UINT64_MAX, 0, unmapped);
	return viommu_host_unmap_flags(h, 0, 0, VIOMMU_HOST_UNMAP_ALL, unmapped);
}

int viommu_host_get_caps(struct viommu_host *h, struct viommu_host_caps *caps)
{
	struct viommu_host_caps full;
	int ret;

	if (!h || !caps || caps->sz < offsetof(struct viommu_host_caps, ranges))
		return vi_errno(-EINVAL);
	memset(&full, 0, sizeof(full));
	ret = h->ops->get_caps(h, &full);
	if (ret)
		return vi_errno(ret);
	full.sz = caps->sz < sizeof(full) ? caps->sz : sizeof(full);
	memcpy(caps, &full, full.sz);
	return 0;
}

int viommu_host_iova_ranges(struct viommu_host *h, struct viommu_host_iova_range *ranges, uint32_t *num,
			    uint64_t *alignment)
{
	uint64_t dummy;

	if (!h || !num || (*num && !ranges))
		return vi_errno(-EINVAL);
	return vi_errno(h->ops->iova_ranges(h, ranges, num, alignment ? alignment : &dummy));
}

enum viommu_host_semantics viommu_host_semantics(const struct viommu_host *h)
{
	return h ? h->semantics : 0;
}

enum viommu_host_kind viommu_host_kind(const struct viommu_host *h)
{
	return h ? h->kind : 0;
}

void viommu_host_free(struct viommu_host *h)
{
	if (h)
		h->ops->free(h);
}

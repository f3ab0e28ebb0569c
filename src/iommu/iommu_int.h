/* SPDX-License-Identifier: MIT */
/* Internal interface between the IOMMU address space and the host connector. */
#ifndef VI_IOMMU_INT_H
#define VI_IOMMU_INT_H
#include <viommu/iommu.h>

/* The lowest recorded extent with last >= @addr, if any. */
bool vi_iommu_extent_from(const struct viommu_iommu_as *as, uint64_t addr, struct viommu_iommu_xlat *out);

#endif

/* SPDX-License-Identifier: MIT */
/*
 * Decoder of the VFIO_IOMMU_GET_INFO reply (struct vfio_iommu_type1_info and
 * its capability chain). The bytes come from the kernel, but the decoder
 * treats them as hostile: every offset, size and count is bounds-checked and
 * the chain must move strictly forward, so a loop or an overrun is an error,
 * never a hang or a read out of bounds. Has a fuzz target (fuzz_vfio_caps).
 */
#ifndef VI_HOST_VFIO_CAPS_H
#define VI_HOST_VFIO_CAPS_H

#include <viommu/host.h>

struct vi_vfio_info {
	uint64_t pgsizes;		/* iova_pgsizes, 0 if the flag was clear */
	bool has_pgsizes;
	bool has_ranges;		/* an IOVA_RANGE capability was present */
	bool has_dma_avail;
	uint32_t dma_avail;
	bool has_migration;		/* a MIGRATION capability (dirty tracking) was present */
	uint64_t mig_pgsizes;		/* its pgsize_bitmap */
	uint64_t mig_max_bitmap;	/* its max_dirty_bitmap_size, bytes */
	uint32_t nranges;		/* ranges in the capability (all of them) */
	uint32_t ncopied;		/* min(nranges, capacity given) */
};

/*
 * Decode @len bytes (the reply, truncated to what the caller holds). Ranges
 * are copied into @ranges up to @cap entries. Returns 0, or -EBADMSG for a
 * malformed reply (argsz smaller than the header, a capability offset inside
 * the header or past the end, a chain that does not move forward, a
 * capability larger than the bytes left (an IOVA_RANGE of 16 + 16n bytes,
 * a MIGRATION of 32, a DMA_AVAIL of 12), a range with start > end or ranges
 * not ascending and disjoint). The first capability of each kind counts.
 */
int vi_vfio_parse_info(const void *buf, size_t len, struct vi_vfio_info *out,
		       struct viommu_host_iova_range *ranges, uint32_t cap);

#endif

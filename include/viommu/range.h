/* SPDX-License-Identifier: MIT */
/*
 * viommu range arithmetic: the splitting and encoding of address ranges that
 * every layer shares. All ranges are closed, [first, last]; blocks are
 * naturally aligned powers of two described by (addr, order): the block is
 * [addr, addr + 2^order - 1], and order 64 is the whole 64-bit space.
 *
 * Sources: QEMU's dma_aligned_pow2_mask() (system/dma-helpers.c;
 * softmmu/dma-helpers.c before QEMU 8.1) for the power-of-two cover; the
 * Intel VT-d specification ("IOTLB Invalidate Descriptor", "Device-TLB
 * Invalidate Descriptor") with Linux's calculate_psi_aligned_address()
 * (drivers/iommu/intel/cache.c) for VT-d; the Arm SMMUv3 specification (range
 * invalidation of the CMD_TLBI_* commands, SMMUv3.2) with Linux's
 * __arm_smmu_tlb_inv_range() (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c).
 *
 * Cost: every function here is O(1) except viommu_smmu_tlbi_encode(), whose
 * loop makes one command per iteration (at most 2^16 + 2 for the largest
 * range), and the cursor, whose steps are O(1) each but number
 * viommu_pow2_count() (up to 2^64: count first, never loop blindly over a
 * caller's range).
 */
#ifndef VIOMMU_RANGE_H
#define VIOMMU_RANGE_H

#include <viommu/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Cursor over the minimal cover of [first, last] by naturally aligned
 * power-of-two blocks (the semantics of QEMU's dma_aligned_pow2_mask loop):
 * each step takes the largest block that starts at the cursor, is aligned
 * there, fits in what remains, and is no larger than 2^max_order.
 * Fields other than addr and order are private. Cost: O(1) per block; the
 * number of blocks is viommu_pow2_count().
 */
struct viommu_pow2_iter {
	uint64_t addr;		/* current block: [addr, addr + 2^order - 1] */
	unsigned order;
	/* private */
	uint64_t next, last;
	unsigned max_order;
	bool more;
};

/*
 * Start a cover of [first, last] with blocks of at most 2^max_order bytes in
 * an address space of addr_width bits (1..64); max_order is clamped to
 * addr_width. Returns 0; -EINVAL if first > last, max_order > 64 or
 * addr_width is 0 or > 64; -ERANGE if last >= 2^addr_width.
 * After success call viommu_pow2_next() to get each block.
 */
VIOMMU_API int viommu_pow2_start(struct viommu_pow2_iter *it, uint64_t first, uint64_t last,
				 unsigned max_order, unsigned addr_width);
/* (Start is O(1); a whole loop is O(viommu_pow2_count()) steps, up to 2^64.) */
/* Step to the next block (the first call yields the first). false when done. O(1). */
VIOMMU_API bool viommu_pow2_next(struct viommu_pow2_iter *it);

/*
 * Number of blocks in the minimal cover of [first, last] with blocks of at
 * most 2^max_order bytes in the 64-bit space, computed in O(1) from the bits
 * of the range (not by stepping the cover). Returns 0 with errno EINVAL if
 * first > last or max_order > 64. The count fits in 64 bits for every range
 * but one: [0, 2^64 - 1] with max_order 0 is 2^64 blocks, for which the
 * count saturates at UINT64_MAX with errno set to EOVERFLOW (errno is left
 * alone otherwise, so a caller that must tell it from the 2^64 - 1 blocks of
 * [1, 2^64 - 1] clears errno first). O(1).
 */
VIOMMU_API uint64_t viommu_pow2_count(uint64_t first, uint64_t last, unsigned max_order);

/*
 * Loop over the cover. It declares nothing (the loop's state is in *it), so
 * loops over different cursors nest; @it is evaluated more than once. An
 * invalid range gives an empty loop.
 */
#define viommu_pow2_for_each(it, first, last, max_order, addr_width)					\
	for ((it)->more = viommu_pow2_start((it), (first), (last), (max_order), (addr_width)) == 0;	\
	     viommu_pow2_next(it);)

/*
 * The smallest single naturally aligned block containing [first, last]
 * (first <= last): *order is the bit length of first ^ last (and at least
 * min_order), *addr is first rounded down to the block.
 * Returns 0, or -EINVAL if first > last or min_order > 64. O(1).
 */
VIOMMU_API int viommu_range_aligned_cover(uint64_t first, uint64_t last, unsigned min_order,
					  uint64_t *addr, unsigned *order);

/* ---- Intel VT-d ------------------------------------------------------- */

#define VIOMMU_VTD_PAGE_SHIFT 12

/*
 * Page-selective IOTLB invalidation covering [first, last] with one
 * descriptor: ADDR (4K aligned, aligned to 2^am pages) and AM, as Linux's
 * calculate_psi_aligned_address does. Over-invalidates when the range is not
 * itself an aligned power of two. Returns 0, -EINVAL if first > last, or
 * -ERANGE if the needed am exceeds mamv (the caller must then use a domain-
 * selective invalidation). O(1).
 */
VIOMMU_API int viommu_vtd_psi_encode(uint64_t first, uint64_t last, unsigned mamv,
				     uint64_t *addr, unsigned *am);
/*
 * The range a page-selective descriptor covers: 2^am 4K pages at addr.
 * Returns 0; -EINVAL if am > mamv, am > 52, or addr is not aligned to the
 * 2^am-page block (bits 11:0 of addr are ignored, as they hold IH and AM).
 * O(1).
 */
VIOMMU_API int viommu_vtd_psi_decode(uint64_t addr, unsigned am, unsigned mamv,
				     uint64_t *first, uint64_t *last);

/*
 * Device-TLB invalidation address encoding. With S = 0 the descriptor names
 * one 4K page; with S = 1 the size is 8K << (number of consecutive one bits
 * from bit 12 upward) and the low bits of the block are set to ones; all ones
 * from bit 12 through bit 62 means the whole address space.
 * encode: [first, last] must be one naturally aligned block of at least 4K;
 * returns 0 or -EINVAL. decode never fails for S = 0 or 1 and returns the
 * block (bits 11:0 of addr are ignored). Both O(1).
 */
VIOMMU_API int viommu_vtd_devtlb_encode(uint64_t first, uint64_t last, uint64_t *addr, bool *size_bit);
VIOMMU_API int viommu_vtd_devtlb_decode(uint64_t addr, bool size_bit, uint64_t *first, uint64_t *last);

/* ---- Arm SMMUv3 range invalidation ------------------------------------ */

/* The range-related fields of one TLBI command, as they are encoded. */
struct viommu_smmu_tlbi {
	uint64_t addr;		/* start address (granule aligned) */
	uint8_t tg;		/* 0: non-range; 1/2/3: 4K/16K/64K granule */
	uint8_t scale;		/* 5 bits */
	uint8_t num;		/* 5 bits: NUM field, range is (num + 1) << scale granules */
	uint8_t ttl;		/* 2 bits: level of the leaves, 0 = unknown */
};

/*
 * Encode the invalidation of @pages granules (granule_shift 12, 14 or 16) at
 * @iova as SMMUv3 range commands, Linux's loop: scale = lowest set bit of the
 * remaining count, num = the next five bits. With ttl = 0 a first command of
 * exactly one granule would be the illegal TTL = SCALE = NUM = 0, so the range
 * is then widened by one granule, as Linux does. Writes at most @max commands
 * to @cmds and returns how many the range needs (may exceed @max: call again
 * with a larger array), or -EINVAL (bad granule, ttl > 3, pages == 0, iova not
 * aligned) or -ERANGE (the range passes 2^64). Cost: O(commands the range
 * needs), at most 2^16 + 2 (one per iteration of the loop, also past @max).
 */
VIOMMU_API int viommu_smmu_tlbi_encode(uint64_t iova, uint64_t pages, unsigned granule_shift, unsigned ttl,
				       struct viommu_smmu_tlbi *cmds, size_t max);
/*
 * The range one command invalidates. TG = 0 is a non-range command: the
 * result is [addr, addr] (the entry containing addr, whatever its size).
 * Returns 0; -EINVAL for TG > 3, SCALE or NUM > 31, TTL > 3, the illegal
 * TTL = SCALE = NUM = 0 with TG != 0, or addr not aligned to the granule;
 * -ERANGE if the range passes 2^64. O(1).
 */
VIOMMU_API int viommu_smmu_tlbi_decode(const struct viommu_smmu_tlbi *cmd, uint64_t *first, uint64_t *last);

#ifdef __cplusplus
}
#endif
#endif /* VIOMMU_RANGE_H */

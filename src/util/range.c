// SPDX-License-Identifier: MIT
/*
 * Range arithmetic shared by every layer: minimal power-of-two covers, the
 * single aligned cover (VT-d PSI), device-TLB size encoding and SMMUv3 range
 * invalidation. Everything works on closed ranges so 2^64-1 is reachable;
 * no expression here computes last + 1 without first ruling out overflow.
 */
#include <viommu/range.h>

#include "util/compiler.h"

/* floor(log2(last - first + 1)) where the length may be 2^64 (returns 64). */
static unsigned len_order(uint64_t first, uint64_t last)
{
	uint64_t m1 = last - first;

	return m1 == UINT64_MAX ? 64 : vi_fls64(m1 + 1);
}

VIOMMU_API int viommu_pow2_start(struct viommu_pow2_iter *it, uint64_t first, uint64_t last,
				 unsigned max_order, unsigned addr_width)
{
	if (first > last || max_order > 64 || addr_width == 0 || addr_width > 64)
		return vi_errno(-EINVAL);
	if (last > vi_mask(addr_width))
		return vi_errno(-ERANGE);
	it->next = first;
	it->last = last;
	it->max_order = VI_MIN(max_order, addr_width);
	it->more = true;
	it->addr = 0;
	it->order = 0;
	return 0;
}

VIOMMU_API bool viommu_pow2_next(struct viommu_pow2_iter *it)
{
	uint64_t cur = it->next, end;
	unsigned order;

	if (!it->more)
		return false;
	/* Largest block aligned at cur, fitting in [cur, last], within the cap. */
	order = cur ? vi_ffs64(cur) : 64;
	order = VI_MIN(order, len_order(cur, it->last));
	order = VI_MIN(order, it->max_order);
	end = cur + vi_mask(order);
	it->addr = cur;
	it->order = order;
	if (end == it->last)
		it->more = false;
	else
		it->next = end + 1;
	return true;
}

/*
 * Blocks in the uncapped cover of [first, last]. The cover climbs from first
 * to the most aligned address M in [first, last + 1] with one block per set
 * bit of M - first (each block is the lowest set bit of what remains, so
 * distinct sizes ascending), then descends with one per set bit of
 * last + 1 - M. M is last + 1 with its bits below the highest bit where
 * first - 1 and last + 1 differ cleared. last + 1 may be 2^64: then M is 2^64
 * itself (or, for first == 0, the whole space is one block).
 */
static uint64_t cover_uncapped(uint64_t first, uint64_t last)
{
	uint64_t end, m;

	if (last == UINT64_MAX)
		return first ? (uint64_t)__builtin_popcountll(-first) : 1;
	end = last + 1;
	if (!first)
		return (uint64_t)__builtin_popcountll(end);
	m = end & ~vi_mask(vi_fls64((first - 1) ^ end));
	return (uint64_t)__builtin_popcountll(m - first) + (uint64_t)__builtin_popcountll(end - m);
}

/*
 * With blocks capped at 2^order (order < 64): the part below the first
 * 2^order boundary a in the range climbs as uncapped (its blocks are smaller
 * than 2^order anyway), [a, b) is (b - a) >> order full blocks, and the part
 * from the last boundary b descends. A range holding no full 2^order block is
 * covered as if uncapped. O(1).
 */
VIOMMU_API uint64_t viommu_pow2_count(uint64_t first, uint64_t last, unsigned max_order)
{
	uint64_t lo, full, a;

	if (first > last || max_order > 64) {
		vi_errno(-EINVAL);
		return 0;
	}
	if (max_order == 64)
		return cover_uncapped(first, last);
	lo = vi_mask(max_order);
	/* a = first rounded up to 2^order; none in range if that passes last. */
	if ((first & lo) && (first | lo) >= last)
		return cover_uncapped(first, last);
	a = (first & lo) ? (first | lo) + 1 : first;
	if (last == UINT64_MAX) {
		/* Full blocks from a to 2^64: (2^64 - a) >> order, which is 2^64
		 * only for the whole space with order 0. */
		if (!a && !max_order) {
			vi_errno(-EOVERFLOW);
			return UINT64_MAX;
		}
		full = ((UINT64_MAX - a) >> max_order) + 1;
		return (uint64_t)__builtin_popcountll(a - first) + full;
	}
	/* b = last + 1 rounded down: at least one full block iff b > a. */
	if (((last + 1) & ~lo) <= a)
		return cover_uncapped(first, last);
	full = (((last + 1) & ~lo) - a) >> max_order;
	return (uint64_t)__builtin_popcountll(a - first) + full + (uint64_t)__builtin_popcountll((last + 1) & lo);
}

VIOMMU_API int viommu_range_aligned_cover(uint64_t first, uint64_t last, unsigned min_order,
					  uint64_t *addr, unsigned *order)
{
	uint64_t diff = first ^ last;
	unsigned o;

	if (first > last || min_order > 64)
		return vi_errno(-EINVAL);
	/* The lowest bit above which first and last agree bounds the block. */
	o = diff ? vi_fls64(diff) + 1 : 0;
	o = VI_MAX(o, min_order);
	*order = o;
	*addr = first & ~vi_mask(o);
	return 0;
}

VIOMMU_API int viommu_vtd_psi_encode(uint64_t first, uint64_t last, unsigned mamv,
				     uint64_t *addr, unsigned *am)
{
	uint64_t pfn;
	unsigned o;
	int ret;

	if (first > last)
		return vi_errno(-EINVAL);
	ret = viommu_range_aligned_cover(first >> VIOMMU_VTD_PAGE_SHIFT, last >> VIOMMU_VTD_PAGE_SHIFT, 0,
					 &pfn, &o);
	if (ret)
		return ret;
	if (o > mamv)
		return vi_errno(-ERANGE);
	*addr = pfn << VIOMMU_VTD_PAGE_SHIFT;
	*am = o;
	return 0;
}

VIOMMU_API int viommu_vtd_psi_decode(uint64_t addr, unsigned am, unsigned mamv,
				     uint64_t *first, uint64_t *last)
{
	uint64_t base = addr & ~vi_mask(VIOMMU_VTD_PAGE_SHIFT), m;

	if (am > mamv || am > 64 - VIOMMU_VTD_PAGE_SHIFT)
		return vi_errno(-EINVAL);
	m = vi_mask(am + VIOMMU_VTD_PAGE_SHIFT);
	if (base & m)
		return vi_errno(-EINVAL);
	*first = base;
	*last = base | m;
	return 0;
}

VIOMMU_API int viommu_vtd_devtlb_encode(uint64_t first, uint64_t last, uint64_t *addr, bool *size_bit)
{
	uint64_t m1 = last - first;
	unsigned order;

	if (first > last || (m1 & (m1 + 1)) != 0 || (first & m1) != 0)
		return vi_errno(-EINVAL);	/* not one naturally aligned block */
	order = (unsigned)__builtin_popcountll(m1);
	if (order < VIOMMU_VTD_PAGE_SHIFT)
		return vi_errno(-EINVAL);
	if (order == VIOMMU_VTD_PAGE_SHIFT) {
		*addr = first;
		*size_bit = false;
	} else {
		/* 2^m pages: ADDR |= (1 << (11 + m)) - 1, i.e. the low order-1 bits. */
		*addr = first | vi_mask(order - 1);
		*size_bit = true;
	}
	return 0;
}

VIOMMU_API int viommu_vtd_devtlb_decode(uint64_t addr, bool size_bit, uint64_t *first, uint64_t *last)
{
	uint64_t hi = addr >> VIOMMU_VTD_PAGE_SHIFT;
	unsigned order;

	if (!size_bit) {
		order = VIOMMU_VTD_PAGE_SHIFT;
	} else {
		/* ~hi has its top 12 bits set, so it is never 0. */
		order = VIOMMU_VTD_PAGE_SHIFT + 1 + vi_ffs64(~hi);
		if (order > 64)
			order = 64;	/* ones through bit 62 or 63: everything */
	}
	*first = addr & ~vi_mask(order);
	*last = *first | vi_mask(order);
	return 0;
}

static int smmu_tg(unsigned granule_shift)
{
	switch (granule_shift) {
	case 12: return 1;
	case 14: return 2;
	case 16: return 3;
	default: return -1;
	}
}

VIOMMU_API int viommu_smmu_tlbi_encode(uint64_t iova, uint64_t pages, unsigned granule_shift, unsigned ttl,
				       struct viommu_smmu_tlbi *cmds, size_t max)
{
	int tg = smmu_tg(granule_shift);
	uint64_t room, rem = pages, addr = iova;
	size_t n = 0;

	if (tg < 0 || ttl > 3 || pages == 0 || (iova & vi_mask(granule_shift)))
		return vi_errno(-EINVAL);
	/* Granules from iova to the top of the space: at most 2^52, no wrap. */
	room = ((UINT64_MAX - iova) >> granule_shift) + 1;
	if (pages > room)
		return vi_errno(-ERANGE);

	/*
	 * TTL = SCALE = NUM = 0 with TG != 0 is illegal, and only the first
	 * command can have SCALE = 0. Like Linux, widen the range by one granule
	 * to avoid it; where that would pass 2^64, send the lone granule as a
	 * non-range (TG = 0) command instead.
	 */
	if (ttl == 0 && (rem & 31) == 1) {
		if (rem < room) {
			rem++;
		} else {
			if (n < max)
				cmds[n] = (struct viommu_smmu_tlbi){ .addr = addr };
			n++;
			rem--;
			addr += UINT64_C(1) << granule_shift;
		}
	}
	while (rem) {
		unsigned scale = vi_ffs64(rem);
		uint64_t num;

		if (scale > 31) {
			/* SCALE is 5 bits: take up to 32 << 31 granules at a time. */
			scale = 31;
			num = VI_MIN(rem >> 31, 32);
		} else {
			num = (rem >> scale) & 31;
		}
		if (n < max)
			cmds[n] = (struct viommu_smmu_tlbi){
				.addr = addr, .tg = (uint8_t)tg, .scale = (uint8_t)scale,
				.num = (uint8_t)(num - 1), .ttl = (uint8_t)ttl,
			};
		n++;
		rem -= num << scale;
		addr += (num << scale) << granule_shift;
	}
	return (int)n;	/* at most 2^52 >> 36 commands plus a few */
}

VIOMMU_API int viommu_smmu_tlbi_decode(const struct viommu_smmu_tlbi *cmd, uint64_t *first, uint64_t *last)
{
	unsigned shift;
	uint64_t bytes;

	if (cmd->tg > 3 || cmd->scale > 31 || cmd->num > 31 || cmd->ttl > 3)
		return vi_errno(-EINVAL);
	if (cmd->tg == 0) {
		*first = *last = cmd->addr;
		return 0;
	}
	if (cmd->ttl == 0 && cmd->scale == 0 && cmd->num == 0)
		return vi_errno(-EINVAL);
	shift = 10 + 2u * cmd->tg;
	if (cmd->addr & vi_mask(shift))
		return vi_errno(-EINVAL);
	bytes = ((uint64_t)(cmd->num + 1) << cmd->scale) << shift;	/* at most 2^52 */
	if (cmd->addr + (bytes - 1) < cmd->addr)
		return vi_errno(-ERANGE);
	*first = cmd->addr;
	*last = cmd->addr + (bytes - 1);
	return 0;
}

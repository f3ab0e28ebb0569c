// SPDX-License-Identifier: MIT
/* The GET_INFO capability-chain decoder (see vfio_caps.h for the rules). */
#include <string.h>

#include "util/compiler.h"
#include "host/vfio_caps.h"

/* Layout of include/uapi/linux/vfio.h, restated so the decoder is the spec. */
#define VI_INFO_HDR		24u	/* argsz, flags, iova_pgsizes, cap_offset, pad */
#define VI_INFO_FLAG_PGSIZES	(1u << 0)
#define VI_INFO_FLAG_CAPS	(1u << 1)
#define VI_CAP_HDR		8u	/* id u16, version u16, next u32 */
#define VI_CAP_IOVA_RANGE	1u
#define VI_CAP_MIGRATION	2u	/* flags u32, pad, pgsize_bitmap u64, max_dirty_bitmap_size u64 */
#define VI_CAP_MIGRATION_LEN	32u
#define VI_CAP_DMA_AVAIL	3u

static uint16_t rd16(const uint8_t *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static int parse_ranges(const uint8_t *cap, size_t room, struct vi_vfio_info *out,
			struct viommu_host_iova_range *ranges, uint32_t capacity)
{
	uint32_t n;

	/* header + nr_iovas + reserved */
	if (room < VI_CAP_HDR + 8)
		return -EBADMSG;
	n = rd32(cap + VI_CAP_HDR);
	if ((room - VI_CAP_HDR - 8) / 16 < n)
		return -EBADMSG;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t first = rd64(cap + VI_CAP_HDR + 8 + 16 * (size_t)i);
		uint64_t last = rd64(cap + VI_CAP_HDR + 8 + 16 * (size_t)i + 8);
		uint64_t prev_last = i ? rd64(cap + VI_CAP_HDR + 8 + 16 * (size_t)(i - 1) + 8) : 0;

		if (first > last || (i && first <= prev_last))
			return -EBADMSG;
		if (i < capacity)
			ranges[i] = (struct viommu_host_iova_range){ first, last };
	}
	out->has_ranges = true;
	out->nranges = n;
	out->ncopied = n < capacity ? n : capacity;
	return 0;
}

int vi_vfio_parse_info(const void *buf, size_t len, struct vi_vfio_info *out,
		       struct viommu_host_iova_range *ranges, uint32_t capacity)
{
	const uint8_t *p = buf;
	uint32_t argsz, flags, off, prev = 0;

	memset(out, 0, sizeof(*out));
	if (len < VI_INFO_HDR)
		return -EBADMSG;
	argsz = rd32(p);
	flags = rd32(p + 4);
	if (argsz < VI_INFO_HDR)
		return -EBADMSG;
	/* Only the bytes both the kernel described and we hold are looked at. */
	if (argsz < len)
		len = argsz;
	if (flags & VI_INFO_FLAG_PGSIZES) {
		out->pgsizes = rd64(p + 8);
		out->has_pgsizes = true;
	}
	if (!(flags & VI_INFO_FLAG_CAPS))
		return 0;
	off = rd32(p + 16);
	while (off) {
		uint16_t id;
		size_t room;
		int ret;

		/* forward only: ends loops; inside the buffer: ends overruns */
		if (off < VI_INFO_HDR || off <= prev || off > len || len - off < VI_CAP_HDR)
			return -EBADMSG;
		room = len - off;
		id = rd16(p + off);
		/* a capability extends to the next one, or to the end */
		{
			uint32_t next = rd32(p + off + 4);

			if (next) {
				if (next <= off || next > len)
					return -EBADMSG;
				room = next - off;
			}
			if (id == VI_CAP_IOVA_RANGE && !out->has_ranges) {
				ret = parse_ranges(p + off, room, out, ranges, capacity);
				if (ret)
					return ret;
			} else if (id == VI_CAP_MIGRATION && !out->has_migration) {
				if (room < VI_CAP_MIGRATION_LEN)
					return -EBADMSG;
				out->mig_pgsizes = rd64(p + off + 16);
				out->mig_max_bitmap = rd64(p + off + 24);
				out->has_migration = true;
			} else if (id == VI_CAP_DMA_AVAIL && !out->has_dma_avail) {
				if (room < VI_CAP_HDR + 4)
					return -EBADMSG;
				out->dma_avail = rd32(p + off + VI_CAP_HDR);
				out->has_dma_avail = true;
			}
			prev = off;
			off = next;
		}
	}
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * The real-kernel backends as far as this machine allows (no VFIO devices,
 * no /dev/iommu): opening what does not exist fails with the kernel's errno,
 * a non-VFIO fd fails with ENOTTY, and the VFIO_IOMMU_GET_INFO decoder reads
 * synthetic replies exactly — the q35 + VT-d reply, and the one Debian 6.1 gave in the guest — and
 * rejects every malformed chain. The conformance VM runs the ioctl paths.
 */
#include <fcntl.h>
#include <unistd.h>

#include <viommu/host.h>

#include "host/vfio_caps.h"
#include "test.h"

struct buf { uint8_t b[512]; size_t len; };

static void put16(struct buf *b, size_t off, uint16_t v) { memcpy(b->b + off, &v, 2); }
static void put32(struct buf *b, size_t off, uint32_t v) { memcpy(b->b + off, &v, 4); }
static void put64(struct buf *b, size_t off, uint64_t v) { memcpy(b->b + off, &v, 8); }

/*
 * A q35 + VT-d reply laid out by hand (the real 6.1 one, below, also has MIGRATION):
 * header (24) | IOVA_RANGE at 24: hdr(8) nr=2 rsvd ranges(2x16) -> 72 | DMA_AVAIL at 72: hdr(8) avail(4) pad
 */
static void q35_reply(struct buf *b)
{
	memset(b, 0, sizeof(*b));
	b->len = 88;
	put32(b, 0, 88);		/* argsz */
	put32(b, 4, 3);			/* PGSIZES | CAPS */
	put64(b, 8, 0x40201000);
	put32(b, 16, 24);		/* cap_offset */
	put16(b, 24, 1);		/* IOVA_RANGE */
	put16(b, 26, 1);
	put32(b, 28, 72);		/* next */
	put32(b, 32, 2);		/* nr_iovas */
	put64(b, 40, 0);
	put64(b, 48, 0xfedfffff);
	put64(b, 56, 0xfef00000);
	put64(b, 64, UINT64_C(0x7fffffffff));
	put16(b, 72, 3);		/* DMA_AVAIL */
	put16(b, 74, 1);
	put32(b, 76, 0);
	put32(b, 80, 65535);
}

static int parse(const struct buf *b, struct vi_vfio_info *info, struct viommu_host_iova_range *r, uint32_t cap)
{
	return vi_vfio_parse_info(b->b, b->len, info, r, cap);
}

static void test_parse_good(void)
{
	struct viommu_host_iova_range r[4];
	struct vi_vfio_info info;
	struct buf b;

	q35_reply(&b);
	T_EQ(parse(&b, &info, r, 4), 0);
	T_OK(info.has_pgsizes);
	T_EQ_U64(info.pgsizes, 0x40201000);
	T_OK(info.has_ranges);
	T_EQ(info.nranges, 2);
	T_EQ(info.ncopied, 2);
	T_EQ_U64(r[0].first, 0);
	T_EQ_U64(r[0].last, 0xfedfffff);
	T_EQ_U64(r[1].first, 0xfef00000);
	T_EQ_U64(r[1].last, 0x7fffffffff);
	T_OK(info.has_dma_avail);
	T_EQ(info.dma_avail, 65535);

	/* capacity 1: count still 2, one copied */
	memset(r, 0, sizeof(r));
	T_EQ(parse(&b, &info, r, 1), 0);
	T_EQ(info.nranges, 2);
	T_EQ(info.ncopied, 1);
	T_EQ_U64(r[1].last, 0);

	/* an unknown capability (MIGRATION, id 2) in the chain is skipped */
	put32(&b, 28, 88);
	b.len = 104;
	put32(&b, 0, 104);
	put16(&b, 88, 0x99);	/* an id this decoder does not know */
	put16(&b, 90, 1);
	put32(&b, 92, 72);	/* backward: must be rejected */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	put32(&b, 92, 0);
	T_EQ(parse(&b, &info, r, 4), 0);
	T_OK(!info.has_dma_avail);	/* DMA_AVAIL is no longer linked */

	/* no CAPS flag: the chain is ignored (pre-caps kernel, or argsz too small
	 * for the kernel to copy them: it then only raises argsz) */
	q35_reply(&b);
	put32(&b, 4, 1);
	T_EQ(parse(&b, &info, r, 4), 0);
	T_OK(!info.has_ranges && !info.has_dma_avail && info.has_pgsizes);
	/* CAPS flag but cap_offset 0 */
	put32(&b, 4, 3);
	put32(&b, 16, 0);
	T_EQ(parse(&b, &info, r, 4), 0);
	T_OK(!info.has_ranges);
	/* no PGSIZES flag */
	q35_reply(&b);
	put32(&b, 4, 2);
	T_EQ(parse(&b, &info, r, 4), 0);
	T_OK(!info.has_pgsizes);
	T_EQ_U64(info.pgsizes, 0);
}

/*
 * The reply Debian's 6.1.0 kernel gave in the conformance guest (q35, VT-d,
 * dma_entry_limit=100; `getinfo type1v2` in make check-vm, argsz 256 passed
 * in and left as it was): MIGRATION at 24, DMA_AVAIL at 56, IOVA_RANGE at 68,
 * the chain in that order, 116 bytes used. Also fuzz/corpus/vfio_caps/.
 */
static const uint8_t linux61_reply[] = {
	0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x10, 0x20, 0x40,
	0x00, 0x00, 0x00, 0x00, 0x18, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x02, 0x00, 0x01, 0x00, 0x38, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00,
	0x44, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xdf, 0xfe,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0xfe, 0x00, 0x00, 0x00, 0x00,
	0xff, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00,
};

static void test_parse_real(void)
{
	struct viommu_host_iova_range r[4];
	struct vi_vfio_info info;

	T_EQ(vi_vfio_parse_info(linux61_reply, sizeof(linux61_reply), &info, r, 4), 0);
	T_EQ_U64(info.pgsizes, 0x40201000);
	T_OK(info.has_migration);
	T_EQ_U64(info.mig_pgsizes, 0x1000);
	T_EQ_U64(info.mig_max_bitmap, 0x10000000);	/* DIRTY_BITMAP_SIZE_MAX */
	T_OK(info.has_dma_avail);
	T_EQ(info.dma_avail, 100);
	T_EQ(info.nranges, 2);
	T_EQ_U64(r[0].last, 0xfedfffff);
	T_EQ_U64(r[1].first, 0xfef00000);
	T_EQ_U64(r[1].last, 0x7fffffffff);
	/* a MIGRATION capability cut short is malformed */
	{
		uint8_t b[sizeof(linux61_reply)];

		memcpy(b, linux61_reply, sizeof(b));
		b[28] = 48;	/* next = 48: the capability has 24 bytes, it needs 32 */
		T_EQ(vi_vfio_parse_info(b, sizeof(b), &info, r, 4), -EBADMSG);
	}
}

static void test_parse_bad(void)
{
	struct viommu_host_iova_range r[4];
	struct vi_vfio_info info;
	struct buf b;

	q35_reply(&b);
	b.len = 23;				/* shorter than the header */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	q35_reply(&b);
	put32(&b, 0, 20);			/* argsz smaller than the header */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	q35_reply(&b);
	put32(&b, 16, 8);			/* cap inside the header */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	q35_reply(&b);
	put32(&b, 16, 84);			/* cap header runs past the end */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	q35_reply(&b);
	put32(&b, 76, 24);			/* DMA_AVAIL links back to IOVA_RANGE: a loop */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	q35_reply(&b);
	put32(&b, 28, 24);			/* links to itself */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	q35_reply(&b);
	put32(&b, 28, 200);			/* next beyond the end */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	q35_reply(&b);
	put32(&b, 32, 3);			/* 3 ranges do not fit before next (72) */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	q35_reply(&b);
	put32(&b, 32, 0xffffffff);		/* a huge count */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	q35_reply(&b);
	put64(&b, 40, 0xfee00000);		/* start > end */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	q35_reply(&b);
	put64(&b, 56, 0x1000);			/* not ascending */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	q35_reply(&b);
	put32(&b, 0, 80);			/* argsz cuts DMA_AVAIL's payload */
	T_EQ(parse(&b, &info, r, 4), -EBADMSG);
	/* argsz larger than what we hold: only what we hold is read */
	q35_reply(&b);
	put32(&b, 0, 4096);
	T_EQ(parse(&b, &info, r, 4), 0);
	T_EQ(info.dma_avail, 65535);
}

static void test_open_errors(void)
{
	int fd = open("/dev/null", O_RDWR);

	errno = 0;
	T_OK(viommu_host_vfio_open("4242", VIOMMU_HOST_TYPE1V2) == NULL);
	T_EQ(errno, ENOENT);		/* no /dev/vfio/vfio here; on a VFIO host no group 4242 */
	T_OK(viommu_host_vfio_open("/nonexistent/vfio/7", VIOMMU_HOST_TYPE1V1) == NULL);
	T_EQ(errno, ENOENT);
	T_OK(viommu_host_vfio_open("", VIOMMU_HOST_TYPE1V2) == NULL);
	T_EQ(errno, EINVAL);
	T_OK(viommu_host_vfio_open(NULL, VIOMMU_HOST_TYPE1V2) == NULL);
	T_EQ(errno, EINVAL);
	T_OK(viommu_host_vfio_open("26", VIOMMU_HOST_IOMMUFD) == NULL);
	T_EQ(errno, EINVAL);
	T_OK(viommu_host_vfio_open_container(-1, VIOMMU_HOST_TYPE1V2) == NULL);
	T_EQ(errno, EINVAL);
	T_OK(fd >= 0);
	/* /dev/null is not a container: VFIO_IOMMU_GET_INFO -> ENOTTY */
	T_OK(viommu_host_vfio_open_container(fd, VIOMMU_HOST_TYPE1V2) == NULL);
	T_EQ(errno, ENOTTY);
	T_OK(viommu_host_iommufd_open("/nonexistent/vfio/devices/vfio0") == NULL);
	T_EQ(errno, ENOENT);
	T_OK(viommu_host_iommufd_open(NULL) == NULL);
	T_EQ(errno, EINVAL);
	/* /dev/null is not an iommufd: IOMMU_IOAS_IOVA_RANGES -> ENOTTY */
	T_OK(viommu_host_iommufd_open_ioas(fd, 1) == NULL);
	T_EQ(errno, ENOTTY);
	T_OK(viommu_host_iommufd_open_ioas(-1, 1) == NULL);
	T_EQ(errno, EINVAL);
	/* the caller's fd is untouched (duplicated, then the copy closed) */
	T_OK(fcntl(fd, F_GETFD) >= 0);
	close(fd);
}

int main(void)
{
	test_parse_good();
	test_parse_real();
	test_parse_bad();
	test_open_errors();
	return t_done();
}

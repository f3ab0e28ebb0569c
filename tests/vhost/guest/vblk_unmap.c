// SPDX-License-Identifier: MIT
/*
 * In the guest: after the IOMMU has unmapped a buffer, a descriptor that
 * still points at it must be refused by the vhost-user back-end.
 *
 * The stock virtio_blk driver never hands the device an unmapped buffer, so
 * this program drives the virtio-blk device itself from user space through
 * VFIO (kernel-free data path): it binds nothing itself (the init script
 * gives the device to vfio-pci), maps its own buffers into the device's
 * IOMMU domain with VFIO_IOMMU_MAP_DMA, runs a minimal split-virtqueue
 * driver over the modern virtio-pci transport (virtio 1.1 4.1), and:
 *
 *  1. writes pattern A from mapped buffer B to sector S, reads it back: ok;
 *  2. unmaps B (VFIO_IOMMU_UNMAP_DMA: the guest IOMMU driver unmaps it and
 *     invalidates the IOTLB and the device TLB, which QEMU turns into an
 *     IOTLB INVALIDATE for the back-end), fills B with pattern Z;
 *  3. submits a write of sector S + 8 whose data descriptor still points at
 *     B's IOVA: the back-end misses, QEMU cannot translate the IOVA, the
 *     back-end refuses the request: status VIRTIO_BLK_S_IOERR;
 *  4. reads sector S + 8 back: it must not hold Z.
 *
 * The host then checks the image byte for byte and the back-end's refusal
 * count (tests/vhost/run.sh). Output: "case NAME ok|FAIL" lines, then
 * "N passed, N failed".
 *
 *	vblk_unmap GROUP_DEV BDF	the test above (GROUP_DEV: /dev/vfio/N)
 *	vblk_unmap pattern BYTES	the data the kernel-driver test writes, to stdout
 *	vblk_unmap buffer-a		the 4 KiB step 1 writes
 *					(the host builds the expected image with both)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vfio.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static unsigned passed, failed;

static void check(int ok, const char *name, const char *detail)
{
	printf("case %s %s%s%s\n", name, ok ? "ok" : "FAIL", detail ? ": " : "", detail ? detail : "");
	if (ok)
		passed++;
	else
		failed++;
}

static int dev_fd;
static uint64_t cfg_off, bar_off[6];

static int cfg_rd(unsigned off, void *v, unsigned len)
{
	return pread(dev_fd, v, len, (off_t)(cfg_off + off)) == (ssize_t)len ? 0 : -1;
}

static int cfg_wr(unsigned off, const void *v, unsigned len)
{
	return pwrite(dev_fd, v, len, (off_t)(cfg_off + off)) == (ssize_t)len ? 0 : -1;
}

/* A virtio-pci structure: BAR and offset (virtio 1.1 4.1.4). */
struct vcap {
	unsigned bar;
	uint32_t off;
};

static struct vcap common, notify, devcfg;
static uint32_t notify_mult;

static uint64_t rd(const struct vcap *c, unsigned off, unsigned len)
{
	uint64_t v = 0;

	if (pread(dev_fd, &v, len, (off_t)(bar_off[c->bar] + c->off + off)) != (ssize_t)len)
		return ~0ull;
	return v;
}

static void wr(const struct vcap *c, unsigned off, uint64_t v, unsigned len)
{
	if (pwrite(dev_fd, &v, len, (off_t)(bar_off[c->bar] + c->off + off)) != (ssize_t)len)
		fprintf(stderr, "vblk_unmap: BAR write at 0x%x failed\n", c->off + off);
}

/* common configuration (virtio 1.1 4.1.4.3) */
#define C_DFSEL		0x00
#define C_DF		0x04
#define C_GFSEL		0x08
#define C_GF		0x0c
#define C_STATUS	0x14
#define C_QSEL		0x16
#define C_QSIZE		0x18
#define C_QENABLE	0x1c
#define C_QNOTIFY	0x1e
#define C_QDESC		0x20
#define C_QDRIVER	0x28
#define C_QDEVICE	0x30

#define S_ACK 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8

#define QSIZE 16
#define IOVA_RING 0x100000ull	/* rings, headers, status bytes, read buffer: 64 KiB, always mapped */
#define IOVA_B 0x200000ull	/* the buffer that gets unmapped: 4 KiB */
#define SECTOR 8192ull		/* 4 MiB into the disk: away from what the kernel test writes */

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

static uint8_t *ring, *bufb;		/* host views of the two mappings */
static struct desc *dtab;
static volatile uint16_t *avail;	/* flags, idx, ring[QSIZE] */
static volatile uint16_t *used;		/* flags, idx, then {u32 id, u32 len}[QSIZE] */
static uint16_t avail_idx, used_seen;
static uint16_t notify_off;
static int container;

/* layout inside the ring mapping */
#define O_DESC		0x0000
#define O_AVAIL		0x1000
#define O_USED		0x2000
#define O_HDR		0x3000
#define O_STATUS	0x3100
#define O_READ		0x4000

static int find_caps(void)
{
	uint8_t p;

	if (cfg_rd(0x34, &p, 1))
		return -1;
	for (unsigned n = 0; p && n < 48; n++) {
		uint8_t cap[20];

		if (cfg_rd(p, cap, sizeof(cap)))
			return -1;
		if (cap[0] == 0x09) {	/* vendor specific: a virtio structure */
			struct vcap c = { .bar = cap[4] };

			memcpy(&c.off, cap + 8, 4);
			if (c.bar < 6) {
				if (cap[3] == 1)
					common = c;
				else if (cap[3] == 2) {
					notify = c;
					memcpy(&notify_mult, cap + 16, 4);
				} else if (cap[3] == 4)
					devcfg = c;
			}
		}
		p = cap[1];
	}
	return common.off || common.bar ? 0 : -1;
}

static int vfio_open(const char *group_path, const char *bdf)
{
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	int group;

	container = open("/dev/vfio/vfio", O_RDWR);
	group = open(group_path, O_RDWR);
	if (container < 0 || group < 0)
		return -1;
	if (ioctl(group, VFIO_GROUP_GET_STATUS, &gs) || !(gs.flags & VFIO_GROUP_FLAGS_VIABLE))
		return -1;
	if (ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) || ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU))
		return -1;
	dev_fd = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (dev_fd < 0)
		return -1;
	for (unsigned i = 0; i <= VFIO_PCI_CONFIG_REGION_INDEX; i++) {
		struct vfio_region_info ri = { .argsz = sizeof(ri), .index = i };

		if (ioctl(dev_fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
			continue;
		if (i == VFIO_PCI_CONFIG_REGION_INDEX)
			cfg_off = ri.offset;
		else if (i < 6)
			bar_off[i] = ri.offset;
	}
	return 0;
}

static int dma_map(void *va, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map m = { .argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ |
		VFIO_DMA_MAP_FLAG_WRITE, .vaddr = (uintptr_t)va, .iova = iova, .size = size };

	return ioctl(container, VFIO_IOMMU_MAP_DMA, &m);
}

static int dma_unmap(uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_unmap u = { .argsz = sizeof(u), .iova = iova, .size = size };

	return ioctl(container, VFIO_IOMMU_UNMAP_DMA, &u) || u.size != size ? -1 : 0;
}

static int device_init(void)
{
	uint16_t cmd;
	uint64_t f;

	if (cfg_rd(4, &cmd, 2))
		return -1;
	cmd |= 0x6;	/* memory space, bus master: vfio-pci leaves them off */
	if (cfg_wr(4, &cmd, 2))
		return -1;
	wr(&common, C_STATUS, 0, 1);
	for (int i = 0; i < 1000 && rd(&common, C_STATUS, 1); i++)
		usleep(1000);
	wr(&common, C_STATUS, S_ACK | S_DRIVER, 1);
	wr(&common, C_DFSEL, 1, 4);
	f = rd(&common, C_DF, 4) << 32;
	wr(&common, C_DFSEL, 0, 4);
	f |= rd(&common, C_DF, 4);
	printf("device features 0x%llx\n", (unsigned long long)f);
	if (!(f & 1ull << 32) || !(f & 1ull << 33))
		return -1;	/* VERSION_1 and ACCESS_PLATFORM must be offered */
	wr(&common, C_GFSEL, 0, 4);
	wr(&common, C_GF, 0, 4);
	wr(&common, C_GFSEL, 1, 4);
	wr(&common, C_GF, 3, 4);	/* VERSION_1 | ACCESS_PLATFORM */
	wr(&common, C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK, 1);
	if (!(rd(&common, C_STATUS, 1) & S_FEATURES_OK))
		return -1;
	wr(&common, C_QSEL, 0, 2);
	if (rd(&common, C_QSIZE, 2) < QSIZE)
		return -1;
	wr(&common, C_QSIZE, QSIZE, 2);
	notify_off = (uint16_t)rd(&common, C_QNOTIFY, 2);
	wr(&common, C_QDESC, (uint32_t)(IOVA_RING + O_DESC), 4);
	wr(&common, C_QDESC + 4, (IOVA_RING + O_DESC) >> 32, 4);
	wr(&common, C_QDRIVER, (uint32_t)(IOVA_RING + O_AVAIL), 4);
	wr(&common, C_QDRIVER + 4, (IOVA_RING + O_AVAIL) >> 32, 4);
	wr(&common, C_QDEVICE, (uint32_t)(IOVA_RING + O_USED), 4);
	wr(&common, C_QDEVICE + 4, (IOVA_RING + O_USED) >> 32, 4);
	wr(&common, C_QENABLE, 1, 2);
	wr(&common, C_STATUS, S_ACK | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK, 1);
	return 0;
}

/*
 * One request: header (type, sector), a data buffer at @data_iova of @len
 * bytes (device-writable for a read), the status byte. Returns the status
 * the device wrote, or -1 if it did not complete within 30 s.
 */
static int request(uint32_t type, uint64_t sector, uint64_t data_iova, uint32_t len)
{
	uint8_t *hdr = ring + O_HDR, *status = ring + O_STATUS;
	struct timespec t0, t;

	memset(hdr, 0, 16);
	memcpy(hdr, &type, 4);
	memcpy(hdr + 8, &sector, 8);
	*status = 0xff;
	dtab[0] = (struct desc){ .addr = IOVA_RING + O_HDR, .len = 16, .flags = 1, .next = 1 };
	dtab[1] = (struct desc){ .addr = data_iova, .len = len, .flags = (uint16_t)(1 | (type == 0 ? 2 : 0)),
				 .next = 2 };
	dtab[2] = (struct desc){ .addr = IOVA_RING + O_STATUS, .len = 1, .flags = 2 };
	avail[2 + avail_idx % QSIZE] = 0;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	avail[1] = ++avail_idx;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	wr(&notify, (unsigned)notify_off * notify_mult, 0, 2);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (used[1] == used_seen) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 30)
			return -1;
		usleep(200);
	}
	used_seen = used[1];
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return *status;
}

/* The kernel-driver test's data: every 16-byte line names its offset, so a misplaced block shows. */
static int pattern(unsigned long bytes)
{
	char line[32];

	for (unsigned long off = 0; off < bytes; off += 16) {
		snprintf(line, sizeof(line), "vblk %010lx\n", off & 0xffffffffffUL);
		if (fwrite(line, 1, bytes - off < 16 ? bytes - off : 16, stdout) == 0)
			return 1;
	}
	return fflush(stdout) ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "pattern"))
		return pattern(strtoul(argv[2], NULL, 0));
	if (argc == 2 && !strcmp(argv[1], "buffer-a")) {	/* what step 1 writes */
		for (int i = 0; i < 0x1000; i++)
			putchar('A' + i % 23);
		return fflush(stdout) ? 1 : 0;
	}

	const char *group = argc > 2 ? argv[1] : getenv("VIOMMU_VBLK_GROUP");
	const char *bdf = argc > 2 ? argv[2] : getenv("VIOMMU_VBLK_BDF");
	char detail[128];
	int st;

	if (!group || !bdf) {
		printf("SKIP: no virtio-blk device bound to vfio-pci\n0 passed, 1 failed\n");
		return 1;
	}
	ring = mmap(NULL, 0x10000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	bufb = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
	if (ring == MAP_FAILED || bufb == MAP_FAILED)
		return 1;
	memset(ring, 0, 0x10000);
	dtab = (struct desc *)(ring + O_DESC);
	avail = (volatile uint16_t *)(ring + O_AVAIL);
	used = (volatile uint16_t *)(ring + O_USED);
	check(vfio_open(group, bdf) == 0, "vfio_open", bdf);
	check(find_caps() == 0, "virtio_caps", NULL);
	check(dma_map(ring, IOVA_RING, 0x10000) == 0 && dma_map(bufb, IOVA_B, 0x1000) == 0, "dma_map", NULL);
	check(device_init() == 0, "device_init", NULL);
	if (failed)
		goto out;

	/* 1. a write from the mapped buffer, read back */
	for (int i = 0; i < 0x1000; i++)
		bufb[i] = (uint8_t)('A' + i % 23);
	st = request(1, SECTOR, IOVA_B, 0x1000);
	snprintf(detail, sizeof(detail), "status %d", st);
	check(st == 0, "write_mapped", detail);
	st = request(0, SECTOR, IOVA_RING + O_READ, 0x1000);
	check(st == 0 && !memcmp(ring + O_READ, bufb, 0x1000), "read_back", NULL);

	/* 2. unmap the buffer; the memory stays ours and gets another pattern */
	check(dma_unmap(IOVA_B, 0x1000) == 0, "dma_unmap", NULL);
	memset(bufb, 'Z', 0x1000);

	/* 3. a descriptor that still points at it */
	st = request(1, SECTOR + 8, IOVA_B, 0x1000);
	snprintf(detail, sizeof(detail), "status %d (VIRTIO_BLK_S_IOERR is 1)", st);
	check(st == 1, "write_unmapped_refused", detail);

	/* 4. nothing of it reached the disk */
	memset(ring + O_READ, 0x55, 0x1000);
	st = request(0, SECTOR + 8, IOVA_RING + O_READ, 0x1000);
	check(st == 0 && ring[O_READ] != 'Z' && !memchr(ring + O_READ, 'Z', 0x1000), "unmapped_data_not_written",
	      NULL);
	/* and a read into the unmapped buffer is refused too */
	st = request(0, SECTOR, IOVA_B, 0x1000);
	snprintf(detail, sizeof(detail), "status %d", st);
	check(st == 1 && bufb[0] == 'Z', "read_into_unmapped_refused", detail);
	wr(&common, C_STATUS, 0, 1);	/* reset: the back-end's rings stop */
out:
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}

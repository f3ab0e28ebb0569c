/* SPDX-License-Identifier: MIT */
/*
 * The QEMU edu device as a DMA engine, driven from user space through its
 * VFIO device fd (QEMU hw/misc/edu.c, docs/specs/edu.rst): BAR0 registers 0x80 source,
 * 0x88 destination, 0x90 count, 0x98 command (bit 0 start/busy, bit 1
 * device-to-RAM); the device's own 4 KiB buffer is at device address 0x40000.
 * RAM addresses are IOVAs: they go through the emulated VT-d.
 *
 * Also how to get the device fd next to a real backend handle: for type1 the
 * test opens container and group itself (the library's handle wraps the
 * container); for iommufd it binds the cdev itself (the handle wraps the IOAS).
 * And how to observe IOMMU faults (guest_iommu() below): VT-d's DMAR fault
 * interrupt count in /proc/interrupts (exact: one fault record per blocked
 * edu DMA) or virtio-iommu's event-queue interrupts, and the kernel log's
 * fault lines (rate limited by the kernel, so a lower bound).
 */
#ifndef VIOMMU_VM_EDU_H
#define VIOMMU_VM_EDU_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/vfio.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <viommu/host.h>

#include "host/iommufd_uapi.h"

#define EDU_ID		0x00
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_CNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_CMD_START	0x1u
#define EDU_CMD_TO_RAM	0x2u
#define EDU_BUF		0x40000u
/* QEMU 7.2's edu stops on a DMA touching its buffer's last byte: stay at 2 KiB */
#define EDU_MAX_XFER	2048u

struct edu {
	int device_fd;
	int container_fd;	/* type1: ours; -1 for iommufd */
	int group_fd;
	int iommufd;		/* iommufd: ours; -1 for type1 */
	uint64_t bar0;		/* region offsets in the device fd */
	uint64_t config;
	struct viommu_host *host;	/* the library's handle on the same container/IOAS */
};

static inline int edu_region(int fd, unsigned index, uint64_t *off)
{
	struct vfio_region_info ri = { .argsz = sizeof(ri), .index = index };

	if (ioctl(fd, VFIO_DEVICE_GET_REGION_INFO, &ri))
		return -errno;
	*off = ri.offset;
	return 0;
}

static inline uint32_t edu_rd(const struct edu *e, uint32_t reg)
{
	uint32_t v = 0xffffffffu;

	if (pread(e->device_fd, &v, 4, (off_t)(e->bar0 + reg)) != 4)
		return 0xffffffffu;
	return v;
}

static inline int edu_wr(const struct edu *e, uint32_t reg, uint32_t v)
{
	return pwrite(e->device_fd, &v, 4, (off_t)(e->bar0 + reg)) == 4 ? 0 : -EIO;
}

/* vfio-pci leaves bus mastering off (vfio_pci_core_enable): set Memory and Bus Master. */
static inline int edu_enable(struct edu *e)
{
	uint16_t cmd;
	int rc;

	if ((rc = edu_region(e->device_fd, VFIO_PCI_BAR0_REGION_INDEX, &e->bar0)) ||
	    (rc = edu_region(e->device_fd, VFIO_PCI_CONFIG_REGION_INDEX, &e->config)))
		return rc;
	if (pread(e->device_fd, &cmd, 2, (off_t)(e->config + 4)) != 2)
		return -EIO;
	cmd |= 0x6;
	if (pwrite(e->device_fd, &cmd, 2, (off_t)(e->config + 4)) != 2)
		return -EIO;
	return edu_rd(e, EDU_ID) == 0x010000ed ? 0 : -ENODEV;
}

/*
 * VFIO type1 with the given semantics: our container and group, the device
 * fd, and the library's handle over the container.
 */
static inline int edu_open_type1(struct edu *e, const char *group, const char *bdf,
				 enum viommu_host_semantics sem)
{
	char path[64];

	memset(e, 0, sizeof(*e));
	e->iommufd = -1;
	e->container_fd = open("/dev/vfio/vfio", O_RDWR);
	snprintf(path, sizeof(path), "/dev/vfio/%s", group);
	e->group_fd = open(path, O_RDWR);
	if (e->container_fd < 0 || e->group_fd < 0)
		return -errno;
	if (ioctl(e->group_fd, VFIO_GROUP_SET_CONTAINER, &e->container_fd))
		return -errno;
	if (ioctl(e->container_fd, VFIO_SET_IOMMU,
		  sem == VIOMMU_HOST_TYPE1V1 ? VFIO_TYPE1_IOMMU : VFIO_TYPE1v2_IOMMU))
		return -errno;
	e->device_fd = ioctl(e->group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	if (e->device_fd < 0)
		return -errno;
	e->host = viommu_host_vfio_open_container(e->container_fd, sem);
	if (!e->host)
		return -errno;
	return edu_enable(e);
}

/* iommufd: bind the cdev, allocate an IOAS, attach, wrap the IOAS. */
static inline int edu_open_iommufd(struct edu *e, const char *cdev)
{
	memset(e, 0, sizeof(*e));
	e->container_fd = e->group_fd = -1;
	e->device_fd = open(cdev, O_RDWR);
	e->iommufd = open("/dev/iommu", O_RDWR);
	if (e->device_fd < 0 || e->iommufd < 0)
		return -errno;
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = e->iommufd };
	if (ioctl(e->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		return -errno;
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	if (ioctl(e->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		return -errno;
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = alloc.out_ioas_id };
	if (ioctl(e->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at))
		return -errno;
	e->host = viommu_host_iommufd_open_ioas(e->iommufd, alloc.out_ioas_id);
	if (!e->host)
		return -errno;
	/* the automatic HWPT the kernel wrote back: where dirty tracking acts */
	viommu_host_iommufd_set_hwpt(e->host, at.pt_id);
	return edu_enable(e);
}

static inline void edu_close(struct edu *e)
{
	viommu_host_free(e->host);
	e->host = NULL;
	if (e->device_fd > 0)
		close(e->device_fd);
	if (e->group_fd > 0)
		close(e->group_fd);
	if (e->container_fd > 0)
		close(e->container_fd);
	if (e->iommufd > 0)
		close(e->iommufd);
	e->device_fd = e->group_fd = e->container_fd = e->iommufd = -1;
}

/*
 * One DMA: @to_ram copies the device buffer (at @dev_off) to IOVA @iova,
 * otherwise IOVA to the device buffer. Waits for completion (about 100 ms of
 * virtual time). 0, or -ETIMEDOUT after 5 s.
 */
static inline int edu_dma(const struct edu *e, uint64_t iova, uint32_t dev_off, uint32_t len, bool to_ram)
{
	struct timespec ts = { 0, 2 * 1000 * 1000 };

	if (len > EDU_MAX_XFER)
		return -EINVAL;
	if (to_ram) {
		edu_wr(e, EDU_DMA_SRC, EDU_BUF + dev_off);
		edu_wr(e, EDU_DMA_DST, (uint32_t)iova);
	} else {
		edu_wr(e, EDU_DMA_SRC, (uint32_t)iova);
		edu_wr(e, EDU_DMA_DST, EDU_BUF + dev_off);
	}
	edu_wr(e, EDU_DMA_CNT, len);
	edu_wr(e, EDU_DMA_CMD, EDU_CMD_START | (to_ram ? EDU_CMD_TO_RAM : 0));
	for (int i = 0; i < 2500; i++) {
		if (!(edu_rd(e, EDU_DMA_CMD) & EDU_CMD_START))
			return 0;
		nanosleep(&ts, NULL);
	}
	return -ETIMEDOUT;
}

/*
 * The IOMMU the guest's kernel drives, found in sysfs, and what it
 * advertises: the values the tests' expectations are derived from.
 *  - VT-d (/sys/class/iommu/dmarN/intel-iommu/cap): a VFIO domain's page
 *    sizes are 4K plus 2M and 1G as CAP.SLLPS (bits 37:34) allows; its
 *    aperture ends at 2^gaw - 1, gaw = min(CAP.MGAW, the widest CAP.SAGAW
 *    width up to 57 bits) (drivers/iommu/intel/iommu.c: iommu_calculate_agaw,
 *    the domain's gaw and geometry.aperture_end). A blocked DMA raises the
 *    "DMAR" fault interrupt once per fault record and logs "DMAR: [DMA ...".
 *  - virtio-iommu (/sys/class/iommu/<its PCI device>, whose device link is
 *    the virtio device virtioN): page sizes = the device's
 *    page_size_mask, aperture = its input_range (drivers/iommu/virtio-iommu.c,
 *    viommu_probe / viommu_domain_finalise), read from the device's config
 *    through the virtio PCI configuration access capability (virtio 1.2
 *    section 4.1.4.9, VIRTIO_PCI_CAP_PCI_CFG), which needs no BAR mapping. A
 *    blocked DMA is reported as fault events on the event queue (the
 *    interrupts of the virtio device's queues, "virtioN-...", its config
 *    vector excluded) and logged "page fault from EP"; how many
 *    events one blocked DMA gives is the device's choice (QEMU reports one per
 *    failed access), so the tests ask for at least one.
 */
enum guest_iommu_kind { GUEST_IOMMU_NONE, GUEST_IOMMU_VTD, GUEST_IOMMU_VIRTIO };
struct guest_iommu {
	enum guest_iommu_kind kind;
	char name[64];			/* its /sys/class/iommu entry */
	uint64_t pgsizes;		/* page sizes of a VFIO domain on it */
	uint64_t last;			/* last IOVA of the domain aperture */
};

static inline int gi_read_hex(const char *path, uint64_t *v)
{
	FILE *f = fopen(path, "r");
	unsigned long long x;
	int ok;

	if (!f)
		return -errno;
	ok = fscanf(f, "%llx", &x) == 1;
	fclose(f);
	if (!ok)
		return -EINVAL;
	*v = x;
	return 0;
}

/* One dword of virtio BAR space through the PCI_CFG capability at @cap of config fd @fd. */
static inline int gi_virtio_cfg_read(int fd, unsigned cap, uint8_t bar, uint32_t off, uint32_t *v)
{
	uint32_t len = 4;

	if (pwrite(fd, &bar, 1, cap + 4) != 1 || pwrite(fd, &off, 4, cap + 8) != 4 ||
	    pwrite(fd, &len, 4, cap + 12) != 4 || pread(fd, v, 4, cap + 16) != 4)
		return -EIO;
	return 0;
}

static inline int gi_virtio(struct guest_iommu *gi, const char *pcidir)
{
	char path[600];
	uint8_t cfg[256];
	unsigned pos, dev_cap = 0, pci_cap = 0, guard = 0;
	uint32_t lo, hi, dev_off = 0;
	uint64_t mask, end;
	int fd, rc = -ENODEV;

	snprintf(path, sizeof(path), "%s/config", pcidir);
	fd = open(path, O_RDWR);
	if (fd < 0)
		return -errno;
	if (pread(fd, cfg, sizeof(cfg), 0) != (ssize_t)sizeof(cfg) || !(cfg[6] & 0x10))
		goto out;
	for (pos = cfg[0x34] & 0xfc; pos && pos < 0xfc && guard++ < 48; pos = cfg[pos + 1] & 0xfc) {
		if (cfg[pos] != 0x09)		/* vendor-specific: a virtio_pci_cap */
			continue;
		if (cfg[pos + 3] == 4 && !dev_cap) {	/* VIRTIO_PCI_CAP_DEVICE_CFG */
			dev_cap = pos;
			memcpy(&dev_off, cfg + pos + 8, 4);
		} else if (cfg[pos + 3] == 5) {		/* VIRTIO_PCI_CAP_PCI_CFG */
			pci_cap = pos;
		}
	}
	if (!dev_cap || !pci_cap)
		goto out;
	/* struct virtio_iommu_config: le64 page_size_mask; le64 input_range start, end */
	if ((rc = gi_virtio_cfg_read(fd, pci_cap, cfg[dev_cap + 4], dev_off, &lo)) ||
	    (rc = gi_virtio_cfg_read(fd, pci_cap, cfg[dev_cap + 4], dev_off + 4, &hi)))
		goto out;
	mask = (uint64_t)hi << 32 | lo;
	if ((rc = gi_virtio_cfg_read(fd, pci_cap, cfg[dev_cap + 4], dev_off + 16, &lo)) ||
	    (rc = gi_virtio_cfg_read(fd, pci_cap, cfg[dev_cap + 4], dev_off + 20, &hi)))
		goto out;
	end = (uint64_t)hi << 32 | lo;
	gi->kind = GUEST_IOMMU_VIRTIO;
	gi->pgsizes = mask;
	gi->last = end;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Fill *gi from sysfs (once; later calls return the same). 0 or a negative errno. */
static inline int guest_iommu(struct guest_iommu *gi)
{
	static struct guest_iommu found;
	static int state = 1;		/* 1: not probed yet; else the result */
	char path[512], real[512];
	uint64_t cap = 0;

	if (state == 1) {
		state = -ENODEV;
		for (int i = 0; i < 8 && state; i++) {
			snprintf(path, sizeof(path), "/sys/class/iommu/dmar%d/intel-iommu/cap", i);
			if (gi_read_hex(path, &cap) == 0) {
				unsigned mgaw = ((cap >> 16) & 0x3f) + 1, sagaw = (cap >> 8) & 0x1f, gaw = 0;

				for (unsigned agaw = 0; agaw <= 3; agaw++)
					if (sagaw & (1u << agaw))
						gaw = 30 + 9 * agaw;
				if (gaw > mgaw)
					gaw = mgaw;
				found.kind = GUEST_IOMMU_VTD;
				snprintf(found.name, sizeof(found.name), "dmar%d", i);
				found.pgsizes = 0x1000 | ((cap >> 34) & 1 ? 0x200000 : 0) |
						((cap >> 35) & 1 ? 0x40000000 : 0);
				found.last = gaw >= 64 ? UINT64_MAX : (1ull << gaw) - 1;
				state = gaw ? 0 : -EINVAL;
			}
		}
		/* virtio-iommu names its entry after the PCI device
		 * (virtio_bus_name()); its device link is the virtio device */
		DIR *d = state ? opendir("/sys/class/iommu") : NULL;
		struct dirent *de;

		while (d && state && (de = readdir(d))) {
			char *slash;

			if (de->d_name[0] == '.' || !strncmp(de->d_name, "dmar", 4))
				continue;
			snprintf(path, sizeof(path), "/sys/class/iommu/%.200s/device", de->d_name);
			if (!realpath(path, real))
				continue;
			slash = strrchr(real, '/');	/* .../0000:00:03.0/virtioN: the PCI device is the parent */
			if (!slash || strncmp(slash + 1, "virtio", 6))
				continue;
			snprintf(found.name, sizeof(found.name), "%.60s", slash + 1);
			*slash = 0;
			state = gi_virtio(&found, real);
		}
		if (d)
			closedir(d);
	}
	if (state == 0)
		*gi = found;
	return state;
}

static inline const char *guest_iommu_kind_name(enum guest_iommu_kind k)
{
	return k == GUEST_IOMMU_VTD ? "vtd" : k == GUEST_IOMMU_VIRTIO ? "virtio-iommu" : "none";
}

/*
 * Fault interrupts of the guest's IOMMU so far (sum over CPUs of its lines in
 * /proc/interrupts: "DMAR" for VT-d, the virtio device's queue vectors for
 * virtio-iommu).
 */
static inline uint64_t iommu_fault_irqs(void)
{
	struct guest_iommu gi;
	char key[80];
	FILE *f;
	char line[512];
	uint64_t total = 0;

	if (guest_iommu(&gi))
		return 0;
	if (gi.kind == GUEST_IOMMU_VTD)
		snprintf(key, sizeof(key), "DMAR");
	else
		snprintf(key, sizeof(key), "%s-", gi.name);	/* its queues' vectors, not -config */
	f = fopen("/proc/interrupts", "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		char *p;
		if (gi.kind == GUEST_IOMMU_VTD) {
			if (!strstr(line, key))
				continue;
		} else {
			/* the last word names the handler: virtioN (INTx) or virtioN-QUEUE (MSI-X) */
			char *w = line + strlen(line);

			while (w > line && (w[-1] == '\n' || w[-1] == ' '))
				*--w = 0;
			while (w > line && w[-1] != ' ')
				w--;
			if (!(strcmp(w, gi.name) == 0 || (strncmp(w, key, strlen(key)) == 0 && strcmp(w + strlen(key), "config"))))
				continue;
		}
		p = strchr(line, ':');
		if (!p)
			continue;
		p++;
		for (;;) {
			char *end;
			unsigned long long v = strtoull(p, &end, 10);
			if (end == p)
				break;
			total += v;
			p = end;
		}
	}
	fclose(f);
	return total;
}

/*
 * Wait until the fault interrupt count stops moving (unchanged over 3
 * polls 200 ms apart; at most 10 s): virtio-iommu's fault events of a
 * blocked DMA are handled by the guest after the DMA has completed, so a
 * test that counts faults from now on must not see the earlier ones.
 */
static inline uint64_t iommu_faults_settle(void)
{
	const struct timespec ts = { 0, 200 * 1000 * 1000 };
	uint64_t last = iommu_fault_irqs(), now;
	int same = 0;

	for (int i = 0; i < 50 && same < 3; i++) {
		nanosleep(&ts, NULL);
		now = iommu_fault_irqs();
		same = now == last ? same + 1 : 0;
		last = now;
	}
	return last;
}

/*
 * Kernel log lines reporting an IOMMU fault since the last call on @fd
 * (opened with kmsg_open): "DMAR: [DMA" (VT-d), "page fault from EP"
 * (virtio-iommu). The kernel rate-limits them: a lower bound.
 */
static inline int kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

static inline unsigned kmsg_iommu_faults(int fd, bool echo)
{
	char rec[2048];
	unsigned n = 0;
	ssize_t r;

	if (fd < 0)
		return 0;
	while ((r = read(fd, rec, sizeof(rec) - 1)) > 0 || (r < 0 && errno == EPIPE)) {
		if (r <= 0)
			continue;
		rec[r] = 0;
		if (strstr(rec, "DMAR: [DMA") || strstr(rec, "page fault from EP")) {
			n++;
			if (echo) {
				char *msg = strchr(rec, ';');
				printf("kmsg: %s", msg ? msg + 1 : rec);
			}
		}
	}
	return n;
}

/* "VmLck:" / "VmPin:" of /proc/self/status, in 4 KiB pages. */
static inline uint64_t status_pages(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	unsigned long long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, strlen(key)) && sscanf(line + strlen(key), " %llu", &kb) == 1)
			break;
	fclose(f);
	return kb / 4;
}

#endif

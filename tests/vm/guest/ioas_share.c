// SPDX-License-Identifier: MIT
/*
 * Two devices, one guest memory (issue 15): what it costs to give both
 * devices the same N regions, in pins and host calls, measured on the real
 * kernel and compared with the simulator doing the same.
 *
 *  type1   one container, both groups in it    N maps, the pages pinned once
 *          two containers                      2N maps, pinned twice
 *  iommufd one IOAS, both devices attached     N maps, pinned once
 *          two IOASes, IOMMU_IOAS_COPY of all  N maps + 1 copy, pinned once
 *          two IOASes, one copy per area       N maps + N copies, pinned once
 *          two IOASes, mapped independently    2N maps, pinned twice
 *
 * Pins are read from /proc/self/status (type1 accounts in locked_vm, VmLck;
 * iommufd in pinned_vm, VmPin); the simulator's come from
 * viommu_host_sim_get_stats. After each setup both devices copy a buffer
 * through every region (RAM -> device -> RAM) and the bytes are checked, so
 * the counts are of working mappings. Lines:
 *   pins iommufd copy_all kernel=128 sim=128 calls=9 dma=ok
 */
#include <sys/mman.h>

#include "edu.h"
#include "test.h"

#define NREG	8
#define REG	0x10000ull		/* 64 KiB each: 16 pages */
#define IOVA0	(16ull << 20)		/* below edu's 28-bit DMA mask */
#define PAGES	(NREG * REG / 0x1000)

static uint8_t *mem;			/* NREG * REG, 2 MiB aligned */

/* Device @e copies region r's first 2 KiB to its second 2 KiB through the IOMMU. */
static bool dma_all(const struct edu *e, uint32_t seed)
{
	for (int r = 0; r < NREG; r++) {
		uint8_t *src = mem + r * REG, *dst = src + EDU_MAX_XFER;

		for (uint32_t i = 0; i < EDU_MAX_XFER; i++)
			src[i] = (uint8_t)(seed * 31 + (uint32_t)r * 7 + i);
		memset(dst, 0, EDU_MAX_XFER);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (edu_dma(e, IOVA0 + r * REG, 0, EDU_MAX_XFER, false) ||
		    edu_dma(e, IOVA0 + r * REG + EDU_MAX_XFER, 0, EDU_MAX_XFER, true))
			return false;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (memcmp(src, dst, EDU_MAX_XFER))
			return false;
	}
	return true;
}

static int map_all(struct viommu_host *h, unsigned *calls)
{
	for (int r = 0; r < NREG; r++) {
		int rc = viommu_host_map(h, IOVA0 + r * REG, REG, (uint64_t)(uintptr_t)(mem + r * REG), VIOMMU_PERM_RW);

		(*calls)++;
		if (rc)
			return rc;
	}
	return 0;
}

static void report(const char *sem, const char *name, uint64_t kpins, uint64_t spins, unsigned kcalls,
		   unsigned scalls, bool dma, uint64_t want)
{
	bool ok = kpins == spins && kcalls == scalls && dma && kpins == want;

	printf("pins %s %s kernel=%llu sim=%llu calls=%u/%u dma=%s %s\n", sem, name, (unsigned long long)kpins,
	       (unsigned long long)spins, kcalls, scalls, dma ? "ok" : "FAIL", ok ? "ok" : "MISMATCH");
	T_OK(ok);
}

static uint64_t sim_pins(struct viommu_host *h)
{
	struct viommu_host_sim_stats st = { .sz = sizeof(st) };

	return viommu_host_sim_get_stats(h, &st) ? UINT64_MAX : st.pinned_pages;
}

static struct viommu_host *sim(enum viommu_host_semantics sem, unsigned flags)
{
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = sem, .flags = flags };

	return viommu_host_sim_new(&o);
}

/* ---- type1: groups in containers ---- */

static int open_group(const char *g)
{
	char path[64];

	snprintf(path, sizeof(path), "/dev/vfio/%s", g);
	return open(path, O_RDWR);
}

static int type1_device(struct edu *e, int group_fd, const char *bdf)
{
	e->device_fd = ioctl(group_fd, VFIO_GROUP_GET_DEVICE_FD, bdf);
	return e->device_fd < 0 ? -errno : edu_enable(e);
}

static void run_type1(const char *g1, const char *b1, const char *g2, const char *b2)
{
	struct edu d1 = { .device_fd = -1 }, d2 = { .device_fd = -1 };
	int c1 = open("/dev/vfio/vfio", O_RDWR), c2 = open("/dev/vfio/vfio", O_RDWR);
	int f1 = open_group(g1), f2 = open_group(g2);
	uint64_t base = status_pages("VmLck:");
	unsigned kc = 0, sc = 0;
	struct viommu_host *h, *s1, *s2;
	bool dma;

	T_OK(c1 >= 0 && c2 >= 0 && f1 >= 0 && f2 >= 0);
	/* one container, both groups */
	T_EQ(ioctl(f1, VFIO_GROUP_SET_CONTAINER, &c1), 0);
	T_EQ(ioctl(f2, VFIO_GROUP_SET_CONTAINER, &c1), 0);
	T_EQ(ioctl(c1, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	T_EQ(type1_device(&d1, f1, b1), 0);
	T_EQ(type1_device(&d2, f2, b2), 0);
	h = viommu_host_vfio_open_container(c1, VIOMMU_HOST_TYPE1V2);
	T_OK(h != NULL);
	if (!h)
		return;
	T_EQ(map_all(h, &kc), 0);
	s1 = sim(VIOMMU_HOST_TYPE1V2, 0);
	T_EQ(map_all(s1, &sc), 0);
	dma = dma_all(&d1, 1) && dma_all(&d2, 2);
	report("type1v2", "one_container", status_pages("VmLck:") - base, sim_pins(s1), kc, sc, dma, PAGES);
	T_EQ(viommu_host_unmap_all(h, NULL), 0);
	T_EQ(status_pages("VmLck:"), base);
	viommu_host_free(s1);
	viommu_host_free(h);
	close(d2.device_fd);
	d2.device_fd = -1;
	/* group 2 moves to a container of its own */
	T_EQ(ioctl(f2, VFIO_GROUP_UNSET_CONTAINER), 0);
	T_EQ(ioctl(f2, VFIO_GROUP_SET_CONTAINER, &c2), 0);
	T_EQ(ioctl(c2, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU), 0);
	T_EQ(type1_device(&d2, f2, b2), 0);
	h = viommu_host_vfio_open_container(c1, VIOMMU_HOST_TYPE1V2);
	{
		struct viommu_host *h2 = viommu_host_vfio_open_container(c2, VIOMMU_HOST_TYPE1V2);

		T_OK(h && h2);
		if (h && h2) {
			kc = sc = 0;
			T_EQ(map_all(h, &kc), 0);
			T_EQ(map_all(h2, &kc), 0);
			s1 = sim(VIOMMU_HOST_TYPE1V2, 0);
			s2 = sim(VIOMMU_HOST_TYPE1V2, 0);
			T_EQ(map_all(s1, &sc), 0);
			T_EQ(map_all(s2, &sc), 0);
			dma = dma_all(&d1, 3) && dma_all(&d2, 4);
			report("type1v2", "two_containers", status_pages("VmLck:") - base, sim_pins(s1) + sim_pins(s2), kc,
			       sc, dma, 2 * PAGES);
			viommu_host_free(s1);
			viommu_host_free(s2);
			T_EQ(viommu_host_unmap_all(h, NULL), 0);
			T_EQ(viommu_host_unmap_all(h2, NULL), 0);
		}
		viommu_host_free(h2);
		viommu_host_free(h);
	}
	close(d1.device_fd);
	close(d2.device_fd);
	close(f1);
	close(f2);
	close(c1);
	close(c2);
}

/* ---- iommufd: devices in IOASes ---- */

static int attach(int dev_fd, uint32_t pt)
{
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at), .pt_id = pt };

	return ioctl(dev_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) ? -errno : 0;
}

static int detach(int dev_fd)
{
	struct vfio_device_detach_iommufd_pt d = { .argsz = sizeof(d) };

	return ioctl(dev_fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &d) ? -errno : 0;
}

enum share { ONE_IOAS, COPY_ALL, COPY_EACH, INDEPENDENT };

/* Both devices on @a / @b (simulated or real IOASes), by @how; returns the calls made. */
static int share(struct viommu_host *a, struct viommu_host *b, enum share how, unsigned *calls)
{
	int rc = map_all(a, calls);

	if (rc || how == ONE_IOAS)
		return rc;
	if (how == INDEPENDENT)
		return map_all(b, calls);
	if (how == COPY_ALL) {
		uint64_t dst = IOVA0;

		(*calls)++;
		return viommu_host_ioas_copy(b, &dst, a, IOVA0, NREG * REG, VIOMMU_PERM_RW, 0);
	}
	for (int r = 0; r < NREG && !rc; r++) {
		uint64_t dst = IOVA0 + r * REG;

		(*calls)++;
		rc = viommu_host_ioas_copy(b, &dst, a, IOVA0 + r * REG, REG, VIOMMU_PERM_RW, 0);
	}
	return rc;
}

static void run_iommufd(const char *cdev1, const char *cdev2)
{
	static const char *const names[] = { "one_ioas", "copy_all", "copy_each", "independent" };
	struct edu d1 = { .device_fd = -1 }, d2 = { .device_fd = -1 };
	int fd = open("/dev/iommu", O_RDWR);
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = fd };
	uint64_t base = status_pages("VmPin:");

	d1.device_fd = open(cdev1, O_RDWR);
	d2.device_fd = open(cdev2, O_RDWR);
	T_OK(fd >= 0 && d1.device_fd >= 0 && d2.device_fd >= 0);
	T_EQ(ioctl(d1.device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind), 0);
	T_EQ(ioctl(d2.device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind), 0);
	for (enum share how = ONE_IOAS; how <= INDEPENDENT; how++) {
		struct iommu_ioas_alloc al = { .size = sizeof(al) };
		struct viommu_host *a, *b, *sa, *sb;
		unsigned kc = 0, sc = 0;
		bool dma;

		T_EQ(ioctl(fd, IOMMU_IOAS_ALLOC, &al), 0);
		a = viommu_host_iommufd_open_ioas(fd, al.out_ioas_id);
		T_OK(a != NULL);
		if (!a)
			break;
		b = how == ONE_IOAS ? a : viommu_host_ioas_alloc(a);
		T_OK(b != NULL);
		T_EQ(attach(d1.device_fd, viommu_host_iommufd_ioas_id(a)), 0);
		T_EQ(attach(d2.device_fd, viommu_host_iommufd_ioas_id(b)), 0);
		if (how == ONE_IOAS) {	/* BAR and bus mastering, once */
			T_EQ(edu_enable(&d1), 0);
			T_EQ(edu_enable(&d2), 0);
		}
		T_EQ(share(a, b, how, &kc), 0);
		sa = sim(VIOMMU_HOST_IOMMUFD, 0);
		sb = how == ONE_IOAS ? sa : viommu_host_ioas_alloc(sa);
		if (sb != sa)
			T_EQ(viommu_host_sim_attach(sb), 0);
		T_EQ(share(sa, sb, how, &sc), 0);
		dma = dma_all(&d1, 10 + how) && dma_all(&d2, 20 + how);
		report("iommufd", names[how], status_pages("VmPin:") - base, sim_pins(sa), kc, sc, dma,
		       how == INDEPENDENT ? 2 * PAGES : PAGES);
		T_EQ(detach(d1.device_fd), 0);
		T_EQ(detach(d2.device_fd), 0);
		if (b != a)
			viommu_host_free(b);	/* destroys its IOAS: its areas unpin */
		viommu_host_free(a);
		if (sb != sa)
			viommu_host_free(sb);
		viommu_host_free(sa);
		{
			struct iommu_destroy d = { .size = sizeof(d), .id = al.out_ioas_id };

			T_EQ(ioctl(fd, IOMMU_DESTROY, &d), 0);
		}
		T_EQ(status_pages("VmPin:"), base);
	}
	close(d1.device_fd);
	close(d2.device_fd);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *kernel = argc > 1 ? argv[1] : "stock";
	const char *g1 = getenv("VIOMMU_VM_GROUP"), *g2 = getenv("VIOMMU_VM_GROUP2");
	const char *b1 = getenv("VIOMMU_VM_BDF"), *b2 = getenv("VIOMMU_VM_BDF2");
	const char *c1 = getenv("VIOMMU_VM_CDEV"), *c2 = getenv("VIOMMU_VM_CDEV2");
	void *p;

	setvbuf(stdout, NULL, _IOLBF, 0);
	T_OK(g1 && g2 && b1 && b2);
	if (!g1 || !g2 || !b1 || !b2)
		return t_done();
	p = mmap(NULL, NREG * REG + 0x200000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_OK(p != MAP_FAILED);
	if (p == MAP_FAILED)
		return t_done();
	mem = (uint8_t *)(((uintptr_t)p + 0x1fffff) & ~(uintptr_t)0x1fffff);
	memset(mem, 0x11, NREG * REG);
	run_type1(g1, b1, g2, b2);
	if (!strcmp(kernel, "iommufd")) {
		T_OK(c1 && c2);
		if (c1 && c2)
			run_iommufd(c1, c2);
	}
	return t_done();
}

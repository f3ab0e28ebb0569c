// SPDX-License-Identifier: MIT
/*
 * iommufd over the real IOAS ioctls, with the device bound and attached
 * through its VFIO cdev. The kernel decides every errno.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util/compiler.h"
#include "host/host_internal.h"
#include "host/iommufd_uapi.h"

_Static_assert(sizeof(struct iommu_ioas_map) == 40, "iommu_ioas_map layout");
_Static_assert(sizeof(struct iommu_ioas_unmap) == 24, "iommu_ioas_unmap layout");
_Static_assert(sizeof(struct iommu_ioas_iova_ranges) == 32, "iommu_ioas_iova_ranges layout");

/*
 * One IOAS. Invariants: iommufd is open and ioas_id names an IOAS in it;
 * device_fd (when >= 0) is bound to iommufd and attached to the IOAS. No
 * mutable state after open: concurrent calls are serialised by the kernel
 * (iopt->iova_rwsem).
 */
struct vi_host_iommufd {
	struct viommu_host base;
	int iommufd;
	int device_fd;		/* -1 when opened from an existing IOAS */
	uint32_t ioas_id;
	bool own_ioas;
};

static struct vi_host_iommufd *to_ifd(struct viommu_host *h)
{
	return vi_container_of(h, struct vi_host_iommufd, base);
}

static uint32_t map_flags(unsigned prot)
{
	return ((prot & VIOMMU_HOST_PROT_READ) ? IOMMU_IOAS_MAP_READABLE : 0) |
	       ((prot & VIOMMU_HOST_PROT_WRITE) ? IOMMU_IOAS_MAP_WRITEABLE : 0);
}

static int ifd_map(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | map_flags(prot),
		.ioas_id = to_ifd(h)->ioas_id,
		.user_va = vaddr,
		.length = length,
		.iova = iova,
	};

	return ioctl(to_ifd(h)->iommufd, IOMMU_IOAS_MAP, &m) ? -errno : 0;
}

static int ifd_map_auto(struct viommu_host *h, uint64_t vaddr, uint64_t length, unsigned prot, uint64_t *iova)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = map_flags(prot),
		.ioas_id = to_ifd(h)->ioas_id,
		.user_va = vaddr,
		.length = length,
	};

	if (ioctl(to_ifd(h)->iommufd, IOMMU_IOAS_MAP, &m))
		return -errno;
	*iova = m.iova;
	return 0;
}

static int ifd_unmap(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags, uint64_t *unmapped)
{
	struct iommu_ioas_unmap u = {
		.size = sizeof(u),
		.ioas_id = to_ifd(h)->ioas_id,
		.iova = iova,
		.length = length,
	};

	if (ioctl(to_ifd(h)->iommufd, IOMMU_IOAS_UNMAP, &u))
		return -errno;	/* length is not written back on failure */
	*unmapped = u.length;
	return 0;
}

/* IOMMU_IOAS_IOVA_RANGES: the kernel already has the EMSGSIZE contract. */
static int ifd_ranges_raw(struct vi_host_iommufd *f, struct viommu_host_iova_range *ranges, uint32_t *num,
			  uint64_t *alignment)
{
	struct iommu_iova_range *buf = NULL;
	struct iommu_ioas_iova_ranges r = {
		.size = sizeof(r),
		.ioas_id = f->ioas_id,
		.num_iovas = *num,
	};
	int ret = 0;

	if (*num) {
		buf = calloc(*num, sizeof(*buf));
		if (!buf)
			return -ENOMEM;
		r.allowed_iovas = (uintptr_t)buf;
	}
	if (ioctl(f->iommufd, IOMMU_IOAS_IOVA_RANGES, &r))
		ret = -errno;
	if (ret == 0 || ret == -EMSGSIZE) {
		for (uint32_t i = 0; i < *num && i < r.num_iovas; i++)
			ranges[i] = (struct viommu_host_iova_range){ buf[i].start, buf[i].last };
		*num = r.num_iovas;
		*alignment = r.out_iova_alignment;
	}
	free(buf);
	return ret;
}

static int ifd_iova_ranges(struct viommu_host *h, struct viommu_host_iova_range *ranges, uint32_t *num,
			   uint64_t *alignment)
{
	return ifd_ranges_raw(to_ifd(h), ranges, num, alignment);
}

static int ifd_get_caps(struct viommu_host *h, struct viommu_host_caps *caps)
{
	uint32_t num = VIOMMU_HOST_CAPS_MAX_RANGES;
	uint64_t align = 0;
	int ret = ifd_ranges_raw(to_ifd(h), caps->ranges, &num, &align);

	if (ret && ret != -EMSGSIZE)
		return ret;
	caps->kind = VIOMMU_HOST_KIND_IOMMUFD;
	caps->semantics = VIOMMU_HOST_IOMMUFD;
	caps->flags = VIOMMU_HOST_CAP_UNMAP_ALL | VIOMMU_HOST_CAP_AUTO_IOVA;
	if (ret == -EMSGSIZE) {
		caps->flags |= VIOMMU_HOST_CAP_RANGES_TRUNCATED;
		num = VIOMMU_HOST_CAPS_MAX_RANGES;
	}
	caps->nranges = num;
	caps->iova_alignment = align;
	/* the IOAS exposes only its alignment, not the domains' page sizes */
	caps->pgsize_bitmap = align;
	caps->dma_avail = UINT64_MAX;
	caps->max_mappings = UINT64_MAX;
	return 0;
}

static void ifd_free(struct viommu_host *h)
{
	struct vi_host_iommufd *f = to_ifd(h);

	/* closing the device unbinds (and detaches) it */
	if (f->device_fd >= 0)
		close(f->device_fd);
	if (f->own_ioas) {
		struct iommu_destroy d = { .size = sizeof(d), .id = f->ioas_id };

		(void)ioctl(f->iommufd, IOMMU_DESTROY, &d);
	}
	if (f->iommufd >= 0)
		close(f->iommufd);
	free(f);
}

static const struct vi_host_ops vi_iommufd_ops = {
	.map = ifd_map,
	.map_auto = ifd_map_auto,
	.unmap = ifd_unmap,
	.get_caps = ifd_get_caps,
	.iova_ranges = ifd_iova_ranges,
	.free = ifd_free,
};

static struct vi_host_iommufd *ifd_alloc(void)
{
	struct vi_host_iommufd *f = calloc(1, sizeof(*f));

	if (!f)
		return NULL;
	f->base.ops = &vi_iommufd_ops;
	f->base.kind = VIOMMU_HOST_KIND_IOMMUFD;
	f->base.semantics = VIOMMU_HOST_IOMMUFD;
	f->iommufd = -1;
	f->device_fd = -1;
	return f;
}

struct viommu_host *viommu_host_iommufd_open_ioas(int iommufd, uint32_t ioas_id)
{
	struct vi_host_iommufd *f;
	uint32_t num = 0;
	uint64_t align;
	int ret;

	if (iommufd < 0)
		return vi_null(EINVAL);
	f = ifd_alloc();
	if (!f)
		return vi_null(ENOMEM);
	f->ioas_id = ioas_id;
	f->iommufd = fcntl(iommufd, F_DUPFD_CLOEXEC, 0);
	ret = f->iommufd < 0 ? -errno : ifd_ranges_raw(f, NULL, &num, &align);
	if (ret == -EMSGSIZE)
		ret = 0;	/* the IOAS exists and answers */
	if (ret) {
		ifd_free(&f->base);
		return vi_null(-ret);
	}
	return &f->base;
}

struct viommu_host *viommu_host_iommufd_open(const char *cdev_path)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vi_host_iommufd *f;
	int ret;

	if (!cdev_path || !*cdev_path)
		return vi_null(EINVAL);
	f = ifd_alloc();
	if (!f)
		return vi_null(ENOMEM);
	/* QEMU's order (iommufd_cdev_connect_and_bind): device, iommufd, bind, IOAS, attach */
	f->device_fd = open(cdev_path, O_RDWR | O_CLOEXEC);
	if (f->device_fd < 0)
		goto fail_errno;
	f->iommufd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (f->iommufd < 0)
		goto fail_errno;
	bind.iommufd = f->iommufd;
	if (ioctl(f->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		goto fail_errno;
	if (ioctl(f->iommufd, IOMMU_IOAS_ALLOC, &alloc))
		goto fail_errno;
	f->ioas_id = alloc.out_ioas_id;
	f->own_ioas = true;
	attach.pt_id = f->ioas_id;
	if (ioctl(f->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		goto fail_errno;
	return &f->base;

fail_errno:
	ret = errno;
	ifd_free(&f->base);
	return vi_null(ret);
}

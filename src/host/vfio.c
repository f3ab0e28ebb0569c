// SPDX-License-Identifier: MIT
/*
 * VFIO type1 over the real container and group ioctls. The kernel decides
 * every errno; this file only marshals arguments and decodes GET_INFO.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "util/compiler.h"
#include "host/host_internal.h"
#include "host/vfio_caps.h"

_Static_assert(sizeof(struct vfio_iommu_type1_info) == 24, "GET_INFO header layout");
_Static_assert(offsetof(struct vfio_iommu_type1_info, cap_offset) == 16, "cap_offset");

/*
 * One container. Invariants: container_fd is open with its IOMMU set; the
 * range list was read once at open (the kernel's list changes only when a
 * group is attached or detached, which this backend never does). No mutable
 * state after open, so map/unmap may run concurrently: the kernel serialises
 * them under the container's iommu->lock.
 */
struct vi_host_vfio {
	struct viommu_host base;
	int container_fd;
	int group_fd;			/* -1 when opened from a container fd */
	uint64_t pgsizes;
	bool has_dma_avail;
	struct viommu_host_iova_range *ranges;
	uint32_t nranges;
};

static struct vi_host_vfio *to_vfio(struct viommu_host *h)
{
	return vi_container_of(h, struct vi_host_vfio, base);
}

static int vfio_map(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = ((prot & VIOMMU_HOST_PROT_READ) ? VFIO_DMA_MAP_FLAG_READ : 0) |
			 ((prot & VIOMMU_HOST_PROT_WRITE) ? VFIO_DMA_MAP_FLAG_WRITE : 0),
		.vaddr = vaddr,
		.iova = iova,
		.size = length,
	};

	return ioctl(to_vfio(h)->container_fd, VFIO_IOMMU_MAP_DMA, &m) ? -errno : 0;
}

static int vfio_unmap(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags, uint64_t *unmapped)
{
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u),
		.flags = (flags & VIOMMU_HOST_UNMAP_ALL) ? VFIO_DMA_UNMAP_FLAG_ALL : 0,
		.iova = iova,
		.size = length,
	};

	if (ioctl(to_vfio(h)->container_fd, VFIO_IOMMU_UNMAP_DMA, &u))
		return -errno;	/* the kernel did not write size back */
	*unmapped = u.size;
	return 0;
}

/*
 * VFIO_IOMMU_GET_INFO: the kernel reports the size it needs in argsz when
 * the capabilities do not fit, so grow and ask again (bounded).
 */
static int vfio_read_info(int fd, void **bufp, size_t *lenp)
{
	size_t len = sizeof(struct vfio_iommu_type1_info);
	void *buf = NULL;

	for (int tries = 0; tries < 8; tries++) {
		struct vfio_iommu_type1_info *info;
		void *nb = realloc(buf, len);

		if (!nb) {
			free(buf);
			return -ENOMEM;
		}
		buf = nb;
		memset(buf, 0, len);
		info = buf;
		info->argsz = (uint32_t)len;
		if (ioctl(fd, VFIO_IOMMU_GET_INFO, info)) {
			int err = errno;

			free(buf);
			return -err;
		}
		if (info->argsz <= len) {
			*bufp = buf;
			*lenp = len;
			return 0;
		}
		len = info->argsz;
	}
	free(buf);
	return -EBADMSG;
}

static int vfio_load_info(struct vi_host_vfio *v)
{
	struct vi_vfio_info info;
	void *buf;
	size_t len;
	int ret = vfio_read_info(v->container_fd, &buf, &len);

	if (ret)
		return ret;
	v->ranges = calloc(len / 16 + 1, sizeof(*v->ranges));
	if (!v->ranges) {
		free(buf);
		return -ENOMEM;
	}
	ret = vi_vfio_parse_info(buf, len, &info, v->ranges, (uint32_t)(len / 16 + 1));
	free(buf);
	if (ret)
		return ret;
	v->pgsizes = info.pgsizes;
	if (!info.has_pgsizes || !v->pgsizes)
		return -EBADMSG;
	v->has_dma_avail = info.has_dma_avail;
	if (info.has_ranges) {
		v->nranges = info.nranges;
	} else {
		/* no IOVA_RANGE capability (pre-5.4 kernel): the whole space */
		v->ranges[0] = (struct viommu_host_iova_range){ 0, UINT64_MAX };
		v->nranges = 1;
	}
	return 0;
}

static int vfio_get_caps(struct viommu_host *h, struct viommu_host_caps *caps)
{
	struct vi_host_vfio *v = to_vfio(h);
	struct vi_vfio_info info;
	void *buf;
	size_t len;
	int ret;

	caps->kind = VIOMMU_HOST_KIND_VFIO;
	caps->semantics = h->semantics;
	caps->pgsize_bitmap = v->pgsizes;
	caps->iova_alignment = UINT64_C(1) << vi_ffs64(v->pgsizes);
	caps->flags = VIOMMU_HOST_CAP_UNMAP_ALL;
	caps->dma_avail = UINT64_MAX;
	caps->max_mappings = UINT64_MAX;
	vi_host_caps_set_ranges(caps, v->ranges, v->nranges);
	if (!v->has_dma_avail)
		return 0;
	/* DMA_AVAIL changes with every map: read it fresh. */
	ret = vfio_read_info(v->container_fd, &buf, &len);
	if (ret)
		return ret;
	ret = vi_vfio_parse_info(buf, len, &info, NULL, 0);
	free(buf);
	if (ret)
		return ret;
	if (info.has_dma_avail) {
		caps->flags |= VIOMMU_HOST_CAP_DMA_AVAIL;
		caps->dma_avail = info.dma_avail;
	}
	return 0;
}

static int vfio_iova_ranges(struct viommu_host *h, struct viommu_host_iova_range *ranges, uint32_t *num,
			    uint64_t *alignment)
{
	struct vi_host_vfio *v = to_vfio(h);

	*alignment = UINT64_C(1) << vi_ffs64(v->pgsizes);
	return vi_host_copy_ranges(v->ranges, v->nranges, ranges, num);
}

static void vfio_free(struct viommu_host *h)
{
	struct vi_host_vfio *v = to_vfio(h);

	if (v->container_fd >= 0)
		close(v->container_fd);
	if (v->group_fd >= 0)
		close(v->group_fd);
	free(v->ranges);
	free(v);
}

static const struct vi_host_ops vi_vfio_ops = {
	.map = vfio_map,
	.unmap = vfio_unmap,
	.get_caps = vfio_get_caps,
	.iova_ranges = vfio_iova_ranges,
	.free = vfio_free,
};

static bool type1_semantics(enum viommu_host_semantics s)
{
	return s == VIOMMU_HOST_TYPE1V2 || s == VIOMMU_HOST_TYPE1V1;
}

static struct vi_host_vfio *vfio_alloc(enum viommu_host_semantics semantics)
{
	struct vi_host_vfio *v = calloc(1, sizeof(*v));

	if (!v)
		return NULL;
	v->base.ops = &vi_vfio_ops;
	v->base.kind = VIOMMU_HOST_KIND_VFIO;
	v->base.semantics = semantics;
	v->container_fd = -1;
	v->group_fd = -1;
	return v;
}

struct viommu_host *viommu_host_vfio_open_container(int container_fd, enum viommu_host_semantics semantics)
{
	struct vi_host_vfio *v;
	int ret;

	if (container_fd < 0 || !type1_semantics(semantics))
		return vi_null(EINVAL);
	v = vfio_alloc(semantics);
	if (!v)
		return vi_null(ENOMEM);
	v->container_fd = fcntl(container_fd, F_DUPFD_CLOEXEC, 0);
	ret = v->container_fd < 0 ? -errno : vfio_load_info(v);
	if (ret) {
		vfio_free(&v->base);
		return vi_null(-ret);
	}
	return &v->base;
}

/* "26" -> /dev/vfio/26; anything with a '/' is a path. */
static int group_path(const char *group, char *path, size_t size)
{
	int n;

	if (!group || !*group)
		return -EINVAL;
	if (strchr(group, '/'))
		n = snprintf(path, size, "%s", group);
	else
		n = snprintf(path, size, "/dev/vfio/%s", group);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

struct viommu_host *viommu_host_vfio_open(const char *group, enum viommu_host_semantics semantics)
{
	struct vfio_group_status status = { .argsz = sizeof(status) };
	int type = semantics == VIOMMU_HOST_TYPE1V2 ? VFIO_TYPE1v2_IOMMU : VFIO_TYPE1_IOMMU;
	struct vi_host_vfio *v;
	char path[4096];
	int ret;

	if (!type1_semantics(semantics))
		return vi_null(EINVAL);
	ret = group_path(group, path, sizeof(path));
	if (ret)
		return vi_null(-ret);
	v = vfio_alloc(semantics);
	if (!v)
		return vi_null(ENOMEM);
	/* The order QEMU uses: container first, then the group. */
	v->container_fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (v->container_fd < 0)
		goto fail_errno;
	ret = ioctl(v->container_fd, VFIO_GET_API_VERSION);
	if (ret != VFIO_API_VERSION) {
		ret = ret < 0 ? -errno : -EINVAL;
		goto fail;
	}
	ret = ioctl(v->container_fd, VFIO_CHECK_EXTENSION, type);
	if (ret <= 0) {
		ret = ret < 0 ? -errno : -EOPNOTSUPP;
		goto fail;
	}
	v->group_fd = open(path, O_RDWR | O_CLOEXEC);
	if (v->group_fd < 0)
		goto fail_errno;
	if (ioctl(v->group_fd, VFIO_GROUP_GET_STATUS, &status))
		goto fail_errno;
	if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
		ret = -EBUSY;	/* some device of the group is bound to a host driver */
		goto fail;
	}
	if (ioctl(v->group_fd, VFIO_GROUP_SET_CONTAINER, &v->container_fd))
		goto fail_errno;
	if (ioctl(v->container_fd, VFIO_SET_IOMMU, type))
		goto fail_errno;
	ret = vfio_load_info(v);
	if (ret)
		goto fail;
	return &v->base;

fail_errno:
	ret = -errno;
fail:
	vfio_free(&v->base);
	return vi_null(-ret);
}

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
	bool has_vaddr;			/* VFIO_CHECK_EXTENSION(VFIO_UPDATE_VADDR) */
	bool has_migration;		/* GET_INFO's MIGRATION capability */
	uint64_t mig_pgsizes, mig_max_bitmap;
	struct viommu_host_iova_range *ranges;
	uint32_t nranges;
};

static struct vi_host_vfio *to_vfio(struct viommu_host *h)
{
	return vi_container_of(h, struct vi_host_vfio, base);
}

/* A refusal by the kernel: log it with the range, return -errno. */
static int kernel_refused(struct viommu_host *h, const char *op, const char *ioctl_name, uint64_t iova,
			  uint64_t length)
{
	int err = -errno;

	vi_host_refused(h, op, iova, length, err, ioctl_name);
	return err;
}

static int vfio_map(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot,
		    unsigned flags)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = ((prot & VIOMMU_PERM_READ) ? VFIO_DMA_MAP_FLAG_READ : 0) |
			 ((prot & VIOMMU_PERM_WRITE) ? VFIO_DMA_MAP_FLAG_WRITE : 0) |
			 ((flags & VIOMMU_HOST_MAP_VADDR) ? VFIO_DMA_MAP_FLAG_VADDR : 0),
		.vaddr = vaddr,
		.iova = iova,
		.size = length,
	};

	if (ioctl(to_vfio(h)->container_fd, VFIO_IOMMU_MAP_DMA, &m))
		return kernel_refused(h, "map", "the kernel refused VFIO_IOMMU_MAP_DMA", iova, length);
	return 0;
}

/*
 * The uAPI structs of unmap and dirty pages end in a flexible array (data[])
 * that the second struct fills: they are laid out in a buffer of u64 words.
 */
#define VI_VFIO_ARG_WORDS 8
_Static_assert(sizeof(struct vfio_iommu_type1_dma_unmap) + sizeof(struct vfio_bitmap) <= VI_VFIO_ARG_WORDS * 8,
	       "unmap + bitmap fit");
_Static_assert(sizeof(struct vfio_iommu_type1_dirty_bitmap) + sizeof(struct vfio_iommu_type1_dirty_bitmap_get) <=
	       VI_VFIO_ARG_WORDS * 8, "dirty header + range fit");

/* VFIO_IOMMU_UNMAP_DMA, with a struct vfio_bitmap at minsz for GET_DIRTY_BITMAP. */
static int vfio_unmap(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags,
		      const struct viommu_host_dirty_bitmap *bm, uint64_t *unmapped)
{
	uint64_t words[VI_VFIO_ARG_WORDS] = { 0 };
	struct vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u),
		.flags = ((flags & VIOMMU_HOST_UNMAP_ALL) ? VFIO_DMA_UNMAP_FLAG_ALL : 0) |
			 ((flags & VIOMMU_HOST_UNMAP_VADDR) ? VFIO_DMA_UNMAP_FLAG_VADDR : 0),
		.iova = iova,
		.size = length,
	};

	if (flags & VI_HOST_UNMAP_DIRTY) {
		struct vfio_bitmap b = { .pgsize = bm->pgsize, .size = bm->size, .data = (__u64 *)bm->data };

		u.argsz = sizeof(u) + sizeof(b);
		u.flags |= VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
		memcpy((char *)words + sizeof(u), &b, sizeof(b));
	}
	memcpy(words, &u, sizeof(u));
	if (ioctl(to_vfio(h)->container_fd, VFIO_IOMMU_UNMAP_DMA, words))
		/* the kernel did not write size back */
		return kernel_refused(h, "unmap", "the kernel refused VFIO_IOMMU_UNMAP_DMA", iova, length);
	memcpy(&u, words, sizeof(u));
	*unmapped = u.size;
	return 0;
}

/* VFIO_IOMMU_DIRTY_PAGES with START or STOP (or both, for the kernel to refuse). */
static int vfio_dirty_ctl(struct viommu_host *h, unsigned flags)
{
	struct vfio_iommu_type1_dirty_bitmap d = {
		.argsz = sizeof(d),
		.flags = ((flags & VIOMMU_HOST_DIRTY_START) ? VFIO_IOMMU_DIRTY_PAGES_FLAG_START : 0) |
			 ((flags & VIOMMU_HOST_DIRTY_STOP) ? VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP : 0),
	};

	if (ioctl(to_vfio(h)->container_fd, VFIO_IOMMU_DIRTY_PAGES, &d))
		return kernel_refused(h, "dirty_tracking", "the kernel refused VFIO_IOMMU_DIRTY_PAGES", 0, 0);
	return 0;
}

/* VFIO_IOMMU_DIRTY_PAGES GET_BITMAP: the header, then struct vfio_iommu_type1_dirty_bitmap_get. */
static int vfio_dirty_read(struct viommu_host *h, uint64_t iova, uint64_t length,
			   const struct viommu_host_dirty_bitmap *bm, unsigned flags)
{
	uint64_t words[VI_VFIO_ARG_WORDS] = { 0 };
	struct vfio_iommu_type1_dirty_bitmap d = {
		.argsz = sizeof(d) + sizeof(struct vfio_iommu_type1_dirty_bitmap_get),
		.flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP,
	};
	struct vfio_iommu_type1_dirty_bitmap_get g = {
		.iova = iova,
		.size = length,
		.bitmap = { .pgsize = bm->pgsize, .size = bm->size, .data = (__u64 *)bm->data },
	};

	(void)flags;	/* host.c refuses NO_CLEAR on type1 */
	memcpy(words, &d, sizeof(d));
	memcpy((char *)words + sizeof(d), &g, sizeof(g));
	if (ioctl(to_vfio(h)->container_fd, VFIO_IOMMU_DIRTY_PAGES, words))
		return kernel_refused(h, "dirty_read", "the kernel refused VFIO_IOMMU_DIRTY_PAGES GET_BITMAP", iova,
				      length);
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
	v->has_migration = info.has_migration;
	v->mig_pgsizes = info.mig_pgsizes;
	v->mig_max_bitmap = info.mig_max_bitmap;
	v->has_vaddr = ioctl(v->container_fd, VFIO_CHECK_EXTENSION, VFIO_UPDATE_VADDR) == 1;
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
	caps->flags = VIOMMU_HOST_CAP_UNMAP_ALL | (v->has_vaddr ? VIOMMU_HOST_CAP_VADDR : 0);
	caps->dma_avail = UINT64_MAX;
	caps->max_mappings = UINT64_MAX;
	if (v->has_migration) {
		caps->dirty_pgsizes = v->mig_pgsizes;
		caps->dirty_max_bitmap_bytes = v->mig_max_bitmap;
		/* the kernel offers the capability on v1 too, whose DIRTY_PAGES says EACCES */
		if (h->semantics == VIOMMU_HOST_TYPE1V2)
			caps->flags |= VIOMMU_HOST_CAP_DIRTY_TRACKING;
	}
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

static bool vfio_same_ctx(const struct viommu_host *a, const struct viommu_host *b)
{
	return a == b;
}

static const struct vi_host_ops vi_vfio_ops = {
	.map = vfio_map,
	.unmap = vfio_unmap,
	.get_caps = vfio_get_caps,
	.iova_ranges = vfio_iova_ranges,
	.dirty_ctl = vfio_dirty_ctl,
	.dirty_read = vfio_dirty_read,
	.same_ctx = vfio_same_ctx,
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

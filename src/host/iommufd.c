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
 * The iommufd file an IOAS belongs to, shared by every handle of it
 * (viommu_host_ioas_alloc): IOAS ids are only meaningful inside one. @refs
 * counts the handles; the fd is closed with the last one.
 */
struct vi_ifd_ctx {
	int fd;
	unsigned refs;			/* atomic */
	bool change_process;		/* the kernel has IOMMU_IOAS_CHANGE_PROCESS */
};

/*
 * One IOAS. Invariants: ctx->fd is open and ioas_id names an IOAS in it;
 * device_fd (when >= 0) is bound to it and attached to the IOAS, through
 * hwpt_id (0 = unknown). No mutable state after open but hwpt_id, which only
 * viommu_host_iommufd_set_hwpt() writes (the caller's exclusion): concurrent
 * calls are serialised by the kernel (iopt->iova_rwsem).
 */
struct vi_host_iommufd {
	struct viommu_host base;
	struct vi_ifd_ctx *ctx;
	int device_fd;		/* -1 when opened from an existing IOAS */
	uint32_t ioas_id;
	uint32_t hwpt_id;
	bool own_ioas;
	bool dirty_hwpt;	/* the HWPT was allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING */
};

static struct vi_host_iommufd *to_ifd(struct viommu_host *h)
{
	return vi_container_of(h, struct vi_host_iommufd, base);
}

static int ifd_fd(struct viommu_host *h)
{
	return to_ifd(h)->ctx->fd;
}

/* A refusal by the kernel: log it with the range, return -errno. */
static int kernel_refused(struct viommu_host *h, const char *op, const char *what, uint64_t iova,
			  uint64_t length)
{
	int err = -errno;

	vi_host_refused(h, op, iova, length, err, what);
	return err;
}

static uint32_t map_flags(unsigned prot)
{
	return ((prot & VIOMMU_PERM_READ) ? IOMMU_IOAS_MAP_READABLE : 0) |
	       ((prot & VIOMMU_PERM_WRITE) ? IOMMU_IOAS_MAP_WRITEABLE : 0);
}

static int ifd_map(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot,
		   unsigned flags)
{
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | map_flags(prot),
		.ioas_id = to_ifd(h)->ioas_id,
		.user_va = vaddr,
		.length = length,
		.iova = iova,
	};

	(void)flags;	/* host.c refuses map flags on iommufd */
	if (ioctl(ifd_fd(h), IOMMU_IOAS_MAP, &m))
		return kernel_refused(h, "map", "the kernel refused IOMMU_IOAS_MAP", iova, length);
	return 0;
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

	if (ioctl(ifd_fd(h), IOMMU_IOAS_MAP, &m))
		return kernel_refused(h, "map_auto", "the kernel refused IOMMU_IOAS_MAP", 0, length);
	*iova = m.iova;
	return 0;
}

static int ifd_unmap(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags,
		     const struct viommu_host_dirty_bitmap *bm, uint64_t *unmapped)
{
	struct iommu_ioas_unmap u = {
		.size = sizeof(u),
		.ioas_id = to_ifd(h)->ioas_id,
		.iova = iova,
		.length = length,
	};

	(void)flags;	/* host.c refuses flags and bitmaps on iommufd */
	(void)bm;
	if (ioctl(ifd_fd(h), IOMMU_IOAS_UNMAP, &u))
		/* length is not written back on failure */
		return kernel_refused(h, "unmap", "the kernel refused IOMMU_IOAS_UNMAP", iova, length);
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
	if (ioctl(f->ctx->fd, IOMMU_IOAS_IOVA_RANGES, &r))
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
	struct vi_host_iommufd *f = to_ifd(h);
	uint32_t num = VIOMMU_HOST_CAPS_MAX_RANGES;
	uint64_t align = 0;
	int ret = ifd_ranges_raw(f, caps->ranges, &num, &align);

	if (ret && ret != -EMSGSIZE)
		return ret;
	caps->kind = VIOMMU_HOST_KIND_IOMMUFD;
	caps->semantics = VIOMMU_HOST_IOMMUFD;
	caps->flags = VIOMMU_HOST_CAP_UNMAP_ALL | VIOMMU_HOST_CAP_AUTO_IOVA | VIOMMU_HOST_CAP_IOAS;
	if (f->ctx->change_process)
		caps->flags |= VIOMMU_HOST_CAP_CHANGE_PROCESS;
	if (f->dirty_hwpt) {
		caps->flags |= VIOMMU_HOST_CAP_DIRTY_TRACKING;
		caps->dirty_pgsizes = align;
	}
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

/* IOMMU_HWPT_SET_DIRTY_TRACKING on the handle's HWPT (0 if unknown: the kernel says ENOENT). */
static int ifd_dirty_ctl(struct viommu_host *h, unsigned flags)
{
	struct iommu_hwpt_set_dirty_tracking d = {
		.size = sizeof(d),
		.flags = flags == VIOMMU_HOST_DIRTY_START ? IOMMU_HWPT_DIRTY_TRACKING_ENABLE : 0,
		.hwpt_id = to_ifd(h)->hwpt_id,
	};

	if (ioctl(ifd_fd(h), IOMMU_HWPT_SET_DIRTY_TRACKING, &d))
		return kernel_refused(h, "dirty_tracking", "the kernel refused IOMMU_HWPT_SET_DIRTY_TRACKING", 0, 0);
	return 0;
}

/*
 * IOMMU_HWPT_GET_DIRTY_BITMAP. The uAPI has no bitmap size: the kernel pins
 * the user pages holding the range's bits and iova_bitmap_set() may set bits
 * past the range up to the end of the last such page (a dirty leaf larger
 * than what is left of the range is recorded whole). So the kernel writes
 * into a page-aligned bounce buffer of whole pages, and only the caller's
 * bytes are copied back.
 */
static int ifd_dirty_read(struct viommu_host *h, uint64_t iova, uint64_t length,
			  const struct viommu_host_dirty_bitmap *bm, unsigned flags)
{
	uint64_t words = (((length - 1) >> vi_ffs64(bm->pgsize)) / 64) + 1, bytes = words * 8;
	uint64_t keep = VI_MIN(bytes, bm->size), whole = (bytes + 4095) & ~UINT64_C(4095);
	struct iommu_hwpt_get_dirty_bitmap g = {
		.size = sizeof(g),
		.hwpt_id = to_ifd(h)->hwpt_id,
		.flags = (flags & VIOMMU_HOST_DIRTY_NO_CLEAR) ? IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR : 0,
		.iova = iova,
		.length = length,
		.page_size = bm->pgsize,
	};
	void *bounce;
	int ret = 0;

	if (whole < bytes || posix_memalign(&bounce, 4096, whole))
		return -ENOMEM;
	memset(bounce, 0, whole);
	memcpy(bounce, bm->data, keep);
	g.data = (uintptr_t)bounce;
	if (ioctl(ifd_fd(h), IOMMU_HWPT_GET_DIRTY_BITMAP, &g))
		ret = kernel_refused(h, "dirty_read", "the kernel refused IOMMU_HWPT_GET_DIRTY_BITMAP", iova, length);
	else
		memcpy(bm->data, bounce, keep);
	free(bounce);
	return ret;
}

static int ifd_copy(struct viommu_host *dst, uint64_t *dst_iova, struct viommu_host *src, uint64_t src_iova,
		    uint64_t length, unsigned prot, unsigned flags)
{
	struct iommu_ioas_copy c = {
		.size = sizeof(c),
		.flags = map_flags(prot) | ((flags & VIOMMU_HOST_COPY_AUTO_IOVA) ? 0 : IOMMU_IOAS_MAP_FIXED_IOVA),
		.dst_ioas_id = to_ifd(dst)->ioas_id,
		.src_ioas_id = to_ifd(src)->ioas_id,
		.length = length,
		.dst_iova = *dst_iova,
		.src_iova = src_iova,
	};

	if (ioctl(ifd_fd(dst), IOMMU_IOAS_COPY, &c))
		return kernel_refused(dst, "ioas_copy", "the kernel refused IOMMU_IOAS_COPY", src_iova, length);
	*dst_iova = c.dst_iova;
	return 0;
}

static int ifd_allow(struct viommu_host *h, const struct viommu_host_iova_range *ranges, uint32_t n)
{
	struct iommu_iova_range *v = n ? calloc(n, sizeof(*v)) : NULL;
	struct iommu_ioas_allow_iovas a = {
		.size = sizeof(a),
		.ioas_id = to_ifd(h)->ioas_id,
		.num_iovas = n,
	};
	int ret = 0;

	if (n && !v)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		v[i] = (struct iommu_iova_range){ ranges[i].first, ranges[i].last };
	a.allowed_iovas = (uintptr_t)v;
	if (ioctl(ifd_fd(h), IOMMU_IOAS_ALLOW_IOVAS, &a))
		ret = kernel_refused(h, "allow_iovas", "the kernel refused IOMMU_IOAS_ALLOW_IOVAS",
				     n ? ranges[0].first : 0, 0);
	free(v);
	return ret;
}

static int ifd_change_process(struct viommu_host *h)
{
	struct iommu_ioas_change_process c = { .size = sizeof(c) };

	if (ioctl(ifd_fd(h), IOMMU_IOAS_CHANGE_PROCESS, &c))
		return kernel_refused(h, "change_process", "the kernel refused IOMMU_IOAS_CHANGE_PROCESS", 0, 0);
	return 0;
}

static bool ifd_same_ctx(const struct viommu_host *a, const struct viommu_host *b)
{
	return vi_container_of(a, const struct vi_host_iommufd, base)->ctx ==
	       vi_container_of(b, const struct vi_host_iommufd, base)->ctx;
}

static void ctx_put(struct vi_ifd_ctx *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL))
		return;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* A context over @fd (taken over), probing what the kernel offers. */
static struct vi_ifd_ctx *ctx_new(int fd)
{
	struct vi_ifd_ctx *c = calloc(1, sizeof(*c));
	struct iommu_ioas_change_process probe = { .size = 0 };

	if (!c) {
		close(fd);
		return NULL;
	}
	c->fd = fd;
	c->refs = 1;
	/* size 0 is below every op's min_size: EINVAL if the ioctl exists,
	 * ENOTTY if the kernel's table ends before it (6.12) */
	c->change_process = ioctl(fd, IOMMU_IOAS_CHANGE_PROCESS, &probe) && errno == EINVAL;
	return c;
}

static void ifd_free(struct viommu_host *h)
{
	struct vi_host_iommufd *f = to_ifd(h);

	/* closing the device unbinds (and detaches) it */
	if (f->device_fd >= 0)
		close(f->device_fd);
	if (f->own_ioas && f->ctx) {
		struct iommu_destroy d = { .size = sizeof(d), .id = f->ioas_id };

		(void)ioctl(f->ctx->fd, IOMMU_DESTROY, &d);
	}
	ctx_put(f->ctx);
	free(f);
}

static struct viommu_host *ifd_ioas_alloc(struct viommu_host *h, int *err);

static const struct vi_host_ops vi_iommufd_ops = {
	.map = ifd_map,
	.map_auto = ifd_map_auto,
	.unmap = ifd_unmap,
	.get_caps = ifd_get_caps,
	.iova_ranges = ifd_iova_ranges,
	.dirty_ctl = ifd_dirty_ctl,
	.dirty_read = ifd_dirty_read,
	.ioas_alloc = ifd_ioas_alloc,
	.ioas_copy = ifd_copy,
	.allow_iovas = ifd_allow,
	.change_process = ifd_change_process,
	.same_ctx = ifd_same_ctx,
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
	f->device_fd = -1;
	return f;
}

static struct viommu_host *ifd_ioas_alloc(struct viommu_host *h, int *err)
{
	struct vi_host_iommufd *p = to_ifd(h), *f = ifd_alloc();
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };

	if (!f) {
		*err = -ENOMEM;
		return NULL;
	}
	if (ioctl(p->ctx->fd, IOMMU_IOAS_ALLOC, &alloc)) {
		*err = kernel_refused(h, "ioas_alloc", "the kernel refused IOMMU_IOAS_ALLOC", 0, 0);
		free(f);
		return NULL;
	}
	__atomic_add_fetch(&p->ctx->refs, 1, __ATOMIC_ACQ_REL);
	f->ctx = p->ctx;
	f->ioas_id = alloc.out_ioas_id;
	f->own_ioas = true;
	return &f->base;
}

struct viommu_host *viommu_host_iommufd_open_ioas(int iommufd, uint32_t ioas_id)
{
	struct vi_host_iommufd *f;
	uint32_t num = 0;
	uint64_t align;
	int ret, fd;

	if (iommufd < 0)
		return vi_null(EINVAL);
	f = ifd_alloc();
	if (!f)
		return vi_null(ENOMEM);
	f->ioas_id = ioas_id;
	fd = fcntl(iommufd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		ifd_free(&f->base);
		return vi_null(-ret);
	}
	f->ctx = ctx_new(fd);
	ret = f->ctx ? ifd_ranges_raw(f, NULL, &num, &align) : -ENOMEM;
	if (ret == -EMSGSIZE)
		ret = 0;	/* the IOAS exists and answers */
	if (ret) {
		ifd_free(&f->base);
		return vi_null(-ret);
	}
	return &f->base;
}

/*
 * Does the device's IOMMU track dirty pages (IOMMU_GET_HW_INFO
 * out_capabilities, 6.7+)? Any failure means no.
 */
static bool device_dirty_capable(int fd, uint32_t dev_id)
{
	struct iommu_hw_info hi = { .size = sizeof(hi), .dev_id = dev_id };

	return !ioctl(fd, IOMMU_GET_HW_INFO, &hi) && (hi.out_capabilities & IOMMU_HW_CAP_DIRTY_TRACKING);
}

struct viommu_host *viommu_host_iommufd_open(const char *cdev_path)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vi_host_iommufd *f;
	int ret, fd;

	if (!cdev_path || !*cdev_path)
		return vi_null(EINVAL);
	f = ifd_alloc();
	if (!f)
		return vi_null(ENOMEM);
	/* QEMU's order (iommufd_cdev_connect_and_bind): device, iommufd, bind, IOAS, attach */
	f->device_fd = open(cdev_path, O_RDWR | O_CLOEXEC);
	if (f->device_fd < 0)
		goto fail_errno;
	fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (fd < 0)
		goto fail_errno;
	f->ctx = ctx_new(fd);
	if (!f->ctx) {
		errno = ENOMEM;
		goto fail_errno;
	}
	bind.iommufd = f->ctx->fd;
	if (ioctl(f->device_fd, VFIO_DEVICE_BIND_IOMMUFD, &bind))
		goto fail_errno;
	if (ioctl(f->ctx->fd, IOMMU_IOAS_ALLOC, &alloc))
		goto fail_errno;
	f->ioas_id = alloc.out_ioas_id;
	f->own_ioas = true;
	attach.pt_id = f->ioas_id;
	/*
	 * As QEMU's iommufd_cdev_autodomains_get: a device whose IOMMU tracks
	 * dirty pages gets a HWPT allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING
	 * (the automatic domain of an IOAS attach never has dirty ops).
	 */
	if (device_dirty_capable(f->ctx->fd, bind.out_devid)) {
		struct iommu_hwpt_alloc ha = { .size = sizeof(ha), .flags = IOMMU_HWPT_ALLOC_DIRTY_TRACKING,
					       .dev_id = bind.out_devid, .pt_id = f->ioas_id };

		if (!ioctl(f->ctx->fd, IOMMU_HWPT_ALLOC, &ha)) {
			attach.pt_id = ha.out_hwpt_id;
			f->dirty_hwpt = true;
		}
	}
	if (ioctl(f->device_fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach))
		goto fail_errno;
	f->hwpt_id = attach.pt_id;	/* the kernel writes the HWPT id back */
	return &f->base;

fail_errno:
	ret = errno;
	ifd_free(&f->base);
	return vi_null(ret);
}

int viommu_host_iommufd_set_hwpt(struct viommu_host *h, uint32_t hwpt_id)
{
	if (!h || h->kind != VIOMMU_HOST_KIND_IOMMUFD)
		return vi_errno(-EINVAL);
	to_ifd(h)->hwpt_id = hwpt_id;
	return 0;
}

uint32_t viommu_host_iommufd_ioas_id(const struct viommu_host *h)
{
	if (!h || h->kind != VIOMMU_HOST_KIND_IOMMUFD)
		return 0;
	return vi_container_of(h, const struct vi_host_iommufd, base)->ioas_id;
}

int viommu_host_iommufd_fd(const struct viommu_host *h)
{
	if (!h || h->kind != VIOMMU_HOST_KIND_IOMMUFD)
		return -1;
	return vi_container_of(h, const struct vi_host_iommufd, base)->ctx->fd;
}

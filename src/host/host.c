// SPDX-License-Identifier: MIT
/*
 * Public host API: library policy checks, then dispatch through the backend's
 * ops table. Nothing here talks to the kernel. Every refusal made here is
 * logged with its range and the policy that refused it; the backends log
 * their own (the kernel's rule, or the kernel's errno).
 */
#include <stdio.h>
#include <string.h>

#include "util/compiler.h"
#include "util/log.h"
#include "util/opts.h"
#include "host/host_internal.h"

#define viommu_host_caps__last_field dirty_max_bitmap_bytes

int vi_host_copy_ranges(const struct viommu_host_iova_range *src, uint32_t n,
			struct viommu_host_iova_range *dst, uint32_t *num)
{
	uint32_t cap = *num;

	for (uint32_t i = 0; i < n && i < cap; i++)
		dst[i] = src[i];
	*num = n;
	return n > cap ? -EMSGSIZE : 0;
}

void vi_host_caps_set_ranges(struct viommu_host_caps *caps, const struct viommu_host_iova_range *src,
			     uint32_t n)
{
	uint32_t k = n < VIOMMU_HOST_CAPS_MAX_RANGES ? n : VIOMMU_HOST_CAPS_MAX_RANGES;

	memcpy(caps->ranges, src, k * sizeof(*src));
	caps->nranges = k;
	if (k < n)
		caps->flags |= VIOMMU_HOST_CAP_RANGES_TRUNCATED;
}

const char *vi_host_errname(int err)
{
	static const struct { int e; const char *n; } t[] = {
		{ EINVAL, "EINVAL" }, { EEXIST, "EEXIST" }, { ENOSPC, "ENOSPC" }, { ENOENT, "ENOENT" },
		{ EOVERFLOW, "EOVERFLOW" }, { EFAULT, "EFAULT" }, { EOPNOTSUPP, "EOPNOTSUPP" },
		{ EACCES, "EACCES" }, { EPERM, "EPERM" }, { EADDRINUSE, "EADDRINUSE" }, { EBUSY, "EBUSY" },
		{ ENOTTY, "ENOTTY" }, { ENOMEM, "ENOMEM" }, { EXDEV, "EXDEV" }, { EMSGSIZE, "EMSGSIZE" },
		{ EIO, "EIO" }, { E2BIG, "E2BIG" }, { ENODEV, "ENODEV" },
	};

	if (err < 0)
		err = -err;
	for (size_t i = 0; i < VI_ARRAY_SIZE(t); i++)
		if (t[i].e == err)
			return t[i].n;
	return NULL;
}

static const char *kind_name(const struct viommu_host *h)
{
	bool v1 = h->semantics == VIOMMU_HOST_TYPE1V1;

	switch (h->kind) {
	case VIOMMU_HOST_KIND_SIM:
		return h->semantics == VIOMMU_HOST_IOMMUFD ? "sim iommufd" : v1 ? "sim type1v1" : "sim type1v2";
	case VIOMMU_HOST_KIND_VFIO:
		return v1 ? "vfio type1v1" : "vfio type1v2";
	case VIOMMU_HOST_KIND_IOMMUFD:
		return "iommufd";
	}
	return "?";
}

void vi_host_refused(const struct viommu_host *h, const char *op, uint64_t iova, uint64_t length, int err,
		     const char *why)
{
	const char *en = vi_host_errname(err);
	char range[64], num[24];

	if (length && iova + (length - 1) >= iova)
		snprintf(range, sizeof(range), "[0x%llx, 0x%llx]", (unsigned long long)iova,
			 (unsigned long long)(iova + (length - 1)));
	else
		snprintf(range, sizeof(range), "%s", length ? "(wraps past 2^64-1)" : "(empty)");
	if (!en) {
		snprintf(num, sizeof(num), "errno %d", err < 0 ? -err : err);
		en = num;
	}
	vi_warn("host %s: %s iova 0x%llx length 0x%llx %s refused: %s: %s", kind_name(h), op,
		(unsigned long long)iova, (unsigned long long)length, range, en, why);
}

/* A library-policy refusal: logged, errno set, returned. */
static int policy(const struct viommu_host *h, const char *op, uint64_t iova, uint64_t length, int err,
		  const char *why)
{
	vi_host_refused(h, op, iova, length, err, why);
	return vi_errno(err);
}

int viommu_host_map_flags(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot,
			  unsigned flags)
{
	if (!h)
		return vi_errno(-EINVAL);
	if (prot & ~VIOMMU_PERM_RW)
		return policy(h, "map", iova, length, -EINVAL, "permission bits other than VIOMMU_PERM_READ|WRITE");
	if (flags & ~VIOMMU_HOST_MAP_VADDR)
		return policy(h, "map", iova, length, -EINVAL, "unknown map flags");
	if (flags && h->semantics == VIOMMU_HOST_IOMMUFD)
		return policy(h, "map", iova, length, -EOPNOTSUPP, "iommufd maps have no VADDR flag");
	return vi_errno(h->ops->map(h, iova, length, vaddr, prot, flags));
}

int viommu_host_map(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot)
{
	return viommu_host_map_flags(h, iova, length, vaddr, prot, 0);
}

int viommu_host_map_auto(struct viommu_host *h, uint64_t vaddr, uint64_t length, unsigned prot,
			 uint64_t *iova)
{
	if (!h || !iova)
		return vi_errno(-EINVAL);
	if (prot & ~VIOMMU_PERM_RW)
		return policy(h, "map_auto", 0, length, -EINVAL, "permission bits other than VIOMMU_PERM_READ|WRITE");
	if (!h->ops->map_auto)
		return policy(h, "map_auto", 0, length, -EOPNOTSUPP, "type1 has no automatic IOVA");
	return vi_errno(h->ops->map_auto(h, vaddr, length, prot, iova));
}

static int unmap_common(struct viommu_host *h, const char *op, uint64_t iova, uint64_t length, unsigned flags,
			const struct viommu_host_dirty_bitmap *bm, uint64_t *unmapped)
{
	uint64_t dummy;

	if (!unmapped)
		unmapped = &dummy;
	*unmapped = 0;
	if (!h)
		return vi_errno(-EINVAL);
	if (flags & ~(VIOMMU_HOST_UNMAP_ALL | VIOMMU_HOST_UNMAP_VADDR))
		return policy(h, op, iova, length, -EINVAL, "unknown unmap flags");
	if (bm && (!bm->pgsize || (bm->size && !bm->data)))
		return policy(h, op, iova, length, -EINVAL, "dirty bitmap with page size 0 or no buffer");
	if ((flags || bm) && h->semantics == VIOMMU_HOST_IOMMUFD)
		return policy(h, op, iova, length, -EOPNOTSUPP, "iommufd unmap has no flags");
	return vi_errno(h->ops->unmap(h, iova, length, flags | (bm ? VI_HOST_UNMAP_DIRTY : 0), bm, unmapped));
}

int viommu_host_unmap_flags(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags,
			    uint64_t *unmapped)
{
	return unmap_common(h, "unmap", iova, length, flags, NULL, unmapped);
}

int viommu_host_unmap(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t *unmapped)
{
	return viommu_host_unmap_flags(h, iova, length, 0, unmapped);
}

int viommu_host_unmap_all(struct viommu_host *h, uint64_t *unmapped)
{
	if (h && h->semantics == VIOMMU_HOST_IOMMUFD)
		return viommu_host_unmap_flags(h, 0, UINT64_MAX, 0, unmapped);
	return viommu_host_unmap_flags(h, 0, 0, VIOMMU_HOST_UNMAP_ALL, unmapped);
}

int viommu_host_unmap_dirty(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags,
			    const struct viommu_host_dirty_bitmap *bitmap, uint64_t *unmapped)
{
	if (!bitmap) {
		if (unmapped)
			*unmapped = 0;
		return h ? policy(h, "unmap_dirty", iova, length, -EINVAL, "no dirty bitmap") : vi_errno(-EINVAL);
	}
	return unmap_common(h, "unmap_dirty", iova, length, flags, bitmap, unmapped);
}

int viommu_host_get_caps(struct viommu_host *h, struct viommu_host_caps *caps)
{
	struct viommu_host_caps full;
	int ret;

	if (!h || !caps || caps->sz < sizeof(size_t))
		return vi_errno(-EINVAL);
	memset(&full, 0, sizeof(full));
	ret = h->ops->get_caps(h, &full);
	if (ret)
		return vi_errno(ret);
	return vi_errno(VI_OPTS_OUT(caps, &full, viommu_host_caps));
}

int viommu_host_iova_ranges(struct viommu_host *h, struct viommu_host_iova_range *ranges, uint32_t *num,
			    uint64_t *alignment)
{
	uint64_t dummy;

	if (!h || !num || (*num && !ranges))
		return vi_errno(-EINVAL);
	return vi_errno(h->ops->iova_ranges(h, ranges, num, alignment ? alignment : &dummy));
}

int viommu_host_dirty_tracking(struct viommu_host *h, unsigned flags)
{
	if (!h)
		return vi_errno(-EINVAL);
	/* flags 0 would reach __ffs(0) in vfio_iommu_type1_dirty_pages: undefined */
	if (!flags || (flags & ~(VIOMMU_HOST_DIRTY_START | VIOMMU_HOST_DIRTY_STOP)))
		return policy(h, "dirty_tracking", 0, 0, -EINVAL, "flags must be START and/or STOP");
	if (h->semantics == VIOMMU_HOST_IOMMUFD && flags != VIOMMU_HOST_DIRTY_START &&
	    flags != VIOMMU_HOST_DIRTY_STOP)
		return policy(h, "dirty_tracking", 0, 0, -EINVAL, "iommufd takes exactly START or STOP");
	if (!h->ops->dirty_ctl)
		return policy(h, "dirty_tracking", 0, 0, -EOPNOTSUPP, "backend has no dirty tracking");
	return vi_errno(h->ops->dirty_ctl(h, flags));
}

int viommu_host_dirty_read(struct viommu_host *h, uint64_t iova, uint64_t length,
			   const struct viommu_host_dirty_bitmap *bitmap, unsigned flags)
{
	if (!h)
		return vi_errno(-EINVAL);
	if (!bitmap || !bitmap->pgsize || (bitmap->size && !bitmap->data))
		return policy(h, "dirty_read", iova, length, -EINVAL, "dirty bitmap missing, page size 0 or no buffer");
	if (flags & ~VIOMMU_HOST_DIRTY_NO_CLEAR)
		return policy(h, "dirty_read", iova, length, -EINVAL, "unknown dirty_read flags");
	if (flags && h->semantics != VIOMMU_HOST_IOMMUFD)
		return policy(h, "dirty_read", iova, length, -EOPNOTSUPP, "type1 always re-arms the bitmap");
	/*
	 * IOMMU_HWPT_GET_DIRTY_BITMAP carries no bitmap size: the kernel writes
	 * as many words as the range needs (and length 0 reads as the whole
	 * space from iova), so the library checks the buffer holds them.
	 */
	if (h->semantics == VIOMMU_HOST_IOMMUFD &&
	    (!length || bitmap->size / 8 < ((length - 1) >> vi_ffs64(bitmap->pgsize)) / 64 + 1))
		return policy(h, "dirty_read", iova, length, -EINVAL,
			      "iommufd: length 0, or a bitmap smaller than the range's 64-bit words");
	if (!h->ops->dirty_read)
		return policy(h, "dirty_read", iova, length, -EOPNOTSUPP, "backend has no dirty tracking");
	return vi_errno(h->ops->dirty_read(h, iova, length, bitmap, flags));
}

struct viommu_host *viommu_host_ioas_alloc(struct viommu_host *h)
{
	struct viommu_host *n;
	int err = 0;

	if (!h)
		return vi_null(EINVAL);
	if (!h->ops->ioas_alloc) {
		policy(h, "ioas_alloc", 0, 0, -EOPNOTSUPP, "type1 has no IOAS objects");
		return vi_null(EOPNOTSUPP);
	}
	n = h->ops->ioas_alloc(h, &err);
	if (!n)
		return vi_null(err < 0 ? -err : ENOMEM);
	return n;
}

int viommu_host_ioas_copy(struct viommu_host *dst, uint64_t *dst_iova, struct viommu_host *src, uint64_t src_iova,
			  uint64_t length, unsigned prot, unsigned flags)
{
	if (!dst || !src || !dst_iova)
		return vi_errno(-EINVAL);
	if (prot & ~VIOMMU_PERM_RW)
		return policy(dst, "ioas_copy", src_iova, length, -EINVAL, "permission bits other than READ|WRITE");
	if (flags & ~VIOMMU_HOST_COPY_AUTO_IOVA)
		return policy(dst, "ioas_copy", src_iova, length, -EINVAL, "unknown copy flags");
	if (!dst->ops->ioas_copy)
		return policy(dst, "ioas_copy", src_iova, length, -EOPNOTSUPP, "type1 has no IOAS_COPY");
	if (src->ops != dst->ops || !dst->ops->same_ctx(dst, src))
		return policy(dst, "ioas_copy", src_iova, length, -EXDEV, "source IOAS is in another iommufd");
	return vi_errno(dst->ops->ioas_copy(dst, dst_iova, src, src_iova, length, prot, flags));
}

int viommu_host_ioas_allow_iovas(struct viommu_host *h, const struct viommu_host_iova_range *ranges, uint32_t n)
{
	if (!h || (n && !ranges))
		return vi_errno(-EINVAL);
	if (!h->ops->allow_iovas)
		return policy(h, "allow_iovas", 0, 0, -EOPNOTSUPP, "type1 has no ALLOW_IOVAS");
	return vi_errno(h->ops->allow_iovas(h, ranges, n));
}

int viommu_host_change_process(struct viommu_host *h)
{
	if (!h)
		return vi_errno(-EINVAL);
	if (!h->ops->change_process)
		return policy(h, "change_process", 0, 0, -EOPNOTSUPP,
			      "type1 moves a live update with UNMAP_VADDR + MAP_VADDR");
	return vi_errno(h->ops->change_process(h));
}

enum viommu_host_semantics viommu_host_semantics(const struct viommu_host *h)
{
	return h ? h->semantics : 0;
}

enum viommu_host_kind viommu_host_kind(const struct viommu_host *h)
{
	return h ? h->kind : 0;
}

void viommu_host_free(struct viommu_host *h)
{
	if (h)
		h->ops->free(h);
}

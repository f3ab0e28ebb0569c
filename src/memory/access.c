// SPDX-License-Identifier: MIT
/*
 * Guest-physical access through a flat view. vIOMMU page-table walkers read
 * guest tables through these, so every address is treated as hostile: the
 * range is checked for wraparound and holes before any byte moves.
 */
#include <string.h>

#include "memory/memory_int.h"
#include "util/compiler.h"

#define VI_IOMMU_MAX_NEST 4

static int fv_access(const struct viommu_flatview *v, uint64_t addr, void *buf, size_t len, bool write,
		     unsigned nest);

static int iommu_access(const struct viommu_mr *mr, uint64_t off, char *p, size_t n, bool write,
			unsigned nest)
{
	if (nest >= VI_IOMMU_MAX_NEST)
		return -ELOOP;
	while (n) {
		struct viommu_mr_iotlb t = { 0 };
		struct viommu_flatview *tv;
		size_t chunk = n;
		int err = mr->iommu_ops.translate(mr->opaque, off, write, &t);

		if (err)
			return err;
		if (t.iova_first > off || t.iova_last < off || !t.target)
			return -EFAULT;
		if (write ? !t.writable : !t.readable)
			return -EACCES;
		if (t.iova_last - off < n - 1)
			chunk = (size_t)(t.iova_last - off) + 1;
		tv = viommu_as_get_flatview(t.target);
		err = fv_access(tv, t.target_first + (off - t.iova_first), p, chunk, write, nest + 1);
		viommu_flatview_put(tv);
		if (err)
			return err;
		p += chunk;
		off += chunk;
		n -= chunk;
	}
	return 0;
}

static int fv_access(const struct viommu_flatview *v, uint64_t addr, void *buf, size_t len, bool write,
		     unsigned nest)
{
	const struct viommu_mr_section *s;
	struct vi_pcur cur;
	uint64_t last, a;
	char *p = buf;

	if (!len)
		return 0;
	if (!v || !buf)
		return -EINVAL;
	last = addr + (len - 1);
	if (last < addr)
		return -EFAULT;
	/* Check the whole range first, so a bad access moves nothing. */
	for (s = vi_pcur_seek_key(&cur, v->sec, VI_SEC_ESZ, addr, NULL), a = addr;; s = vi_pcur_next(&cur)) {
		if (!s || s->first > a)
			return -EFAULT;
		if (write && s->readonly)
			return -EACCES;
		if (s->kind == VIOMMU_MR_MMIO && !(write ? !!s->mr->ops.write : !!s->mr->ops.read))
			return -EFAULT;
		if (s->kind == VIOMMU_MR_IOMMU && !s->mr->iommu_ops.translate)
			return -EFAULT;
		if (s->last >= last)
			break;
		a = s->last + 1;
	}
	for (s = vi_pcur_seek_key(&cur, v->sec, VI_SEC_ESZ, addr, NULL), a = addr;; s = vi_pcur_next(&cur)) {
		uint64_t end = VI_MIN(s->last, last), off = s->offset + (a - s->first);
		size_t n = (size_t)(end - a) + 1;
		int err = 0;

		switch (s->kind) {
		case VIOMMU_MR_RAM:
		case VIOMMU_MR_RAM_DEVICE:
			if (write)
				memcpy((char *)s->host + (a - s->first), p, n);
			else
				memcpy(p, (char *)s->host + (a - s->first), n);
			break;
		case VIOMMU_MR_MMIO:
			err = write ? s->mr->ops.write(s->mr->opaque, off, p, n)
				    : s->mr->ops.read(s->mr->opaque, off, p, n);
			break;
		case VIOMMU_MR_IOMMU:
			err = iommu_access(s->mr, off, p, n, write, nest);
			break;
		default:
			err = -EFAULT;
			break;
		}
		if (err)
			return err;
		if (end == last)
			return 0;
		p += n;
		a = end + 1;
	}
}

VIOMMU_API int viommu_flatview_read(const struct viommu_flatview *v, uint64_t addr, void *buf, size_t len)
{
	return vi_errno(fv_access(v, addr, buf, len, false, 0));
}

VIOMMU_API int viommu_flatview_write(const struct viommu_flatview *v, uint64_t addr, const void *buf, size_t len)
{
	return vi_errno(fv_access(v, addr, (void *)buf, len, true, 0));
}

VIOMMU_API int viommu_as_read(struct viommu_as *as, uint64_t addr, void *buf, size_t len)
{
	struct viommu_flatview *v;
	int err;

	if (!as)
		return vi_errno(-EINVAL);
	v = viommu_as_get_flatview(as);
	err = fv_access(v, addr, buf, len, false, 0);
	viommu_flatview_put(v);
	return vi_errno(err);
}

VIOMMU_API int viommu_as_write(struct viommu_as *as, uint64_t addr, const void *buf, size_t len)
{
	struct viommu_flatview *v;
	int err;

	if (!as)
		return vi_errno(-EINVAL);
	v = viommu_as_get_flatview(as);
	err = fv_access(v, addr, (void *)buf, len, true, 0);
	viommu_flatview_put(v);
	return vi_errno(err);
}

VIOMMU_API int viommu_flatview_map(const struct viommu_flatview *v, uint64_t addr, uint64_t len, bool write,
				   void **host, uint64_t *maplen)
{
	const struct viommu_mr_section *s;

	if (!v || !len || !host || !maplen)
		return vi_errno(-EINVAL);
	s = viommu_flatview_lookup(v, addr);
	if (!s)
		return vi_errno(-EFAULT);
	if (s->kind != VIOMMU_MR_RAM && s->kind != VIOMMU_MR_RAM_DEVICE)
		return vi_errno(-ENXIO);
	if (write && s->readonly)
		return vi_errno(-EACCES);
	*host = (char *)s->host + (addr - s->first);
	*maplen = s->last - addr >= len - 1 ? len : s->last - addr + 1;
	return 0;
}

VIOMMU_API int viommu_as_map(struct viommu_as *as, uint64_t addr, uint64_t len, bool write, void **host,
			     uint64_t *maplen)
{
	struct viommu_flatview *v;
	int err;

	if (!as)
		return vi_errno(-EINVAL);
	v = viommu_as_get_flatview(as);
	err = viommu_flatview_map(v, addr, len, write, host, maplen);
	viommu_flatview_put(v);
	return err;
}

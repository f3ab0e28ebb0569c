/* SPDX-License-Identifier: MIT */
/*
 * The seam between the public host API (host.c) and the backends. Each
 * backend embeds struct viommu_host and reaches its own state with
 * vi_container_of(); host.c validates what is library policy (NULL handles,
 * prot and flag bits, caps size, bitmap pointers) and dispatches everything
 * else, so each backend sees exactly the arguments the kernel would. An op a
 * backend lacks is NULL and the library answers -EOPNOTSUPP.
 */
#ifndef VI_HOST_INTERNAL_H
#define VI_HOST_INTERNAL_H

#include <viommu/host.h>

/* Internal unmap flag: a dirty bitmap is passed (VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP). */
#define VI_HOST_UNMAP_DIRTY 0x100u

struct vi_host_ops {
	/* flags: VIOMMU_HOST_MAP_VADDR (type1 only; host.c refuses it elsewhere) */
	int (*map)(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot,
		   unsigned flags);
	int (*map_auto)(struct viommu_host *h, uint64_t vaddr, uint64_t length, unsigned prot,
			uint64_t *iova);
	/* *unmapped is always written (0 on failure); @bitmap is set iff
	 * flags has VI_HOST_UNMAP_DIRTY. */
	int (*unmap)(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags,
		     const struct viommu_host_dirty_bitmap *bitmap, uint64_t *unmapped);
	/* Fill the whole struct; caps->sz is ignored. */
	int (*get_caps)(struct viommu_host *h, struct viommu_host_caps *caps);
	int (*iova_ranges)(struct viommu_host *h, struct viommu_host_iova_range *ranges, uint32_t *num,
			   uint64_t *alignment);
	int (*dirty_ctl)(struct viommu_host *h, unsigned flags);
	int (*dirty_read)(struct viommu_host *h, uint64_t iova, uint64_t length,
			  const struct viommu_host_dirty_bitmap *bitmap, unsigned flags);
	/* NULL with *err set on failure */
	struct viommu_host *(*ioas_alloc)(struct viommu_host *h, int *err);
	/* @src has the same ops as @dst (host.c checks) */
	int (*ioas_copy)(struct viommu_host *dst, uint64_t *dst_iova, struct viommu_host *src, uint64_t src_iova,
			 uint64_t length, unsigned prot, unsigned flags);
	int (*allow_iovas)(struct viommu_host *h, const struct viommu_host_iova_range *ranges, uint32_t n);
	int (*change_process)(struct viommu_host *h);
	/* Same iommufd context (IOAS ids of one are valid in the other)? */
	bool (*same_ctx)(const struct viommu_host *a, const struct viommu_host *b);
	void (*free)(struct viommu_host *h);
};

/* Invariant: ops, kind and semantics never change after construction. */
struct viommu_host {
	const struct vi_host_ops *ops;
	enum viommu_host_kind kind;
	enum viommu_host_semantics semantics;
};

/*
 * Copy a sorted range list into the caller's buffer with the IOVA_RANGES
 * contract (EMSGSIZE with the needed count). Shared by every backend.
 */
int vi_host_copy_ranges(const struct viommu_host_iova_range *src, uint32_t n,
			struct viommu_host_iova_range *dst, uint32_t *num);

/* Fill caps->ranges / nranges / the TRUNCATED flag from a list. */
void vi_host_caps_set_ranges(struct viommu_host_caps *caps, const struct viommu_host_iova_range *src,
			     uint32_t n);

/*
 * The one log line of a refused call: which backend, which call, the exact
 * range (iova and length as given, and [first, last] when it is one), the
 * errno and why (the kernel rule for the simulator, "the kernel" for a real
 * backend, the library policy for host.c). Called on every refusal.
 */
void vi_host_refused(const struct viommu_host *h, const char *op, uint64_t iova, uint64_t length, int err,
		     const char *why);

/* The errno's name ("EINVAL"), or NULL for one not in the table. */
const char *vi_host_errname(int err);

#endif

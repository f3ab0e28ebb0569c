/* SPDX-License-Identifier: MIT */
/* Private to src/virtio_iommu/: the device object and little-endian helpers. */
#ifndef VI_VIRTIO_IOMMU_INT_H
#define VI_VIRTIO_IOMMU_INT_H

#include <string.h>

#include <viommu/rangemap.h>
#include <viommu/virtio_iommu.h>

#include "virtio_iommu/host_link.h"

struct vio_domain;
struct vio_backend;

/*
 * An endpoint. Invariants: @domain is NULL or the domain whose list holds
 * it; @be is NULL or a backend whose list holds it; @ias (created on demand)
 * has recorded exactly what the endpoint can reach.
 */
struct vio_endpoint {
	uint32_t id;
	struct vio_domain *domain;
	struct vio_endpoint *dnext, *dprev;	/* the domain's endpoints */
	struct vio_backend *be;
	struct vio_endpoint *bnext;		/* the backend's endpoints */
	struct viommu_virtio_iommu_resv *resv;	/* its own regions, sorted */
	size_t nresv;
	struct viommu_iommu_as *ias;
	struct viommu_virtio_iommu *dev;
};

/*
 * A domain: exists while at least one endpoint is attached (@nep > 0).
 * @maps holds the mappings ([virt_start, virt_end] -> phys << 3 | flags);
 * @ias (NULL for a bypass domain) has recorded exactly the fed ones (not
 * MMIO, some permission, aligned to its page); @hs (created when a backend
 * first joins) maps them into the backends of the domain's endpoints.
 */
struct vio_domain {
	uint32_t id;
	bool bypass;
	size_t nep;
	struct vio_endpoint *eps;
	struct viommu_rangemap *maps;
	uint64_t unfed;				/* mappings in @maps that are not fed */
	struct viommu_iommu_as *ias;
	struct vio_hostset *hs;
	struct viommu_virtio_iommu *dev;
	/*
	 * While a MAP or UNMAP syncs the address spaces over the range it just
	 * changed, what the domain holds there is known without a lookup: the
	 * one new mapping (@known_map) or nothing.
	 */
	bool known;
	bool known_map;
	struct viommu_range_entry known_e;
};

/*
 * A host backend and the endpoints given it. @cur is the hostset it is
 * attached to (NULL: none): the one of its endpoints' common context, or
 * NULL while they disagree.
 */
struct vio_backend {
	struct viommu_host *h;
	struct vio_endpoint *eps;
	struct vio_hostset *cur;
	bool conflict;				/* endpoints disagree now */
};

/*
 * The device. Invariants: @eps maps endpoint ids to struct vio_endpoint *,
 * @doms domain ids to struct vio_domain * (each with nep > 0); @resv holds
 * the device-wide regions (value: subtype). Locking: the caller's.
 */
struct viommu_virtio_iommu {
	struct viommu_virtio_iommu_opts opts;
	struct viommu_virtio_iommu_resv *resv_list;	/* the device-wide regions, in PROBE order */
	size_t nresv;
	struct viommu_rangemap *resv;
	uint64_t features, driver_features;
	uint8_t bypass;				/* config.bypass */
	unsigned gshift;			/* granule: lowest set bit of page_size_mask */
	unsigned ias_shift;			/* page of the IOMMU address spaces fed */
	uint64_t phys_last;
	struct viommu_rangemap *eps;
	struct viommu_rangemap *doms;
	struct vio_backend **bes;
	size_t nbes, bcap;
	struct vio_hostset *identity;		/* bypass host context, created on demand */
	struct vio_host_counts hc;
	uint8_t *outbuf;			/* an answer: probe_size + tail bytes */
	struct viommu_virtio_iommu_stats st;
};

static inline uint16_t vi_le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t vi_le32(const uint8_t *p) { return (uint32_t)vi_le16(p) | (uint32_t)vi_le16(p + 2) << 16; }
static inline uint64_t vi_le64(const uint8_t *p) { return (uint64_t)vi_le32(p) | (uint64_t)vi_le32(p + 4) << 32; }
static inline void vi_put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void vi_put32(uint8_t *p, uint32_t v) { vi_put16(p, (uint16_t)v); vi_put16(p + 2, (uint16_t)(v >> 16)); }
static inline void vi_put64(uint8_t *p, uint64_t v) { vi_put32(p, (uint32_t)v); vi_put32(p + 4, (uint32_t)(v >> 32)); }

/* The largest device-readable prefix any request needs (PROBE's). */
#define VIO_REQ_MAX VIOMMU_VIRTIO_IOMMU_PROBE_SIZE

/*
 * The request handler over a copied readable prefix: @req holds the first
 * min(@rdlen, VIO_REQ_MAX) readable bytes, @rdlen is the readable total,
 * @wrlen the writable total. The answer is dev->outbuf[0, *outlen), to be
 * written at offset *outoff of the writable part (so the used length is
 * *outoff + *outlen). Returns as viommu_virtio_iommu_handle_request().
 */
int vio_handle(struct viommu_virtio_iommu *dev, const uint8_t *req, uint64_t rdlen, uint64_t wrlen,
	       uint32_t *outoff, uint32_t *outlen);

#endif

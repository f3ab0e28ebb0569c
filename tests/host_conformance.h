/* SPDX-License-Identifier: MIT */
/*
 * The host conformance table: one row per map/unmap case of VFIO type1
 * (vfio_iommu_type1.c, Linux 6.1) and iommufd (io_pagetable.c, 6.12), with the
 * errno, the byte count and the bytes still mapped afterwards expected under
 * type1 v2, type1 v1 and iommufd. The same rows run against the simulator
 * (tests/test_host_conformance.c) and, in the conformance VM, against the
 * real VFIO and iommufd backends — so they use only what a real backend can
 * observe: return codes, byte counts, and an unmap-all at the end to measure
 * what is left. vaddr is an offset into a caller-provided buffer (16 MiB,
 * 2 MiB aligned, really mapped so the kernel can pin it) unless it has the
 * top bit set, in which case it is used as is (wrap cases).
 */
#ifndef VIOMMU_TEST_HOST_CONFORMANCE_H
#define VIOMMU_TEST_HOST_CONFORMANCE_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <viommu/host.h>

enum hc_op { HC_END = 0, HC_MAP, HC_UNMAP, HC_UNMAP_FLAGS, HC_UNMAP_ALL };

struct hc_step {
	enum hc_op op;
	uint64_t iova, len, voff;
	unsigned arg;		/* MAP: prot; UNMAP_FLAGS: flags */
};

struct hc_expect {
	int ret;
	uint64_t bytes;		/* unmap byte count (0 for maps) */
	uint64_t left;		/* bytes an unmap-all removes afterwards */
};

struct hc_case {
	const char *name;
	const char *cite;	/* the kernel function deciding it */
	struct hc_step setup[4];	/* must all succeed */
	struct hc_step op;
	struct hc_expect exp[3];	/* type1 v2, type1 v1, iommufd */
};

#define HC_P  UINT64_C(0x1000)
#define HC_M  UINT64_C(0x200000)
#define HC_B  UINT64_C(0x40000000)
#define HC_RW 3u
#define HC_ABS(v) (v)		/* a vaddr with the top bit set is absolute */
#define MAP(i, l) { HC_MAP, (i), (l), 0, HC_RW }
#define MAPV(i, l, v) { HC_MAP, (i), (l), (v), HC_RW }
#define MAPP(i, l, p) { HC_MAP, (i), (l), 0, (p) }
#define UNMAP(i, l) { HC_UNMAP, (i), (l), 0, 0 }
#define UNMAPF(i, l, f) { HC_UNMAP_FLAGS, (i), (l), 0, (f) }
#define UNMAPALL { HC_UNMAP_ALL, 0, 0, 0, 0 }
#define SAME(r, b, l) { { (r), (b), (l) }, { (r), (b), (l) }, { (r), (b), (l) } }

static const struct hc_case hc_cases[] = {
	{ "map", "vfio_dma_do_map, iopt_map_user_pages", { { 0 } }, MAP(HC_B, HC_M), SAME(0, 0, HC_M) },
	{ "map size 0", "vfio_dma_do_map !size; iopt_alloc_pages", { { 0 } }, MAP(HC_B, 0), SAME(-EINVAL, 0, 0) },
	{ "map no permission", "vfio_dma_do_map !prot; iommufd_ioas_map", { { 0 } }, MAPP(HC_B, HC_P, 0),
	  SAME(-EINVAL, 0, 0) },
	{ "map iova misaligned", "vfio_dma_do_map: aligned to the smallest page; iopt_check_iova", { { 0 } }, MAP(HC_B + 0x800, HC_P),
	  SAME(-EINVAL, 0, 0) },
	{ "map length misaligned", "vfio_dma_do_map alignment; iopt_alloc_area_pages", { { 0 } }, MAP(HC_B, HC_P + 1), SAME(-EINVAL, 0, 0) },
	{ "map vaddr misaligned", "vfio_dma_do_map alignment; iopt_insert_area page_offset", { { 0 } }, MAPV(HC_B, HC_P, 0x800),
	  SAME(-EINVAL, 0, 0) },
	{ "identical re-map", "vfio_find_dma (measured: EEXIST); iopt_check_iova", { MAP(HC_B, HC_M) }, MAP(HC_B, HC_M),
	  SAME(-EEXIST, 0, HC_M) },
	{ "overlap tail", "vfio_find_dma", { MAP(HC_B, HC_M) }, MAP(HC_B + HC_M - HC_P, 2 * HC_P),
	  SAME(-EEXIST, 0, HC_M) },
	{ "overlap containing", "vfio_find_dma", { MAP(HC_B + HC_P, HC_P) }, MAP(HC_B, HC_M),
	  SAME(-EEXIST, 0, HC_P) },
	{ "overlap + vaddr misaligned", "order: vfio_dma_do_map alignment first; iopt_insert_area last",
	  { MAP(HC_B, HC_M) }, MAPV(HC_B, HC_P, 0x800),
	  { { -EINVAL, 0, HC_M }, { -EINVAL, 0, HC_M }, { -EEXIST, 0, HC_M } } },
	{ "interrupt window", "IOVA_RANGE excludes 0xfee00000-0xfeefffff (intel-iommu IOMMU_RESV_MSI)", { { 0 } }, MAP(0xfee00000, HC_P),
	  SAME(-EINVAL, 0, 0) },
	{ "straddles the window", "vfio_iommu_iova_dma_valid; iopt_reserved_iter_first", { { 0 } },
	  MAP(0xfed00000, HC_M), SAME(-EINVAL, 0, 0) },
	{ "above the aperture", "VT-d 39-bit aperture (measured last usable 0x7fffffffff)", { { 0 } }, MAP(UINT64_C(0x8000000000), HC_P),
	  SAME(-EINVAL, 0, 0) },
	{ "last usable page", "vfio_iommu_iova_dma_valid", { { 0 } }, MAP(UINT64_C(0x7ffffff000), HC_P), SAME(0, 0, HC_P) },
	{ "overlap + reserved", "order: type1 EEXIST before range; iommufd reserved before areas",
	  { MAP(0xfedff000, HC_P) }, MAP(0xfedff000, 2 * HC_P),
	  { { -EEXIST, 0, HC_P }, { -EEXIST, 0, HC_P }, { -EINVAL, 0, HC_P } } },
	{ "iova + length wraps", "type1 wrap check EINVAL; iopt_check_iova EOVERFLOW", { { 0 } },
	  MAP(UINT64_C(0xfffffffffffff000), 2 * HC_P),
	  { { -EINVAL, 0, 0 }, { -EINVAL, 0, 0 }, { -EOVERFLOW, 0, 0 } } },
	{ "vaddr + length wraps", "type1 wrap check; iopt_alloc_pages check_add_overflow", { { 0 } },
	  MAPV(HC_B, 2 * HC_P, HC_ABS(UINT64_C(0xfffffffffffff000))),
	  { { -EINVAL, 0, 0 }, { -EINVAL, 0, 0 }, { -EOVERFLOW, 0, 0 } } },
	{ "length U64_MAX", "iommufd_ioas_map >= ULONG_MAX", { { 0 } }, MAP(HC_B, UINT64_MAX),
	  { { -EINVAL, 0, 0 }, { -EINVAL, 0, 0 }, { -EOVERFLOW, 0, 0 } } },
	{ "iova U64_MAX, length 0", "iommufd_ioas_map checks overflow before length 0", { { 0 } },
	  MAP(UINT64_MAX, 0), { { -EINVAL, 0, 0 }, { -EINVAL, 0, 0 }, { -EOVERFLOW, 0, 0 } } },
	{ "exact unmap", "vfio_dma_do_unmap (measured: size 0x200000)", { MAP(HC_B, HC_M) }, UNMAP(HC_B, HC_M), SAME(0, HC_M, 0) },
	{ "unmap nothing", "vfio_dma_do_unmap: 0 bytes; iommufd_ioas_unmap: ENOENT", { { 0 } }, UNMAP(HC_B, HC_M),
	  { { 0, 0, 0 }, { 0, 0, 0 }, { -ENOENT, 0, 0 } } },
	{ "bisect head", "vfio_dma_do_unmap v2 EINVAL, v1 whole mapping; iopt_unmap_iova_range ENOENT", { MAP(HC_B, HC_M) },
	  UNMAP(HC_B, HC_P), { { -EINVAL, 0, HC_M }, { 0, HC_M, 0 }, { -ENOENT, 0, HC_M } } },
	{ "bisect tail", "vfio_dma_do_unmap v1: a start inside gives 0 bytes", { MAP(HC_B, HC_M) }, UNMAP(HC_B + HC_M - HC_P, HC_P),
	  { { -EINVAL, 0, HC_M }, { 0, 0, HC_M }, { -ENOENT, 0, HC_M } } },
	{ "straddle the start", "vfio_dma_do_unmap v1: covers the first IOVA", { MAP(HC_B, HC_M) }, UNMAP(HC_B - HC_P, 2 * HC_P),
	  { { -EINVAL, 0, HC_M }, { 0, HC_M, 0 }, { -ENOENT, 0, HC_M } } },
	{ "several + holes", "vfio_dma_do_unmap; iopt_unmap_iova_range", { MAP(HC_B, HC_P), MAP(HC_B + HC_M, 2 * HC_P), MAP(HC_B + 4 * HC_M, HC_P) },
	  UNMAP(HC_B - HC_M, 8 * HC_M), SAME(0, 4 * HC_P, 0) },
	{ "unmap all", "VFIO_DMA_UNMAP_FLAG_ALL; iommufd_ioas_unmap (0, U64_MAX)", { MAP(HC_B, HC_P), MAP(HC_B + HC_M, HC_M) }, UNMAPALL,
	  SAME(0, HC_P + HC_M, 0) },
	{ "unmap all, empty", "iopt_unmap_all maps ENOENT to 0", { { 0 } }, UNMAPALL, SAME(0, 0, 0) },
	{ "UNMAP_ALL with iova", "vfio_dma_do_unmap: iova and size must be 0; no flags in iommufd", { MAP(HC_B, HC_M) },
	  UNMAPF(HC_P, 0, VIOMMU_HOST_UNMAP_ALL),
	  { { -EINVAL, 0, HC_M }, { -EINVAL, 0, HC_M }, { -EOPNOTSUPP, 0, HC_M } } },
	{ "UNMAP_ALL with size", "vfio_dma_do_unmap: iova and size must be 0", { MAP(HC_B, HC_M) }, UNMAPF(0, HC_P, VIOMMU_HOST_UNMAP_ALL),
	  { { -EINVAL, 0, HC_M }, { -EINVAL, 0, HC_M }, { -EOPNOTSUPP, 0, HC_M } } },
	{ "unmap length 0", "vfio_dma_do_unmap; iopt_unmap_iova", { MAP(HC_B, HC_M) }, UNMAP(HC_B, 0),
	  SAME(-EINVAL, 0, HC_M) },
	{ "unmap iova misaligned", "type1 alignment; iommufd has none", { MAP(HC_B, HC_M) }, UNMAP(HC_B + 1, HC_M),
	  { { -EINVAL, 0, HC_M }, { -EINVAL, 0, HC_M }, { -ENOENT, 0, HC_M } } },
	{ "unmap wraps", "type1 EINVAL; iopt_unmap_iova EOVERFLOW", { { 0 } },
	  UNMAP(UINT64_C(0xfffffffffffff000), 2 * HC_P),
	  { { -EINVAL, 0, 0 }, { -EINVAL, 0, 0 }, { -EOVERFLOW, 0, 0 } } },
	{ "unmap length U64_MAX", "iommufd_ioas_unmap >= ULONG_MAX", { { 0 } }, UNMAP(HC_P, UINT64_MAX),
	  { { -EINVAL, 0, 0 }, { -EINVAL, 0, 0 }, { -EOVERFLOW, 0, 0 } } },
	{ "whole then partial", "iopt_unmap_iova_range keeps what it removed before ENOENT",
	  { MAP(HC_B, HC_P), MAP(HC_B + 2 * HC_P, 2 * HC_P) }, UNMAP(HC_B, 3 * HC_P),
	  { { -EINVAL, 0, 3 * HC_P }, { 0, 3 * HC_P, 0 }, { -ENOENT, 0, 2 * HC_P } } },
	{ "v1 stops at a start inside", "vfio_dma_do_unmap v1 'iova > dma->iova' break",
	  { MAP(HC_B, 2 * HC_P), MAP(HC_B + 4 * HC_P, HC_P) }, UNMAP(HC_B + HC_P, 8 * HC_P),
	  { { -EINVAL, 0, 3 * HC_P }, { 0, 0, 3 * HC_P }, { -ENOENT, 0, 3 * HC_P } } },
};

static inline int hc_sem_index(enum viommu_host_semantics s)
{
	return s == VIOMMU_HOST_TYPE1V2 ? 0 : s == VIOMMU_HOST_TYPE1V1 ? 1 : 2;
}

static inline int hc_step(struct viommu_host *h, const struct hc_step *s, uint64_t vbase, uint64_t *bytes)
{
	uint64_t va = (s->voff >> 63) ? s->voff : vbase + s->voff;

	*bytes = 0;
	switch (s->op) {
	case HC_MAP: return viommu_host_map(h, s->iova, s->len, va, s->arg);
	case HC_UNMAP: return viommu_host_unmap(h, s->iova, s->len, bytes);
	case HC_UNMAP_FLAGS: return viommu_host_unmap_flags(h, s->iova, s->len, s->arg, bytes);
	case HC_UNMAP_ALL: return viommu_host_unmap_all(h, bytes);
	default: return -EINVAL;
	}
}

/*
 * Run one row on @h (which must start empty and is left empty). Returns 0 if
 * it matched; otherwise writes what differed into @why.
 */
static inline int hc_run(struct viommu_host *h, const struct hc_case *c, uint64_t vbase, char *why, size_t whysz)
{
	const struct hc_expect *e = &c->exp[hc_sem_index(viommu_host_semantics(h))];
	uint64_t bytes, left;
	int ret, lret;

	for (int i = 0; i < 4 && c->setup[i].op != HC_END; i++) {
		ret = hc_step(h, &c->setup[i], vbase, &bytes);
		if (ret) {
			snprintf(why, whysz, "%s: setup step %d failed %d", c->name, i, ret);
			viommu_host_unmap_all(h, &left);
			return -1;
		}
	}
	ret = hc_step(h, &c->op, vbase, &bytes);
	lret = viommu_host_unmap_all(h, &left);
	if (ret != e->ret || bytes != e->bytes || lret || left != e->left) {
		snprintf(why, whysz, "%s (%s): got %d/0x%llx left 0x%llx, want %d/0x%llx left 0x%llx", c->name, c->cite,
			 ret, (unsigned long long)bytes, (unsigned long long)left, e->ret,
			 (unsigned long long)e->bytes, (unsigned long long)e->left);
		return -1;
	}
	return 0;
}

#endif

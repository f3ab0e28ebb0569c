/* SPDX-License-Identifier: MIT */
/*
 * The conformance table of the host uAPI a VMM needs for migration and live
 * update (issue 15): pinning, dirty tracking, user-address update, IOASes
 * (alloc, copy, allowed ranges, no device, attach) and CHANGE_PROCESS. Each
 * case is a sequence of steps, and every step has the errno and the result
 * expected under type1 v2, type1 v1 and iommufd, read from the kernel source
 * (drivers/vfio/vfio_iommu_type1.c of 6.1, drivers/iommu/iommufd/ of 6.12)
 * and measured in the conformance guest. tests/test_host_conformance.c runs
 * it on the simulator; tests/vm/guest/conformance.c runs it on the real
 * kernel and on the simulator side by side and requires all three to agree.
 *
 * A case whose simulator configuration no guest kernel can reproduce (a VT-d
 * that tracks dirty pages; a kernel with IOMMU_IOAS_CHANGE_PROCESS) has
 * sim_flags set: it is modelled from the source only and the guest skips it.
 *
 * User memory: vaddr offsets are into a buffer of HU_RW bytes read-write,
 * then one read-only page, then one PROT_NONE page; the simulator registers
 * the same (VIOMMU_HOST_SIM_USER_REGISTERED). Steps with .abs use the vaddr
 * as given.
 */
#ifndef VIOMMU_TEST_HOST_UAPI_CASES_H
#define VIOMMU_TEST_HOST_UAPI_CASES_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <viommu/host.h>

#define HU_P	UINT64_C(0x1000)
#define HU_M	UINT64_C(0x200000)
#define HU_B	UINT64_C(0x40000000)	/* IOVA 1 GiB */
#define HU_RW	UINT64_C(0x1000000)	/* 16 MiB read-write */
#define HU_RO	HU_RW			/* offset of the read-only page */
#define HU_NONE	(HU_RW + HU_P)		/* offset of the PROT_NONE page */
#define HU_BUF	(HU_RW + 2 * HU_P)
#define HU_ANY	1			/* expected ret: not compared */

enum hu_op {
	HU_END = 0,
	HU_MAP,		/* iova, len, voff|abs, arg = prot, arg2 = map flags */
	HU_MAP_AUTO,	/* voff, len, arg = prot; result: the IOVA chosen */
	HU_UNMAP,	/* iova, len, arg = unmap flags; result: bytes */
	HU_UNMAP_DIRTY,	/* iova, len, arg = flags, arg2 = pgsize, arg3 = bitmap bytes, arg4 = prefill */
	HU_DIRTY,	/* arg = VIOMMU_HOST_DIRTY_START/STOP */
	HU_DIRTY_READ,	/* iova, len, arg = flags, arg2 = pgsize, arg3 = bitmap bytes, arg4 = prefill */
	HU_ACCESS,	/* a device write of [iova, iova + len - 1] (simulator; no-op on a kernel) */
	HU_COPY,	/* into h[on] at iova from h[1 - on] at arg2, len, arg = prot, arg3 = copy flags */
	HU_ALLOW,	/* on h[on]: arg ranges, [iova, arg2] and [arg3, arg4] */
	HU_CHANGE_PROCESS,
	HU_ATTACH2,	/* attach the second device to h[1] */
	HU_CAPS,	/* h[on]: result = iova_alignment, bm = { nranges, last range's last } */
	HU_PINS,	/* result: CPU pages pinned since the case started */
	HU_USED,	/* result: type1 mappings used (DMA_AVAIL at the start minus now) */
};

struct hu_exp {
	int ret;
	uint64_t res;		/* bytes / IOVA / alignment / pages, as the op says */
	uint64_t bm[2];		/* bitmap words 0 and 1 (dirty ops), or HU_CAPS values */
};

struct hu_step {
	enum hu_op op;
	unsigned on;		/* handle: 0 = the backend, 1 = a second IOAS of its iommufd */
	bool abs;		/* vaddr is absolute, not an offset */
	unsigned arg;
	uint64_t iova, len, voff, arg2, arg3, arg4;
	struct hu_exp exp[3];	/* type1 v2, type1 v1, iommufd */
};

struct hu_case {
	const char *name;
	const char *cite;	/* the kernel function deciding the last step */
	unsigned sim_flags;	/* VIOMMU_HOST_SIM_*: non-zero = modelled from source, no guest */
	bool ioas2;		/* needs a second IOAS (iommufd only; skipped on type1) */
	struct hu_step s[9];
	bool fd_only;		/* iommufd only (skipped on type1) */
};

/* expectations: the same under all three, or one per semantics */
#define E3(r, v) { { (r), (v), { 0, 0 } }, { (r), (v), { 0, 0 } }, { (r), (v), { 0, 0 } } }
#define E(r2, v2, r1, v1, rf, vf) { { (r2), (v2), { 0, 0 } }, { (r1), (v1), { 0, 0 } }, { (rf), (vf), { 0, 0 } } }
#define EB(r2, b20, r1, b10, rf, bf0) \
	{ { (r2), 0, { (b20), 0 } }, { (r1), 0, { (b10), 0 } }, { (rf), 0, { (bf0), 0 } } }
/* iommufd only, two bitmap words */
#define EFD2(r, w0, w1) \
	{ { -EOPNOTSUPP, 0, { 0, 0 } }, { -EOPNOTSUPP, 0, { 0, 0 } }, { (r), 0, { (w0), (w1) } } }
/* type1 v2 gets (r, v), v1 and iommufd each their own */
#define T1(r, v) E((r), (v), (r), (v), -EOPNOTSUPP, 0)
#define FD(r, v) E(-EOPNOTSUPP, 0, -EOPNOTSUPP, 0, (r), (v))

#define RW 3u
#define RO 1u
#define MAPS(i, l, vo, x) { .op = HU_MAP, .iova = (i), .len = (l), .voff = (vo), .arg = RW, .exp = x }
#define MAP0(i, l, vo) MAPS((i), (l), (vo), E3(0, 0))
#define ALL0(b) { .op = HU_UNMAP, .arg = VIOMMU_HOST_UNMAP_ALL, .exp = E3(0, (b)) }
#define FDALL(b) ALL0(b)
#define ALLX(x) { .op = HU_UNMAP, .arg = VIOMMU_HOST_UNMAP_ALL, .exp = x }
#define START(x) { .op = HU_DIRTY, .arg = VIOMMU_HOST_DIRTY_START, .exp = x }
#define START_T1 START(E(0, 0, -EACCES, 0, -EOPNOTSUPP, 0))
#define READ(i, l, sz, fill, x) { .op = HU_DIRTY_READ, .iova = (i), .len = (l), .arg2 = HU_P, .arg3 = (sz), \
				  .arg4 = (fill), .exp = x }

/* rows name the fields they use; the rest are zero */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
static const struct hu_case hu_cases[] = {
	/* ---- pinning: the kernel pins the user pages; nothing there: EFAULT, nothing mapped ---- */
	{ "pin: nothing at 0x10000", "vfio_pin_pages_remote; pfn_reader_user_pin (pin_user_pages: no VMA)", 0, false,
	  { { .op = HU_MAP, .iova = HU_B, .len = HU_P, .voff = 0x10000, .abs = true, .arg = RW, .exp = E3(-EFAULT, 0) },
	    { .op = HU_USED, .exp = E3(0, 0) }, { .op = HU_PINS, .exp = E3(0, 0) } } },
	{ "pin: 0xfffffffffffff000", "type1: no wrap, then no VMA: EFAULT; iopt_alloc_pages: uptr + length overflows", 0,
	  false,
	  { { .op = HU_MAP, .iova = HU_B, .len = HU_P, .voff = UINT64_C(0xfffffffffffff000), .abs = true, .arg = RW,
	      .exp = E(-EFAULT, 0, -EFAULT, 0, -EOVERFLOW, 0) } } },
	{ "pin: the kernel half", "pin_user_pages_remote / pin_user_pages_fast (access_ok)", 0, false,
	  { { .op = HU_MAP, .iova = HU_B, .len = HU_P, .voff = UINT64_C(0xffff800000000000), .abs = true, .arg = RW,
	      .exp = E3(-EFAULT, 0) } } },
	{ "pin: write DMA over read-only memory", "mm/gup.c check_vma_flags: FOLL_WRITE needs VM_WRITE", 0, false,
	  { MAPS(HU_B, HU_P, HU_RO, E3(-EFAULT, 0)), { .op = HU_USED, .exp = E3(0, 0) } } },
	{ "pin: read DMA over read-only memory", "check_vma_flags: VM_READ suffices", 0, false,
	  { { .op = HU_MAP, .iova = HU_B, .len = HU_P, .voff = HU_RO, .arg = RO, .exp = E3(0, 0) },
	    { .op = HU_PINS, .exp = E3(0, 1) }, FDALL(HU_P) } },
	{ "pin: last page has no access", "vfio_pin_map_dma unwinds what it pinned; iopt_area_fill_domains", 0, false,
	  { { .op = HU_MAP, .iova = HU_B, .len = 2 * HU_P, .voff = HU_RO, .arg = RO, .exp = E3(-EFAULT, 0) },
	    { .op = HU_USED, .exp = E3(0, 0) }, { .op = HU_PINS, .exp = E3(0, 0) }, FDALL(0) } },
	{ "pin: pages counted per mapping", "vfio_lock_acct per vfio_dma; one iopt_pages per IOMMU_IOAS_MAP", 0, false,
	  { MAP0(HU_B, HU_M, 0), { .op = HU_PINS, .exp = E3(0, 512) }, MAP0(HU_B + HU_M, HU_M, 0),
	    { .op = HU_PINS, .exp = E3(0, 1024) }, FDALL(2 * HU_M), { .op = HU_PINS, .exp = E3(0, 0) } } },

	/* ---- live update: VFIO_DMA_UNMAP_FLAG_VADDR / VFIO_DMA_MAP_FLAG_VADDR (type1 only) ---- */
	{ "vaddr: invalidate keeps the mapping", "vfio_dma_do_unmap invalidate_vaddr", 0, false,
	  { MAP0(HU_B, HU_M, 0), { .op = HU_UNMAP, .iova = HU_B, .len = HU_M, .arg = VIOMMU_HOST_UNMAP_VADDR,
				   .exp = T1(0, HU_M) },
	    { .op = HU_USED, .exp = E(0, 1, 0, 1, 0, 0) }, { .op = HU_PINS, .exp = E3(0, 512) }, FDALL(HU_M) } },
	{ "vaddr: invalidate twice", "vfio_dma_do_unmap: dma->vaddr_invalid -> EINVAL", 0, false,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_UNMAP, .iova = HU_B, .len = HU_M, .arg = VIOMMU_HOST_UNMAP_VADDR, .exp = T1(0, HU_M) },
	    { .op = HU_UNMAP, .iova = HU_B, .len = HU_M, .arg = VIOMMU_HOST_UNMAP_VADDR, .exp = T1(-EINVAL, 0) },
	    FDALL(HU_M) } },
	{ "vaddr: a failed invalidate rolls back", "vfio_dma_do_unmap: first_n .. last_n made valid again", 0, false,
	  { MAP0(HU_B, HU_P, 0), MAP0(HU_B + HU_M, HU_P, HU_M),
	    { .op = HU_UNMAP, .iova = HU_B + HU_M, .len = HU_P, .arg = VIOMMU_HOST_UNMAP_VADDR, .exp = T1(0, HU_P) },
	    { .op = HU_UNMAP, .iova = HU_B, .len = 2 * HU_M, .arg = VIOMMU_HOST_UNMAP_VADDR, .exp = T1(-EINVAL, 0) },
	    { .op = HU_MAP, .iova = HU_B, .len = HU_P, .voff = 0, .arg2 = VIOMMU_HOST_MAP_VADDR,
	      .exp = T1(-EINVAL, 0) },
	    { .op = HU_MAP, .iova = HU_B + HU_M, .len = HU_P, .voff = HU_M, .arg2 = VIOMMU_HOST_MAP_VADDR,
	      .exp = T1(0, 0) },
	    FDALL(2 * HU_P) } },
	{ "vaddr: new address without invalidate", "vfio_dma_do_map: !dma->vaddr_invalid -> EINVAL", 0, false,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_MAP, .iova = HU_B, .len = HU_M, .voff = HU_M, .arg2 = VIOMMU_HOST_MAP_VADDR,
	      .exp = T1(-EINVAL, 0) }, FDALL(HU_M) } },
	{ "vaddr: new address for nothing", "vfio_dma_do_map: !dma -> ENOENT", 0, false,
	  { { .op = HU_MAP, .iova = HU_B, .len = HU_M, .voff = 0, .arg2 = VIOMMU_HOST_MAP_VADDR,
	      .exp = T1(-ENOENT, 0) } } },
	{ "vaddr: new address with permissions", "vfio_dma_do_map: prot && set_vaddr -> EINVAL", 0, false,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_UNMAP, .iova = HU_B, .len = HU_M, .arg = VIOMMU_HOST_UNMAP_VADDR, .exp = T1(0, HU_M) },
	    { .op = HU_MAP, .iova = HU_B, .len = HU_M, .voff = HU_M, .arg = RW, .arg2 = VIOMMU_HOST_MAP_VADDR,
	      .exp = T1(-EINVAL, 0) }, FDALL(HU_M) } },
	{ "vaddr: new address for part of a mapping", "vfio_dma_do_map: dma->iova != iova || size -> EINVAL", 0, false,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_UNMAP, .iova = HU_B, .len = HU_M, .arg = VIOMMU_HOST_UNMAP_VADDR, .exp = T1(0, HU_M) },
	    { .op = HU_MAP, .iova = HU_B, .len = HU_P, .voff = HU_M, .arg2 = VIOMMU_HOST_MAP_VADDR,
	      .exp = T1(-EINVAL, 0) }, FDALL(HU_M) } },
	{ "vaddr: new address misaligned", "vfio_dma_do_map: alignment before the VADDR branch", 0, false,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_UNMAP, .iova = HU_B, .len = HU_M, .arg = VIOMMU_HOST_UNMAP_VADDR, .exp = T1(0, HU_M) },
	    { .op = HU_MAP, .iova = HU_B, .len = HU_M, .voff = 0x800, .arg2 = VIOMMU_HOST_MAP_VADDR,
	      .exp = T1(-EINVAL, 0) }, FDALL(HU_M) } },
	{ "vaddr: swap to a new address", "vfio_dma_do_map VADDR: no pin, no DMA_AVAIL change", 0, false,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_UNMAP, .iova = HU_B, .len = HU_M, .arg = VIOMMU_HOST_UNMAP_VADDR, .exp = T1(0, HU_M) },
	    { .op = HU_MAP, .iova = HU_B, .len = HU_M, .voff = 2 * HU_M, .arg2 = VIOMMU_HOST_MAP_VADDR,
	      .exp = T1(0, 0) },
	    { .op = HU_PINS, .exp = E3(0, 512) }, { .op = HU_USED, .exp = E(0, 1, 0, 1, 0, 0) },
	    { .op = HU_UNMAP, .iova = HU_B, .len = HU_M, .exp = E3(0, HU_M) } } },
	{ "vaddr: invalidate everything", "VFIO_DMA_UNMAP_FLAG_ALL | VADDR", 0, false,
	  { MAP0(HU_B, HU_M, 0), MAP0(HU_B + 2 * HU_M, HU_P, HU_M),
	    { .op = HU_UNMAP, .arg = VIOMMU_HOST_UNMAP_ALL | VIOMMU_HOST_UNMAP_VADDR, .exp = T1(0, HU_M + HU_P) },
	    FDALL(HU_M + HU_P) } },
	{ "vaddr: invalidate part of a mapping", "v2: bisect EINVAL; v1: covers the first IOVA, whole vfio_dma", 0, false,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_UNMAP, .iova = HU_B, .len = HU_P, .arg = VIOMMU_HOST_UNMAP_VADDR,
	      .exp = E(-EINVAL, 0, 0, HU_M, -EOPNOTSUPP, 0) }, FDALL(HU_M) } },
	{ "vaddr: unmap an invalidated mapping", "vfio_remove_dma: vaddr_invalid_count--", 0, false,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_UNMAP, .iova = HU_B, .len = HU_M, .arg = VIOMMU_HOST_UNMAP_VADDR, .exp = T1(0, HU_M) },
	    { .op = HU_UNMAP, .iova = HU_B, .len = HU_M, .exp = E3(0, HU_M) }, { .op = HU_PINS, .exp = E3(0, 0) } } },

	/* ---- dirty tracking: type1 VFIO_IOMMU_DIRTY_PAGES; iommufd on a domain without dirty ops ---- */
	{ "dirty: start", "vfio_iommu_type1_dirty_pages (!iommu->v2 -> EACCES); iopt_set_dirty_tracking (!ops)", 0,
	  false, { START_T1, { .op = HU_DIRTY, .arg = VIOMMU_HOST_DIRTY_STOP, .exp = E(0, 0, -EACCES, 0, -EOPNOTSUPP, 0) } } },
	{ "dirty: start and stop at once", "\"only one flag should be set at a time\"", 0, false,
	  { { .op = HU_DIRTY, .arg = VIOMMU_HOST_DIRTY_START | VIOMMU_HOST_DIRTY_STOP,
	      .exp = E(-EINVAL, 0, -EACCES, 0, -EINVAL, 0) } } },
	{ "dirty: read before start", "vfio_iommu_type1_dirty_pages: !dirty_page_tracking -> EINVAL", 0, false,
	  { MAP0(HU_B, HU_M, 0), READ(HU_B, HU_M, 64, 0, E(-EINVAL, 0, -EACCES, 0, -EOPNOTSUPP, 0)), FDALL(HU_M) } },
	{ "dirty: every mapped page reads dirty", "update_user_bitmap: num_non_pinned_groups && iommu_mapped", 0, false,
	  { START_T1, MAP0(HU_B, 4 * HU_P, 0), { .op = HU_ACCESS, .iova = HU_B, .len = 8, .exp = E3(0, 0) },
	    READ(HU_B, 8 * HU_P, 8, 0, EB(0, 0xf, -EACCES, 0, -EOPNOTSUPP, 0)),
	    READ(HU_B, 8 * HU_P, 8, 0, EB(0, 0xf, -EACCES, 0, -EOPNOTSUPP, 0)), FDALL(4 * HU_P) } },
	{ "dirty: bits past a mapping come back", "bitmap_shift_left in place, only npages cleared after", 0, false,
	  { START_T1, MAP0(HU_B + HU_P, HU_P, 0), READ(HU_B, 128 * HU_P, 16, 0, EB(0, 0x2, -EACCES, 0, -EOPNOTSUPP, 0)),
	    READ(HU_B, 128 * HU_P, 16, 0, EB(0, 0x6, -EACCES, 0, -EOPNOTSUPP, 0)),
	    READ(HU_B, 128 * HU_P, 16, 0, EB(0, 0xe, -EACCES, 0, -EOPNOTSUPP, 0)),
	    READ(HU_B + HU_P, HU_P, 8, 0, EB(0, 0xf, -EACCES, 0, -EOPNOTSUPP, 0)), FDALL(HU_P) } },
	{ "dirty: the first word is OR-ed, the rest rewritten", "update_user_bitmap: bitmap_or over the first word", 0,
	  false,
	  { START_T1, MAP0(HU_B + HU_P, HU_P, 0),
	    READ(HU_B, 2 * HU_P, 8, UINT64_MAX, EB(0, UINT64_MAX, -EACCES, UINT64_MAX, -EOPNOTSUPP, UINT64_MAX)),
	    { .op = HU_UNMAP, .iova = HU_B + HU_P, .len = HU_P, .exp = E3(0, HU_P) }, MAP0(HU_B, HU_P, 0),
	    READ(HU_B, 2 * HU_P, 8, UINT64_MAX, EB(0, 0x1, -EACCES, UINT64_MAX, -EOPNOTSUPP, UINT64_MAX)),
	    FDALL(HU_P) } },
	{ "dirty: two mappings and holes", "vfio_iova_dirty_bitmap per vfio_dma", 0, false,
	  { START_T1, MAP0(HU_B, HU_P, 0), MAP0(HU_B + 2 * HU_P, HU_P, HU_P),
	    READ(HU_B, 4 * HU_P, 8, 0, EB(0, 0x5, -EACCES, 0, -EOPNOTSUPP, 0)), FDALL(2 * HU_P) } },
	{ "dirty: range starts inside a mapping", "vfio_iova_dirty_bitmap: must fully cover vfio_dma", 0, false,
	  { START_T1, MAP0(HU_B, 2 * HU_P, 0), READ(HU_B + HU_P, HU_P, 8, 0, E(-EINVAL, 0, -EACCES, 0, -EOPNOTSUPP, 0)),
	    FDALL(2 * HU_P) } },
	{ "dirty: bitmap page size not the smallest", "\"allow only smallest supported pgsize\"", 0, false,
	  { START_T1, MAP0(HU_B, HU_M, 0),
	    { .op = HU_DIRTY_READ, .iova = HU_B, .len = HU_M, .arg2 = HU_M, .arg3 = 8,
	      .exp = E(-EINVAL, 0, -EACCES, 0, -EOPNOTSUPP, 0) }, FDALL(HU_M) } },
	{ "dirty: bitmap too small", "verify_bitmap_size; iommufd: the library (no size in the uAPI)", 0, false,
	  { START_T1, MAP0(HU_B, 128 * HU_P, 0), READ(HU_B, 128 * HU_P, 8, 0, E(-EINVAL, 0, -EACCES, 0, -EINVAL, 0)),
	    FDALL(128 * HU_P) } },
	{ "dirty: unmap with the bitmap", "vfio_dma_do_unmap GET_DIRTY_BITMAP", 0, false,
	  { START_T1, MAP0(HU_B, 2 * HU_P, 0),
	    { .op = HU_UNMAP_DIRTY, .iova = HU_B, .len = 2 * HU_P, .arg2 = HU_P, .arg3 = 8,
	      .exp = { { 0, 2 * HU_P, { 0x3, 0 } }, { -EINVAL, 0, { 0, 0 } }, { -EOPNOTSUPP, 0, { 0, 0 } } } },
	    ALLX(E(0, 0, 0, 2 * HU_P, 0, 2 * HU_P)) } },
	{ "dirty: unmap with the bitmap, not tracking", "vfio_dma_do_unmap: !dirty_page_tracking -> EINVAL", 0, false,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_UNMAP_DIRTY, .iova = HU_B, .len = HU_M, .arg2 = HU_P, .arg3 = 64,
	      .exp = E(-EINVAL, 0, -EINVAL, 0, -EOPNOTSUPP, 0) }, FDALL(HU_M) } },
	{ "dirty: unmap with the bitmap and ALL", "vfio_iommu_type1_unmap_dma: GET_DIRTY_BITMAP with ALL", 0, false,
	  { { .op = HU_UNMAP_DIRTY, .arg = VIOMMU_HOST_UNMAP_ALL, .arg2 = HU_P, .arg3 = 8,
	      .exp = E(-EINVAL, 0, -EINVAL, 0, -EOPNOTSUPP, 0) } } },
	{ "dirty: stop, then read", "vfio_dma_bitmap_free_all", 0, false,
	  { START_T1, MAP0(HU_B, HU_P, 0),
	    { .op = HU_DIRTY, .arg = VIOMMU_HOST_DIRTY_STOP, .exp = E(0, 0, -EACCES, 0, -EOPNOTSUPP, 0) },
	    READ(HU_B, HU_P, 8, 0, E(-EINVAL, 0, -EACCES, 0, -EOPNOTSUPP, 0)), FDALL(HU_P) } },
	{ "dirty: iommufd checks the range first", "iommufd_check_iova_range before iommu_read_and_clear_dirty", 0,
	  false,
	  { MAP0(HU_B, HU_M, 0), READ(HU_B + 0x800, HU_P, 8, 0, E(-EINVAL, 0, -EACCES, 0, -EINVAL, 0)),
	    READ(UINT64_C(0xfffffffffffff000), 2 * HU_P, 8, 0, E(-EINVAL, 0, -EACCES, 0, -EOVERFLOW, 0)), FDALL(HU_M) } },
	{ "dirty: a new IOAS has no HWPT", "iommufd_get_hwpt_paging: no such object", 0, true,
	  { { .op = HU_DIRTY, .on = 1, .arg = VIOMMU_HOST_DIRTY_START, .exp = E3(-ENOENT, 0) } } },

	/* ---- iommufd: a new IOAS (no device), attach, allowed ranges, copy ---- */
	{ "ioas: a new IOAS has the whole space", "iopt_init_table: iova_alignment 1, no reserved range", 0, true,
	  { { .op = HU_CAPS, .on = 1, .exp = { { 0, 0, { 0 } }, { 0, 0, { 0 } }, { 0, 1, { 1, UINT64_MAX } } } } } },
	{ "ioas: byte-aligned map without a device", "iopt_alloc_area_pages with iova_alignment 1", 0, true,
	  { { .op = HU_MAP, .on = 1, .iova = 1, .len = 1, .voff = 1, .arg = RW, .exp = E3(0, 0) },
	    { .op = HU_PINS, .exp = E3(0, 0) }, { .op = HU_UNMAP, .on = 1, .iova = 0, .len = UINT64_MAX, .exp = E3(0, 1) } } },
	{ "ioas: no device, nothing pinned", "iopt_area_fill_domains: no domain, no pin", 0, true,
	  { { .op = HU_MAP, .on = 1, .iova = HU_B, .len = HU_P, .voff = 0x10000, .abs = true, .arg = RW,
	      .exp = E3(0, 0) }, { .op = HU_PINS, .exp = E3(0, 0) } } },
	{ "ioas: attach pins what is mapped", "iopt_table_add_domain -> iopt_fill_domain", 0, true,
	  { { .op = HU_MAP, .on = 1, .iova = HU_B, .len = HU_M, .voff = 0, .arg = RW, .exp = E3(0, 0) },
	    { .op = HU_PINS, .exp = E3(0, 0) }, { .op = HU_ATTACH2, .exp = E3(0, 0) }, { .op = HU_PINS, .exp = E3(0, 512) },
	    { .op = HU_CAPS, .on = 1, .exp = { { 0, 0, { 0 } }, { 0, 0, { 0 } }, { 0, HU_P, { 2, UINT64_C(0x7fffffffff) } } } } } },
	{ "ioas: attach over unbacked memory", "iopt_fill_domain: pfn_reader_user_pin EFAULT", 0, true,
	  { { .op = HU_MAP, .on = 1, .iova = HU_B, .len = HU_P, .voff = 0x10000, .abs = true, .arg = RW,
	      .exp = E3(0, 0) }, { .op = HU_ATTACH2, .exp = E3(-EFAULT, 0) } } },
	{ "ioas: attach with a byte-aligned area", "iopt_check_iova_alignment -> EADDRINUSE", 0, true,
	  { { .op = HU_MAP, .on = 1, .iova = 1, .len = 1, .voff = 1, .arg = RW, .exp = E3(0, 0) },
	    { .op = HU_ATTACH2, .exp = E3(-EADDRINUSE, 0) } } },
	{ "ioas: attach with an area in the MSI window", "iopt_reserve_iova: area overlaps -> EADDRINUSE", 0, true,
	  { { .op = HU_MAP, .on = 1, .iova = 0xfee00000, .len = HU_P, .voff = 0, .arg = RW, .exp = E3(0, 0) },
	    { .op = HU_ATTACH2, .exp = E3(-EADDRINUSE, 0) } } },
	{ "ioas: attach when allowed ranges cover the window", "iopt_reserve_iova: allowed overlaps -> EADDRINUSE", 0,
	  true,
	  { { .op = HU_ALLOW, .on = 1, .arg = 1, .iova = 0, .arg2 = UINT64_C(0x7fffffffff), .exp = E3(0, 0) },
	    { .op = HU_ATTACH2, .exp = E3(-EADDRINUSE, 0) } } },
	{ "allow: over the MSI window", "iopt_set_allow_iova: touches a reserved range -> EADDRINUSE", 0, false,
	  { { .op = HU_ALLOW, .arg = 1, .iova = 0, .arg2 = UINT64_C(0x7fffffffff), .exp = FD(-EADDRINUSE, 0) } } },
	{ "allow: below the window, ranges unchanged", "IOVA_RANGES reports holes of reserved only", 0, false,
	  { { .op = HU_ALLOW, .arg = 1, .iova = HU_P, .arg2 = 0xfedfffff, .exp = FD(0, 0) },
	    { .op = HU_CAPS, .exp = { { 0, HU_P, { 2, UINT64_C(0x7fffffffff) } }, { 0, HU_P, { 2, UINT64_C(0x7fffffffff) } },
				      { 0, HU_P, { 2, UINT64_C(0x7fffffffff) } } } } } },
	{ "allow: automatic IOVAs inside, fixed ones anywhere", "iopt_alloc_iova walks allowed_itree; iopt_check_iova does not", 0,
	  false,
	  { { .op = HU_ALLOW, .arg = 1, .iova = HU_B, .arg2 = 2 * HU_B - 1, .exp = FD(0, 0) },
	    { .op = HU_MAP_AUTO, .voff = 0, .len = HU_M, .arg = RW, .exp = FD(0, HU_B) },
	    MAPS(HU_P, HU_P, 0, E3(0, 0)),
	    { .op = HU_ALLOW, .arg = 0, .exp = FD(0, 0) },
	    { .op = HU_MAP_AUTO, .voff = 0, .len = HU_M, .arg = RW, .exp = FD(0, HU_M) },
	    ALLX(E(0, HU_P, 0, HU_P, 0, 2 * HU_M + HU_P)) } },
	{ "allow: a range with start == last", "iommufd_ioas_load_iovas: start >= last -> EINVAL", 0, false,
	  { { .op = HU_ALLOW, .arg = 1, .iova = HU_P, .arg2 = HU_P, .exp = FD(-EINVAL, 0) } } },
	{ "allow: overlapping ranges", "iommufd_ioas_load_iovas: interval_tree_iter_first -> EINVAL", 0, false,
	  { { .op = HU_ALLOW, .arg = 2, .iova = HU_P, .arg2 = 3 * HU_P - 1, .arg3 = 2 * HU_P, .arg4 = 4 * HU_P - 1,
	      .exp = FD(-EINVAL, 0) } } },
	{ "copy: into a new IOAS, pins shared", "iopt_get_pages + iopt_map_pages: one iopt_pages", 0, true,
	  { MAP0(HU_B, HU_M, 0), { .op = HU_PINS, .exp = E3(0, 512) },
	    { .op = HU_COPY, .on = 1, .iova = HU_B, .arg2 = HU_B, .len = HU_M, .arg = RW, .exp = E3(0, HU_B) },
	    { .op = HU_ATTACH2, .exp = E3(0, 0) }, { .op = HU_PINS, .exp = E3(0, 512) },
	    { .op = HU_UNMAP, .iova = 0, .len = UINT64_MAX, .exp = E3(0, HU_M) }, { .op = HU_PINS, .exp = E3(0, 512) },
	    { .op = HU_UNMAP, .on = 1, .iova = 0, .len = UINT64_MAX, .exp = E3(0, HU_M) },
	    { .op = HU_PINS, .exp = E3(0, 0) } } },
	{ "copy: part of an area", "iopt_area_start_byte: a slice of the pages", 0, true,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_COPY, .on = 1, .iova = 0x10000000, .arg2 = HU_B + HU_P, .len = 2 * HU_P, .arg = RW,
	      .exp = E3(0, 0x10000000) },
	    { .op = HU_UNMAP, .on = 1, .iova = 0x10000000, .len = 2 * HU_P, .exp = E3(0, 2 * HU_P) }, FDALL(HU_M) } },
	{ "copy: two areas back to back", "iopt_for_each_contig_area", 0, true,
	  { MAP0(HU_B, HU_P, 0), MAP0(HU_B + HU_P, HU_P, 4 * HU_P),
	    { .op = HU_COPY, .on = 1, .iova = HU_B, .arg2 = HU_B, .len = 2 * HU_P, .arg = RW, .exp = E3(0, HU_B) },
	    { .op = HU_UNMAP, .on = 1, .iova = HU_B, .len = HU_P, .exp = E3(0, HU_P) }, FDALL(2 * HU_P) } },
	{ "copy: over a hole", "iopt_get_pages: !iopt_area_contig_done -> ENOENT", 0, true,
	  { MAP0(HU_B, HU_P, 0),
	    { .op = HU_COPY, .on = 1, .iova = HU_B, .arg2 = HU_B, .len = 2 * HU_P, .arg = RW, .exp = E3(-ENOENT, 0) },
	    FDALL(HU_P) } },
	{ "copy: writable from read-only pages", "iopt_insert_area: !pages->writable -> EPERM", 0, true,
	  { { .op = HU_MAP, .iova = HU_B, .len = HU_P, .voff = 0, .arg = RO, .exp = E3(0, 0) },
	    { .op = HU_COPY, .on = 1, .iova = HU_B, .arg2 = HU_B, .len = HU_P, .arg = RW, .exp = E3(-EPERM, 0) },
	    { .op = HU_COPY, .on = 1, .iova = HU_B, .arg2 = HU_B, .len = HU_P, .arg = RO, .exp = E3(0, HU_B) },
	    FDALL(HU_P) } },
	{ "copy: destination overlaps", "iopt_check_iova: EEXIST", 0, true,
	  { MAP0(HU_B, HU_M, 0), { .op = HU_MAP, .on = 1, .iova = HU_B, .len = 1, .voff = 0, .arg = RW, .exp = E3(0, 0) },
	    { .op = HU_COPY, .on = 1, .iova = HU_B, .arg2 = HU_B, .len = HU_M, .arg = RW, .exp = E3(-EEXIST, 0) },
	    FDALL(HU_M) } },
	{ "copy: the kernel chooses the IOVA", "iopt_alloc_iova: 2M-aligned, from PAGE_SIZE", 0, true,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_COPY, .on = 1, .arg2 = HU_B, .len = HU_M, .arg = RW, .arg3 = VIOMMU_HOST_COPY_AUTO_IOVA,
	      .exp = E3(0, HU_M) }, FDALL(HU_M) } },
	{ "copy: unpinned pages into a domain", "iopt_fill_domains_pages pins what no domain holds", 0, true,
	  { { .op = HU_MAP, .on = 1, .iova = HU_B, .len = HU_P, .voff = 0x10000, .abs = true, .arg = RW,
	      .exp = E3(0, 0) },
	    { .op = HU_COPY, .on = 0, .iova = HU_B, .arg2 = HU_B, .len = HU_P, .arg = RW, .exp = E3(-EFAULT, 0) },
	    FDALL(0) } },
	{ "copy: length 0, source at U64_MAX", "iopt_get_pages length 0; iommufd_ioas_copy >= ULONG_MAX", 0, true,
	  { MAP0(HU_B, HU_M, 0),
	    { .op = HU_COPY, .on = 1, .iova = HU_B, .arg2 = HU_B, .len = 0, .arg = RW, .exp = E3(-EINVAL, 0) },
	    { .op = HU_COPY, .on = 1, .iova = HU_B, .arg2 = UINT64_MAX, .len = HU_P, .arg = RW, .exp = E3(-EOVERFLOW, 0) },
	    FDALL(HU_M) } },
	{ "change_process: not in Linux 6.12", "iommufd_fops_ioctl: beyond the table -> ENOTTY", 0, false,
	  { { .op = HU_CHANGE_PROCESS, .exp = FD(-ENOTTY, 0) } } },

	/* ---- modelled from source only: no guest kernel here can answer these ---- */
	{ "change_process: 6.14, no mapping", "iommufd_ioas_change_process", VIOMMU_HOST_SIM_CHANGE_PROCESS, false,
	  { { .op = HU_CHANGE_PROCESS, .exp = FD(0, 0) } }, .fd_only = true },
	{ "change_process: 6.14, a user-address mapping", "iommufd_ioas_change_process: not IOPT_ADDRESS_FILE -> EINVAL",
	  VIOMMU_HOST_SIM_CHANGE_PROCESS, false,
	  { MAP0(HU_B, HU_P, 0), { .op = HU_CHANGE_PROCESS, .exp = FD(-EINVAL, 0) }, FDALL(HU_P) }, .fd_only = true },
	{ "dirty hw: a written 2M leaf reads whole", "intel_iommu_read_and_clear_dirty: record(iova, pgsize)",
	  VIOMMU_HOST_SIM_DIRTY_HW, false,
	  { START(FD(0, 0)), MAP0(HU_B, HU_M, 0), { .op = HU_ACCESS, .iova = HU_B + HU_P, .len = 8, .exp = E3(0, 0) },
	    READ(HU_B, HU_M, 64, 0, EFD2(0, UINT64_MAX, UINT64_MAX)),
	    READ(HU_B, HU_M, 64, 0, EB(-EOPNOTSUPP, 0, -EOPNOTSUPP, 0, 0, 0)), FDALL(HU_M) }, .fd_only = true },
	{ "dirty hw: 4K leaves, NO_CLEAR keeps", "dma_sl_pte_test_and_clear_dirty unless IOMMU_DIRTY_NO_CLEAR",
	  VIOMMU_HOST_SIM_DIRTY_HW, false,
	  { START(FD(0, 0)), MAP0(HU_B, 4 * HU_P, HU_P), { .op = HU_ACCESS, .iova = HU_B + 2 * HU_P, .len = 1, .exp = E3(0, 0) },
	    { .op = HU_DIRTY_READ, .iova = HU_B, .len = 4 * HU_P, .arg = VIOMMU_HOST_DIRTY_NO_CLEAR, .arg2 = HU_P, .arg3 = 8,
	      .exp = EB(-EOPNOTSUPP, 0, -EOPNOTSUPP, 0, 0, 0x4) },
	    READ(HU_B, 4 * HU_P, 8, 0, EB(-EOPNOTSUPP, 0, -EOPNOTSUPP, 0, 0, 0x4)),
	    READ(HU_B, 4 * HU_P, 8, 0, EB(-EOPNOTSUPP, 0, -EOPNOTSUPP, 0, 0, 0)), FDALL(4 * HU_P) }, .fd_only = true },
	{ "dirty hw: a hole ends the read, still 0", "6.12 drops the result of iova_bitmap_for_each",
	  VIOMMU_HOST_SIM_DIRTY_HW, false,
	  { START(FD(0, 0)), MAP0(HU_B, HU_P, HU_P), MAP0(HU_B + 2 * HU_P, HU_P, 2 * HU_P),
	    { .op = HU_ACCESS, .iova = HU_B, .len = 1, .exp = E3(0, 0) },
	    { .op = HU_ACCESS, .iova = HU_B + 2 * HU_P, .len = 1, .exp = E3(0, 0) },
	    READ(HU_B, 4 * HU_P, 8, 0, EB(-EOPNOTSUPP, 0, -EOPNOTSUPP, 0, 0, 0x1)),
	    READ(HU_B + 2 * HU_P, HU_P, 8, 0, EB(-EOPNOTSUPP, 0, -EOPNOTSUPP, 0, 0, 0x1)), FDALL(2 * HU_P) }, .fd_only = true },
	{ "dirty hw: writes while stopped are not seen", "intel_iommu_read_and_clear_dirty: !dirty_tracking",
	  VIOMMU_HOST_SIM_DIRTY_HW, false,
	  { START(FD(0, 0)), MAP0(HU_B, HU_P, HU_P),
	    { .op = HU_DIRTY, .arg = VIOMMU_HOST_DIRTY_STOP, .exp = FD(0, 0) },
	    { .op = HU_ACCESS, .iova = HU_B, .len = 1, .exp = E3(0, 0) },
	    READ(HU_B, HU_P, 8, 0, EB(-EOPNOTSUPP, 0, -EOPNOTSUPP, 0, 0, 0)), START(FD(0, 0)),
	    READ(HU_B, HU_P, 8, 0, EB(-EOPNOTSUPP, 0, -EOPNOTSUPP, 0, 0, 0)), FDALL(HU_P) }, .fd_only = true },
};
#pragma GCC diagnostic pop

#undef E3
#undef EFD2
#undef E
#undef EB
#undef T1
#undef FD
#undef RW
#undef RO
#undef MAPS
#undef MAP0
#undef ALL0
#undef FDALL
#undef ALLX
#undef START
#undef START_T1
#undef READ

/* What a case runs against: the backend, its second IOAS, and how to reach the rest. */
struct hu_env {
	struct viommu_host *h[2];
	uint64_t vbase;				/* the user buffer (HU_BUF bytes) */
	int (*attach2)(struct hu_env *e);	/* attach the second device to h[1] */
	uint64_t (*pinned)(struct hu_env *e);	/* CPU pages pinned now */
	void *ctx;
	uint64_t pins0, avail0;
};

struct hu_result {
	int ret;
	uint64_t res;
	uint64_t bm[2];
};

static inline int hu_sem_index(enum viommu_host_semantics s)
{
	return s == VIOMMU_HOST_TYPE1V2 ? 0 : s == VIOMMU_HOST_TYPE1V1 ? 1 : 2;
}

static inline uint64_t hu_avail(struct viommu_host *h)
{
	struct viommu_host_caps c = { .sz = sizeof(c) };

	if (viommu_host_get_caps(h, &c) || !(c.flags & VIOMMU_HOST_CAP_DMA_AVAIL))
		return 0;
	return c.dma_avail;
}

/* Run one step; the bitmap of a dirty op is a local buffer of arg3 bytes filled with arg4. */
static inline struct hu_result hu_step_run(struct hu_env *e, const struct hu_step *s)
{
	struct hu_result r = { 0, 0, { 0, 0 } };
	struct viommu_host *h = e->h[s->on];
	uint64_t va = s->abs ? s->voff : e->vbase + s->voff;
	uint64_t words[64];
	struct viommu_host_dirty_bitmap bm = { .pgsize = s->arg2, .size = s->arg3, .data = words };

	if (s->op == HU_DIRTY_READ || s->op == HU_UNMAP_DIRTY) {
		for (size_t i = 0; i < 64; i++)
			words[i] = s->arg4;
		if (bm.size > sizeof(words))
			bm.size = sizeof(words);
	}
	switch (s->op) {
	case HU_END:
		break;
	case HU_MAP:
		r.ret = viommu_host_map_flags(h, s->iova, s->len, va, s->arg, (unsigned)s->arg2);
		break;
	case HU_MAP_AUTO:
		r.ret = viommu_host_map_auto(h, va, s->len, s->arg, &r.res);
		if (r.ret)
			r.res = 0;
		break;
	case HU_UNMAP:
		if (viommu_host_semantics(h) == VIOMMU_HOST_IOMMUFD && s->arg == VIOMMU_HOST_UNMAP_ALL)
			r.ret = viommu_host_unmap_all(h, &r.res);
		else
			r.ret = viommu_host_unmap_flags(h, s->iova, s->len, s->arg, &r.res);
		break;
	case HU_UNMAP_DIRTY:
		r.ret = viommu_host_unmap_dirty(h, s->iova, s->len, s->arg, &bm, &r.res);
		r.bm[0] = words[0];
		r.bm[1] = bm.size >= 16 ? words[1] : 0;	/* only what the caller's buffer holds */
		break;
	case HU_DIRTY:
		r.ret = viommu_host_dirty_tracking(h, s->arg);
		break;
	case HU_DIRTY_READ:
		r.ret = viommu_host_dirty_read(h, s->iova, s->len, &bm, s->arg);
		r.bm[0] = words[0];
		r.bm[1] = bm.size >= 16 ? words[1] : 0;
		break;
	case HU_ACCESS:
		if (viommu_host_kind(h) == VIOMMU_HOST_KIND_SIM)
			r.ret = viommu_host_sim_access(h, s->iova, s->len, VIOMMU_PERM_WRITE, NULL);
		break;
	case HU_COPY:
		r.res = s->iova;
		r.ret = viommu_host_ioas_copy(h, &r.res, e->h[1 - s->on], s->arg2, s->len, s->arg, (unsigned)s->arg3);
		if (r.ret)
			r.res = 0;
		break;
	case HU_ALLOW: {
		struct viommu_host_iova_range rg[2] = { { s->iova, s->arg2 }, { s->arg3, s->arg4 } };

		r.ret = viommu_host_ioas_allow_iovas(h, rg, s->arg);
		break;
	}
	case HU_CHANGE_PROCESS:
		r.ret = viommu_host_change_process(h);
		break;
	case HU_ATTACH2:
		r.ret = e->attach2(e);
		break;
	case HU_CAPS: {
		struct viommu_host_caps c = { .sz = sizeof(c) };

		r.ret = viommu_host_get_caps(h, &c);
		if (!r.ret) {
			r.res = c.iova_alignment;
			r.bm[0] = c.nranges;
			r.bm[1] = c.nranges ? c.ranges[c.nranges - 1].last : 0;
		}
		break;
	}
	case HU_PINS:
		r.res = e->pinned(e) - e->pins0;
		break;
	case HU_USED:
		r.res = e->avail0 - hu_avail(e->h[0]);
		break;
	}
	return r;
}

static inline bool hu_match(const struct hu_exp *x, const struct hu_result *r)
{
	return x->ret == HU_ANY ||
	       (r->ret == x->ret && r->res == x->res && r->bm[0] == x->bm[0] && r->bm[1] == x->bm[1]);
}

/* "-22/0x0" or "0/0x200000 bm 0x3,0x0" */
static inline int hu_fmt(char *buf, size_t n, const struct hu_result *r, bool bm)
{
	if (bm)
		return snprintf(buf, n, "%d/0x%llx bm 0x%llx,0x%llx", r->ret, (unsigned long long)r->res,
				(unsigned long long)r->bm[0], (unsigned long long)r->bm[1]);
	return snprintf(buf, n, "%d/0x%llx", r->ret, (unsigned long long)r->res);
}

static inline bool hu_has_bm(enum hu_op op)
{
	return op == HU_DIRTY_READ || op == HU_UNMAP_DIRTY || op == HU_CAPS;
}

/*
 * A simulator whose user memory is the buffer of the table's layout at @vbase
 * (registered: read-write, then a read-only page, then a page without access),
 * with @flags and a dma_entry_limit (0: the default). NULL if it cannot be made.
 */
static inline struct viommu_host *hu_sim_new(enum viommu_host_semantics sem, unsigned flags, uint64_t vbase,
					     uint32_t limit)
{
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = sem, .flags = flags, .dma_entry_limit = limit,
					  .user_memory = VIOMMU_HOST_SIM_USER_REGISTERED };
	struct viommu_host *h = viommu_host_sim_new(&o);

	if (h && (viommu_host_sim_user_add(h, vbase, HU_RW, VIOMMU_PERM_RW) ||
		  viommu_host_sim_user_add(h, vbase + HU_RO, HU_P, VIOMMU_PERM_READ) ||
		  viommu_host_sim_user_add(h, vbase + HU_NONE, HU_P, 0))) {
		viommu_host_free(h);
		h = NULL;
	}
	return h;
}

static inline bool hu_applies(const struct hu_case *c, enum viommu_host_semantics sem)
{
	return sem == VIOMMU_HOST_IOMMUFD || !(c->ioas2 || c->fd_only);
}

/*
 * Run case @c on e->h[0] (and e->h[1], which the caller allocated when
 * c->ioas2): every step, each result written to out[i]. Returns the index
 * of the first step that differs from the table, or -1 if all matched.
 */
static inline int hu_run(struct hu_env *e, const struct hu_case *c, struct hu_result *out)
{
	int si = hu_sem_index(viommu_host_semantics(e->h[0])), bad = -1;

	e->pins0 = e->pinned(e);
	e->avail0 = hu_avail(e->h[0]);
	for (int i = 0; i < 9 && c->s[i].op != HU_END; i++) {
		out[i] = hu_step_run(e, &c->s[i]);
		if (bad < 0 && !hu_match(&c->s[i].exp[si], &out[i]))
			bad = i;
	}
	return bad;
}

/* The one-line account of a run: "step/.. = got (want)" for each step. */
static inline void hu_describe(char *buf, size_t n, const struct hu_case *c, const struct hu_result *r, int si)
{
	size_t o = 0;

	buf[0] = 0;
	for (int i = 0; i < 9 && c->s[i].op != HU_END && o + 1 < n; i++) {
		bool bm = hu_has_bm(c->s[i].op);
		struct hu_result want = { c->s[i].exp[si].ret, c->s[i].exp[si].res,
					  { c->s[i].exp[si].bm[0], c->s[i].exp[si].bm[1] } };
		char a[96], b[96];

		hu_fmt(a, sizeof(a), &r[i], bm);
		hu_fmt(b, sizeof(b), &want, bm);
		o += (size_t)snprintf(buf + o, n - o, "%s%s%s%s%s", i ? "," : "", a,
				      hu_match(&c->s[i].exp[si], &r[i]) ? "" : " (want ", hu_match(&c->s[i].exp[si], &r[i]) ? "" : b,
				      hu_match(&c->s[i].exp[si], &r[i]) ? "" : ")");
	}
}

#endif

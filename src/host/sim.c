// SPDX-License-Identifier: MIT
/*
 * The simulated host IOMMU: VFIO type1 v2 / v1 and iommufd reproduced case by
 * case, with the kernel's check order (semantics.md §3). Each rule names the
 * kernel function it comes from (Linux 6.1 for type1, 6.12 for iommufd).
 *
 * Mappings live in the project range map: [iova, last] -> index of a record
 * holding vaddr and prot. The record array is a free-listed pool so a map
 * costs no malloc in the steady state. Each mapping is also installed in a
 * real page table — VT-d second stage by default (5 levels, 52-bit output,
 * the simulator's page sizes), ARM LPAE stage 1/2 on request — with the user address as the output address, and
 * viommu_host_sim_translate() answers by a walk of that table. A mapping the
 * table cannot hold (IOVA beyond 57 bits, user address beyond 52 bits, or
 * pages smaller than 4K), or that would need more than 2^18 leaves (1 GiB of
 * 4K pages: a 64 GiB mapping with 2M-aligned addresses still fits), stays in
 * the range map only and is translated from its record; the record says
 * which. The cap keeps a test that maps terabytes with 4K-aligned user
 * addresses from building gigabytes of tables.
 *
 * Deliberate deviation: type1's rb-tree searches compute "iova + size" in u64
 * and so miss overlaps with a mapping that ends exactly at 2^64 (and would
 * insert an overlapping vfio_dma). The simulator reports EEXIST there. Only a
 * usable range reaching 2^64-1 makes this reachable; no x86/ARM IOMMU aperture
 * does (VT-d tops out at 57 bits). The unmap side of the same wrap (a request
 * ending exactly at 2^64 finds nothing and succeeds with 0 bytes) is
 * reproduced.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <viommu/pgtable.h>
#include <viommu/rangemap.h>

#include "util/compiler.h"
#include "host/host_internal.h"

#define VI_SIM_DEFAULT_PGSIZES	 UINT64_C(0x40201000)
#define VI_SIM_DEFAULT_LIMIT	 65535u
#define VI_SIM_DEFAULT_TIMELINE	 4096u
#define VI_SIM_MAX_RANGES	 4096u
/* The CPU page size the kernel's PAGE_SIZE stands for (x86, arm64 4K). */
#define VI_SIM_CPU_PAGE		 UINT64_C(4096)
/* The most leaves one mapping may put in the mirror page table. */
#define VI_SIM_PT_MAX_LEAVES	 (UINT64_C(1) << 18)
/* iopt_alloc_iova caps the auto-IOVA alignment at HPAGE_SIZE (THP kernels). */
#define VI_SIM_HPAGE		 UINT64_C(0x200000)

static const struct viommu_host_iova_range vi_sim_x86_ranges[] = {
	{ 0, VIOMMU_HOST_X86_MSI_FIRST - 1 },
	{ VIOMMU_HOST_X86_MSI_LAST + 1, UINT64_C(0x7fffffffff) },
};

/* A mapping's payload; next_free links free slots. */
struct vi_sim_rec {
	uint64_t vaddr;
	unsigned prot;
	uint32_t next_free;
	bool in_pt;		/* installed in the page table */
};

/*
 * One simulated container / IOAS.
 * Invariants: every range-map entry's value indexes a live record; count is
 * the number of entries; (type1) count <= limit; usable ranges are sorted,
 * disjoint and non-adjacent (adjacent ones are merged at construction); the
 * timeline ring holds tl_len <= tl_cap records starting at tl_head.
 * Locking: @lock protects every field below it; base is immutable.
 */
struct vi_host_sim {
	struct viommu_host base;
	pthread_mutex_t lock;
	struct viommu_rangemap *map;
	struct viommu_pgtable *pt;	/* mirror of map, for translation */
	struct vi_sim_rec *recs;
	uint32_t nrecs, cap_recs, free_head;
	uint64_t pgsize_bitmap;
	uint64_t align;			/* smallest page size */
	struct viommu_host_iova_range *ranges;
	uint32_t nranges;
	uint32_t limit;			/* type1 dma_entry_limit */
	uint64_t auto_max_align;	/* iommufd auto IOVA: HPAGE_SIZE, or PAGE_SIZE without THP */
	uint64_t count;
	uint64_t calls;			/* map/unmap calls so far */
	uint64_t fail_at;		/* call number to fail, 0 = none */
	int fail_errno;
	struct viommu_host_record *tl;
	uint32_t tl_cap, tl_head, tl_len;
};

#define VI_SIM_NO_REC UINT32_MAX

static struct vi_host_sim *to_sim(struct viommu_host *h)
{
	return vi_container_of(h, struct vi_host_sim, base);
}

static bool is_sim(const struct viommu_host *h)
{
	return h && h->kind == VIOMMU_HOST_KIND_SIM;
}

static bool is_type1(const struct vi_host_sim *s)
{
	return s->base.semantics != VIOMMU_HOST_IOMMUFD;
}

static uint64_t roundup_pow2(uint64_t x)
{
	/* x in [1, 2^63] here (callers bound it) */
	return x <= 1 ? 1 : UINT64_C(1) << (vi_fls64(x - 1) + 1);
}

/* ---- records and the timeline ----------------------------------------- */

static int rec_alloc(struct vi_host_sim *s, uint64_t vaddr, unsigned prot, uint32_t *idx)
{
	if (s->free_head == VI_SIM_NO_REC) {
		if (s->nrecs == s->cap_recs) {
			uint32_t ncap = s->cap_recs ? s->cap_recs * 2 : 64;
			struct vi_sim_rec *n;

			if (ncap <= s->cap_recs)
				return -ENOMEM;
			n = realloc(s->recs, (size_t)ncap * sizeof(*n));
			if (!n)
				return -ENOMEM;
			s->recs = n;
			s->cap_recs = ncap;
		}
		s->recs[s->nrecs].next_free = VI_SIM_NO_REC;
		s->free_head = s->nrecs++;
	}
	*idx = s->free_head;
	s->free_head = s->recs[*idx].next_free;
	s->recs[*idx].vaddr = vaddr;
	s->recs[*idx].prot = prot;
	return 0;
}

static void rec_free(struct vi_host_sim *s, uint32_t idx)
{
	s->recs[idx].next_free = s->free_head;
	s->free_head = idx;
}

static void record(struct vi_host_sim *s, const struct viommu_host_record *r)
{
	uint32_t slot;

	if (!s->tl_cap)
		return;
	if (s->tl_len < s->tl_cap) {
		slot = (s->tl_head + s->tl_len) % s->tl_cap;
		s->tl_len++;
	} else {
		slot = s->tl_head;
		s->tl_head = (s->tl_head + 1) % s->tl_cap;
	}
	s->tl[slot] = *r;
}

/* Fault injection: true if this call (already counted) must fail. */
static bool injected(struct vi_host_sim *s)
{
	if (s->fail_at && s->calls == s->fail_at) {
		s->fail_at = 0;
		return true;
	}
	return false;
}

/* ---- range predicates ------------------------------------------------- */

/* vfio_iommu_iova_dma_valid: [first, last] inside one usable range. */
static bool type1_dma_valid(const struct vi_host_sim *s, uint64_t first, uint64_t last)
{
	for (uint32_t i = 0; i < s->nranges; i++)
		if (first >= s->ranges[i].first && last <= s->ranges[i].last)
			return true;
	return false;
}

/*
 * iopt_reserved_iter_first: does [first, last] touch the reserved set (the
 * complement of the usable ranges)? Usable ranges are merged, so "no" means
 * the range lies inside one of them.
 */
static bool iommufd_hits_reserved(const struct vi_host_sim *s, uint64_t first, uint64_t last)
{
	return !type1_dma_valid(s, first, last);
}

/* ---- insert / remove -------------------------------------------------- */

/*
 * Would the page table hold this mapping in at most VI_SIM_PT_MAX_LEAVES
 * leaves? The leaf size is bounded by the common alignment of iova, user
 * address and length (iommu_pgsize, semantics.md §2.1), so this is an upper
 * bound on the leaves it builds.
 */
static bool pt_fits(const struct vi_host_sim *s, uint64_t iova, uint64_t vaddr, uint64_t len)
{
	uint64_t a = iova | vaddr | len, low = a & -a;
	uint64_t sizes = ((s->pgsize_bitmap & VI_SIM_DEFAULT_PGSIZES) | 0x1000) & (low | (low - 1));

	if (!sizes)
		return false;
	return len >> vi_fls64(sizes) <= VI_SIM_PT_MAX_LEAVES;
}

static int sim_insert(struct vi_host_sim *s, uint64_t iova, uint64_t last, uint64_t vaddr, unsigned prot)
{
	uint32_t idx;
	int ret = rec_alloc(s, vaddr, prot, &idx);

	if (ret)
		return ret;
	ret = viommu_rangemap_insert(s->map, iova, last, idx);
	if (ret) {
		rec_free(s, idx);
		return ret;
	}
	s->recs[idx].in_pt = false;
	if (s->pt && pt_fits(s, iova, vaddr, last - iova + 1)) {
		uint64_t mapped = 0;
		/* VIOMMU_HOST_PROT_* and VIOMMU_PERM_* share their values */
		int pr = viommu_pgtable_map(s->pt, iova, vaddr, last - iova + 1, prot, &mapped);

		if (pr && mapped)
			viommu_pgtable_unmap(s->pt, iova, mapped, NULL);
		if (pr == -ENOMEM) {
			/* the kernel would fail the map with ENOMEM as well */
			viommu_rangemap_remove(s->map, iova, last, NULL);
			rec_free(s, idx);
			return -ENOMEM;
		}
		s->recs[idx].in_pt = pr == 0;
	}
	s->count++;
	return 0;
}

static void sim_remove(struct vi_host_sim *s, const struct viommu_range_entry *e)
{
	if (s->recs[e->value].in_pt)
		viommu_pgtable_unmap(s->pt, e->first, e->last - e->first + 1, NULL);
	viommu_rangemap_remove(s->map, e->first, e->last, NULL);
	rec_free(s, (uint32_t)e->value);
	s->count--;
}

/* ---- type1 ------------------------------------------------------------ */

/* vfio_iommu_type1_map_dma -> vfio_dma_do_map (Linux 6.1), in its order. */
static int type1_map(struct vi_host_sim *s, uint64_t iova, uint64_t size, uint64_t vaddr, unsigned prot)
{
	uint64_t pg = s->align;

	/* (!prot && !set_vaddr) */
	if (!prot)
		return -EINVAL;
	/* !size || (size | iova | vaddr) & (pgsize - 1) */
	if (!size || ((size | iova | vaddr) & (pg - 1)))
		return -EINVAL;
	/* "Don't allow IOVA or virtual address wrap" */
	if (iova + size - 1 < iova || vaddr + size - 1 < vaddr)
		return -EINVAL;
	/* vfio_find_dma(iommu, iova, size): any overlap, identical included */
	if (viommu_rangemap_find_overlap(s->map, iova, iova + size - 1, NULL))
		return -EEXIST;
	/* !iommu->dma_avail */
	if (s->count >= s->limit)
		return -ENOSPC;
	if (!type1_dma_valid(s, iova, iova + size - 1))
		return -EINVAL;
	return sim_insert(s, iova, iova + size - 1, vaddr, prot);
}

/* vfio_iommu_type1_unmap_dma -> vfio_dma_do_unmap (Linux 6.1), in its order. */
static int type1_unmap(struct vi_host_sim *s, uint64_t iova, uint64_t size, unsigned flags, uint64_t *unmapped)
{
	bool all = flags & VIOMMU_HOST_UNMAP_ALL;
	bool v2 = s->base.semantics == VIOMMU_HOST_TYPE1V2;
	uint64_t pg = s->align, end, bytes = 0;
	struct viommu_range_entry e;

	if (iova & (pg - 1))
		return -EINVAL;
	if (all) {
		if (iova || size)
			return -EINVAL;
		size = UINT64_MAX;
	} else if (!size || (size & (pg - 1)) || iova + size - 1 < iova) {
		return -EINVAL;
	}
	end = iova + size;	/* wraps to 0 for a request ending at 2^64 */

	/* Fast path, same result as the walk below: the request is exactly one
	 * mapping, so both v2 tests pass and the walk removes just that one. */
	if (!all && end != 0 && viommu_rangemap_find(s->map, iova, &e) && e.first == iova && e.last == end - 1) {
		sim_remove(s, &e);
		*unmapped = size;
		return 0;
	}

	if (v2 && !all) {
		/* vfio_find_dma(iommu, iova, 1): start inside a mapping */
		if (viommu_rangemap_find(s->map, iova, &e) && e.first != iova)
			return -EINVAL;
		/* vfio_find_dma(iommu, iova + size - 1, 0): end inside a mapping */
		if (viommu_rangemap_find(s->map, iova + size - 1, &e) && e.first < iova + size - 1 &&
		    e.last + 1 != end)
			return -EINVAL;
	}
	/* vfio_find_dma_first_node: "dma->iova >= start + size" with the sum
	 * wrapped to 0 rejects every node, so nothing is unmapped. */
	if (end == 0 && !all)
		return 0;
	while (viommu_rangemap_find_overlap(s->map, iova, end - 1, &e)) {
		/* v1: a mapping starting before iova stops the walk (0 bytes if first) */
		if (!v2 && iova > e.first)
			break;
		bytes += e.last - e.first + 1;	/* the whole vfio_dma, even past the end (v1) */
		sim_remove(s, &e);
	}
	*unmapped = bytes;
	return 0;
}

/* ---- iommufd ---------------------------------------------------------- */

/*
 * Checks shared by fixed and auto maps, up to the IOVA: iommufd_ioas_map,
 * iopt_alloc_pages and the top of iopt_alloc_area_pages (Linux 6.12).
 */
static int iommufd_map_common(struct vi_host_sim *s, uint64_t iova, uint64_t length, uint64_t vaddr,
			      unsigned prot)
{
	/* iommufd_ioas_map: cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX */
	if (iova == UINT64_MAX || length == UINT64_MAX)
		return -EOVERFLOW;
	if (!prot)
		return -EINVAL;
	/* iopt_alloc_pages: length > SIZE_MAX - PAGE_SIZE || length == 0 */
	if (length == 0 || length > UINT64_MAX - VI_SIM_CPU_PAGE)
		return -EINVAL;
	/* iopt_alloc_pages: check_add_overflow(uptr, length) */
	if (vaddr + length < vaddr)
		return -EOVERFLOW;
	/* iopt_alloc_area_pages: length & (iova_alignment - 1) */
	if (length & (s->align - 1))
		return -EINVAL;
	return 0;
}

/* iopt_insert_area: the user address's offset in its CPU page must be aligned. */
static int iommufd_page_offset_ok(const struct vi_host_sim *s, uint64_t vaddr)
{
	return ((vaddr % VI_SIM_CPU_PAGE) & (s->align - 1)) ? -EINVAL : 0;
}

static int iommufd_map(struct vi_host_sim *s, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot)
{
	int ret = iommufd_map_common(s, iova, length, vaddr, prot);

	if (ret)
		return ret;
	/* iopt_check_iova */
	if (iova & (s->align - 1))
		return -EINVAL;
	if (iova + (length - 1) < iova)
		return -EOVERFLOW;
	if (iommufd_hits_reserved(s, iova, iova + length - 1))
		return -EINVAL;
	if (viommu_rangemap_find_overlap(s->map, iova, iova + length - 1, NULL))
		return -EEXIST;
	ret = iommufd_page_offset_ok(s, vaddr);
	if (ret)
		return ret;
	return sim_insert(s, iova, iova + length - 1, vaddr, prot);
}

/*
 * __alloc_iova_check_hole / __alloc_iova_check_used: align the start (u64
 * arithmetic as in the kernel), add the page offset, check it still fits.
 */
static bool alloc_fit(uint64_t *start, uint64_t last, uint64_t length, uint64_t align, uint64_t page_offset)
{
	uint64_t s;

	if (last - *start < length - 1)
		return false;
	s = ((*start + align - 1) & ~(align - 1)) | page_offset;
	if (s > last || last - s < length - 1)
		return false;
	*start = s;
	return true;
}

/* iopt_alloc_iova (Linux 6.12): lowest fitting hole of reserved ∪ areas. */
static int iommufd_alloc_iova(struct vi_host_sim *s, uint64_t vaddr, uint64_t length, uint64_t *out)
{
	uint64_t page_offset = vaddr % VI_SIM_CPU_PAGE, align, lo = VI_SIM_CPU_PAGE,
		 hi = UINT64_MAX - VI_SIM_CPU_PAGE;

	if (length == 0 || length >= UINT64_MAX / 2)
		return -EOVERFLOW;
	align = roundup_pow2(length);
	if (vaddr && (UINT64_C(1) << vi_ffs64(vaddr)) < align)
		align = UINT64_C(1) << vi_ffs64(vaddr);
	if (align >= s->auto_max_align)
		align = s->auto_max_align;
	if (align < s->align)
		return -EINVAL;
	/* No allowed_itree: the one allowed span is [PAGE_SIZE, ULONG_MAX - PAGE_SIZE]. */
	if (!alloc_fit(&lo, hi, length, align, page_offset))
		return -ENOSPC;
	for (uint32_t i = 0; i < s->nranges; i++) {
		uint64_t rf, rl, cursor, st;
		struct viommu_rangemap_iter it;
		bool tail = true;

		if (s->ranges[i].last < lo || s->ranges[i].first > hi)
			continue;
		rf = VI_MAX(s->ranges[i].first, lo);
		rl = VI_MIN(s->ranges[i].last, hi);
		cursor = rf;
		/* the holes between the areas inside this usable range, ascending */
		viommu_rangemap_for_each(&it, s->map, rf, rl) {
			if (it.entry.first > cursor) {
				st = cursor;
				if (alloc_fit(&st, it.entry.first - 1, length, align, page_offset)) {
					*out = st;
					return 0;
				}
			}
			if (it.entry.last >= rl) {
				tail = false;
				break;
			}
			cursor = VI_MAX(cursor, it.entry.last + 1);
		}
		st = cursor;
		if (tail && alloc_fit(&st, rl, length, align, page_offset)) {
			*out = st;
			return 0;
		}
	}
	return -ENOSPC;
}

static int iommufd_map_auto(struct vi_host_sim *s, uint64_t vaddr, uint64_t length, unsigned prot, uint64_t *iova)
{
	uint64_t chosen;
	/* the ioctl's iova field is 0 on input for an auto map */
	int ret = iommufd_map_common(s, 0, length, vaddr, prot);

	if (ret)
		return ret;
	ret = iommufd_alloc_iova(s, vaddr, length, &chosen);
	if (ret)
		return ret;
	ret = iommufd_page_offset_ok(s, vaddr);
	if (ret)
		return ret;
	ret = sim_insert(s, chosen, chosen + length - 1, vaddr, prot);
	if (!ret)
		*iova = chosen;
	return ret;
}

/*
 * iopt_unmap_iova_range: remove areas lowest first; the first area not wholly
 * inside [start, last] ends the walk with ENOENT, and the areas removed
 * before it stay removed (the kernel does not roll back).
 */
static int iommufd_unmap_range(struct vi_host_sim *s, uint64_t start, uint64_t last, uint64_t *unmapped)
{
	struct viommu_range_entry e;
	uint64_t bytes = 0;

	/* Fast path: exactly one area (the walk would remove just it). */
	if (viommu_rangemap_find(s->map, start, &e) && e.first == start && e.last == last) {
		sim_remove(s, &e);
		*unmapped = last - start + 1;
		return 0;
	}
	while (viommu_rangemap_find_overlap(s->map, start, last, &e)) {
		if (e.first < start || e.last > last)
			return -ENOENT;
		bytes += e.last - e.first + 1;
		sim_remove(s, &e);
	}
	if (!bytes)
		return -ENOENT;
	*unmapped = bytes;
	return 0;
}

/* iommufd_ioas_unmap -> iopt_unmap_all / iopt_unmap_iova (Linux 6.12). */
static int iommufd_unmap(struct vi_host_sim *s, uint64_t iova, uint64_t length, uint64_t *unmapped)
{
	int ret;

	if (iova == 0 && length == UINT64_MAX) {
		/* iopt_unmap_all: empty is success */
		ret = iommufd_unmap_range(s, 0, UINT64_MAX, unmapped);
		return ret == -ENOENT ? 0 : ret;
	}
	if (iova == UINT64_MAX || length == UINT64_MAX)
		return -EOVERFLOW;
	/* iopt_unmap_iova: no alignment check at all */
	if (!length)
		return -EINVAL;
	if (iova + (length - 1) < iova)
		return -EOVERFLOW;
	return iommufd_unmap_range(s, iova, iova + length - 1, unmapped);
}

/* ---- ops -------------------------------------------------------------- */

/*
 * The frame of every map/unmap call: under the lock, numbered, failed here if
 * fault injection says so (changing nothing), and recorded in the timeline.
 * call_begin() returns true when the call was injected and must not run.
 */
static bool call_begin(struct vi_host_sim *s, struct viommu_host_record *r)
{
	pthread_mutex_lock(&s->lock);
	r->seq = ++s->calls;
	if (!injected(s))
		return false;
	r->result = -s->fail_errno;
	r->injected = true;
	return true;
}

static int call_end(struct vi_host_sim *s, const struct viommu_host_record *r)
{
	record(s, r);
	pthread_mutex_unlock(&s->lock);
	return r->result;
}

static int sim_map(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot)
{
	struct vi_host_sim *s = to_sim(h);
	struct viommu_host_record r = { .op = VIOMMU_HOST_OP_MAP, .iova = iova, .length = length,
					.vaddr = vaddr, .prot = prot };

	if (!call_begin(s, &r)) {
		r.result = is_type1(s) ? type1_map(s, iova, length, vaddr, prot)
				       : iommufd_map(s, iova, length, vaddr, prot);
		r.bytes = r.result ? 0 : length;
	}
	return call_end(s, &r);
}

static int sim_map_auto(struct viommu_host *h, uint64_t vaddr, uint64_t length, unsigned prot, uint64_t *iova)
{
	struct vi_host_sim *s = to_sim(h);
	struct viommu_host_record r = { .op = VIOMMU_HOST_OP_MAP_AUTO, .length = length, .vaddr = vaddr,
					.prot = prot };
	uint64_t chosen = 0;

	if (!call_begin(s, &r)) {
		r.result = iommufd_map_auto(s, vaddr, length, prot, &chosen);
		if (!r.result) {
			r.iova = chosen;
			r.bytes = length;
			*iova = chosen;
		}
	}
	return call_end(s, &r);
}

static int sim_unmap(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags, uint64_t *unmapped)
{
	struct vi_host_sim *s = to_sim(h);
	struct viommu_host_record r = { .op = VIOMMU_HOST_OP_UNMAP, .iova = iova, .length = length,
					.flags = flags };
	uint64_t bytes = 0;

	if (!call_begin(s, &r)) {
		r.result = is_type1(s) ? type1_unmap(s, iova, length, flags, &bytes)
				       : iommufd_unmap(s, iova, length, &bytes);
		if (r.result)
			bytes = 0;	/* not copied back to user space on failure */
	}
	r.bytes = bytes;
	*unmapped = bytes;
	return call_end(s, &r);
}

static int sim_get_caps(struct viommu_host *h, struct viommu_host_caps *caps)
{
	struct vi_host_sim *s = to_sim(h);

	pthread_mutex_lock(&s->lock);
	caps->kind = VIOMMU_HOST_KIND_SIM;
	caps->semantics = h->semantics;
	caps->pgsize_bitmap = s->pgsize_bitmap;
	caps->iova_alignment = s->align;
	caps->flags = VIOMMU_HOST_CAP_UNMAP_ALL;
	if (is_type1(s)) {
		caps->flags |= VIOMMU_HOST_CAP_DMA_AVAIL;
		caps->dma_avail = s->limit - s->count;
		caps->max_mappings = s->limit;
	} else {
		caps->flags |= VIOMMU_HOST_CAP_AUTO_IOVA;
		caps->dma_avail = UINT64_MAX;
		caps->max_mappings = UINT64_MAX;
	}
	vi_host_caps_set_ranges(caps, s->ranges, s->nranges);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static int sim_iova_ranges(struct viommu_host *h, struct viommu_host_iova_range *ranges, uint32_t *num,
			   uint64_t *alignment)
{
	struct vi_host_sim *s = to_sim(h);

	*alignment = s->align;
	return vi_host_copy_ranges(s->ranges, s->nranges, ranges, num);
}

static void sim_free(struct viommu_host *h)
{
	struct vi_host_sim *s = to_sim(h);

	viommu_rangemap_free(s->map);
	viommu_pgtable_free(s->pt);
	pthread_mutex_destroy(&s->lock);
	free(s->recs);
	free(s->ranges);
	free(s->tl);
	free(s);
}

static const struct vi_host_ops vi_sim_type1_ops = {
	.map = sim_map,
	.unmap = sim_unmap,
	.get_caps = sim_get_caps,
	.iova_ranges = sim_iova_ranges,
	.free = sim_free,
};

static const struct vi_host_ops vi_sim_iommufd_ops = {
	.map = sim_map,
	.map_auto = sim_map_auto,
	.unmap = sim_unmap,
	.get_caps = sim_get_caps,
	.iova_ranges = sim_iova_ranges,
	.free = sim_free,
};

/* ---- construction ----------------------------------------------------- */

/* Copy, validate and merge touching ranges. */
static int sim_set_ranges(struct vi_host_sim *s, const struct viommu_host_iova_range *r, size_t n)
{
	if (!r) {
		r = vi_sim_x86_ranges;
		n = VI_ARRAY_SIZE(vi_sim_x86_ranges);
	}
	if (n == 0 || n > VI_SIM_MAX_RANGES)
		return -EINVAL;
	s->ranges = calloc(n, sizeof(*s->ranges));
	if (!s->ranges)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (r[i].first > r[i].last)
			return -EINVAL;
		if (i && r[i].first <= r[i - 1].last)
			return -EINVAL;
		if (s->nranges && s->ranges[s->nranges - 1].last + 1 == r[i].first)
			s->ranges[s->nranges - 1].last = r[i].last;
		else
			s->ranges[s->nranges++] = r[i];
	}
	return 0;
}

struct viommu_host *viommu_host_sim_new(const struct viommu_host_sim_opts *uopts)
{
	struct viommu_host_sim_opts o;
	struct vi_host_sim *s;
	int ret;

	memset(&o, 0, sizeof(o));
	if (uopts) {
		if (uopts->sz < sizeof(size_t))
			return vi_null(EINVAL);
		memcpy(&o, uopts, VI_MIN(uopts->sz, sizeof(o)));
	}
	if (!o.semantics)
		o.semantics = VIOMMU_HOST_TYPE1V2;
	if (o.semantics != VIOMMU_HOST_TYPE1V2 && o.semantics != VIOMMU_HOST_TYPE1V1 &&
	    o.semantics != VIOMMU_HOST_IOMMUFD)
		return vi_null(EINVAL);
	if (!o.pgsize_bitmap)
		o.pgsize_bitmap = VI_SIM_DEFAULT_PGSIZES;
	if (!o.dma_entry_limit)
		o.dma_entry_limit = VI_SIM_DEFAULT_LIMIT;
	if (!o.timeline_capacity)
		o.timeline_capacity = VI_SIM_DEFAULT_TIMELINE;
	if (!o.auto_iova_max_align)
		o.auto_iova_max_align = VI_SIM_HPAGE;
	if (o.auto_iova_max_align & (o.auto_iova_max_align - 1))
		return vi_null(EINVAL);
	if (o.fail_nth && o.fail_errno <= 0)
		return vi_null(EINVAL);

	s = calloc(1, sizeof(*s));
	if (!s)
		return vi_null(ENOMEM);
	s->base.ops = o.semantics == VIOMMU_HOST_IOMMUFD ? &vi_sim_iommufd_ops : &vi_sim_type1_ops;
	s->base.kind = VIOMMU_HOST_KIND_SIM;
	s->base.semantics = o.semantics;
	pthread_mutex_init(&s->lock, NULL);
	s->pgsize_bitmap = o.pgsize_bitmap;
	s->align = UINT64_C(1) << vi_ffs64(o.pgsize_bitmap);
	s->limit = o.dma_entry_limit;
	s->auto_max_align = o.auto_iova_max_align;
	s->fail_at = o.fail_nth;
	s->fail_errno = o.fail_errno;
	s->free_head = VI_SIM_NO_REC;
	s->tl_cap = o.timeline_capacity;
	s->tl = calloc(s->tl_cap, sizeof(*s->tl));
	s->map = viommu_rangemap_new();
	{
		struct viommu_pgtable_opts po = {
			.sz = sizeof(po),
			.format = VIOMMU_PT_VTD_SL,
			.levels = 5,
			.out_bits = 52,
			/* the table needs its 4K granule even if the host pages are larger */
			.pgsize_bitmap = (o.pgsize_bitmap & VI_SIM_DEFAULT_PGSIZES) | 0x1000,
		};

		if (o.pt_format == VIOMMU_PT_ARM_S1 || o.pt_format == VIOMMU_PT_ARM_S2) {
			po.format = o.pt_format;
			po.levels = 0;
			po.in_bits = 48;
			po.out_bits = 48;
		} else if (o.pt_format && o.pt_format != VIOMMU_PT_VTD_SL) {
			sim_free(&s->base);
			return vi_null(EINVAL);
		}
		s->pt = viommu_pgtable_new(&po);
	}
	ret = (!s->tl || !s->map || !s->pt) ? -ENOMEM : sim_set_ranges(s, o.ranges, o.nranges);
	if (ret) {
		sim_free(&s->base);
		return vi_null(-ret);
	}
	return &s->base;
}

int viommu_host_sim_inject(struct viommu_host *h, uint64_t nth, int err)
{
	struct vi_host_sim *s;

	if (!is_sim(h) || (nth && err <= 0))
		return vi_errno(-EINVAL);
	s = to_sim(h);
	pthread_mutex_lock(&s->lock);
	s->fail_at = nth ? s->calls + nth : 0;
	s->fail_errno = err;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

int viommu_host_sim_translate(struct viommu_host *h, uint64_t iova, uint64_t *vaddr, unsigned *prot)
{
	struct viommu_range_entry e;
	struct vi_host_sim *s;
	int ret = -ENOENT;

	if (!is_sim(h))
		return vi_errno(-EINVAL);
	s = to_sim(h);
	pthread_mutex_lock(&s->lock);
	if (viommu_rangemap_find(s->map, iova, &e)) {
		const struct vi_sim_rec *r = &s->recs[e.value];
		uint64_t va = r->vaddr + (iova - e.first);
		unsigned pr = r->prot;

		ret = 0;
		if (r->in_pt) {
			struct viommu_pt_mapping m;

			/* the answer comes from the page-table walk; a table that
			 * disagrees with the record is an internal error */
			if (viommu_pgtable_lookup(s->pt, iova, &m) != 0) {
				ret = -EIO;
			} else {
				va = m.phys + (iova - m.iova);
				pr = m.perm & (VIOMMU_HOST_PROT_READ | VIOMMU_HOST_PROT_WRITE);
			}
		}
		if (!ret && vaddr)
			*vaddr = va;
		if (!ret && prot)
			*prot = pr;
	}
	pthread_mutex_unlock(&s->lock);
	return vi_errno(ret);
}

long viommu_host_sim_mappings(struct viommu_host *h, viommu_host_mapping_fn fn, void *ctx)
{
	struct viommu_rangemap_iter it;
	struct vi_host_sim *s;
	long n;

	if (!is_sim(h))
		return vi_errno(-EINVAL);
	s = to_sim(h);
	pthread_mutex_lock(&s->lock);
	n = (long)s->count;
	if (fn) {
		viommu_rangemap_for_each(&it, s->map, 0, UINT64_MAX) {
			const struct vi_sim_rec *r = &s->recs[it.entry.value];
			struct viommu_host_mapping m = {
				.iova = it.entry.first,
				.length = it.entry.last - it.entry.first + 1,
				.vaddr = r->vaddr,
				.prot = r->prot,
			};
			fn(&m, ctx);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

long viommu_host_sim_timeline_count(struct viommu_host *h)
{
	long n;

	if (!is_sim(h))
		return vi_errno(-EINVAL);
	pthread_mutex_lock(&to_sim(h)->lock);
	n = to_sim(h)->tl_len;
	pthread_mutex_unlock(&to_sim(h)->lock);
	return n;
}

int viommu_host_sim_timeline_get(struct viommu_host *h, size_t i, struct viommu_host_record *out)
{
	struct vi_host_sim *s;
	int ret = -ENOENT;

	if (!is_sim(h) || !out)
		return vi_errno(-EINVAL);
	s = to_sim(h);
	pthread_mutex_lock(&s->lock);
	if (i < s->tl_len) {
		*out = s->tl[(s->tl_head + i) % s->tl_cap];
		ret = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return vi_errno(ret);
}

void viommu_host_sim_timeline_clear(struct viommu_host *h)
{
	if (!is_sim(h))
		return;
	pthread_mutex_lock(&to_sim(h)->lock);
	to_sim(h)->tl_len = 0;
	to_sim(h)->tl_head = 0;
	pthread_mutex_unlock(&to_sim(h)->lock);
}

const struct viommu_pgtable *viommu_host_sim_pgtable(struct viommu_host *h)
{
	if (!is_sim(h))
		return vi_null(EINVAL);
	return to_sim(h)->pt;
}

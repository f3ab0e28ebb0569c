// SPDX-License-Identifier: MIT
/*
 * The simulated host IOMMU: VFIO type1 v2 / v1 and iommufd reproduced case by
 * case, with the kernel's check order. Each rule names the kernel function it
 * comes from: drivers/vfio/vfio_iommu_type1.c of Linux 6.1 for type1,
 * drivers/iommu/iommufd/{ioas,io_pagetable,pages,hw_pagetable}.c of Linux
 * 6.12 for iommufd, and drivers/iommu/intel/iommu.c for the dirty bits a
 * VT-d domain reports. Where the rule was read from the source but the
 * conformance guest cannot reach it (dirty tracking on a domain that tracks,
 * IOMMU_IOAS_CHANGE_PROCESS of 6.14), the comment says "from source".
 *
 * Mappings live in the project range map: [iova, last] -> index of a record
 * holding the user address, the permission and (iommufd) the pages object the
 * area slices. The record array is a free-listed pool so a map costs no
 * malloc in the steady state. Each mapping is also installed in a real page
 * table — VT-d second stage by default (5 levels, 52-bit output, the
 * simulator's page sizes), ARM LPAE stage 1/2 on request — with the user
 * address as the output address, and viommu_host_sim_translate() answers by a
 * walk of that table. A mapping the table cannot hold (IOVA beyond 57 bits,
 * user address beyond 52 bits, or pages smaller than 4K), or that would need
 * more than 2^18 leaves (1 GiB of 4K pages: a 64 GiB mapping with 2M-aligned
 * addresses still fits), stays in the range map only and is translated from
 * its record; the record says which. The cap keeps a test that maps
 * terabytes with 4K-aligned user addresses from building gigabytes of tables.
 *
 * Pinning: the kernel pins the user pages behind a mapping
 * (vfio_pin_map_dma -> pin_user_pages_remote; iopt_fill_domains_pages ->
 * pin_user_pages_fast) and fails with EFAULT, mapping nothing, when a page is
 * not there. The simulator checks the user range against its model of the
 * process's memory (enum viommu_host_sim_user_memory) at the same point of the
 * check order, and counts pinned pages as the kernel accounts them.
 *
 * Several IOASes of one iommufd share a context (struct vi_sim_ctx): one lock,
 * the registered user memory, the pages objects IOMMU_IOAS_COPY shares.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <viommu/pgtable.h>
#include <viommu/rangemap.h>

#include "util/compiler.h"
#include "util/opts.h"
#include "host/host_internal.h"

#define viommu_host_sim_opts__last_field flags
#define viommu_host_sim_stats__last_field pinned_pages

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
/* No process has memory at or above 2^63 (kernel or non-canonical half). */
#define VI_SIM_USER_TOP		 (UINT64_C(1) << 63)
/* vfio_iommu_type1.c DIRTY_BITMAP_PAGES_MAX (INT_MAX) and _SIZE_MAX in bytes */
#define VI_SIM_DIRTY_PAGES_MAX	 UINT64_C(0x7fffffff)
#define VI_SIM_DIRTY_BYTES(n)	 ((((n) + 63) / 64) * 8)
#define VI_SIM_DIRTY_SIZE_MAX	 VI_SIM_DIRTY_BYTES(VI_SIM_DIRTY_PAGES_MAX)

static const struct viommu_host_iova_range vi_sim_x86_ranges[] = {
	{ 0, VIOMMU_HOST_X86_MSI_FIRST - 1 },
	{ VIOMMU_HOST_X86_MSI_LAST + 1, UINT64_C(0x7fffffffff) },
};
static const struct viommu_host_iova_range vi_sim_full_range = { 0, UINT64_MAX };

/* A mapping's payload; next_free links free slots. */
struct vi_sim_rec {
	uint64_t vaddr;		/* user address of the mapping's first byte */
	uint64_t pages;		/* iommufd: the pages object (IOAS_COPY shares it); type1: 0 */
	/* type1 with dirty tracking: the bits >= npages of dma->bitmap, in its
	 * words npages/64 and npages/64 + 1 (see type1_report_dirty) */
	uint64_t dirty_tail[2];
	unsigned prot;
	uint32_t next_free;
	bool in_pt;		/* installed in the page table */
	bool writable;		/* iommufd: pages->writable */
	bool vaddr_invalid;	/* type1: VFIO_DMA_UNMAP_FLAG_VADDR */
};

struct vi_host_sim;

/*
 * What the IOASes of one simulated iommufd (or one type1 container) share.
 * Invariants: refs counts the IOASes on the list; @user holds disjoint
 * registered ranges -> VIOMMU_PERM_* access. Locking: @lock protects every
 * field below it and every field of every IOAS on the list.
 */
struct vi_sim_ctx {
	pthread_mutex_t lock;
	unsigned refs;
	enum viommu_host_sim_user_memory user_mem;
	struct viommu_rangemap *user;
	uint64_t next_pages;
	struct vi_host_sim *ioases;
	bool change_process;		/* model a kernel with IOMMU_IOAS_CHANGE_PROCESS */
};

/*
 * One simulated container / IOAS.
 * Invariants: every range-map entry's value indexes a live record; count is
 * the number of entries; (type1) count <= limit; usable ranges are sorted,
 * disjoint and non-adjacent (adjacent ones are merged at construction), as
 * are the allowed ranges; every area is aligned to @align; (iommufd with a
 * device) no area touches a reserved range; the timeline ring holds tl_len
 * <= tl_alloc <= tl_cap records starting at tl_head, and tl_head is 0 until
 * tl_alloc reached tl_cap. Locking: ctx->lock protects every field; base,
 * ctx and the device configuration (dev_*) are immutable.
 */
struct vi_host_sim {
	struct viommu_host base;
	struct vi_sim_ctx *ctx;
	struct vi_host_sim *next;	/* on ctx->ioases */
	struct viommu_rangemap *map;
	struct viommu_pgtable *pt;	/* mirror of map, for translation */
	struct vi_sim_rec *recs;
	uint32_t nrecs, cap_recs, free_head;
	uint64_t pgsize_bitmap;
	uint64_t align;			/* IOVA alignment now: smallest page, 1 with no device */
	struct viommu_host_iova_range *ranges;	/* usable now (holes of the reserved set) */
	uint32_t nranges;
	struct viommu_host_iova_range *dev_ranges;	/* what an attached device leaves usable */
	uint32_t ndev_ranges;
	uint64_t dev_align;
	struct viommu_host_iova_range *allowed;	/* iommufd ALLOW_IOVAS, sorted, merged */
	uint32_t nallowed;
	uint32_t limit;			/* type1 dma_entry_limit */
	uint64_t auto_max_align;	/* iommufd auto IOVA: HPAGE_SIZE, or PAGE_SIZE without THP */
	unsigned pt_format;
	uint64_t count;
	uint64_t type1_pinned;		/* type1: pages pinned by the mappings */
	uint32_t devices;		/* iommufd: devices attached (0: no domain); type1: 1 */
	bool dirty_hw;			/* iommufd: the domain has dirty ops */
	bool dirty_on;			/* type1 dirty_page_tracking / iommufd tracking enabled */
	struct viommu_rangemap *dirty;	/* iommufd: IOVA ranges of leaves with the dirty bit set */
	uint64_t calls;			/* host calls so far */
	uint64_t fail_at;		/* call number to fail, 0 = none */
	int fail_errno;
	struct viommu_host_record *tl;
	uint32_t tl_cap, tl_alloc, tl_head, tl_len;
	const char *why;		/* the rule that refused the call in progress */
};

#define VI_SIM_NO_REC UINT32_MAX

/* Refuse with @err, naming the kernel rule; the call's frame logs it. */
#define REFUSE(s, err, reason) ((s)->why = (reason), (err))

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

static void lock(struct vi_host_sim *s)
{
	pthread_mutex_lock(&s->ctx->lock);
}

static void unlock(struct vi_host_sim *s)
{
	pthread_mutex_unlock(&s->ctx->lock);
}

/* ---- records and the timeline ----------------------------------------- */

static int rec_alloc(struct vi_host_sim *s, uint32_t *idx)
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
	return 0;
}

static void rec_free(struct vi_host_sim *s, uint32_t idx)
{
	s->recs[idx].next_free = s->free_head;
	s->free_head = idx;
}

/*
 * Append to the timeline. The ring starts empty and doubles as records
 * arrive, up to the capacity (issue 17: allocating the capacity up front cost
 * 309 GB at the largest one); past it the oldest record is dropped. If
 * growing fails the capacity becomes what is held, so a record never fails.
 */
static void record(struct vi_host_sim *s, const struct viommu_host_record *r)
{
	uint32_t slot;

	if (!s->tl_cap)
		return;
	if (s->tl_len == s->tl_alloc && s->tl_alloc < s->tl_cap) {
		uint32_t n = s->tl_alloc ? (s->tl_alloc > s->tl_cap / 2 ? s->tl_cap : s->tl_alloc * 2)
					 : (s->tl_cap < 16 ? s->tl_cap : 16);
		struct viommu_host_record *t = realloc(s->tl, (size_t)n * sizeof(*t));

		if (t) {
			s->tl = t;
			s->tl_alloc = n;
		} else {
			s->tl_cap = s->tl_alloc;
			if (!s->tl_cap)
				return;
		}
	}
	if (s->tl_len < s->tl_alloc) {
		slot = (s->tl_head + s->tl_len) % s->tl_alloc;
		s->tl_len++;
	} else {
		slot = s->tl_head;
		s->tl_head = (s->tl_head + 1) % s->tl_alloc;
	}
	s->tl[slot] = *r;
}

/* ---- range predicates ------------------------------------------------- */

/* vfio_iommu_iova_dma_valid: [first, last] inside one usable range. */
static bool in_usable(const struct viommu_host_iova_range *r, uint32_t n, uint64_t first, uint64_t last)
{
	for (uint32_t i = 0; i < n; i++)
		if (first >= r[i].first && last <= r[i].last)
			return true;
	return false;
}

static bool type1_dma_valid(const struct vi_host_sim *s, uint64_t first, uint64_t last)
{
	return in_usable(s->ranges, s->nranges, first, last);
}

/*
 * iopt_reserved_iter_first: does [first, last] touch the reserved set (the
 * complement of the usable ranges)? Usable ranges are merged, so "no" means
 * the range lies inside one of them.
 */
static bool iommufd_hits_reserved(const struct vi_host_sim *s, uint64_t first, uint64_t last)
{
	return !in_usable(s->ranges, s->nranges, first, last);
}

/* ---- user memory: what the kernel's pin would find -------------------- */

/* FOLL_WRITE needs a writable VMA, a read pin a readable one (mm/gup.c check_vma_flags). */
static unsigned pin_access(bool writable)
{
	return writable ? VIOMMU_PERM_WRITE : VIOMMU_PERM_READ;
}

/* /proc/self/maps: is [first, last] covered by mappings allowing @need? O(lines). */
static bool process_backed(uint64_t first, uint64_t last, unsigned need)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	uint64_t cur = first;
	bool ok = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long a, b;
		char perm[8];

		if (!strchr(line, '\n') && !feof(f)) {
			/* a path longer than the buffer: skip the rest of the line */
			int c;

			while ((c = fgetc(f)) != EOF && c != '\n')
				;
		}
		if (sscanf(line, "%llx-%llx %7s", &a, &b, perm) != 3 || b <= a)
			continue;
		if (b - 1 < cur)
			continue;
		if (a > cur)
			break;		/* a hole at cur */
		if ((need & VIOMMU_PERM_READ && perm[0] != 'r') || (need & VIOMMU_PERM_WRITE && perm[1] != 'w'))
			break;
		if (b - 1 >= last) {
			ok = true;
			break;
		}
		cur = b;
	}
	fclose(f);
	return ok;
}

/* Registered memory: [first, last] covered without a gap, each piece allowing @need. */
static bool registered_backed(const struct vi_sim_ctx *c, uint64_t first, uint64_t last, unsigned need)
{
	struct viommu_rangemap_iter it;
	uint64_t cur = first;

	viommu_rangemap_for_each(&it, c->user, first, last) {
		if (it.entry.first > cur || (it.entry.value & need) != need)
			return false;
		if (it.entry.last >= last)
			return true;
		cur = it.entry.last + 1;
	}
	return false;
}

/* Would pinning [first, last] (user addresses, no wrap) with @need succeed? */
static bool user_backed(const struct vi_sim_ctx *c, uint64_t first, uint64_t last, unsigned need)
{
	if (last >= VI_SIM_USER_TOP)
		return false;
	switch (c->user_mem) {
	case VIOMMU_HOST_SIM_USER_SYNTHETIC:
		return true;
	case VIOMMU_HOST_SIM_USER_REGISTERED:
		return registered_backed(c, first, last, need);
	case VIOMMU_HOST_SIM_USER_PROCESS:
		return process_backed(first, last, need);
	}
	return false;
}

/* The kernel pins whole CPU pages: is every page [vaddr, vaddr + len - 1] touches backed? */
static bool user_pages_backed(const struct vi_sim_ctx *c, uint64_t vaddr, uint64_t len, unsigned need)
{
	uint64_t last = vaddr + (len - 1);

	return user_backed(c, vaddr & ~(VI_SIM_CPU_PAGE - 1), last | (VI_SIM_CPU_PAGE - 1), need);
}

/* The CPU pages [first >> 12, last >> 12] a user range spans. */
static uint64_t cpu_pages(uint64_t vaddr, uint64_t len)
{
	return ((vaddr + (len - 1)) / VI_SIM_CPU_PAGE) - vaddr / VI_SIM_CPU_PAGE + 1;
}

/* ---- pinned spans of iommufd pages objects ---------------------------- */

struct vi_span {
	uint64_t pages, first, last;	/* pages object; CPU page numbers */
};

static int span_cmp(const void *a, const void *b)
{
	const struct vi_span *x = a, *y = b;

	if (x->pages != y->pages)
		return x->pages < y->pages ? -1 : 1;
	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return 0;
}

/*
 * The pinned CPU-page spans of the iommufd: every area of an IOAS with a
 * domain pins its slice of its pages object (iopt_area_fill_domains), once
 * however many areas share it. Sorted by (pages, first). @only: just this
 * pages object (0 = all). Caller frees *out. O(a log a).
 */
static int pinned_spans(const struct vi_sim_ctx *c, uint64_t only, struct vi_span **out, size_t *n)
{
	size_t cap = 0, k = 0;
	struct vi_span *v = NULL;

	for (const struct vi_host_sim *s = c->ioases; s; s = s->next) {
		struct viommu_rangemap_iter it;

		if (!s->devices || is_type1(s))
			continue;
		viommu_rangemap_for_each(&it, s->map, 0, UINT64_MAX) {
			const struct vi_sim_rec *r = &s->recs[it.entry.value];
			uint64_t len = it.entry.last - it.entry.first + 1;

			if (only && r->pages != only)
				continue;
			if (k == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct vi_span *nv = realloc(v, nc * sizeof(*nv));

				if (!nv) {
					free(v);
					return -ENOMEM;
				}
				v = nv;
				cap = nc;
			}
			v[k++] = (struct vi_span){ r->pages, r->vaddr / VI_SIM_CPU_PAGE,
						   (r->vaddr + (len - 1)) / VI_SIM_CPU_PAGE };
		}
	}
	if (k)
		qsort(v, k, sizeof(*v), span_cmp);
	*out = v;
	*n = k;
	return 0;
}

/*
 * Pin [vaddr, vaddr + len - 1] of pages object @pages for a new area in an
 * IOAS with a domain: the parts some domain already holds are read from it
 * (pfn_reader: batch_from_domain), the rest is pinned from the user
 * (pfn_reader_user_pin), which fails with EFAULT where nothing backs it.
 */
static int iommufd_pin(struct vi_host_sim *s, uint64_t pages, uint64_t vaddr, uint64_t len, bool writable,
		       bool fresh)
{
	uint64_t lo = vaddr / VI_SIM_CPU_PAGE, hi = (vaddr + (len - 1)) / VI_SIM_CPU_PAGE, cur = lo;
	struct vi_span *v;
	size_t n;
	int ret;

	if (fresh)	/* a new pages object: nothing of it is pinned yet */
		return user_pages_backed(s->ctx, vaddr, len, pin_access(writable)) ? 0 : -EFAULT;
	ret = pinned_spans(s->ctx, pages, &v, &n);
	if (ret)
		return ret;
	for (size_t i = 0; i <= n && cur <= hi; i++) {
		uint64_t stop = i < n ? v[i].first : hi + 1;

		if (stop > cur && !user_backed(s->ctx, cur * VI_SIM_CPU_PAGE,
					      VI_MIN(stop - 1, hi) * VI_SIM_CPU_PAGE + VI_SIM_CPU_PAGE - 1,
					      pin_access(writable))) {
			free(v);
			return -EFAULT;
		}
		if (i < n && v[i].last >= cur)
			cur = v[i].last == UINT64_MAX ? hi + 1 : v[i].last + 1;
	}
	free(v);
	return 0;
}

/* ---- insert / remove -------------------------------------------------- */

/*
 * Would the page table hold this mapping in at most VI_SIM_PT_MAX_LEAVES
 * leaves? The leaf size is bounded by the common alignment of iova, user
 * address and length (iommu_pgsize in drivers/iommu/iommu.c), so this is an
 * upper bound on the leaves it builds.
 */
static bool pt_fits(const struct vi_host_sim *s, uint64_t iova, uint64_t vaddr, uint64_t len)
{
	uint64_t a = iova | vaddr | len, low = a & -a;
	uint64_t sizes = ((s->pgsize_bitmap & VI_SIM_DEFAULT_PGSIZES) | 0x1000) & (low | (low - 1));

	if (!sizes)
		return false;
	return len >> vi_fls64(sizes) <= VI_SIM_PT_MAX_LEAVES;
}

/* Install record @idx's mapping [iova, last] in the mirror page table, if it fits. */
static int pt_install(struct vi_host_sim *s, uint32_t idx, uint64_t iova, uint64_t last)
{
	struct vi_sim_rec *r = &s->recs[idx];

	r->in_pt = false;
	if (s->pt && pt_fits(s, iova, r->vaddr, last - iova + 1)) {
		uint64_t mapped = 0;
		/* VIOMMU_PERM_* and VIOMMU_PERM_* share their values */
		int pr = viommu_pgtable_map(s->pt, iova, r->vaddr, last - iova + 1, r->prot, &mapped);

		if (pr && mapped)
			viommu_pgtable_unmap(s->pt, iova, mapped, NULL);
		if (pr == -ENOMEM)
			return -ENOMEM;	/* the kernel would fail the map with ENOMEM as well */
		r->in_pt = pr == 0;
	}
	return 0;
}

static int sim_insert(struct vi_host_sim *s, uint64_t iova, uint64_t last, const struct vi_sim_rec *tmpl)
{
	uint32_t idx;
	int ret = rec_alloc(s, &idx);

	if (ret)
		return ret;
	s->recs[idx] = *tmpl;
	s->recs[idx].next_free = VI_SIM_NO_REC;
	ret = viommu_rangemap_insert(s->map, iova, last, idx);
	if (ret) {
		rec_free(s, idx);
		return ret;
	}
	ret = pt_install(s, idx, iova, last);
	if (ret) {
		viommu_rangemap_remove(s->map, iova, last, NULL);
		rec_free(s, idx);
		return ret;
	}
	s->count++;
	if (is_type1(s))
		s->type1_pinned += cpu_pages(tmpl->vaddr, last - iova + 1);
	return 0;
}

/* Forget the dirty bits of [first, last] (its page-table entries are gone or fresh). */
static void dirty_forget(struct vi_host_sim *s, uint64_t first, uint64_t last)
{
	struct viommu_range_entry e;

	if (!s->dirty)
		return;
	while (viommu_rangemap_find_overlap(s->dirty, first, last, &e)) {
		viommu_rangemap_remove(s->dirty, e.first, e.last, NULL);
		if (e.first < first)
			viommu_rangemap_insert(s->dirty, e.first, first - 1, 0);
		if (e.last > last)
			viommu_rangemap_insert(s->dirty, last + 1, e.last, 0);
	}
}

static void sim_remove(struct vi_host_sim *s, const struct viommu_range_entry *e)
{
	const struct vi_sim_rec *r = &s->recs[e->value];

	if (r->in_pt)
		viommu_pgtable_unmap(s->pt, e->first, e->last - e->first + 1, NULL);
	if (is_type1(s))
		s->type1_pinned -= cpu_pages(r->vaddr, e->last - e->first + 1);
	dirty_forget(s, e->first, e->last);
	viommu_rangemap_remove(s->map, e->first, e->last, NULL);
	rec_free(s, (uint32_t)e->value);
	s->count--;
}

/* ---- type1 ------------------------------------------------------------ */

/* vfio_dma_do_map, VFIO_DMA_MAP_FLAG_VADDR branch: give the mapping its new user address. */
static int type1_set_vaddr(struct vi_host_sim *s, uint64_t iova, uint64_t size, uint64_t vaddr)
{
	struct viommu_range_entry e;
	struct vi_sim_rec *r;

	/* vfio_find_dma(iommu, iova, size): any mapping overlapping the range */
	if (!viommu_rangemap_find_overlap(s->map, iova, iova + size - 1, &e))
		return REFUSE(s, -ENOENT, "vfio_dma_do_map VADDR: no mapping in the range");
	r = &s->recs[e.value];
	if (!r->vaddr_invalid || e.first != iova || e.last != iova + size - 1)
		return REFUSE(s, -EINVAL, "vfio_dma_do_map VADDR: not exactly one mapping with an invalidated vaddr");
	/* vfio_change_dma_owner: same mm, nothing to move. Nothing is pinned again. */
	if (r->in_pt)
		viommu_pgtable_unmap(s->pt, e.first, size, NULL);
	r->vaddr = vaddr;
	r->vaddr_invalid = false;
	if (pt_install(s, (uint32_t)e.value, e.first, e.last))
		r->in_pt = false;	/* translated from the record instead */
	return 0;
}

/* vfio_iommu_type1_map_dma -> vfio_dma_do_map (Linux 6.1), in its order. */
static int type1_map(struct vi_host_sim *s, uint64_t iova, uint64_t size, uint64_t vaddr, unsigned prot,
		     unsigned flags)
{
	bool set_vaddr = flags & VIOMMU_HOST_MAP_VADDR;
	uint64_t pg = s->align;
	struct vi_sim_rec t = { .vaddr = vaddr, .prot = prot };
	int ret;

	if ((prot && set_vaddr) || (!prot && !set_vaddr))
		return REFUSE(s, -EINVAL, "vfio_dma_do_map: no READ/WRITE (or permissions with VADDR)");
	if (!size || ((size | iova | vaddr) & (pg - 1)))
		return REFUSE(s, -EINVAL, "vfio_dma_do_map: size 0 or size/iova/vaddr not aligned to the smallest page");
	if (iova + size - 1 < iova || vaddr + size - 1 < vaddr)
		return REFUSE(s, -EINVAL, "vfio_dma_do_map: IOVA or virtual address wraps");
	if (set_vaddr)
		return type1_set_vaddr(s, iova, size, vaddr);
	/* vfio_find_dma(iommu, iova, size): any overlap, identical included */
	if (viommu_rangemap_find_overlap(s->map, iova, iova + size - 1, NULL))
		return REFUSE(s, -EEXIST, "vfio_find_dma: overlaps a mapping");
	if (s->count >= s->limit)
		return REFUSE(s, -ENOSPC, "vfio_dma_do_map: dma_avail is 0 (dma_entry_limit)");
	if (!type1_dma_valid(s, iova, iova + size - 1))
		return REFUSE(s, -EINVAL, "vfio_iommu_iova_dma_valid: outside the usable IOVA ranges");
	/* vfio_pin_map_dma -> vaddr_get_pfns: pin_user_pages_remote faults */
	if (!user_pages_backed(s->ctx, vaddr, size, pin_access(prot & VIOMMU_PERM_WRITE)))
		return REFUSE(s, -EFAULT, "vfio_pin_pages_remote: no user memory behind the range");
	/* vfio_dma_bitmap_alloc while dirty tracking: more than INT_MAX pages */
	if (s->dirty_on && size / pg > VI_SIM_DIRTY_PAGES_MAX)
		return REFUSE(s, -EINVAL, "vfio_dma_bitmap_alloc: more than DIRTY_BITMAP_PAGES_MAX pages");
	ret = sim_insert(s, iova, iova + size - 1, &t);
	return ret ? REFUSE(s, ret, "out of memory") : 0;
}

/*
 * update_user_bitmap for one mapping of @n bitmap pages at bit @off of the
 * user bitmap @user (Linux 6.1 and 6.12 alike), reproduced word for word:
 * every page reads dirty (num_non_pinned_groups: a device without page
 * pinning may have written anything mapped); dma->bitmap is shifted left by
 * off % 64 in place over BITS_TO_LONGS(n + shift) words without masking
 * (__bitmap_shift_left), the user's first word is OR-ed in whole
 * (__bitmap_or over one word), those words are copied out, and afterwards
 * only the first n bits are cleared (vfio_iova_dirty_bitmap). So bits pushed
 * past n stay in dma->bitmap and come back, shifted again, on the next read
 * of a range where the mapping is not at a 64-bit boundary: the record keeps
 * them (words n/64 and n/64 + 1, the only ones that can hold bits >= n).
 */
static void type1_report_dirty(struct vi_sim_rec *r, uint64_t n, uint64_t off, uint64_t *user)
{
	uint64_t c = off / 64, sh = off % 64, lim = (n + sh + 63) / 64, f = n / 64;
	uint64_t lowmask = (n % 64) ? (UINT64_C(1) << (n % 64)) - 1 : 0;
	bool has_f1 = (n % 64) != 0;	/* the allocation has ceil(n/64) + 1 words */
	uint64_t bf = lowmask | r->dirty_tail[0], bf1 = has_f1 ? r->dirty_tail[1] : 0;
	uint64_t nf = bf, nf1 = bf1;

	for (uint64_t k = 0; k < lim; k++) {
		uint64_t cur = k < f ? UINT64_MAX : k == f ? bf : bf1;
		uint64_t below = k == 0 ? 0 : (k - 1 < f ? UINT64_MAX : k - 1 == f ? bf : bf1);
		uint64_t w = sh ? (cur << sh) | (below >> (64 - sh)) : cur;

		if (k == 0 && sh)
			w |= user[c];
		user[c + k] = w;
		if (k == f)
			nf = w;
		else if (k == f + 1)
			nf1 = w;
	}
	r->dirty_tail[0] = nf & ~lowmask;
	r->dirty_tail[1] = has_f1 ? nf1 : 0;
}

/* access_ok(): the user buffer lies below the top of user space. */
static bool user_buffer_ok(const struct viommu_host_dirty_bitmap *bm)
{
	uint64_t a = (uint64_t)(uintptr_t)bm->data;

	return a + bm->size >= a && a + bm->size <= VI_SIM_USER_TOP;
}

/* verify_bitmap_size */
static bool type1_bitmap_size_ok(uint64_t npages, uint64_t size)
{
	return npages && size && size <= VI_SIM_DIRTY_SIZE_MAX && size >= VI_SIM_DIRTY_BYTES(npages);
}

/* vfio_iommu_type1_unmap_dma -> vfio_dma_do_unmap (Linux 6.1), in its order. */
static int type1_unmap(struct vi_host_sim *s, uint64_t iova, uint64_t size, unsigned flags,
		       const struct viommu_host_dirty_bitmap *bm, uint64_t *unmapped)
{
	bool all = flags & VIOMMU_HOST_UNMAP_ALL, inval = flags & VIOMMU_HOST_UNMAP_VADDR;
	bool dirty = flags & VI_HOST_UNMAP_DIRTY;
	bool v2 = s->base.semantics == VIOMMU_HOST_TYPE1V2;
	uint64_t pg = s->align, end, bytes = 0;
	struct viommu_range_entry e;
	struct viommu_rangemap_iter it;

	/* vfio_iommu_type1_unmap_dma */
	if (dirty && (all || inval))
		return REFUSE(s, -EINVAL, "unmap: GET_DIRTY_BITMAP with ALL or VADDR");
	if (dirty) {
		if (!user_buffer_ok(bm))
			return REFUSE(s, -EINVAL, "unmap: dirty bitmap outside user space (access_ok)");
		if (!type1_bitmap_size_ok(size >> vi_ffs64(bm->pgsize), bm->size))
			return REFUSE(s, -EINVAL, "verify_bitmap_size: bitmap too small, too large or empty");
	}
	/* vfio_dma_do_unmap */
	if (iova & (pg - 1))
		return REFUSE(s, -EINVAL, "vfio_dma_do_unmap: iova not aligned to the smallest page");
	if (all) {
		if (iova || size)
			return REFUSE(s, -EINVAL, "vfio_dma_do_unmap: UNMAP_ALL with a non-zero iova or size");
		size = UINT64_MAX;
	} else if (!size || (size & (pg - 1)) || iova + size - 1 < iova) {
		return REFUSE(s, -EINVAL, "vfio_dma_do_unmap: size 0, not aligned, or iova + size wraps");
	}
	if (dirty && (!s->dirty_on || bm->pgsize != pg))
		return REFUSE(s, -EINVAL, "vfio_dma_do_unmap: dirty bitmap without tracking or not at the smallest page");
	end = iova + size;	/* wraps to 0 for a request ending at 2^64 */

	/* Fast path, same result as the walk below: the request is exactly one
	 * mapping, so both v2 tests pass and the walk removes just that one. */
	if (!all && !inval && !dirty && end != 0 && viommu_rangemap_find(s->map, iova, &e) && e.first == iova &&
	    e.last == end - 1) {
		sim_remove(s, &e);
		*unmapped = size;
		return 0;
	}

	if (v2 && !all) {
		/* vfio_find_dma(iommu, iova, 1): start inside a mapping */
		if (viommu_rangemap_find(s->map, iova, &e) && e.first != iova)
			return REFUSE(s, -EINVAL, "vfio_dma_do_unmap v2: the range starts inside a mapping");
		/* vfio_find_dma(iommu, iova + size - 1, 0): end inside a mapping */
		if (viommu_rangemap_find(s->map, iova + size - 1, &e) && e.first < iova + size - 1 &&
		    e.last + 1 != end)
			return REFUSE(s, -EINVAL, "vfio_dma_do_unmap v2: the range ends inside a mapping");
	}
	/* vfio_find_dma_first_node: "dma->iova >= start + size" with the sum
	 * wrapped to 0 rejects every node, so nothing is found. */
	if (end == 0 && !all)
		return 0;
	if (inval) {
		uint64_t done_first = 0, done_last = 0;
		bool any = false;

		viommu_rangemap_for_each(&it, s->map, iova, end - 1) {
			struct vi_sim_rec *r = &s->recs[it.entry.value];

			if (!v2 && iova > it.entry.first)
				break;
			if (r->vaddr_invalid) {
				/* undo what this call invalidated, report nothing */
				struct viommu_rangemap_iter u;

				/* (the range map's cursor macro does not nest) */
				for (bool more = any && viommu_rangemap_iter_start(&u, s->map, done_first, done_last);
				     more; more = viommu_rangemap_iter_next(&u))
					s->recs[u.entry.value].vaddr_invalid = false;
				return REFUSE(s, -EINVAL, "vfio_dma_do_unmap VADDR: a mapping's vaddr is already invalid");
			}
			r->vaddr_invalid = true;
			if (!any)
				done_first = it.entry.first;
			done_last = it.entry.last;
			any = true;
			bytes += it.entry.last - it.entry.first + 1;
		}
		*unmapped = bytes;
		return 0;
	}
	while (viommu_rangemap_find_overlap(s->map, iova, end - 1, &e)) {
		/* v1: a mapping starting before iova stops the walk (0 bytes if first) */
		if (!v2 && iova > e.first)
			break;
		if (dirty) {
			uint64_t shift = vi_ffs64(pg);

			type1_report_dirty(&s->recs[e.value], (e.last - e.first + 1) >> shift, (e.first - iova) >> shift,
					   bm->data);
		}
		bytes += e.last - e.first + 1;	/* the whole vfio_dma, even past the end (v1) */
		sim_remove(s, &e);
	}
	*unmapped = bytes;
	return 0;
}

/* vfio_iommu_type1_dirty_pages START / STOP. */
static int type1_dirty_ctl(struct vi_host_sim *s, unsigned flags)
{
	struct viommu_rangemap_iter it;

	if (s->base.semantics != VIOMMU_HOST_TYPE1V2)
		return REFUSE(s, -EACCES, "vfio_iommu_type1_dirty_pages: not a v2 container");
	/* "only one flag should be set at a time" */
	if (flags != VIOMMU_HOST_DIRTY_START && flags != VIOMMU_HOST_DIRTY_STOP)
		return REFUSE(s, -EINVAL, "vfio_iommu_type1_dirty_pages: more than one flag");
	if (flags == VIOMMU_HOST_DIRTY_STOP) {
		s->dirty_on = false;	/* vfio_dma_bitmap_free_all */
		return 0;
	}
	if (s->dirty_on)
		return 0;
	/* vfio_dma_bitmap_alloc_all: a zeroed bitmap per mapping */
	viommu_rangemap_for_each(&it, s->map, 0, UINT64_MAX)
		if ((it.entry.last - it.entry.first + 1) / s->align > VI_SIM_DIRTY_PAGES_MAX)
			return REFUSE(s, -EINVAL, "vfio_dma_bitmap_alloc: a mapping has more than INT_MAX pages");
	viommu_rangemap_for_each(&it, s->map, 0, UINT64_MAX)
		memset(s->recs[it.entry.value].dirty_tail, 0, sizeof(s->recs[0].dirty_tail));
	s->dirty_on = true;
	return 0;
}

/* vfio_iommu_type1_dirty_pages GET_BITMAP -> vfio_iova_dirty_bitmap. */
static int type1_dirty_read(struct vi_host_sim *s, uint64_t iova, uint64_t size,
			    const struct viommu_host_dirty_bitmap *bm)
{
	uint64_t pg = s->align, shift = vi_ffs64(pg), last;
	struct viommu_range_entry e;
	struct viommu_rangemap_iter it;

	if (s->base.semantics != VIOMMU_HOST_TYPE1V2)
		return REFUSE(s, -EACCES, "vfio_iommu_type1_dirty_pages: not a v2 container");
	if (iova + size < iova)
		return REFUSE(s, -EINVAL, "GET_BITMAP: iova + size wraps");
	if (!user_buffer_ok(bm))
		return REFUSE(s, -EINVAL, "GET_BITMAP: bitmap outside user space (access_ok)");
	if (!type1_bitmap_size_ok(size >> vi_ffs64(bm->pgsize), bm->size))
		return REFUSE(s, -EINVAL, "verify_bitmap_size: bitmap too small, too large or empty");
	if (bm->pgsize != pg)
		return REFUSE(s, -EINVAL, "GET_BITMAP: page size is not the smallest IOMMU page");
	if (iova & (pg - 1))
		return REFUSE(s, -EINVAL, "GET_BITMAP: iova not aligned");
	if (!size || (size & (pg - 1)))
		return REFUSE(s, -EINVAL, "GET_BITMAP: size 0 or not aligned");
	if (!s->dirty_on)
		return REFUSE(s, -EINVAL, "GET_BITMAP: dirty tracking not started");
	last = iova + size - 1;
	/* "GET_BITMAP request must fully cover vfio_dma mappings" */
	if (viommu_rangemap_find(s->map, iova, &e) && e.first != iova)
		return REFUSE(s, -EINVAL, "vfio_iova_dirty_bitmap: the range starts inside a mapping");
	if (viommu_rangemap_find(s->map, last, &e) && e.last != last)
		return REFUSE(s, -EINVAL, "vfio_iova_dirty_bitmap: the range ends inside a mapping");
	viommu_rangemap_for_each(&it, s->map, iova, last) {
		if (it.entry.first < iova)
			continue;
		type1_report_dirty(&s->recs[it.entry.value], (it.entry.last - it.entry.first + 1) >> shift,
				   (it.entry.first - iova) >> shift, bm->data);
	}
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
	if (iova == UINT64_MAX || length == UINT64_MAX)
		return REFUSE(s, -EOVERFLOW, "iommufd_ioas_map: iova or length >= ULONG_MAX");
	if (!prot)
		return REFUSE(s, -EINVAL, "iommufd_ioas_map: neither READABLE nor WRITEABLE");
	if (length == 0 || length > UINT64_MAX - VI_SIM_CPU_PAGE)
		return REFUSE(s, -EINVAL, "iopt_alloc_pages: length 0 or > SIZE_MAX - PAGE_SIZE");
	if (vaddr + length < vaddr)
		return REFUSE(s, -EOVERFLOW, "iopt_alloc_pages: uptr + length overflows");
	if (length & (s->align - 1))
		return REFUSE(s, -EINVAL, "iopt_alloc_area_pages: length not aligned to iova_alignment");
	return 0;
}

/* iopt_check_iova: alignment, overflow, reserved, then areas. */
static int iommufd_check_iova(struct vi_host_sim *s, uint64_t iova, uint64_t length)
{
	if (iova & (s->align - 1))
		return REFUSE(s, -EINVAL, "iopt_check_iova: iova not aligned to iova_alignment");
	if (iova + (length - 1) < iova)
		return REFUSE(s, -EOVERFLOW, "iopt_check_iova: iova + length - 1 overflows");
	if (iommufd_hits_reserved(s, iova, iova + length - 1))
		return REFUSE(s, -EINVAL, "iopt_check_iova: touches a reserved range");
	if (viommu_rangemap_find_overlap(s->map, iova, iova + length - 1, NULL))
		return REFUSE(s, -EEXIST, "iopt_check_iova: overlaps an area");
	return 0;
}

/* iopt_insert_area: a writable area needs writable pages; the page offset must be aligned. */
static int iommufd_insert_checks(struct vi_host_sim *s, uint64_t vaddr, unsigned prot, bool writable)
{
	if ((prot & VIOMMU_PERM_WRITE) && !writable)
		return REFUSE(s, -EPERM, "iopt_insert_area: writable area over pages mapped read-only");
	if ((vaddr % VI_SIM_CPU_PAGE) & (s->align - 1))
		return REFUSE(s, -EINVAL, "iopt_insert_area: page offset of the user address not aligned");
	return 0;
}

/*
 * __alloc_iova_check_range: align the start up (refusing an ALIGN overflow),
 * add the page offset, check it fits with "aligned_start >= last" as 6.12
 * has it (so a 1-byte area never fits a 1-byte hole).
 */
static bool alloc_fit(uint64_t *start, uint64_t last, uint64_t length, uint64_t align, uint64_t page_offset)
{
	uint64_t s;

	if (*start > UINT64_MAX - (align - 1))
		return false;
	s = ((*start + align - 1) & ~(align - 1)) | page_offset;
	if (s >= last || last - s < length - 1)
		return false;
	*start = s;
	return true;
}

/* The lowest fitting hole of reserved ∪ areas inside [lo, hi] (interval_tree_for_each_double_span). */
static bool alloc_in(const struct vi_host_sim *s, uint64_t lo, uint64_t hi, uint64_t length, uint64_t align,
		     uint64_t page_offset, uint64_t *out)
{
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
					return true;
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
			return true;
		}
	}
	return false;
}

/*
 * iopt_alloc_iova (Linux 6.12): inside each allowed span (or the one span
 * [PAGE_SIZE, ULONG_MAX - PAGE_SIZE] without an allowed list), aligned first,
 * the lowest fitting hole of reserved ∪ areas.
 */
static int iommufd_alloc_iova(struct vi_host_sim *s, uint64_t vaddr, uint64_t length, uint64_t *out)
{
	uint64_t page_offset = vaddr % VI_SIM_CPU_PAGE, align, lo = VI_SIM_CPU_PAGE,
		 hi = UINT64_MAX - VI_SIM_CPU_PAGE;

	if (length == 0 || length >= UINT64_MAX / 2)
		return REFUSE(s, -EOVERFLOW, "iopt_alloc_iova: length 0 or >= ULONG_MAX / 2");
	align = roundup_pow2(length);
	if (vaddr && (UINT64_C(1) << vi_ffs64(vaddr)) < align)
		align = UINT64_C(1) << vi_ffs64(vaddr);
	if (align >= s->auto_max_align)
		align = s->auto_max_align;
	if (align < s->align)
		return REFUSE(s, -EINVAL, "iopt_alloc_iova: alignment below iova_alignment");
	if (!s->nallowed) {
		if (alloc_fit(&lo, hi, length, align, page_offset) &&
		    alloc_in(s, lo, hi, length, align, page_offset, out))
			return 0;
		return REFUSE(s, -ENOSPC, "iopt_alloc_iova: no hole fits");
	}
	for (uint32_t i = 0; i < s->nallowed; i++) {
		uint64_t a = VI_MAX(s->allowed[i].first, lo), b = VI_MIN(s->allowed[i].last, hi);

		if (s->allowed[i].last < lo || s->allowed[i].first > hi || a > b)
			continue;
		if (alloc_fit(&a, b, length, align, page_offset) && alloc_in(s, a, b, length, align, page_offset, out))
			return 0;
	}
	return REFUSE(s, -ENOSPC, "iopt_alloc_iova: no hole fits in the allowed ranges");
}

/* Everything after the IOVA is chosen: insert checks, pinning with a domain, then the area. */
static int iommufd_finish_map(struct vi_host_sim *s, uint64_t iova, uint64_t length, const struct vi_sim_rec *t,
			      bool fresh)
{
	int ret = iommufd_insert_checks(s, t->vaddr, t->prot, t->writable);

	if (ret)
		return ret;
	/* iopt_fill_domains_pages: only an IOAS with a domain pins */
	if (s->devices) {
		ret = iommufd_pin(s, t->pages, t->vaddr, length, t->writable, fresh);
		if (ret == -EFAULT)
			return REFUSE(s, ret, "pfn_reader_user_pin: no user memory behind the range");
		if (ret)
			return REFUSE(s, ret, "out of memory");
	}
	ret = sim_insert(s, iova, iova + length - 1, t);
	return ret ? REFUSE(s, ret, "out of memory") : 0;
}

static int iommufd_map(struct vi_host_sim *s, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot)
{
	struct vi_sim_rec t = { .vaddr = vaddr, .prot = prot, .writable = prot & VIOMMU_PERM_WRITE,
				.pages = s->ctx->next_pages + 1 };
	int ret = iommufd_map_common(s, iova, length, vaddr, prot);

	if (!ret)
		ret = iommufd_check_iova(s, iova, length);
	if (!ret)
		ret = iommufd_finish_map(s, iova, length, &t, true);
	if (!ret)
		s->ctx->next_pages++;
	return ret;
}

static int iommufd_map_auto(struct vi_host_sim *s, uint64_t vaddr, uint64_t length, unsigned prot, uint64_t *iova)
{
	struct vi_sim_rec t = { .vaddr = vaddr, .prot = prot, .writable = prot & VIOMMU_PERM_WRITE,
				.pages = s->ctx->next_pages + 1 };
	uint64_t chosen;
	/* the ioctl's iova field is 0 on input for an auto map */
	int ret = iommufd_map_common(s, 0, length, vaddr, prot);

	if (!ret)
		ret = iommufd_alloc_iova(s, vaddr, length, &chosen);
	if (!ret)
		ret = iommufd_finish_map(s, chosen, length, &t, true);
	if (!ret) {
		s->ctx->next_pages++;
		*iova = chosen;
	}
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
			return REFUSE(s, -ENOENT, "iopt_unmap_iova_range: an area is only partly covered");
		bytes += e.last - e.first + 1;
		sim_remove(s, &e);
	}
	if (!bytes)
		return REFUSE(s, -ENOENT, "iommufd_ioas_unmap: nothing mapped in the range");
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
		return ret == -ENOENT && !*unmapped ? (s->why = NULL, 0) : ret;
	}
	if (iova == UINT64_MAX || length == UINT64_MAX)
		return REFUSE(s, -EOVERFLOW, "iommufd_ioas_unmap: iova or length >= ULONG_MAX");
	/* iopt_unmap_iova: no alignment check at all */
	if (!length)
		return REFUSE(s, -EINVAL, "iopt_unmap_iova: length 0");
	if (iova + (length - 1) < iova)
		return REFUSE(s, -EOVERFLOW, "iopt_unmap_iova: iova + length - 1 overflows");
	return iommufd_unmap_range(s, iova, iova + length - 1, unmapped);
}

/*
 * IOMMU_HWPT_SET_DIRTY_TRACKING -> iopt_set_dirty_tracking: a domain without
 * dirty ops (every VT-d without scalable-mode SSADS, QEMU's included) says
 * EOPNOTSUPP; enabling first clears every dirty bit (iopt_clear_dirty_data).
 * From source for a domain that tracks.
 */
static int iommufd_dirty_ctl(struct vi_host_sim *s, unsigned flags)
{
	if (!s->devices)
		return REFUSE(s, -ENOENT, "iommufd_get_hwpt_paging: the IOAS has no HWPT (no device)");
	if (!s->dirty_hw)
		return REFUSE(s, -EOPNOTSUPP, "iopt_set_dirty_tracking: the domain has no dirty_ops");
	if (flags == VIOMMU_HOST_DIRTY_START)
		viommu_rangemap_clear(s->dirty);
	s->dirty_on = flags == VIOMMU_HOST_DIRTY_START;
	return 0;
}

/* Set bits [first, last] (IOVAs, clipped to the bitmap range) of an iova_bitmap. */
static void iova_bitmap_set(const struct viommu_host_dirty_bitmap *bm, uint64_t base, uint64_t length,
			    uint64_t first, uint64_t last)
{
	uint64_t shift = vi_ffs64(bm->pgsize), end = base + (length - 1), nbits = bm->size * 8;
	uint64_t b0, b1;

	if (last < base || first > end)
		return;
	first = VI_MAX(first, base);
	last = VI_MIN(last, end);
	b0 = (first - base) >> shift;
	b1 = (last - base) >> shift;
	/* the kernel writes within the pages of the bitmap it pinned; the
	 * simulator never writes past the caller's buffer */
	if (b1 >= nbits)
		b1 = nbits - 1;
	for (uint64_t b = b0; b <= b1 && b < nbits; b++)
		bm->data[b / 64] |= UINT64_C(1) << (b % 64);
}

/*
 * IOMMU_HWPT_GET_DIRTY_BITMAP -> iommufd_check_iova_range, then
 * iommu_read_and_clear_dirty (Linux 6.12): the range checks first, then a
 * domain without dirty ops says EOPNOTSUPP. From source for a domain that
 * tracks: one pass over the areas contiguous from @iova (iopt_for_each_contig
 * _area; a hole ends it, and the error is dropped because 6.12 ignores
 * iova_bitmap_for_each's result), and per area the walk of
 * intel_iommu_read_and_clear_dirty: the leaf at the cursor, its whole size
 * recorded if dirty, cursor += leaf size. With tracking off the domain
 * refuses and nothing is read, still 0.
 */
static int iommufd_dirty_read(struct vi_host_sim *s, uint64_t iova, uint64_t length,
			      const struct viommu_host_dirty_bitmap *bm, unsigned flags)
{
	uint64_t last, cur;
	struct viommu_range_entry e;

	if (!s->devices)
		return REFUSE(s, -ENOENT, "iommufd_get_hwpt_paging: the IOAS has no HWPT (no device)");
	if (iova + (length - 1) < iova)
		return REFUSE(s, -EOVERFLOW, "iommufd_check_iova_range: iova + length - 1 overflows");
	last = iova + (length - 1);
	if ((iova & (s->align - 1)) || ((last + 1) & (s->align - 1)))
		return REFUSE(s, -EINVAL, "iommufd_check_iova_range: not aligned to iova_alignment");
	if ((iova & (bm->pgsize - 1)) || ((last + 1) & (bm->pgsize - 1)))
		return REFUSE(s, -EINVAL, "iommufd_check_iova_range: not aligned to the bitmap page size");
	if (!s->dirty_hw)
		return REFUSE(s, -EOPNOTSUPP, "iommu_read_and_clear_dirty: the domain has no dirty_ops");
	if (!s->dirty_on)
		return 0;
	cur = iova;
	while (viommu_rangemap_find(s->map, cur, &e)) {
		const struct vi_sim_rec *r = &s->recs[e.value];
		uint64_t alast = VI_MIN(e.last, last), pos = cur;

		do {
			struct viommu_pt_mapping m;
			uint64_t lf, ll;

			if (r->in_pt && viommu_pgtable_lookup(s->pt, pos, &m) == 0) {
				lf = m.iova;
				ll = m.iova + (m.size - 1);
			} else {	/* not in the table: pages of the IOVA alignment */
				lf = pos & ~(s->dev_align - 1);
				ll = lf + (s->dev_align - 1);
			}
			if (viommu_rangemap_find_overlap(s->dirty, lf, ll, NULL)) {
				iova_bitmap_set(bm, iova, length, pos, pos + (ll - lf));
				if (!(flags & VIOMMU_HOST_DIRTY_NO_CLEAR))
					dirty_forget(s, lf, ll);
			}
			if (pos + (ll - lf) >= alast)
				break;
			pos += ll - lf + 1;
		} while (pos < alast);
		if (e.last >= last)
			break;
		cur = e.last + 1;
	}
	return 0;
}

/*
 * iommufd_ioas_copy (Linux 6.12): flags, overflow, permission, the source's
 * pages (iopt_get_pages: covered without a hole, else ENOENT), then a map of
 * those pages into the destination (iopt_map_pages: the same checks as a map,
 * EPERM for a writable copy of read-only pages). The pages are shared: what a
 * domain already holds is not pinned again.
 */
static int iommufd_copy(struct vi_host_sim *d, uint64_t *dst_iova, struct vi_host_sim *src, uint64_t src_iova,
			uint64_t length, unsigned prot, unsigned flags)
{
	struct viommu_range_entry e;
	uint64_t cur, last, iova = *dst_iova;
	size_t n = 0, cap = 0;
	struct vi_cp { uint64_t off, len; struct vi_sim_rec r; } *v = NULL;
	int ret;

	if (length == UINT64_MAX || src_iova == UINT64_MAX || iova == UINT64_MAX)
		return REFUSE(d, -EOVERFLOW, "iommufd_ioas_copy: length, src_iova or dst_iova >= ULONG_MAX");
	if (!prot)
		return REFUSE(d, -EINVAL, "iommufd_ioas_copy: neither READABLE nor WRITEABLE");
	if (!length)
		return REFUSE(d, -EINVAL, "iopt_get_pages: length 0");
	if (src_iova + (length - 1) < src_iova)
		return REFUSE(d, -EOVERFLOW, "iopt_get_pages: src_iova + length - 1 overflows");
	last = src_iova + (length - 1);
	/* iopt_area_contig: areas back to back from src_iova to last */
	for (cur = src_iova;;) {
		uint64_t elast;

		if (!viommu_rangemap_find(src->map, cur, &e))
			break;
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 8;
			struct vi_cp *nv = realloc(v, nc * sizeof(*nv));

			if (!nv) {
				free(v);
				return REFUSE(d, -ENOMEM, "out of memory");
			}
			v = nv;
			cap = nc;
		}
		elast = VI_MIN(e.last, last);
		v[n].off = cur - src_iova;
		v[n].len = elast - cur + 1;
		v[n].r = src->recs[e.value];
		v[n].r.vaddr += cur - e.first;	/* the slice starts here in the pages */
		v[n].r.prot = prot;
		v[n].r.vaddr_invalid = false;
		memset(v[n].r.dirty_tail, 0, sizeof(v[n].r.dirty_tail));
		n++;
		if (elast == last) {
			cur = 0;
			break;
		}
		cur = elast + 1;
	}
	if (!n || cur) {
		free(v);
		return REFUSE(d, -ENOENT, "iopt_get_pages: the source range is not covered by areas without holes");
	}
	/* iopt_alloc_area_pages on the destination */
	ret = 0;
	if (length & (d->align - 1))
		ret = REFUSE(d, -EINVAL, "iopt_alloc_area_pages: length not aligned to iova_alignment");
	else if (flags & VIOMMU_HOST_COPY_AUTO_IOVA)
		ret = iommufd_alloc_iova(d, v[0].r.vaddr, length, &iova);
	else
		ret = iommufd_check_iova(d, iova, length);
	for (size_t i = 0; !ret && i < n; i++)
		ret = iommufd_insert_checks(d, v[i].r.vaddr, prot, v[i].r.writable);
	/* iopt_fill_domains_pages: every slice, or none */
	for (size_t i = 0; !ret && d->devices && i < n; i++) {
		ret = iommufd_pin(d, v[i].r.pages, v[i].r.vaddr, v[i].len, v[i].r.writable, false);
		if (ret)
			ret = REFUSE(d, ret, ret == -EFAULT ? "pfn_reader_user_pin: no user memory behind the range"
							    : "out of memory");
	}
	for (size_t i = 0; !ret && i < n; i++) {
		ret = sim_insert(d, iova + v[i].off, iova + v[i].off + v[i].len - 1, &v[i].r);
		if (ret) {
			/* undo the slices already inserted: all or nothing */
			for (size_t j = 0; j < i; j++) {
				struct viommu_range_entry x;

				if (viommu_rangemap_find(d->map, iova + v[j].off, &x))
					sim_remove(d, &x);
			}
			ret = REFUSE(d, ret, "out of memory");
		}
	}
	free(v);
	if (!ret)
		*dst_iova = iova;
	return ret;
}

static int range_cmp(const void *a, const void *b)
{
	const struct viommu_host_iova_range *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

/*
 * iommufd_ioas_allow_iovas -> iommufd_ioas_load_iovas (start >= last or an
 * overlap: EINVAL) -> iopt_set_allow_iova (an allowed range touching a
 * reserved one: EADDRINUSE, the old list stays).
 */
static int iommufd_allow(struct vi_host_sim *s, const struct viommu_host_iova_range *r, uint32_t n)
{
	struct viommu_host_iova_range *v = NULL;
	uint32_t k = 0;

	if (n) {
		v = malloc((size_t)n * sizeof(*v));
		if (!v)
			return REFUSE(s, -ENOMEM, "out of memory");
		memcpy(v, r, (size_t)n * sizeof(*v));
		for (uint32_t i = 0; i < n; i++)
			if (v[i].first >= v[i].last) {
				free(v);
				return REFUSE(s, -EINVAL, "iommufd_ioas_load_iovas: a range with start >= last");
			}
		qsort(v, n, sizeof(*v), range_cmp);
		for (uint32_t i = 1; i < n; i++)
			if (v[i].first <= v[i - 1].last) {
				free(v);
				return REFUSE(s, -EINVAL, "iommufd_ioas_load_iovas: ranges overlap");
			}
		for (uint32_t i = 0; i < n; i++)
			if (iommufd_hits_reserved(s, v[i].first, v[i].last)) {
				free(v);
				return REFUSE(s, -EADDRINUSE, "iopt_set_allow_iova: an allowed range touches a reserved one");
			}
		/* interval_tree_for_each_span joins touching ranges */
		for (uint32_t i = 0; i < n; i++) {
			if (k && v[k - 1].last + 1 == v[i].first)
				v[k - 1].last = v[i].last;
			else
				v[k++] = v[i];
		}
	}
	free(s->allowed);
	s->allowed = v;
	s->nallowed = k;
	return 0;
}

/*
 * IOMMU_IOAS_CHANGE_PROCESS: not in Linux 6.12, whose ioctl table ends
 * before it (iommufd_fops_ioctl hands the number to the VFIO compat layer,
 * which answers ENOTTY). From source for 6.14+ (iommufd_ioas_change_process):
 * every area of every IOAS must be a file mapping, else EINVAL; this
 * simulator's areas are all user-address ones.
 */
static int iommufd_change_process(struct vi_host_sim *s)
{
	if (!s->ctx->change_process)
		return REFUSE(s, -ENOTTY, "Linux 6.12 has no IOMMU_IOAS_CHANGE_PROCESS");
	for (const struct vi_host_sim *x = s->ctx->ioases; x; x = x->next)
		if (x->count)
			return REFUSE(s, -EINVAL, "iommufd_ioas_change_process: a mapping is not IOMMU_IOAS_MAP_FILE");
	return 0;
}

/*
 * iommufd_device_attach of the first device: iopt_table_enforce_dev_resv_regions
 * (its reserved ranges may not touch an area or an allowed range: EADDRINUSE
 * from iopt_reserve_iova), then iopt_table_add_domain (every area aligned to
 * the domain's smallest page, else EADDRINUSE from iopt_check_iova_alignment;
 * then iopt_fill_domain pins every area). Later devices share the HWPT
 * (iommufd_device_auto_get_domain) and change nothing here.
 */
static int iommufd_attach(struct vi_host_sim *s)
{
	struct viommu_rangemap_iter it;

	if (s->devices) {
		s->devices++;
		return 0;
	}
	viommu_rangemap_for_each(&it, s->map, 0, UINT64_MAX)
		if (!in_usable(s->dev_ranges, s->ndev_ranges, it.entry.first, it.entry.last))
			return REFUSE(s, -EADDRINUSE, "iopt_reserve_iova: a reserved range of the device overlaps an area");
	for (uint32_t i = 0; i < s->nallowed; i++)
		if (!in_usable(s->dev_ranges, s->ndev_ranges, s->allowed[i].first, s->allowed[i].last))
			return REFUSE(s, -EADDRINUSE, "iopt_reserve_iova: a reserved range of the device overlaps an allowed range");
	viommu_rangemap_for_each(&it, s->map, 0, UINT64_MAX) {
		const struct vi_sim_rec *r = &s->recs[it.entry.value];

		if ((it.entry.first & (s->dev_align - 1)) || ((it.entry.last + 1) & (s->dev_align - 1)) ||
		    ((r->vaddr % VI_SIM_CPU_PAGE) & (s->dev_align - 1)))
			return REFUSE(s, -EADDRINUSE, "iopt_check_iova_alignment: an area is not aligned to the domain's page");
	}
	viommu_rangemap_for_each(&it, s->map, 0, UINT64_MAX) {
		const struct vi_sim_rec *r = &s->recs[it.entry.value];
		int ret = iommufd_pin(s, r->pages, r->vaddr, it.entry.last - it.entry.first + 1, r->writable, false);

		if (ret)
			return REFUSE(s, ret, ret == -EFAULT ? "iopt_fill_domain: no user memory behind an area"
							     : "out of memory");
	}
	free(s->ranges);
	s->ranges = malloc((size_t)s->ndev_ranges * sizeof(*s->ranges));
	if (!s->ranges) {
		s->ranges = NULL;
		s->nranges = 0;
		return REFUSE(s, -ENOMEM, "out of memory");
	}
	memcpy(s->ranges, s->dev_ranges, (size_t)s->ndev_ranges * sizeof(*s->ranges));
	s->nranges = s->ndev_ranges;
	s->align = s->dev_align;
	s->devices = 1;
	return 0;
}

/* ---- the frame of every host call ------------------------------------- */

static const char *const vi_sim_opname[] = {
	"?", "map", "map_auto", "unmap", "dirty_tracking", "dirty_read", "ioas_copy", "allow_iovas",
	"change_process", "attach",
};

/*
 * Under the lock, numbered, failed here if fault injection says so (changing
 * nothing), and recorded in the timeline; a refusal is logged after the lock
 * is dropped (a log sink may call back into the simulator). call_begin()
 * returns true when the call was injected and must not run.
 */
static bool call_begin(struct vi_host_sim *s, struct viommu_host_record *r)
{
	lock(s);
	s->why = NULL;
	r->seq = ++s->calls;
	if (!s->fail_at || s->calls != s->fail_at)
		return false;
	s->fail_at = 0;
	r->result = -s->fail_errno;
	r->injected = true;
	s->why = "fault injection";
	return true;
}

static int call_end(struct vi_host_sim *s, const struct viommu_host_record *r)
{
	const char *why = s->why;

	record(s, r);
	unlock(s);
	if (r->result)
		vi_host_refused(&s->base, vi_sim_opname[r->op], r->op == VIOMMU_HOST_OP_COPY ? r->vaddr : r->iova,
				r->length, r->result, why ? why : "?");
	return r->result;
}

/* ---- ops -------------------------------------------------------------- */

static int sim_map(struct viommu_host *h, uint64_t iova, uint64_t length, uint64_t vaddr, unsigned prot,
		   unsigned flags)
{
	struct vi_host_sim *s = to_sim(h);
	struct viommu_host_record r = { .op = VIOMMU_HOST_OP_MAP, .iova = iova, .length = length,
					.vaddr = vaddr, .prot = prot, .flags = flags };

	if (!call_begin(s, &r)) {
		r.result = is_type1(s) ? type1_map(s, iova, length, vaddr, prot, flags)
				       : iommufd_map(s, iova, length, vaddr, prot);
		r.bytes = r.result || flags ? 0 : length;
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

static int sim_unmap(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned flags,
		     const struct viommu_host_dirty_bitmap *bm, uint64_t *unmapped)
{
	struct vi_host_sim *s = to_sim(h);
	struct viommu_host_record r = { .op = VIOMMU_HOST_OP_UNMAP, .iova = iova, .length = length,
					.flags = flags };
	uint64_t bytes = 0;

	if (!call_begin(s, &r)) {
		r.result = is_type1(s) ? type1_unmap(s, iova, length, flags, bm, &bytes)
				       : iommufd_unmap(s, iova, length, &bytes);
		if (r.result)
			bytes = 0;	/* not copied back to user space on failure */
	}
	r.bytes = bytes;
	*unmapped = bytes;
	return call_end(s, &r);
}

static int sim_dirty_ctl(struct viommu_host *h, unsigned flags)
{
	struct vi_host_sim *s = to_sim(h);
	struct viommu_host_record r = { .op = VIOMMU_HOST_OP_DIRTY_CTL, .flags = flags };

	if (!call_begin(s, &r))
		r.result = is_type1(s) ? type1_dirty_ctl(s, flags) : iommufd_dirty_ctl(s, flags);
	return call_end(s, &r);
}

static int sim_dirty_read(struct viommu_host *h, uint64_t iova, uint64_t length,
			  const struct viommu_host_dirty_bitmap *bm, unsigned flags)
{
	struct vi_host_sim *s = to_sim(h);
	struct viommu_host_record r = { .op = VIOMMU_HOST_OP_DIRTY_READ, .iova = iova, .length = length,
					.flags = flags };

	if (!call_begin(s, &r))
		r.result = is_type1(s) ? type1_dirty_read(s, iova, length, bm)
				       : iommufd_dirty_read(s, iova, length, bm, flags);
	return call_end(s, &r);
}

static int sim_copy(struct viommu_host *dst, uint64_t *dst_iova, struct viommu_host *src, uint64_t src_iova,
		    uint64_t length, unsigned prot, unsigned flags)
{
	struct vi_host_sim *d = to_sim(dst);
	struct viommu_host_record r = { .op = VIOMMU_HOST_OP_COPY, .iova = *dst_iova, .length = length,
					.vaddr = src_iova, .prot = prot, .flags = flags };

	if (!call_begin(d, &r)) {
		r.result = iommufd_copy(d, dst_iova, to_sim(src), src_iova, length, prot, flags);
		if (!r.result) {
			r.iova = *dst_iova;
			r.bytes = length;
		}
	}
	return call_end(d, &r);
}

static int sim_allow(struct viommu_host *h, const struct viommu_host_iova_range *ranges, uint32_t n)
{
	struct vi_host_sim *s = to_sim(h);
	struct viommu_host_record r = { .op = VIOMMU_HOST_OP_ALLOW_IOVAS, .length = n,
					.iova = n ? ranges[0].first : 0 };

	if (!call_begin(s, &r))
		r.result = iommufd_allow(s, ranges, n);
	return call_end(s, &r);
}

static int sim_change_process(struct viommu_host *h)
{
	struct vi_host_sim *s = to_sim(h);
	struct viommu_host_record r = { .op = VIOMMU_HOST_OP_CHANGE_PROCESS };

	if (!call_begin(s, &r))
		r.result = iommufd_change_process(s);
	return call_end(s, &r);
}

static void sim_fill_caps(const struct vi_host_sim *s, struct viommu_host_caps *caps)
{
	caps->kind = VIOMMU_HOST_KIND_SIM;
	caps->semantics = s->base.semantics;
	caps->pgsize_bitmap = s->devices ? s->pgsize_bitmap : s->align;
	caps->iova_alignment = s->align;
	caps->flags = VIOMMU_HOST_CAP_UNMAP_ALL;
	if (is_type1(s)) {
		caps->flags |= VIOMMU_HOST_CAP_DMA_AVAIL | VIOMMU_HOST_CAP_VADDR;
		caps->dma_avail = s->limit - s->count;
		caps->max_mappings = s->limit;
		/* vfio_iommu_migration_build_caps: the smallest page, DIRTY_BITMAP_SIZE_MAX */
		caps->dirty_pgsizes = s->align;
		caps->dirty_max_bitmap_bytes = VI_SIM_DIRTY_SIZE_MAX;
		if (s->base.semantics == VIOMMU_HOST_TYPE1V2)
			caps->flags |= VIOMMU_HOST_CAP_DIRTY_TRACKING;
	} else {
		caps->flags |= VIOMMU_HOST_CAP_AUTO_IOVA | VIOMMU_HOST_CAP_IOAS;
		if (s->ctx->change_process)
			caps->flags |= VIOMMU_HOST_CAP_CHANGE_PROCESS;
		if (s->dirty_hw && s->devices) {
			caps->flags |= VIOMMU_HOST_CAP_DIRTY_TRACKING;
			caps->dirty_pgsizes = s->align;
		}
		caps->dma_avail = UINT64_MAX;
		caps->max_mappings = UINT64_MAX;
	}
	vi_host_caps_set_ranges(caps, s->ranges, s->nranges);
}

static int sim_get_caps(struct viommu_host *h, struct viommu_host_caps *caps)
{
	struct vi_host_sim *s = to_sim(h);

	lock(s);
	sim_fill_caps(s, caps);
	unlock(s);
	return 0;
}

static int sim_iova_ranges(struct viommu_host *h, struct viommu_host_iova_range *ranges, uint32_t *num,
			   uint64_t *alignment)
{
	struct vi_host_sim *s = to_sim(h);
	int ret;

	lock(s);
	*alignment = s->align;
	ret = vi_host_copy_ranges(s->ranges, s->nranges, ranges, num);
	unlock(s);
	return ret;
}

static bool sim_same_ctx(const struct viommu_host *a, const struct viommu_host *b)
{
	return vi_container_of(a, const struct vi_host_sim, base)->ctx ==
	       vi_container_of(b, const struct vi_host_sim, base)->ctx;
}

static void ctx_put(struct vi_sim_ctx *c)
{
	bool last;

	pthread_mutex_lock(&c->lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&c->lock);
	if (!last)
		return;
	viommu_rangemap_free(c->user);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Free an IOAS that is not (or no longer) on its context's list. */
static void sim_destroy(struct vi_host_sim *s)
{
	viommu_rangemap_free(s->map);
	viommu_rangemap_free(s->dirty);
	viommu_pgtable_free(s->pt);
	free(s->recs);
	free(s->ranges);
	free(s->dev_ranges);
	free(s->allowed);
	free(s->tl);
	free(s);
}

static void sim_free(struct viommu_host *h)
{
	struct vi_host_sim *s = to_sim(h);
	struct vi_sim_ctx *c = s->ctx;

	pthread_mutex_lock(&c->lock);
	for (struct vi_host_sim **p = &c->ioases; *p; p = &(*p)->next)
		if (*p == s) {
			*p = s->next;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	sim_destroy(s);
	ctx_put(c);
}

static struct viommu_host *sim_ioas_alloc(struct viommu_host *h, int *err);

static const struct vi_host_ops vi_sim_type1_ops = {
	.map = sim_map,
	.unmap = sim_unmap,
	.get_caps = sim_get_caps,
	.iova_ranges = sim_iova_ranges,
	.dirty_ctl = sim_dirty_ctl,
	.dirty_read = sim_dirty_read,
	.same_ctx = sim_same_ctx,
	.free = sim_free,
};

static const struct vi_host_ops vi_sim_iommufd_ops = {
	.map = sim_map,
	.map_auto = sim_map_auto,
	.unmap = sim_unmap,
	.get_caps = sim_get_caps,
	.iova_ranges = sim_iova_ranges,
	.dirty_ctl = sim_dirty_ctl,
	.dirty_read = sim_dirty_read,
	.ioas_alloc = sim_ioas_alloc,
	.ioas_copy = sim_copy,
	.allow_iovas = sim_allow,
	.change_process = sim_change_process,
	.same_ctx = sim_same_ctx,
	.free = sim_free,
};

/* ---- construction ----------------------------------------------------- */

/* Copy, validate and merge touching ranges. */
static int copy_ranges(const struct viommu_host_iova_range *r, size_t n, struct viommu_host_iova_range **out,
		       uint32_t *nout)
{
	struct viommu_host_iova_range *v;
	uint32_t k = 0;

	if (n == 0 || n > VI_SIM_MAX_RANGES)
		return -EINVAL;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (r[i].first > r[i].last || (i && r[i].first <= r[i - 1].last)) {
			free(v);
			return -EINVAL;
		}
		if (k && v[k - 1].last + 1 == r[i].first)
			v[k - 1].last = r[i].last;
		else
			v[k++] = r[i];
	}
	*out = v;
	*nout = k;
	return 0;
}

/* A new IOAS (or container) in context @c, configured like @o; devices 0 or 1. */
static struct vi_host_sim *sim_create(struct vi_sim_ctx *c, const struct viommu_host_sim_opts *o,
				      const struct viommu_host_iova_range *dev_ranges, size_t ndev, int *err)
{
	struct viommu_pgtable_opts po = {
		.sz = sizeof(po),
		.format = VIOMMU_PT_VTD_SL,
		.levels = 5,
		.out_bits = 52,
		/* the table needs its 4K granule even if the host pages are larger */
		.pgsize_bitmap = (o->pgsize_bitmap & VI_SIM_DEFAULT_PGSIZES) | 0x1000,
	};
	struct vi_host_sim *s = calloc(1, sizeof(*s));
	bool fd = o->semantics == VIOMMU_HOST_IOMMUFD;
	int ret;

	if (!s) {
		*err = -ENOMEM;
		return NULL;
	}
	s->base.ops = fd ? &vi_sim_iommufd_ops : &vi_sim_type1_ops;
	s->base.kind = VIOMMU_HOST_KIND_SIM;
	s->base.semantics = o->semantics;
	s->ctx = c;
	s->pgsize_bitmap = o->pgsize_bitmap;
	s->dev_align = UINT64_C(1) << vi_ffs64(o->pgsize_bitmap);
	s->limit = (o->flags & VIOMMU_HOST_SIM_LIMIT_ZERO) ? 0 : o->dma_entry_limit;
	s->auto_max_align = o->auto_iova_max_align;
	s->pt_format = o->pt_format;
	s->fail_at = o->fail_nth;
	s->fail_errno = o->fail_errno;
	s->free_head = VI_SIM_NO_REC;
	s->tl_cap = o->timeline_capacity;
	s->devices = (fd && (o->flags & VIOMMU_HOST_SIM_NO_DEVICE)) ? 0 : 1;
	s->dirty_hw = fd && (o->flags & VIOMMU_HOST_SIM_DIRTY_HW);
	s->map = viommu_rangemap_new();
	s->dirty = fd ? viommu_rangemap_new() : NULL;
	if (o->pt_format == VIOMMU_PT_ARM_S1 || o->pt_format == VIOMMU_PT_ARM_S2) {
		po.format = o->pt_format;
		po.levels = 0;
		po.in_bits = 48;
		po.out_bits = 48;
	}
	s->pt = viommu_pgtable_new(&po);
	ret = (!s->map || !s->pt || (fd && !s->dirty)) ? -ENOMEM : copy_ranges(dev_ranges, ndev, &s->dev_ranges,
										 &s->ndev_ranges);
	if (!ret) {
		/* iopt_init_table: no device, no alignment, the whole size_t space */
		if (s->devices)
			ret = copy_ranges(s->dev_ranges, s->ndev_ranges, &s->ranges, &s->nranges);
		else
			ret = copy_ranges(&vi_sim_full_range, 1, &s->ranges, &s->nranges);
		s->align = s->devices ? s->dev_align : 1;
	}
	if (ret) {
		sim_destroy(s);
		*err = ret;
		return NULL;
	}
	return s;
}

/* Put @s on its context's list (the context's reference is the caller's). */
static void ctx_add(struct vi_sim_ctx *c, struct vi_host_sim *s)
{
	pthread_mutex_lock(&c->lock);
	s->next = c->ioases;
	c->ioases = s;
	pthread_mutex_unlock(&c->lock);
}

struct viommu_host *viommu_host_sim_new(const struct viommu_host_sim_opts *uopts)
{
	const unsigned known = VIOMMU_HOST_SIM_NO_DEVICE | VIOMMU_HOST_SIM_DIRTY_HW | VIOMMU_HOST_SIM_LIMIT_ZERO |
			       VIOMMU_HOST_SIM_CHANGE_PROCESS;
	struct viommu_host_sim_opts o;
	struct vi_sim_ctx *c;
	struct vi_host_sim *s;
	int ret = 0;

	if (!VI_OPTS_VALID(uopts, viommu_host_sim_opts))
		return vi_null(EINVAL);
	VI_OPTS_COPY(&o, uopts);
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
	if ((o.auto_iova_max_align & (o.auto_iova_max_align - 1)) || (o.fail_nth && o.fail_errno <= 0) ||
	    (o.flags & ~known) || (unsigned)o.user_memory > VIOMMU_HOST_SIM_USER_PROCESS ||
	    (o.pt_format && o.pt_format != VIOMMU_PT_VTD_SL && o.pt_format != VIOMMU_PT_ARM_S1 &&
	     o.pt_format != VIOMMU_PT_ARM_S2))
		return vi_null(EINVAL);
	if (!o.ranges) {
		if (o.nranges)
			return vi_null(EINVAL);
		o.ranges = vi_sim_x86_ranges;
		o.nranges = VI_ARRAY_SIZE(vi_sim_x86_ranges);
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return vi_null(ENOMEM);
	pthread_mutex_init(&c->lock, NULL);
	c->refs = 1;
	c->user_mem = o.user_memory;
	c->change_process = o.flags & VIOMMU_HOST_SIM_CHANGE_PROCESS;
	c->user = viommu_rangemap_new();
	s = c->user ? sim_create(c, &o, o.ranges, o.nranges, &ret) : NULL;
	if (!s) {
		ctx_put(c);
		return vi_null(ret ? -ret : ENOMEM);
	}
	ctx_add(c, s);
	return &s->base;
}

/* viommu_host_ioas_alloc on a simulated iommufd: IOMMU_IOAS_ALLOC, a new IOAS without a device. */
static struct viommu_host *sim_ioas_alloc(struct viommu_host *h, int *err)
{
	struct vi_host_sim *p = to_sim(h), *s;
	struct viommu_host_sim_opts o = {
		.sz = sizeof(o),
		.semantics = VIOMMU_HOST_IOMMUFD,
		.pgsize_bitmap = p->pgsize_bitmap,
		.timeline_capacity = p->tl_cap ? p->tl_cap : VI_SIM_DEFAULT_TIMELINE,
		.auto_iova_max_align = p->auto_max_align,
		.pt_format = p->pt_format,
		.flags = VIOMMU_HOST_SIM_NO_DEVICE | (p->dirty_hw ? VIOMMU_HOST_SIM_DIRTY_HW : 0),
	};

	lock(p);
	p->ctx->refs++;
	unlock(p);
	s = sim_create(p->ctx, &o, p->dev_ranges, p->ndev_ranges, err);
	if (!s) {
		ctx_put(p->ctx);
		return NULL;
	}
	ctx_add(p->ctx, s);
	return &s->base;
}

int viommu_host_sim_inject(struct viommu_host *h, uint64_t nth, int err)
{
	struct vi_host_sim *s;

	if (!is_sim(h) || (nth && err <= 0))
		return vi_errno(-EINVAL);
	s = to_sim(h);
	lock(s);
	s->fail_at = nth ? s->calls + nth : 0;
	s->fail_errno = err;
	unlock(s);
	return 0;
}

int viommu_host_sim_attach(struct viommu_host *h)
{
	struct vi_host_sim *s;
	struct viommu_host_record r = { .op = VIOMMU_HOST_OP_ATTACH };

	if (!is_sim(h) || h->semantics != VIOMMU_HOST_IOMMUFD)
		return vi_errno(-EINVAL);
	s = to_sim(h);
	if (!call_begin(s, &r))
		r.result = iommufd_attach(s);
	return vi_errno(call_end(s, &r));
}

int viommu_host_sim_user_add(struct viommu_host *h, uint64_t vaddr, uint64_t length, unsigned perm)
{
	struct vi_host_sim *s;
	int ret;

	if (!is_sim(h) || !length || vaddr + (length - 1) < vaddr || (perm & ~VIOMMU_PERM_RW))
		return vi_errno(-EINVAL);
	s = to_sim(h);
	lock(s);
	ret = viommu_rangemap_insert(s->ctx->user, vaddr, vaddr + (length - 1), perm);
	unlock(s);
	return vi_errno(ret);
}

int viommu_host_sim_user_remove(struct viommu_host *h, uint64_t vaddr, uint64_t length)
{
	struct vi_host_sim *s;
	int ret;

	if (!is_sim(h) || !length || vaddr + (length - 1) < vaddr)
		return vi_errno(-EINVAL);
	s = to_sim(h);
	lock(s);
	ret = viommu_rangemap_remove(s->ctx->user, vaddr, vaddr + (length - 1), NULL);
	unlock(s);
	return vi_errno(ret);
}

/* The translation of @iova under the lock: 0, -ENOENT, or -EIO. */
static int translate_locked(struct vi_host_sim *s, uint64_t iova, uint64_t *vaddr, unsigned *prot,
			    struct viommu_range_entry *ent)
{
	struct viommu_range_entry e;
	const struct vi_sim_rec *r;
	uint64_t va;
	unsigned pr;

	if (!viommu_rangemap_find(s->map, iova, &e))
		return -ENOENT;
	r = &s->recs[e.value];
	va = r->vaddr + (iova - e.first);
	pr = r->prot;
	if (r->in_pt) {
		struct viommu_pt_mapping m;

		/* the answer comes from the page-table walk; a table that
		 * disagrees with the record is an internal error */
		if (viommu_pgtable_lookup(s->pt, iova, &m) != 0)
			return -EIO;
		va = m.phys + (iova - m.iova);
		pr = m.perm & VIOMMU_PERM_RW;
	}
	if (vaddr)
		*vaddr = va;
	if (prot)
		*prot = pr;
	if (ent)
		*ent = e;
	return 0;
}

int viommu_host_sim_translate(struct viommu_host *h, uint64_t iova, uint64_t *vaddr, unsigned *prot)
{
	struct vi_host_sim *s;
	int ret;

	if (!is_sim(h))
		return vi_errno(-EINVAL);
	s = to_sim(h);
	lock(s);
	ret = translate_locked(s, iova, vaddr, prot, NULL);
	unlock(s);
	return vi_errno(ret);
}

/* Mark the leaves of [first, last] (one mapping, record @r) dirty. */
static int mark_dirty(struct vi_host_sim *s, const struct vi_sim_rec *r, uint64_t first, uint64_t last)
{
	uint64_t pos = first;

	for (;;) {
		struct viommu_pt_mapping m;
		struct viommu_range_entry d;
		uint64_t lf, ll;

		if (r->in_pt && viommu_pgtable_lookup(s->pt, pos, &m) == 0) {
			lf = m.iova;
			ll = m.iova + (m.size - 1);
		} else {
			lf = pos & ~(s->dev_align - 1);
			ll = lf + (s->dev_align - 1);
		}
		/* join the dirty leaves this one touches (they are leaves of
		 * the same table, so they nest or are equal) */
		while (viommu_rangemap_find_overlap(s->dirty, lf, ll, &d)) {
			viommu_rangemap_remove(s->dirty, d.first, d.last, NULL);
			lf = VI_MIN(lf, d.first);
			ll = VI_MAX(ll, d.last);
		}
		if (viommu_rangemap_insert(s->dirty, lf, ll, 0))
			return -ENOMEM;
		if (ll >= last)
			return 0;
		pos = ll + 1;
	}
}

int viommu_host_sim_access(struct viommu_host *h, uint64_t iova, uint64_t length, unsigned perm,
			   uint64_t *fault_iova)
{
	struct vi_host_sim *s;
	uint64_t last, cur;
	int ret = 0;

	if (!is_sim(h) || !length || iova + (length - 1) < iova || !perm || (perm & ~VIOMMU_PERM_RW))
		return vi_errno(-EINVAL);
	s = to_sim(h);
	last = iova + (length - 1);
	lock(s);
	/* every byte first: a faulting access changes nothing */
	for (cur = iova;;) {
		struct viommu_range_entry e;
		unsigned pr = 0;

		ret = translate_locked(s, cur, NULL, &pr, &e);
		if (ret == -ENOENT || (!ret && (pr & perm) != perm)) {
			if (fault_iova)
				*fault_iova = cur;
			ret = -EFAULT;
			break;
		}
		if (ret || e.last >= last)
			break;
		cur = e.last + 1;
	}
	if (!ret && (perm & VIOMMU_PERM_WRITE) && s->dirty_on && s->dirty_hw) {
		for (cur = iova;;) {
			struct viommu_range_entry e;

			viommu_rangemap_find(s->map, cur, &e);
			ret = mark_dirty(s, &s->recs[e.value], cur, VI_MIN(e.last, last));
			if (ret || e.last >= last)
				break;
			cur = e.last + 1;
		}
	}
	unlock(s);
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
	lock(s);
	n = (long)s->count;
	if (fn) {
		viommu_rangemap_for_each(&it, s->map, 0, UINT64_MAX) {
			const struct vi_sim_rec *r = &s->recs[it.entry.value];
			struct viommu_host_mapping m = {
				.iova = it.entry.first,
				.length = it.entry.last - it.entry.first + 1,
				.vaddr = r->vaddr,
				.prot = r->prot,
				.vaddr_invalid = r->vaddr_invalid,
			};
			fn(&m, ctx);
		}
	}
	unlock(s);
	return n;
}

int viommu_host_sim_get_stats(struct viommu_host *h, struct viommu_host_sim_stats *st)
{
	struct viommu_host_sim_stats full = { .sz = sizeof(full) };
	struct vi_host_sim *s;
	int ret = 0;

	if (!is_sim(h) || !st)
		return vi_errno(-EINVAL);
	s = to_sim(h);
	lock(s);
	full.calls = s->calls;
	full.mappings = s->count;
	if (is_type1(s)) {
		full.pinned_pages = s->type1_pinned;
	} else {
		struct vi_span *v;
		size_t n;

		ret = pinned_spans(s->ctx, 0, &v, &n);
		for (size_t i = 0; !ret && i < n;) {
			/* merge the spans of one pages object */
			uint64_t pages = v[i].pages, a = v[i].first, b = v[i].last;

			for (i++; i < n && v[i].pages == pages && v[i].first <= b + 1; i++)
				b = VI_MAX(b, v[i].last);
			full.pinned_pages += b - a + 1;
		}
		if (!ret)
			free(v);
	}
	unlock(s);
	if (ret)
		return vi_errno(ret);
	return vi_errno(VI_OPTS_OUT(st, &full, viommu_host_sim_stats));
}

long viommu_host_sim_timeline_count(struct viommu_host *h)
{
	long n;

	if (!is_sim(h))
		return vi_errno(-EINVAL);
	lock(to_sim(h));
	n = to_sim(h)->tl_len;
	unlock(to_sim(h));
	return n;
}

int viommu_host_sim_timeline_get(struct viommu_host *h, size_t i, struct viommu_host_record *out)
{
	struct vi_host_sim *s;
	int ret = -ENOENT;

	if (!is_sim(h) || !out)
		return vi_errno(-EINVAL);
	s = to_sim(h);
	lock(s);
	if (i < s->tl_len) {
		*out = s->tl[(s->tl_head + i) % s->tl_alloc];
		ret = 0;
	}
	unlock(s);
	return vi_errno(ret);
}

void viommu_host_sim_timeline_clear(struct viommu_host *h)
{
	if (!is_sim(h))
		return;
	lock(to_sim(h));
	to_sim(h)->tl_len = 0;
	to_sim(h)->tl_head = 0;
	unlock(to_sim(h));
}

const struct viommu_pgtable *viommu_host_sim_pgtable(struct viommu_host *h)
{
	if (!is_sim(h))
		return vi_null(EINVAL);
	return to_sim(h)->pt;
}

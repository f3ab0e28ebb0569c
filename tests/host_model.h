/* SPDX-License-Identifier: MIT */
/*
 * A trivially correct model of the three host semantics for differential
 * tests and fuzzing: mappings in a plain array, every rule written from the
 * kernel's check order (vfio_dma_do_map / vfio_dma_do_unmap of Linux 6.1,
 * iommufd_ioas_map / iopt_unmap_iova of 6.12) as a flat list of ifs, every
 * search a linear scan. Type1's user-address update (VFIO_DMA_*_FLAG_VADDR)
 * and dirty pages are modelled literally: each small mapping keeps the
 * kernel's dma->bitmap as an array of words and a read runs the kernel's
 * set / shift / or / copy / clear (update_user_bitmap) word by word, where
 * the simulator keeps two words. Shared by tests/test_host_random.c and
 * fuzz/fuzz_host_sim.c.
 */
#ifndef VIOMMU_TEST_HOST_MODEL_H
#define VIOMMU_TEST_HOST_MODEL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <viommu/host.h>

#define HM_MAX 256
#define HM_PAGE UINT64_C(4096)

/* the literal dma->bitmap is kept for mappings of at most this many pages */
#define HM_DBM_PAGES 1024
#define HM_DBM_WORDS (HM_DBM_PAGES / 64 + 1)
#define HM_SKIP 1000		/* the op would report a mapping too big to model: not run */

struct hm_map {
	uint64_t first, last, vaddr;
	unsigned prot;
	bool inval;			/* vaddr invalidated */
	uint64_t dbm[HM_DBM_WORDS];	/* dma->bitmap, ceil(n/64) + 1 words */
};

struct host_model {
	enum viommu_host_semantics sem;
	uint64_t align;			/* smallest page */
	struct viommu_host_iova_range ranges[8];	/* usable, merged */
	int nranges;
	uint64_t limit;
	struct hm_map m[HM_MAX];
	int n;
	bool dirty;			/* type1 dirty_page_tracking */
};

static inline bool hm_overlaps(const struct host_model *h, uint64_t first, uint64_t last)
{
	for (int i = 0; i < h->n; i++)
		if (h->m[i].first <= last && first <= h->m[i].last)
			return true;
	return false;
}

static inline int hm_find(const struct host_model *h, uint64_t addr)
{
	for (int i = 0; i < h->n; i++)
		if (h->m[i].first <= addr && addr <= h->m[i].last)
			return i;
	return -1;
}

static inline bool hm_usable(const struct host_model *h, uint64_t first, uint64_t last)
{
	for (int i = 0; i < h->nranges; i++)
		if (h->ranges[i].first <= first && last <= h->ranges[i].last)
			return true;
	return false;
}

static inline void hm_add(struct host_model *h, uint64_t first, uint64_t last, uint64_t vaddr, unsigned prot)
{
	h->m[h->n] = (struct hm_map){ .first = first, .last = last, .vaddr = vaddr, .prot = prot };
	h->n++;
}

static inline void hm_del(struct host_model *h, int i)
{
	h->m[i] = h->m[--h->n];
}

/* lowest mapping overlapping [first, last], or -1 */
static inline int hm_lowest(const struct host_model *h, uint64_t first, uint64_t last)
{
	int best = -1;

	for (int i = 0; i < h->n; i++)
		if (h->m[i].first <= last && first <= h->m[i].last && (best < 0 || h->m[i].first < h->m[best].first))
			best = i;
	return best;
}

/* synthetic user memory: pinning finds every page below 2^63 and none above */
static inline bool hm_user(uint64_t va, uint64_t len)
{
	return va + (len - 1) < (UINT64_C(1) << 63);
}

static inline int hm_map_flags(struct host_model *h, uint64_t iova, uint64_t len, uint64_t va, unsigned prot,
			       unsigned flags)
{
	uint64_t a = h->align;

	if (h->sem != VIOMMU_HOST_IOMMUFD) {
		bool set = flags & VIOMMU_HOST_MAP_VADDR;

		if ((prot && set) || (!prot && !set)) return -EINVAL;
		if (len == 0 || iova % a || len % a || va % a) return -EINVAL;
		if (iova + len - 1 < iova || va + len - 1 < va) return -EINVAL;
		if (set) {
			int i = hm_lowest(h, iova, iova + len - 1);

			if (i < 0) return -ENOENT;
			if (!h->m[i].inval || h->m[i].first != iova || h->m[i].last != iova + len - 1) return -EINVAL;
			h->m[i].vaddr = va;
			h->m[i].inval = false;
			return 0;
		}
		if (hm_overlaps(h, iova, iova + len - 1)) return -EEXIST;
		if ((uint64_t)h->n >= h->limit) return -ENOSPC;
		if (!hm_usable(h, iova, iova + len - 1)) return -EINVAL;
		if (!hm_user(va, len)) return -EFAULT;
		if (h->dirty && len / a > UINT64_C(0x7fffffff)) return -EINVAL;
	} else {
		if (flags) return -EOPNOTSUPP;
		if (iova == UINT64_MAX || len == UINT64_MAX) return -EOVERFLOW;
		if (!prot) return -EINVAL;
		if (len == 0 || len > UINT64_MAX - HM_PAGE) return -EINVAL;
		if (va + len < va) return -EOVERFLOW;
		if (len % a) return -EINVAL;
		if (iova % a) return -EINVAL;
		if (iova + (len - 1) < iova) return -EOVERFLOW;
		if (!hm_usable(h, iova, iova + len - 1)) return -EINVAL;
		if (hm_overlaps(h, iova, iova + len - 1)) return -EEXIST;
		if ((va % HM_PAGE) % a) return -EINVAL;
		if (!hm_user(va, len)) return -EFAULT;
	}
	if (h->n == HM_MAX) return -ENOMEM;	/* model capacity: callers keep below */
	hm_add(h, iova, iova + len - 1, va, prot);
	return 0;
}

static inline int hm_map(struct host_model *h, uint64_t iova, uint64_t len, uint64_t va, unsigned prot)
{
	return hm_map_flags(h, iova, len, va, prot, 0);
}

/* ALIGN up in 128 bits; false if it leaves the 64-bit space */
static inline bool hm_align(uint64_t x, uint64_t a, uint64_t *out)
{
	unsigned __int128 v = ((unsigned __int128)x + a - 1) / a * a;

	if (v > UINT64_MAX) return false;
	*out = (uint64_t)v;
	return true;
}

static inline int hm_map_auto(struct host_model *h, uint64_t va, uint64_t len, unsigned prot, uint64_t *out)
{
	uint64_t a, lo = HM_PAGE, hi = UINT64_MAX - HM_PAGE, best = 0, off = va % HM_PAGE;
	bool found = false;

	if (len == UINT64_MAX) return -EOVERFLOW;
	if (!prot) return -EINVAL;
	if (len == 0 || len > UINT64_MAX - HM_PAGE) return -EINVAL;
	if (va + len < va) return -EOVERFLOW;
	if (len % h->align) return -EINVAL;
	if (len >= UINT64_MAX / 2) return -EOVERFLOW;
	a = 1;
	while (a < len) a <<= 1;
	if (va && (va & -va) < a) a = va & -va;
	if (a > 0x200000) a = 0x200000;
	if (a < h->align) return -EINVAL;
	/* the lowest aligned start of a free, usable run; candidates are hole starts */
	for (int c = 0; c < 1 + h->nranges + h->n; c++) {
		uint64_t cand, s;

		if (c == 0) cand = lo;
		else if (c <= h->nranges) cand = h->ranges[c - 1].first;
		else if (h->m[c - 1 - h->nranges].last == UINT64_MAX) continue;
		else cand = h->m[c - 1 - h->nranges].last + 1;
		if (cand < lo) cand = lo;
		if (!hm_align(cand, a, &s)) continue;
		s |= off;
		if (s > hi || hi - s < len - 1) continue;
		if (!hm_usable(h, s, s + len - 1) || hm_overlaps(h, s, s + len - 1)) continue;
		if (!found || s < best) { best = s; found = true; }
	}
	if (!found) return -ENOSPC;
	if (off % h->align) return -EINVAL;
	if (!hm_user(va, len)) return -EFAULT;
	if (h->n == HM_MAX) return -ENOMEM;
	hm_add(h, best, best + len - 1, va, prot);
	*out = best;
	return 0;
}

/* The kernel's update_user_bitmap for mapping i reported at bit off of @user, literally. */
static inline void hm_report(struct hm_map *m, uint64_t align, uint64_t off, uint64_t *user)
{
	uint64_t n = (m->last - m->first + 1) / align, c = off / 64, sh = off % 64, lim = (n + sh + 63) / 64;
	uint64_t *d = m->dbm;

	for (uint64_t b = 0; b < n; b++)		/* bitmap_set(dma->bitmap, 0, nbits) */
		d[b / 64] |= UINT64_C(1) << (b % 64);
	if (sh) {
		for (uint64_t k = lim; k-- > 0;)	/* __bitmap_shift_left, in place, unmasked */
			d[k] = (d[k] << sh) | (k ? d[k - 1] >> (64 - sh) : 0);
		d[0] |= user[c];			/* __bitmap_or over one word */
	}
	for (uint64_t k = 0; k < lim; k++)		/* copy_to_user */
		user[c + k] = d[k];
	for (uint64_t b = 0; b < n; b++)		/* bitmap_clear(dma->bitmap, 0, npages) */
		d[b / 64] &= ~(UINT64_C(1) << (b % 64));
}

static inline bool hm_small(const struct hm_map *m, uint64_t align)
{
	return (m->last - m->first + 1) / align <= HM_DBM_PAGES;
}

/* A bitmap is modelled as up to 64 words the caller owns; @words is its length in words. */
static inline int hm_unmap_bm(struct host_model *h, uint64_t iova, uint64_t len, unsigned flags, uint64_t *bytes,
			      uint64_t pgsize, uint64_t bmsize, uint64_t *user)
{
	uint64_t a = h->align, last, b = 0;
	int i;

	*bytes = 0;
	if (h->sem != VIOMMU_HOST_IOMMUFD) {
		bool all = flags & VIOMMU_HOST_UNMAP_ALL, inval = flags & VIOMMU_HOST_UNMAP_VADDR, dirty = user != NULL;

		if (dirty && (all || inval)) return -EINVAL;
		if (dirty) {
			uint64_t np = len >> __builtin_ctzll(pgsize);

			if (!np || !bmsize || bmsize > UINT64_C(0x10000000) || bmsize < (np + 63) / 64 * 8)
				return -EINVAL;
		}
		if (iova % a) return -EINVAL;
		if (all) {
			if (iova || len) return -EINVAL;
			len = UINT64_MAX;
		} else if (len == 0 || len % a || iova + len - 1 < iova) {
			return -EINVAL;
		}
		if (dirty && (!h->dirty || pgsize != a)) return -EINVAL;
		last = iova + len - 1;
		if (h->sem == VIOMMU_HOST_TYPE1V2 && !all) {
			i = hm_find(h, iova);
			if (i >= 0 && h->m[i].first != iova) return -EINVAL;
			i = hm_find(h, last);
			if (i >= 0 && h->m[i].last != last) return -EINVAL;
		}
		if (last == UINT64_MAX && !all) return 0;	/* the kernel's wrapped end */
		if (inval) {
			/* walk in IOVA order without removing: mark, and undo on an invalid one */
			uint64_t cur = iova, done[HM_MAX];
			int nd = 0;

			while ((i = hm_lowest(h, cur, last)) >= 0) {
				if (h->sem == VIOMMU_HOST_TYPE1V1 && h->m[i].first < iova) break;
				if (h->m[i].inval) {
					for (int k = 0; k < nd; k++)
						h->m[hm_find(h, done[k])].inval = false;
					return -EINVAL;
				}
				h->m[i].inval = true;
				done[nd++] = h->m[i].first;
				b += h->m[i].last - h->m[i].first + 1;
				if (h->m[i].last == last)
					break;
				cur = h->m[i].last + 1;
			}
			*bytes = b;
			return 0;
		}
		if (dirty) {	/* the success path reports every mapping: skip what cannot be modelled */
			for (int k = 0; k < h->n; k++)
				if (h->m[k].first <= last && iova <= h->m[k].last && h->m[k].first >= iova &&
				    (!hm_small(&h->m[k], a) || (h->m[k].first - iova) / a + HM_DBM_PAGES > 64 * 64))
					return HM_SKIP;
		}
		while ((i = hm_lowest(h, iova, last)) >= 0) {
			if (h->sem == VIOMMU_HOST_TYPE1V1 && h->m[i].first < iova) break;
			if (dirty)
				hm_report(&h->m[i], a, (h->m[i].first - iova) / a, user);
			b += h->m[i].last - h->m[i].first + 1;
			hm_del(h, i);
		}
		*bytes = b;
		return 0;
	}
	if (user) return -EOPNOTSUPP;
	if (flags) return -EOPNOTSUPP;
	if (iova == 0 && len == UINT64_MAX) {
		last = UINT64_MAX;
	} else {
		if (iova == UINT64_MAX || len == UINT64_MAX) return -EOVERFLOW;
		if (len == 0) return -EINVAL;
		if (iova + (len - 1) < iova) return -EOVERFLOW;
		last = iova + len - 1;
	}
	while ((i = hm_lowest(h, iova, last)) >= 0) {
		if (h->m[i].first < iova || h->m[i].last > last) return -ENOENT;
		b += h->m[i].last - h->m[i].first + 1;
		hm_del(h, i);
	}
	if (!b) return (iova == 0 && len == UINT64_MAX) ? 0 : -ENOENT;
	*bytes = b;
	return 0;
}


static inline int hm_unmap(struct host_model *h, uint64_t iova, uint64_t len, unsigned flags, uint64_t *bytes)
{
	return hm_unmap_bm(h, iova, len, flags, bytes, 0, 0, NULL);
}

/* VFIO_IOMMU_DIRTY_PAGES START / STOP (type1; iommufd without a tracking domain: EOPNOTSUPP). */
static inline int hm_dirty_ctl(struct host_model *h, unsigned flags)
{
	if (h->sem == VIOMMU_HOST_IOMMUFD)	/* the library takes exactly one flag; no dirty ops */
		return flags != VIOMMU_HOST_DIRTY_START && flags != VIOMMU_HOST_DIRTY_STOP ? -EINVAL : -EOPNOTSUPP;
	if (h->sem == VIOMMU_HOST_TYPE1V1) return -EACCES;
	if (flags != VIOMMU_HOST_DIRTY_START && flags != VIOMMU_HOST_DIRTY_STOP) return -EINVAL;
	if (flags == VIOMMU_HOST_DIRTY_STOP) {
		h->dirty = false;
		return 0;
	}
	if (h->dirty) return 0;
	for (int i = 0; i < h->n; i++)
		if ((h->m[i].last - h->m[i].first + 1) / h->align > UINT64_C(0x7fffffff)) return -EINVAL;
	for (int i = 0; i < h->n; i++)
		memset(h->m[i].dbm, 0, sizeof(h->m[i].dbm));
	h->dirty = true;
	return 0;
}

/* VFIO_IOMMU_DIRTY_PAGES GET_BITMAP (type1); iommufd: the range checks, then EOPNOTSUPP. */
static inline int hm_dirty_read(struct host_model *h, uint64_t iova, uint64_t len, uint64_t pgsize, uint64_t bmsize,
				uint64_t *user)
{
	uint64_t a = h->align, last;
	int order[HM_MAX], k = 0;

	if (h->sem == VIOMMU_HOST_IOMMUFD) {
		if (!len || bmsize / 8 < ((len - 1) >> __builtin_ctzll(pgsize)) / 64 + 1) return -EINVAL;
		if (iova + (len - 1) < iova) return -EOVERFLOW;
		if ((iova % a) || ((iova + len) % a)) return -EINVAL;
		if ((iova & (pgsize - 1)) || ((iova + len) & (pgsize - 1))) return -EINVAL;
		return -EOPNOTSUPP;
	}
	if (h->sem == VIOMMU_HOST_TYPE1V1) return -EACCES;
	if (iova + len < iova) return -EINVAL;
	{
		uint64_t np = len >> __builtin_ctzll(pgsize);

		if (!np || !bmsize || bmsize > UINT64_C(0x10000000) || bmsize < (np + 63) / 64 * 8) return -EINVAL;
	}
	if (pgsize != a || iova % a || !len || len % a || !h->dirty) return -EINVAL;
	last = iova + len - 1;
	if (hm_find(h, iova) >= 0 && h->m[hm_find(h, iova)].first != iova) return -EINVAL;
	if (hm_find(h, last) >= 0 && h->m[hm_find(h, last)].last != last) return -EINVAL;
	for (int i = 0; i < h->n; i++)
		if (h->m[i].first >= iova && h->m[i].first <= last) {
			if (!hm_small(&h->m[i], a) || (h->m[i].first - iova) / a + HM_DBM_PAGES > 64 * 64)
				return HM_SKIP;
			order[k++] = i;
		}
	/* ascending IOVA, as the kernel walks its rb-tree */
	for (int x = 1; x < k; x++)
		for (int y = x; y > 0 && h->m[order[y]].first < h->m[order[y - 1]].first; y--) {
			int t = order[y];

			order[y] = order[y - 1];
			order[y - 1] = t;
		}
	for (int x = 0; x < k; x++)
		hm_report(&h->m[order[x]], a, (h->m[order[x]].first - iova) / a, user);
	return 0;
}

#endif

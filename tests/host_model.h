/* SPDX-License-Identifier: MIT */
/*
 * A trivially correct model of the three host semantics for differential
 * tests and fuzzing: mappings in a plain array, every rule written from
 * semantics.md §3 and the kernel's check order as a flat list of ifs, every
 * search a linear scan. Shared by tests/test_host_random.c and
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

struct hm_map { uint64_t first, last, vaddr; unsigned prot; };

struct host_model {
	enum viommu_host_semantics sem;
	uint64_t align;			/* smallest page */
	struct viommu_host_iova_range ranges[8];	/* usable, merged */
	int nranges;
	uint64_t limit;
	struct hm_map m[HM_MAX];
	int n;
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
	h->m[h->n++] = (struct hm_map){ first, last, vaddr, prot };
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

static inline int hm_map(struct host_model *h, uint64_t iova, uint64_t len, uint64_t va, unsigned prot)
{
	uint64_t a = h->align;

	if (h->sem != VIOMMU_HOST_IOMMUFD) {
		if (!prot) return -EINVAL;
		if (len == 0 || iova % a || len % a || va % a) return -EINVAL;
		if (iova + len - 1 < iova || va + len - 1 < va) return -EINVAL;
		if (hm_overlaps(h, iova, iova + len - 1)) return -EEXIST;
		if ((uint64_t)h->n >= h->limit) return -ENOSPC;
		if (!hm_usable(h, iova, iova + len - 1)) return -EINVAL;
		if (!hm_user(va, len)) return -EFAULT;
	} else {
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

static inline int hm_unmap(struct host_model *h, uint64_t iova, uint64_t len, unsigned flags, uint64_t *bytes)
{
	uint64_t a = h->align, last, b = 0;
	int i;

	*bytes = 0;
	if (h->sem != VIOMMU_HOST_IOMMUFD) {
		bool all = flags & VIOMMU_HOST_UNMAP_ALL;

		if (iova % a) return -EINVAL;
		if (all) {
			if (iova || len) return -EINVAL;
			len = UINT64_MAX;
		} else if (len == 0 || len % a || iova + len - 1 < iova) {
			return -EINVAL;
		}
		last = iova + len - 1;
		if (h->sem == VIOMMU_HOST_TYPE1V2 && !all) {
			i = hm_find(h, iova);
			if (i >= 0 && h->m[i].first != iova) return -EINVAL;
			i = hm_find(h, last);
			if (i >= 0 && h->m[i].last != last) return -EINVAL;
		}
		if (last == UINT64_MAX && !all) return 0;	/* the kernel's wrapped end */
		while ((i = hm_lowest(h, iova, last)) >= 0) {
			if (h->sem == VIOMMU_HOST_TYPE1V1 && h->m[i].first < iova) break;
			b += h->m[i].last - h->m[i].first + 1;
			hm_del(h, i);
		}
		*bytes = b;
		return 0;
	}
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

#endif

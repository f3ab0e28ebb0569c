/* SPDX-License-Identifier: MIT */
/*
 * A trivially correct IOTLB model for the differential test and the fuzz
 * target: an array scanned linearly. The replacement policy is not
 * replicated; instead the cache's eviction callback names each victim, and
 * the model checks that it was a cached entry and that exactly one entry is
 * evicted per insert into a full cache (and none otherwise). Every other
 * result (hits with all fields, misses, invalidation counts, statistics) is
 * compared exactly.
 */
#ifndef VIOMMU_TESTS_IOTLB_MODEL_H
#define VIOMMU_TESTS_IOTLB_MODEL_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <viommu/iotlb.h>

struct im_model {
	struct viommu_iotlb *c;
	struct viommu_iotlb_entry *e;
	size_t n, cap;
	struct viommu_iotlb_entry victim[4];	/* evictions reported during the current insert */
	unsigned nvictim;
	struct viommu_iotlb_stats want;
	char why[160];
};

static inline uint64_t im_last(const struct viommu_iotlb_entry *e)
{
	return e->iova + ((e->order >= 64 ? UINT64_MAX : (UINT64_C(1) << e->order) - 1));
}

static inline bool im_same(const struct viommu_iotlb_entry *a, const struct viommu_iotlb_entry *b)
{
	return a->source == b->source && a->domain == b->domain && a->iova == b->iova &&
	       a->output == b->output && a->order == b->order && a->perm == b->perm;
}

static void im_on_evict(const struct viommu_iotlb_entry *e, void *ctx)
{
	struct im_model *m = ctx;

	if (m->nvictim < 4)
		m->victim[m->nvictim] = *e;
	m->nvictim++;
}

/* A cache of @cap entries and its model; false if the cache cannot be made. */
static inline bool im_init(struct im_model *m, size_t cap)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = cap, .on_evict = im_on_evict, .evict_ctx = m };

	memset(m, 0, sizeof(*m));
	m->cap = cap;
	m->e = calloc(cap, sizeof(*m->e));
	m->c = viommu_iotlb_new(&o);
	m->want.capacity = cap;
	return m->e && m->c;
}

static inline void im_fini(struct im_model *m)
{
	viommu_iotlb_free(m->c);
	free(m->e);
}

static inline bool im_fail(struct im_model *m, const char *what, uint64_t a, uint64_t b)
{
	snprintf(m->why, sizeof(m->why), "%s (0x%llx vs 0x%llx)", what, (unsigned long long)a,
		 (unsigned long long)b);
	return false;
}

/* Remove model entries matching (domain or any, source or any) overlapping [first, last]; returns the count. */
static inline long im_remove(struct im_model *m, bool any_dom, uint32_t dom, bool any_src, uint32_t src,
			     uint64_t first, uint64_t last)
{
	long k = 0;

	for (size_t i = 0; i < m->n;) {
		const struct viommu_iotlb_entry *x = &m->e[i];

		if ((any_dom || x->domain == dom) && (any_src || x->source == src) &&
		    x->iova <= last && im_last(x) >= first) {
			m->e[i] = m->e[--m->n];
			k++;
		} else {
			i++;
		}
	}
	return k;
}

static inline bool im_insert(struct im_model *m, const struct viommu_iotlb_entry *e)
{
	bool valid = e->order >= 12 && e->order <= 63 && !(e->iova & ((UINT64_C(1) << e->order) - 1)) &&
		     !(e->perm & ~3u);
	int r;

	m->nvictim = 0;
	r = viommu_iotlb_insert(m->c, e);
	if (!valid)
		return r == -EINVAL && !m->nvictim ? true : im_fail(m, "invalid insert accepted", (uint64_t)r, 0);
	if (r)
		return im_fail(m, "insert failed", (uint64_t)r, 0);
	m->want.replaced += (uint64_t)im_remove(m, false, e->domain, false, e->source, e->iova, im_last(e));
	if (m->n == m->cap) {
		size_t i;

		if (m->nvictim != 1)
			return im_fail(m, "full cache: evictions per insert", m->nvictim, 1);
		for (i = 0; i < m->n && !im_same(&m->e[i], &m->victim[0]); i++)
			;
		if (i == m->n)
			return im_fail(m, "evicted entry was not cached", m->victim[0].iova, m->victim[0].order);
		m->e[i] = m->e[--m->n];
		m->want.evictions++;
	} else if (m->nvictim) {
		return im_fail(m, "eviction below capacity", m->n, m->cap);
	}
	m->e[m->n++] = *e;
	m->want.inserts++;
	return true;
}

static inline bool im_lookup(struct im_model *m, uint32_t src, uint32_t dom, uint64_t iova)
{
	struct viommu_iotlb_entry got;
	const struct viommu_iotlb_entry *want = NULL;
	bool hit = viommu_iotlb_lookup(m->c, src, dom, iova, &got);

	for (size_t i = 0; i < m->n; i++) {
		const struct viommu_iotlb_entry *x = &m->e[i];
		if (x->source == src && x->domain == dom && x->iova <= iova && iova <= im_last(x)) {
			want = x;
			break;
		}
	}
	if (want) {
		m->want.hits++;
		if (!hit)
			return im_fail(m, "miss on a cached entry", iova, want->iova);
		if (!im_same(&got, want))
			return im_fail(m, "hit returned another entry", got.iova, want->iova);
	} else {
		m->want.misses++;
		if (hit)
			return im_fail(m, "hit on nothing cached", iova, got.iova);
	}
	return true;
}

static inline bool im_count(struct im_model *m, long got, long want)
{
	m->want.invalidations++;
	m->want.invalidated += (uint64_t)want;
	return got == want ? true : im_fail(m, "invalidated count", (uint64_t)got, (uint64_t)want);
}

static inline bool im_inv_range(struct im_model *m, bool any_dom, uint32_t dom, uint64_t first, uint64_t last)
{
	long got = any_dom ? viommu_iotlb_invalidate_range_all_domains(m->c, first, last)
			   : viommu_iotlb_invalidate_range(m->c, dom, first, last);

	if (first > last)
		return got == -EINVAL ? true : im_fail(m, "inverted range accepted", (uint64_t)got, 0);
	return im_count(m, got, im_remove(m, any_dom, dom, true, 0, first, last));
}

static inline bool im_inv_domain(struct im_model *m, uint32_t dom)
{
	long got = viommu_iotlb_invalidate_domain(m->c, dom);
	return im_count(m, got, im_remove(m, false, dom, true, 0, 0, UINT64_MAX));
}

static inline bool im_inv_source(struct im_model *m, uint32_t src)
{
	long got = viommu_iotlb_invalidate_source(m->c, src);
	return im_count(m, got, im_remove(m, true, 0, false, src, 0, UINT64_MAX));
}

static inline bool im_inv_all(struct im_model *m)
{
	long got = viommu_iotlb_invalidate_all(m->c);
	return im_count(m, got, im_remove(m, true, 0, true, 0, 0, UINT64_MAX));
}

static inline bool im_check_stats(struct im_model *m)
{
	struct viommu_iotlb_stats s = { .sz = sizeof(s) };

	viommu_iotlb_get_stats(m->c, &s);
	m->want.sz = sizeof(s);
	m->want.entries = m->n;
	if (memcmp(&s, &m->want, sizeof(s))) {
		snprintf(m->why, sizeof(m->why),
			 "stats: hits %llu/%llu misses %llu/%llu evictions %llu/%llu entries %llu/%llu",
			 (unsigned long long)s.hits, (unsigned long long)m->want.hits,
			 (unsigned long long)s.misses, (unsigned long long)m->want.misses,
			 (unsigned long long)s.evictions, (unsigned long long)m->want.evictions,
			 (unsigned long long)s.entries, (unsigned long long)m->want.entries);
		return false;
	}
	return true;
}

#endif

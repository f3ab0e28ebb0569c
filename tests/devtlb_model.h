/* SPDX-License-Identifier: MIT */
/*
 * A trivially correct model of the device IOTLB (include/viommu/devtlb.h),
 * shared by tests/test_devtlb_random.c and fuzz/fuzz_devtlb.c: unsorted
 * arrays scanned linearly, an insertion counter for retirement, a list of
 * pending pages. Every rule of the header is written out here once, in the
 * most direct way, with no shared code from the library.
 */
#ifndef VIOMMU_DEVTLB_MODEL_H
#define VIOMMU_DEVTLB_MODEL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <viommu/devtlb.h>

struct dm_ent {
	uint64_t first, last, uaddr, seq;
	unsigned perm;
};

struct dm_pend {
	uint64_t page;
	unsigned perm;
};

struct dm {
	struct dm_ent *e;
	size_t n, cap;
	struct dm_pend *p;
	size_t np, pcap;
	unsigned shift;
	bool no_retire;
	uint64_t seq;
	/* the counters of struct viommu_devtlb_stats the model can predict */
	uint64_t translations, hits, misses, denied, miss_reports, updates, replaced, retired;
	uint64_t invalidations, invalidated, refused, pending_dropped;
};

static inline void dm_init(struct dm *m, size_t cap, size_t pcap, unsigned shift, bool no_retire)
{
	memset(m, 0, sizeof(*m));
	m->cap = cap;
	m->pcap = pcap;
	m->shift = shift;
	m->no_retire = no_retire;
	m->e = calloc(cap, sizeof(*m->e));
	m->p = calloc(pcap, sizeof(*m->p));
}

static inline void dm_fini(struct dm *m)
{
	free(m->e);
	free(m->p);
}

static inline bool dm_overlaps(const struct dm_ent *e, uint64_t first, uint64_t last)
{
	return e->first <= last && first <= e->last;
}

static inline void dm_del(struct dm *m, size_t i)
{
	m->e[i] = m->e[--m->n];
}

/* Forget pending pages overlapping [first, last]; returns how many. */
static inline long dm_forget(struct dm *m, uint64_t first, uint64_t last)
{
	long n = 0;

	for (size_t i = 0; i < m->np;) {
		if (m->p[i].page >= first >> m->shift && m->p[i].page <= last >> m->shift) {
			m->p[i] = m->p[--m->np];
			n++;
		} else {
			i++;
		}
	}
	return n;
}

static inline int dm_update(struct dm *m, uint64_t first, uint64_t last, uint64_t uaddr, unsigned perm)
{
	size_t k = 0;

	if (first > last || (perm & ~3u) || last - first > UINT64_MAX - uaddr) {
		m->refused++;
		return -EINVAL;
	}
	for (size_t i = 0; i < m->n; i++)
		k += dm_overlaps(&m->e[i], first, last);
	if (m->n - k >= m->cap) {
		size_t old = SIZE_MAX;

		if (m->no_retire) {
			m->refused++;
			return -ENOSPC;
		}
		for (size_t i = 0; i < m->n; i++)
			if (!dm_overlaps(&m->e[i], first, last) && (old == SIZE_MAX || m->e[i].seq < m->e[old].seq))
				old = i;
		dm_del(m, old);
		m->retired++;
	}
	for (size_t i = 0; i < m->n;) {
		if (dm_overlaps(&m->e[i], first, last)) {
			dm_del(m, i);
			m->replaced++;
		} else {
			i++;
		}
	}
	m->e[m->n++] = (struct dm_ent){ .first = first, .last = last, .uaddr = uaddr, .perm = perm, .seq = m->seq++ };
	m->updates++;
	dm_forget(m, first, last);
	return 0;
}

static inline long dm_invalidate(struct dm *m, uint64_t first, uint64_t last)
{
	long n = 0;

	if (first > last) {
		m->refused++;
		return -EINVAL;
	}
	m->invalidations++;
	for (size_t i = 0; i < m->n;) {
		if (dm_overlaps(&m->e[i], first, last)) {
			dm_del(m, i);
			n++;
		} else {
			i++;
		}
	}
	m->invalidated += (uint64_t)n;
	return n;
}

static inline const struct dm_ent *dm_find(const struct dm *m, uint64_t a)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].first <= a && a <= m->e[i].last)
			return &m->e[i];
	return NULL;
}

/* Same contract as viommu_devtlb_translate (arguments already valid). */
static inline int dm_translate(struct dm *m, uint64_t iova, uint64_t len, unsigned perm,
			       struct viommu_devtlb_seg *segs, unsigned max, struct viommu_devtlb_miss *miss)
{
	uint64_t cur = iova, last = iova + (len - 1);
	unsigned n = 0;

	m->translations++;
	for (;;) {
		const struct dm_ent *e = dm_find(m, cur);
		uint64_t end, ua;

		if (!e) {
			bool report = true;
			size_t i;

			for (i = 0; i < m->np && m->p[i].page != cur >> m->shift; i++)
				;
			if (i < m->np) {
				report = (m->p[i].perm & perm) != perm;
				m->p[i].perm |= perm;
			} else {
				if (m->np >= m->pcap) {
					m->pending_dropped += m->np;
					m->np = 0;
				}
				m->p[m->np++] = (struct dm_pend){ .page = cur >> m->shift, .perm = perm };
			}
			m->miss_reports += report;
			m->misses++;
			*miss = (struct viommu_devtlb_miss){ .iova = cur, .perm = perm, .report = report };
			return -EAGAIN;
		}
		if ((e->perm & perm) != perm) {
			m->denied++;
			return -EACCES;
		}
		end = e->last < last ? e->last : last;
		ua = e->uaddr + (cur - e->first);
		if (n && ua != 0 && segs[n - 1].uaddr + segs[n - 1].len == ua) {
			segs[n - 1].len += end - cur + 1;
		} else {
			if (n == max)
				return -E2BIG;
			segs[n++] = (struct viommu_devtlb_seg){ .uaddr = ua, .len = end - cur + 1 };
		}
		if (end == last) {
			m->hits++;
			return (int)n;
		}
		cur = end + 1;
	}
}

#endif

// SPDX-License-Identifier: MIT
/*
 * Op streams against the simulated host IOMMU, checked call by call against
 * the array model of tests/host_model.h (semantics.md §3.1, §3.2): errno,
 * byte count, chosen IOVA, the full mapping list and a translation.
 *
 * Input: byte 0 picks the semantics (mod 3) and byte 1 the dma_entry_limit
 * (1..64); then 17-byte ops: kind, then two u64 operands decoded so that
 * small values land on a 64-page grid near 1M (overlaps are likely) and the
 * rest are raw.
 */
#include <viommu/host.h>

#include "fuzz.h"
#include "host_model.h"

static uint64_t addr_of(uint64_t raw, uint8_t mode)
{
	switch (mode & 3) {
	case 0: return 0x100000 + (raw % 64) * 0x1000;
	case 1: return 0xfed00000 + (raw % 0x300) * 0x1000;	/* around the MSI window */
	case 2: return raw;
	default: return UINT64_MAX - (raw % 4) * 0x1000;
	}
}

static uint64_t len_of(uint64_t raw, uint8_t mode)
{
	switch ((mode >> 2) & 3) {
	case 0: return (raw % 16) * 0x1000;
	case 1: return (raw % 16) * 0x1000 + (raw >> 60);
	case 2: return raw;
	default: return UINT64_MAX - (raw % 4);
	}
}

static struct host_model m;

struct cmp { int i, bad; };

static void check_one(const struct viommu_host_mapping *mp, void *ctx)
{
	struct cmp *c = ctx;
	const struct hm_map *e = &m.m[c->i++];

	c->bad += mp->iova != e->first || mp->length != e->last - e->first + 1 || mp->vaddr != e->vaddr ||
		  mp->prot != e->prot;
}

static int by_first(const void *a, const void *b)
{
	const struct hm_map *x = a, *y = b;

	return x->first < y->first ? -1 : x->first > y->first;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	enum viommu_host_semantics sem = 1 + fz_u8(&in) % 3;
	uint32_t limit = 1 + fz_u8(&in) % 64;
	struct viommu_host_sim_opts o = { .sz = sizeof(o), .semantics = sem, .dma_entry_limit = limit };
	struct viommu_host *h = viommu_host_sim_new(&o);

	FZ_CHECK(h != NULL);
	memset(&m, 0, sizeof(m));
	m.sem = sem;
	m.align = 0x1000;
	m.ranges[0] = (struct viommu_host_iova_range){ 0, 0xfedfffff };
	m.ranges[1] = (struct viommu_host_iova_range){ 0xfef00000, UINT64_C(0x7fffffffff) };
	m.nranges = 2;
	m.limit = sem == VIOMMU_HOST_IOMMUFD ? UINT64_MAX : limit;

	while (fz_left(&in)) {
		uint8_t kind = fz_u8(&in);
		uint64_t a = fz_u64(&in), b = fz_u64(&in);
		uint64_t iova = addr_of(a, kind >> 2), len = len_of(b, kind >> 2);
		uint64_t va = 0x7f0000000000 + (a >> 40) * 0x1000, b1 = 0, b2 = 0, i1 = 0, i2 = 0;
		unsigned prot = (kind >> 6) & 3;
		int r1, r2;

		switch (kind & 3) {
		case 0:
			if (m.n >= HM_MAX - 1)
				continue;
			if (sem == VIOMMU_HOST_IOMMUFD && (kind & 0x20)) {
				va = (kind & 0x10) ? a : va;
				r1 = viommu_host_map_auto(h, va, len, prot, &i1);
				r2 = hm_map_auto(&m, va, len, prot, &i2);
				FZ_CHECK(r1 != 0 || i1 == i2);
			} else {
				r1 = viommu_host_map(h, iova, len, va, prot);
				r2 = hm_map(&m, iova, len, va, prot);
			}
			break;
		case 1:
		case 2:
			r1 = viommu_host_unmap(h, iova, len, &b1);
			r2 = hm_unmap(&m, iova, len, 0, &b2);
			break;
		default: {
			unsigned fl = sem == VIOMMU_HOST_IOMMUFD ? 0 : VIOMMU_HOST_UNMAP_ALL;
			uint64_t l = sem == VIOMMU_HOST_IOMMUFD ? UINT64_MAX : (kind & 0x80 ? len : 0);
			uint64_t i = kind & 0x40 ? iova : 0;

			r1 = viommu_host_unmap_flags(h, i, l, fl, &b1);
			r2 = hm_unmap(&m, i, l, fl, &b2);
			break;
		}
		}
		FZ_CHECK(r1 == r2);
		FZ_CHECK(b1 == b2);
		{
			struct cmp c = { 0, 0 };
			uint64_t tv = 0;
			unsigned tp = 0;
			int ti, tr = viommu_host_sim_translate(h, iova, &tv, &tp);

			qsort(m.m, (size_t)m.n, sizeof(m.m[0]), by_first);
			ti = hm_find(&m, iova);
			FZ_CHECK(viommu_host_sim_mappings(h, check_one, &c) == m.n);
			FZ_CHECK(c.bad == 0);
			if (ti < 0)
				FZ_CHECK(tr == -ENOENT);
			else
				FZ_CHECK(tr == 0 && tv == m.m[ti].vaddr + (iova - m.m[ti].first) && tp == m.m[ti].prot);
		}
	}
	viommu_host_free(h);
	return 0;
}

// SPDX-License-Identifier: MIT
/*
 * Op streams against the simulated host IOMMU, checked call by call against
 * the array model of tests/host_model.h (the kernel's check order, and
 * type1's dirty bitmap arithmetic literally): errno, byte count, chosen
 * IOVA, the full mapping list with user addresses and their validity, a
 * translation, and every dirty bitmap word.
 *
 * Input: byte 0 picks the semantics (mod 3) and byte 1 the dma_entry_limit
 * (1..64); then 18-byte ops: kind, modifiers, then two u64 operands decoded
 * so that small values land on a 64-page grid near 1M (overlaps are likely)
 * and the rest are raw. kind bits 0-2: 0-1 map, 2-3 unmap, 4 unmap all,
 * 5 invalidate user addresses, 6 set a user address, 7 dirty; bits 3-4 and
 * 5-6: how the address and length decode. Modifier bits: 0-1 prot, 2 auto
 * IOVA / exactly a mapping, 3 raw user address, 4 ALL, 5 dirty start-stop
 * (else read), 6 unmap with the bitmap, 7 bitmap page not 4K.
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
	switch ((mode >> 2) & 3) {	/* kind bits 5-6 */
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
		  mp->prot != e->prot || mp->vaddr_invalid != e->inval;
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
		uint8_t kind = fz_u8(&in), mod = fz_u8(&in);
		uint64_t a = fz_u64(&in), b = fz_u64(&in);
		uint64_t iova = addr_of(a, kind >> 3), len = len_of(b, kind >> 3);
		uint64_t va = (mod & 8) ? a : 0x7f0000000000 + (a >> 40) * 0x1000, b1 = 0, b2 = 0, i1 = 0, i2 = 0;
		unsigned prot = mod & 3;
		int r1, r2;

		switch (kind % 8) {
		case 0:
		case 1:
			if (m.n >= HM_MAX - 1)
				continue;
			if (sem == VIOMMU_HOST_IOMMUFD && (mod & 4)) {
				r1 = viommu_host_map_auto(h, va, len, prot, &i1);
				r2 = hm_map_auto(&m, va, len, prot, &i2);
				FZ_CHECK(r1 != 0 || i1 == i2);
			} else {
				r1 = viommu_host_map(h, iova, len, va, prot);
				r2 = hm_map(&m, iova, len, va, prot);
			}
			break;
		case 2:
		case 3:
			r1 = viommu_host_unmap(h, iova, len, &b1);
			r2 = hm_unmap(&m, iova, len, 0, &b2);
			break;
		case 4: {
			unsigned fl = sem == VIOMMU_HOST_IOMMUFD ? 0 : VIOMMU_HOST_UNMAP_ALL;
			uint64_t l = sem == VIOMMU_HOST_IOMMUFD ? UINT64_MAX : (mod & 0x40 ? len : 0);
			uint64_t i = mod & 0x20 ? iova : 0;

			r1 = viommu_host_unmap_flags(h, i, l, fl, &b1);
			r2 = hm_unmap(&m, i, l, fl, &b2);
			break;
		}
		case 5: {
			unsigned fl = VIOMMU_HOST_UNMAP_VADDR | ((mod & 0x10) ? VIOMMU_HOST_UNMAP_ALL : 0);

			r1 = viommu_host_unmap_flags(h, fl & VIOMMU_HOST_UNMAP_ALL ? 0 : iova,
						     fl & VIOMMU_HOST_UNMAP_ALL ? 0 : len, fl, &b1);
			r2 = hm_unmap(&m, fl & VIOMMU_HOST_UNMAP_ALL ? 0 : iova, fl & VIOMMU_HOST_UNMAP_ALL ? 0 : len, fl, &b2);
			break;
		}
		case 6:
			if (m.n && (mod & 4)) {	/* exactly an existing mapping */
				iova = m.m[a % (uint64_t)m.n].first;
				len = m.m[a % (uint64_t)m.n].last - iova + 1;
			}
			r1 = viommu_host_map_flags(h, iova, len, va, prot, VIOMMU_HOST_MAP_VADDR);
			r2 = hm_map_flags(&m, iova, len, va, prot, VIOMMU_HOST_MAP_VADDR);
			break;
		default:
			if (mod & 0x20) {
				unsigned fl = 1 + (unsigned)(b % 3);

				r1 = viommu_host_dirty_tracking(h, fl);
				r2 = hm_dirty_ctl(&m, fl);
			} else {
				static uint64_t u1[128], u2[128];
				uint64_t pg = (mod & 0x80) ? UINT64_C(1) << (12 + (b >> 61)) : 0x1000;
				uint64_t bms = 8 * (1 + (b >> 48) % 128);
				struct viommu_host_dirty_bitmap bm = { .pgsize = pg, .size = bms, .data = u1 };
				bool um = (mod & 0x40) && sem != VIOMMU_HOST_IOMMUFD;

				for (int w = 0; w < 128; w++)
					u1[w] = u2[w] = a ^ (uint64_t)w;
				r2 = um ? hm_unmap_bm(&m, iova, len, 0, &b2, pg, bms, u2) : hm_dirty_read(&m, iova, len, pg, bms, u2);
				if (r2 == HM_SKIP)
					continue;
				r1 = um ? viommu_host_unmap_dirty(h, iova, len, 0, &bm, &b1)
					: viommu_host_dirty_read(h, iova, len, &bm, 0);
				FZ_CHECK(memcmp(u1, u2, sizeof(u1)) == 0);
			}
			break;
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

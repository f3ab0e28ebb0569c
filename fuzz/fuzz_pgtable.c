// SPDX-License-Identifier: MIT
/*
 * Page-table op streams against the range-map model (tests/pt_oracle.h).
 * The first byte picks format, granule and unmap policy; then each 8-byte
 * record is one operation: map / unmap / cut / lookup with a size class, an
 * IOVA and length in units of that class, a physical offset and permissions.
 * Every return code, byte count and translation must equal the model's, the
 * leaf lists must agree at the end, and unmapping everything must leave only
 * the root table.
 */
#include <viommu/pgtable.h>

#include "fuzz.h"
#include "pt_oracle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct {
		enum viommu_pt_format f;
		unsigned levels, granule, in_bits;
	} cfgs[16] = {
		{ VIOMMU_PT_VTD_SL, 3, 0, 0 },	   { VIOMMU_PT_VTD_SL, 4, 0, 0 },
		{ VIOMMU_PT_VTD_SL, 5, 0, 0 },	   { VIOMMU_PT_ARM_S1, 0, 4096, 39 },
		{ VIOMMU_PT_ARM_S2, 0, 4096, 48 }, { VIOMMU_PT_ARM_S1, 0, 16384, 36 },
		{ VIOMMU_PT_ARM_S2, 0, 65536, 42 }, { VIOMMU_PT_ARM_S1, 0, 65536, 48 },
		/* sel bit 5 picks AMD v1 */
		{ VIOMMU_PT_AMD_V1, 1, 0, 0 },	   { VIOMMU_PT_AMD_V1, 2, 0, 0 },
		{ VIOMMU_PT_AMD_V1, 3, 0, 0 },	   { VIOMMU_PT_AMD_V1, 4, 0, 0 },
		{ VIOMMU_PT_AMD_V1, 5, 0, 0 },	   { VIOMMU_PT_AMD_V1, 6, 0, 64 },
		{ VIOMMU_PT_AMD_V1, 4, 0, 40 },	   { VIOMMU_PT_AMD_V1, 3, 0, 33 },
	};
	unsigned ci;
	struct fz_in in = { data, size };
	uint8_t sel = fz_u8(&in);
	struct viommu_pgtable_opts opts;
	struct viommu_pgtable *pt;
	struct pt_oracle o;
	uint64_t sizes[8], big, window;
	unsigned nsizes = 0, ops = 0;

	ci = (sel & 7) | ((sel >> 2) & 8);
	memset(&opts, 0, sizeof(opts));
	opts.sz = sizeof(opts);
	opts.format = cfgs[ci].f;
	opts.levels = cfgs[ci].levels;
	opts.granule = cfgs[ci].granule;
	opts.in_bits = cfgs[ci].in_bits;
	opts.unmap_policy = (sel >> 3) & 1 ? VIOMMU_PT_UNMAP_REFUSE_PARTIAL : VIOMMU_PT_UNMAP_WHOLE_LEAF;
	if ((sel >> 4) & 1)
		opts.pgsize_bitmap = 0x1000 | 0x4000 | 0x10000;	/* the granule only */
	pt = viommu_pgtable_new(&opts);
	FZ_CHECK(pt != NULL);
	pto_init(&o, pt, opts.format, opts.unmap_policy);
	for (uint64_t b = o.bitmap; b; b &= b - 1)
		sizes[nsizes++] = b & -b;
	big = sizes[nsizes - 1];
	window = 4 * big;

	while (fz_left(&in) && ops++ < 256) {
		uint8_t k = fz_u8(&in), a = fz_u8(&in), l = fz_u8(&in), p = fz_u8(&in);
		uint16_t off = (uint16_t)(fz_u8(&in) | fz_u8(&in) << 8);
		uint8_t extra = fz_u8(&in);
		uint64_t cls = sizes[(k >> 2) % nsizes];
		uint64_t iova = ((a * cls) % window) + (uint64_t)(extra & 7) * o.gran * ((extra >> 3) & 1);
		uint64_t len = (1 + (l & 3)) * cls + (uint64_t)((l >> 2) & 7) * o.gran;
		uint64_t got, want;
		int rc, wrc;

		if (iova >= window)
			iova %= window;
		/* Large classes only where they can make large leaves; anything
		 * misaligned becomes a short run of granule pages, so one record
		 * never asks the model for millions of leaves. */
		if ((iova & (cls - 1)) || (l & 0x20))
			len = (1 + (l & 0x3f)) * o.gran;
		if (iova + len > window)
			len = window - iova;
		switch (k & 3) {
		case 0: {
			uint64_t pa = (p & 0x80) ? iova + big * (1 + (p & 0xf))
						 : ((uint64_t)off * o.gran) & ~(cls - 1) & ~((uint64_t)(p & 1) - 1);
			unsigned prot = 1 + (p >> 4) % 3 + ((p & 0x40) ? VIOMMU_PT_ATTR_SNOOP : 0);
			if (((iova ^ pa) & (cls - 1)) && len > 64 * o.gran)
				len = 64 * o.gran;
			rc = viommu_pgtable_map(pt, iova, pa, len, prot, &got);
			wrc = pto_map(&o, iova, pa, len, prot, &want);
			FZ_CHECK(rc == wrc);
			FZ_CHECK(got == want);
			break;
		}
		case 1:
			rc = viommu_pgtable_unmap(pt, iova, len, &got);
			wrc = pto_unmap(&o, iova, len, &want);
			FZ_CHECK(rc == wrc);
			FZ_CHECK(got == want);
			break;
		case 2:
			FZ_CHECK(viommu_pgtable_cut(pt, iova) == 0);
			pto_cut(&o, iova);
			break;
		default: {
			uint64_t at = (iova + (uint64_t)off * 8) % window;
			struct viommu_pt_mapping m, w;
			int lr = viommu_pgtable_lookup(pt, at, &m), wr = pto_lookup(&o, at, &w);
			FZ_CHECK(lr == wr);
			if (!lr) {
				FZ_CHECK(m.iova == w.iova && m.size == w.size && m.phys == w.phys && m.perm == w.perm);
				FZ_CHECK(viommu_pgtable_iova_to_phys(pt, at) == w.phys + (at - w.iova));
			}
			break;
		}
		}
	}
	FZ_CHECK(pto_compare_all(&o, pt) == 0);
	{
		uint64_t got, want;
		struct viommu_pgtable_stats st;
		FZ_CHECK(viommu_pgtable_unmap(pt, 0, window, &got) == 0);
		FZ_CHECK(pto_unmap(&o, 0, window, &want) == 0);
		FZ_CHECK(got == want);
		viommu_pgtable_get_stats(pt, &st);
		FZ_CHECK(st.table_pages == 1);
	}
	pto_fini(&o);
	viommu_pgtable_free(pt);
	return 0;
}

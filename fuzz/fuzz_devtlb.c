// SPDX-License-Identifier: MIT
/*
 * Device IOTLB against its model (tests/devtlb_model.h), driven by the
 * input: a header byte picks the capacity (1..16), the pending table
 * (1..8), the miss granule and the retirement rule; then each operation is
 * an opcode byte and its operands. Addresses come from three zones (a dense
 * low window, the top of the space, pages), so inputs reach overlaps,
 * neighbours, the 2^64 boundary and the whole space. Every result, segment
 * and miss is compared with the model, and the statistics at the end.
 */
#include "devtlb_model.h"
#include "fuzz.h"

static uint64_t addr(struct fz_in *in)
{
	uint8_t z = fz_u8(in);
	uint64_t v = fz_u32(in);

	switch (z & 3) {
	case 0:
		return v & 0xffff;
	case 1:
		return UINT64_MAX - (v & 0xffff);
	case 2:
		return (v & 0xff) << 12;
	default:
		return fz_u64(in);
	}
}

static void range(struct fz_in *in, uint64_t *first, uint64_t *last)
{
	uint64_t a = addr(in), len = (uint64_t)fz_u32(in) + 1;

	*first = a;
	*last = len - 1 > UINT64_MAX - a ? UINT64_MAX : a + (len - 1);
	switch (fz_u8(in)) {
	case 0xff: {		/* the other way round: refused */
		uint64_t t = *first;

		*first = *last;
		*last = t;
		break;
	}
	case 0xfe:		/* to the top of the space */
		*last = UINT64_MAX;
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t h = fz_u8(&in);
	struct viommu_devtlb_opts o = {
		.sz = sizeof(o), .capacity = (h & 15) + 1u, .pending_capacity = ((h >> 4) & 7) + 1u,
		.page_shift = h & 0x80 ? 21 : 12, .flags = (h & 0x40) ? VIOMMU_DEVTLB_NO_RETIRE : 0,
	};
	struct viommu_devtlb *t = viommu_devtlb_new(&o);
	struct viommu_devtlb_stats st = { .sz = sizeof(st) };
	struct dm m;

	FZ_CHECK(t);
	dm_init(&m, o.capacity, o.pending_capacity, o.page_shift, o.flags != 0);
	for (unsigned ops = 0; fz_left(&in) && ops < 4096; ops++) {
		uint8_t op = fz_u8(&in);
		uint64_t first, last;

		range(&in, &first, &last);
		switch (op % 4) {
		case 0: {
			uint64_t ua = op & 0x10 ? fz_u64(&in) : 0x7f0000000000ull + (first & 0xffffffff);
			unsigned perm = fz_u8(&in) & 7;

			FZ_CHECK(viommu_devtlb_update(t, first, last, ua, perm) == dm_update(&m, first, last, ua, perm));
			break;
		}
		case 1:
			FZ_CHECK(viommu_devtlb_invalidate(t, first, last) == dm_invalidate(&m, first, last));
			break;
		case 2:
			FZ_CHECK(viommu_devtlb_pending_clear(t, first, last) ==
				 (first > last ? -EINVAL : dm_forget(&m, first, last)));
			break;
		default: {
			struct viommu_devtlb_seg sa[8], sb[8];
			struct viommu_devtlb_miss ma = { 0 }, mb = { 0 };
			unsigned perm = (op >> 2) & 3, max = ((op >> 4) & 7) + 1;
			uint64_t len;
			int a, b;

			if (first > last)
				break;
			len = last - first + (last - first != UINT64_MAX);
			a = viommu_devtlb_translate(t, first, len, perm, sa, max, &ma);
			b = dm_translate(&m, first, len, perm, sb, max, &mb);
			FZ_CHECK(a == b);
			if (a > 0)
				FZ_CHECK(!memcmp(sa, sb, sizeof(sa[0]) * (size_t)a));
			if (a == -EAGAIN)
				FZ_CHECK(ma.iova == mb.iova && ma.perm == mb.perm && ma.report == mb.report);
			break;
		}
		}
	}
	FZ_CHECK(viommu_devtlb_get_stats(t, &st) == 0);
	FZ_CHECK(st.entries == m.n && st.pending == m.np && st.translations == m.translations &&
		 st.hits == m.hits && st.misses == m.misses && st.denied == m.denied &&
		 st.miss_reports == m.miss_reports && st.updates == m.updates && st.replaced == m.replaced &&
		 st.retired == m.retired && st.invalidations == m.invalidations && st.invalidated == m.invalidated &&
		 st.refused == m.refused && st.pending_dropped == m.pending_dropped);
	viommu_devtlb_free(t);
	dm_fini(&m);
	return 0;
}

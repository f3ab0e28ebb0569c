// SPDX-License-Identifier: MIT
/*
 * Model-based fuzz target of the IOTLB: the first byte picks the capacity
 * (1..32 mostly, so eviction is constant; 65..313 sometimes, so that
 * invalidate_all also takes its wholesale path), the rest become inserts of
 * every size (valid and invalid, one at a time or in runs of consecutive
 * leaves), lookups, invalidations by range (any bounds, any domain),
 * domain, source and all, each compared exactly with the linear-scan model
 * of tests/iotlb_model.h, statistics after every operation.
 */
#include "fuzz.h"
#include "iotlb_model.h"

static const uint8_t orders[16] = { 12, 12, 12, 13, 14, 16, 21, 21, 22, 30, 30, 39, 47, 62, 63, 11 };

/* An address: a small page number scaled by 2^order, near the top of the space, or arbitrary. */
static uint64_t addr(struct fz_in *in, unsigned order)
{
	uint8_t b = fz_u8(in);
	unsigned sh = order > 63 ? 63 : order;

	switch (b >> 6) {
	case 0:
	case 1:
		return (uint64_t)(b & 0x3f) << sh;
	case 2:
		return (UINT64_MAX - (uint64_t)(b & 0x3f) * 0x1000) & ~((UINT64_C(1) << sh) - 1);
	default:
		return fz_u64(in);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct im_model m;
	bool ok = true;

	uint8_t capb = fz_u8(&in);

	if (!im_init(&m, capb < 224 ? 1 + (size_t)capb % 32 : 65 + (size_t)(capb - 224) * 8)) {
		im_fini(&m);
		return 0;
	}
	while (fz_left(&in) && ok) {
		uint8_t op = fz_u8(&in), k = fz_u8(&in);
		uint32_t src = k & 3, dom = (k >> 2) & 3;

		switch (op % 8) {
		case 0: {
			unsigned o = orders[(k >> 4) & 15];
			struct viommu_iotlb_entry e = {
				.source = src, .domain = dom, .order = (uint8_t)o, .iova = addr(&in, o),
				.output = (uint64_t)fz_u8(&in) << 12, .perm = (uint8_t)((op >> 3) & 7),
			};
			ok = im_insert(&m, &e);
			break;
		}
		case 1: {
			/* a run of consecutive leaves of one size, as a walker filling a buffer does */
			unsigned o = orders[(k >> 4) & 15], n = 1 + fz_u8(&in) % 64;
			struct viommu_iotlb_entry e = {
				.source = src, .domain = dom, .order = (uint8_t)o, .iova = addr(&in, o),
				.output = (uint64_t)fz_u8(&in) << 12, .perm = (uint8_t)((op >> 3) & 3),
			};
			for (unsigned i = 0; i < n && ok; i++) {
				ok = im_insert(&m, &e);
				e.iova += UINT64_C(1) << (o > 63 ? 63 : o);	/* wraps past the top: fine */
				e.output += 0x1000;
			}
			break;
		}
		case 2:
		case 3:
			ok = im_lookup(&m, src, dom, addr(&in, 12) + fz_u8(&in) * 0x101u);
			break;
		case 4: {
			uint64_t a = addr(&in, 12), b = addr(&in, 12) + (op >> 3);
			ok = im_inv_range(&m, (k >> 4) & 1, dom, a, b);
			break;
		}
		case 5:
			ok = im_inv_domain(&m, dom);
			break;
		case 6:
			ok = im_inv_source(&m, src);
			break;
		default:
			if ((op >> 3) == 0)
				ok = im_inv_all(&m);
			else
				ok = im_lookup(&m, src, dom, addr(&in, (k >> 4) + 12));
			break;
		}
		if (ok)
			ok = im_check_stats(&m);
	}
	if (!ok)
		fprintf(stderr, "%s\n", m.why);
	FZ_CHECK(ok);
	im_fini(&m);
	return 0;
}

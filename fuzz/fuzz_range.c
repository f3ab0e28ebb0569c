// SPDX-License-Identifier: MIT
/*
 * Range splitters and the guest-facing invalidation decoders, checked against
 * models written the slow, obvious way (bit loops instead of bit tricks).
 * Input: a stream of records, each a selector byte and operands.
 */
#include <viommu/range.h>

#include "fuzz.h"
#include "util/compiler.h"

/* Model: a block is maximal iff it cannot be doubled (alignment, range or cap). */
static void check_pow2(uint64_t first, uint64_t last, unsigned cap, unsigned width)
{
	struct viommu_pow2_iter it;
	uint64_t expect = first;
	unsigned n = 0;
	int rc = viommu_pow2_start(&it, first, last, cap, width);
	bool model_ok = first <= last && cap <= 64 && width >= 1 && width <= 64;

	if (!model_ok) {
		FZ_CHECK(rc == -EINVAL);
		return;
	}
	if (width < 64 && (last >> width) != 0) {
		FZ_CHECK(rc == -ERANGE);
		return;
	}
	FZ_CHECK(rc == 0);
	if (cap > width)
		cap = width;
	while (viommu_pow2_next(&it)) {
		uint64_t size_m1 = it.order >= 64 ? UINT64_MAX : (UINT64_C(1) << it.order) - 1;
		FZ_CHECK(it.addr == expect);
		FZ_CHECK(it.order <= cap);
		FZ_CHECK((it.addr & size_m1) == 0);
		FZ_CHECK(it.addr + size_m1 >= it.addr && it.addr + size_m1 <= last);
		if (it.order < cap) {
			/* could a block twice the size have been taken here? */
			unsigned o2 = it.order + 1;
			uint64_t m2 = o2 >= 64 ? UINT64_MAX : (UINT64_C(1) << o2) - 1;
			bool aligned = (it.addr & m2) == 0;
			bool fits = it.addr + m2 >= it.addr && it.addr + m2 <= last;
			FZ_CHECK(!(aligned && fits));
		}
		n++;
		FZ_CHECK(n <= 130);	/* two blocks per bit at most */
		if (it.addr + size_m1 == last) {
			FZ_CHECK(!viommu_pow2_next(&it));
			return;
		}
		expect = it.addr + size_m1 + 1;
		/* a capped cover of a huge range is long: stop checking early */
		if (n == 128)
			return;
	}
	FZ_CHECK(0);	/* ended before reaching last */
}

static void check_psi(uint64_t addr, unsigned am, unsigned mamv)
{
	uint64_t first, last, base = addr & ~UINT64_C(0xfff);
	int rc = viommu_vtd_psi_decode(addr, am, mamv, &first, &last);
	bool ok = am <= mamv && am <= 52;

	for (unsigned b = 12; ok && b < 12 + am; b++)
		if ((base >> b) & 1)
			ok = false;
	FZ_CHECK(ok ? rc == 0 : rc == -EINVAL);
	if (!ok)
		return;
	FZ_CHECK(first == base);
	for (unsigned b = 0; b < 64; b++)
		FZ_CHECK(((last >> b) & 1) == (b < 12 + am ? 1u : (base >> b) & 1));
}

static void check_devtlb(uint64_t addr, bool s)
{
	uint64_t first, last, e_addr;
	unsigned order = 12;
	bool e_s;

	FZ_CHECK(viommu_vtd_devtlb_decode(addr, s, &first, &last) == 0);
	if (s) {
		order = 13;
		for (unsigned b = 12; b < 64 && ((addr >> b) & 1); b++)
			order++;
		if (order > 64)
			order = 64;
	}
	for (unsigned b = 0; b < 64; b++) {
		FZ_CHECK(((first >> b) & 1) == (b < order ? 0u : (addr >> b) & 1));
		FZ_CHECK(((last >> b) & 1) == (b < order ? 1u : (addr >> b) & 1));
	}
	/* and back: the canonical encoding of that block decodes to it again */
	FZ_CHECK(viommu_vtd_devtlb_encode(first, last, &e_addr, &e_s) == 0);
	FZ_CHECK(e_s == (order > 12));
	FZ_CHECK(viommu_vtd_devtlb_decode(e_addr, e_s, &first, &last) == 0);
	FZ_CHECK(last - first == (order == 64 ? UINT64_MAX : (UINT64_C(1) << order) - 1));
}

static void check_smmu_decode(const struct viommu_smmu_tlbi *c)
{
	uint64_t first, last, pages, bytes;
	int rc = viommu_smmu_tlbi_decode(c, &first, &last);
	unsigned shift;

	if (c->tg > 3 || c->scale > 31 || c->num > 31 || c->ttl > 3) {
		FZ_CHECK(rc == -EINVAL);
		return;
	}
	if (c->tg == 0) {
		FZ_CHECK(rc == 0 && first == c->addr && last == c->addr);
		return;
	}
	if (c->ttl == 0 && c->scale == 0 && c->num == 0) {
		FZ_CHECK(rc == -EINVAL);
		return;
	}
	shift = 10 + 2u * c->tg;
	if (c->addr % (UINT64_C(1) << shift)) {
		FZ_CHECK(rc == -EINVAL);
		return;
	}
	pages = c->num + 1u;
	for (unsigned i = 0; i < c->scale; i++)
		pages *= 2;
	bytes = pages << shift;
	if (UINT64_MAX - c->addr < bytes - 1) {
		FZ_CHECK(rc == -ERANGE);
		return;
	}
	FZ_CHECK(rc == 0 && first == c->addr && last == c->addr + bytes - 1);
}

static void check_smmu_encode(uint64_t iova, uint64_t pages, unsigned gs, unsigned ttl)
{
	struct viommu_smmu_tlbi cmds[32];
	int n = viommu_smmu_tlbi_encode(iova, pages, gs, ttl, cmds, 32);
	uint64_t expect = iova, first, last = 0;

	if (n < 0)
		return;		/* argument errors are covered by the unit test */
	FZ_CHECK(n >= 1);
	if (n > 32)
		return;
	for (int i = 0; i < n; i++) {
		FZ_CHECK(cmds[i].addr == expect);
		FZ_CHECK(viommu_smmu_tlbi_decode(&cmds[i], &first, &last) == 0);
		if (cmds[i].tg == 0)
			last = first + ((UINT64_C(1) << gs) - 1);
		expect = last + 1;
	}
	/* covers exactly, or one granule more when TTL is unknown */
	{
		uint64_t want = iova + ((pages << gs) - 1);
		FZ_CHECK(last == want || (ttl == 0 && last == want + (UINT64_C(1) << gs)));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };

	while (fz_left(&in)) {
		uint8_t op = fz_u8(&in);
		switch (op % 5) {
		case 0: {
			uint64_t a = fz_u64(&in), b = fz_u64(&in);
			check_pow2(a, b, fz_u8(&in) % 70, fz_u8(&in) % 70);
			break;
		}
		case 1: {
			uint64_t addr = fz_u64(&in);
			check_psi(addr, fz_u8(&in) % 70, fz_u8(&in) % 70);
			break;
		}
		case 2: {
			uint64_t addr = fz_u64(&in);
			check_devtlb(addr, fz_u8(&in) & 1);
			break;
		}
		case 3: {
			struct viommu_smmu_tlbi c;
			c.addr = fz_u64(&in);
			c.tg = fz_u8(&in) % 5;
			c.scale = fz_u8(&in) % 34;
			c.num = fz_u8(&in) % 34;
			c.ttl = fz_u8(&in) % 5;
			check_smmu_decode(&c);
			break;
		}
		case 4: {
			unsigned gs = 12 + 2 * (fz_u8(&in) % 3);
			uint64_t iova = fz_u64(&in) & ~((UINT64_C(1) << gs) - 1);
			uint64_t pages = fz_u64(&in) >> (fz_u8(&in) % 64);
			unsigned ttl = fz_u8(&in) % 4;
			uint64_t room = ((UINT64_MAX - iova) >> gs) + 1;
			if (pages == 0 || pages > room)
				break;
			check_smmu_encode(iova, pages, gs, ttl);
			break;
		}
		}
	}
	return 0;
}

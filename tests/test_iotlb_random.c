// SPDX-License-Identifier: MIT
/*
 * IOTLB randomised differential test against a linear-scan model
 * (tests/iotlb_model.h): random inserts of mixed sizes (4K, 2M, 1G and odd
 * powers of two up to 2^63, some at the top of the space), lookups inside
 * and around cached leaves, invalidations by range (unaligned, any domain),
 * domain, source and all, at capacities from 1 to 300 so eviction runs
 * constantly. Every result is compared exactly; statistics after every
 * round. Fixed seed, printed (VIOMMU_SEED overrides).
 */
#include "iotlb_model.h"
#include "util/compiler.h"
#include "test.h"

static const unsigned orders[] = { 12, 12, 12, 12, 13, 16, 21, 21, 21, 27, 30, 30, 39, 47, 63 };

static uint64_t gen_iova(struct t_rng *r, unsigned order)
{
	uint64_t region = t_rng_below(r, 4) ? 0 : 0xffffff0000000000ull;

	if (order > 34)
		return t_rng_next(r) & ~((UINT64_C(1) << order) - 1) & (t_rng_below(r, 2) ? UINT64_MAX : 0);
	return region + (t_rng_below(r, UINT64_C(1) << 34) & ~((UINT64_C(1) << order) - 1));
}

/* An address in, at the edge of or away from a cached leaf; *src and *dom become that leaf's 3 times in 4. */
static uint64_t gen_addr(struct t_rng *r, const struct im_model *m, uint32_t *src, uint32_t *dom)
{
	if (m->n && t_rng_below(r, 4)) {
		const struct viommu_iotlb_entry *e = &m->e[t_rng_below(r, m->n)];
		if (t_rng_below(r, 4)) {
			*src = e->source;
			*dom = e->domain;
		}
		uint64_t size_1 = im_last(e) - e->iova;

		switch (t_rng_below(r, 4)) {
		case 0: return e->iova;
		case 1: return im_last(e);
		case 2: return im_last(e) + 1;		/* may wrap to 0: fine */
		default: return e->iova + t_rng_below(r, size_1 == UINT64_MAX ? size_1 : size_1 + 1);
		}
	}
	return gen_iova(r, 12) + t_rng_below(r, 4096);
}

int main(void)
{
	struct t_rng r;
	static const size_t caps[] = { 1, 2, 3, 8, 17, 64, 300 };
	unsigned long ops = 0;
	struct viommu_iotlb_stats sum = { 0 };

	t_rng_init(&r, t_seed("iotlb_random", 0x10715eed));
	for (unsigned round = 0; round < 28; round++) {
		struct im_model m;
		size_t cap = caps[round % VI_ARRAY_SIZE(caps)];
		bool ok = true;

		if (!im_init(&m, cap))
			T_FATAL("im_init");
		for (unsigned step = 0; step < 20000 && ok; step++, ops++) {
			unsigned op = (unsigned)t_rng_below(&r, 100);
			uint32_t src = (uint32_t)t_rng_below(&r, 3), dom = (uint32_t)t_rng_below(&r, 3);

			if (op < 45) {
				unsigned o = orders[t_rng_below(&r, VI_ARRAY_SIZE(orders))];
				struct viommu_iotlb_entry e = {
					.source = src, .domain = dom, .iova = gen_iova(&r, o),
					.output = t_rng_next(&r) & ~0xfffull, .order = (uint8_t)o,
					.perm = (uint8_t)t_rng_below(&r, 4),
				};
				if (!t_rng_below(&r, 50))	/* an invalid one now and then */
					e.iova |= 0x800;
				ok = im_insert(&m, &e);
			} else if (op < 90) {
				uint64_t a = gen_addr(&r, &m, &src, &dom);
				ok = im_lookup(&m, src, dom, a);
			} else if (op < 96) {
				uint64_t a = gen_addr(&r, &m, &src, &dom), b = gen_addr(&r, &m, &src, &dom);
				if (t_rng_below(&r, 2) && a > b) {
					uint64_t t = a;
					a = b;
					b = t;
				}
				ok = im_inv_range(&m, !t_rng_below(&r, 4), dom, a, b);
			} else if (op < 98) {
				ok = im_inv_domain(&m, dom);
			} else if (op < 99) {
				ok = im_inv_source(&m, src);
			} else if (!t_rng_below(&r, 4)) {
				ok = im_inv_all(&m);
			}
			if (ok && step % 256 == 0)
				ok = im_check_stats(&m);
		}
		if (ok)
			ok = im_check_stats(&m);
		if (!ok)
			fprintf(stderr, "round %u (capacity %zu): %s\n", round, cap, m.why);
		T_OK(ok);
		sum.hits += m.want.hits;
		sum.misses += m.want.misses;
		sum.evictions += m.want.evictions;
		sum.replaced += m.want.replaced;
		sum.invalidated += m.want.invalidated;
		im_fini(&m);
	}
	printf("%lu operations: %llu hits, %llu misses, %llu evicted, %llu replaced, %llu invalidated\n", ops,
	       (unsigned long long)sum.hits, (unsigned long long)sum.misses, (unsigned long long)sum.evictions,
	       (unsigned long long)sum.replaced, (unsigned long long)sum.invalidated);
	/* the run must exercise every path, or it proves nothing */
	T_OK(sum.hits > ops / 10 && sum.misses > ops / 20 && sum.evictions > ops / 20 && sum.replaced > 100 &&
	     sum.invalidated > 1000);
	return t_done();
}

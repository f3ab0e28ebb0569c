// SPDX-License-Identifier: MIT
/*
 * Range splitters: minimal power-of-two covers (proved minimal by exhaustive
 * comparison with a brute-force optimum), the single aligned cover used by
 * VT-d page-selective invalidation, device-TLB size encoding and SMMUv3 range
 * invalidation (the sources are listed at the top of include/viommu/range.h).
 */
#include <viommu/range.h>

#include "test.h"
#include "util/compiler.h"

#define SPACE_BITS 12
#define SPACE (1u << SPACE_BITS)

/*
 * Brute-force optimum: opt[a] = fewest aligned blocks (order <= cap) that tile
 * [a, b] exactly, by dynamic programming from b downwards.
 */
static void brute_opt(unsigned b, unsigned cap, unsigned *opt)
{
	opt[b + 1] = 0;
	for (int a = (int)b; a >= 0; a--) {
		unsigned best = UINT32_MAX;
		for (unsigned o = 0; o <= cap && o <= SPACE_BITS; o++) {
			unsigned size = 1u << o;
			if ((unsigned)a & (size - 1))
				break;		/* larger orders are not aligned either */
			if ((unsigned)a + size - 1 > b)
				break;
			if (opt[a + size] + 1 < best)
				best = opt[a + size] + 1;
		}
		opt[a] = best;
	}
}

/* Check one cover: exact tiling of [first, last], aligned, capped; return count or -1. */
static long check_cover(uint64_t first, uint64_t last, unsigned cap, unsigned width, uint64_t offset)
{
	struct viommu_pow2_iter it;
	uint64_t expect = first;
	long n = 0;
	bool ended = false;

	viommu_pow2_for_each(&it, first + offset, last + offset, cap, width) {
		uint64_t m = vi_mask(it.order);
		if (ended || it.addr != expect + offset || (it.addr & m) || it.order > cap ||
		    (it.addr + m) - offset > last)
			return -1;
		if ((it.addr + m) - offset == last)
			ended = true;
		expect = (it.addr + m) - offset + 1;
		n++;
	}
	return ended ? n : -1;
}

/* Every [a, b] in a 12-bit space: exact cover, and as few blocks as possible. */
static void test_pow2_minimal_exhaustive(void)
{
	static unsigned opt[SPACE + 1];
	unsigned long ranges = 0, bad = 0, notmin = 0;

	for (unsigned b = 0; b < SPACE; b++) {
		brute_opt(b, 64, opt);
		for (unsigned a = 0; a <= b; a++) {
			long n = check_cover(a, b, 64, 64, 0);
			ranges++;
			if (n < 0)
				bad++;
			else if ((unsigned long)n != opt[a])
				notmin++;
			if ((uint64_t)n != viommu_pow2_count(a, b, 64))
				bad++;
		}
	}
	T_EQ(ranges, (unsigned long)SPACE * (SPACE + 1) / 2);
	T_EQ(bad, 0);
	T_EQ(notmin, 0);
}

/* With a block-size cap (QEMU's max_addr_bits), every cap 0..10 over a 10-bit space. */
static void test_pow2_minimal_capped(void)
{
	static unsigned opt[SPACE + 1];
	unsigned long bad = 0, notmin = 0;

	for (unsigned cap = 0; cap <= 10; cap++)
		for (unsigned b = 0; b < 1024; b++) {
			brute_opt(b, cap, opt);
			for (unsigned a = 0; a <= b; a++) {
				long n = check_cover(a, b, cap, 64, 0);
				if (n < 0)
					bad++;
				else if ((unsigned long)n != opt[a])
					notmin++;
			}
		}
	T_EQ(bad, 0);
	T_EQ(notmin, 0);
}

/*
 * The top of the 64-bit space: in the last 2^10 bytes the cover is the
 * low-space cover shifted (the base 2^64 - 2^10 is aligned to 2^10 and no
 * block can be larger than the range), so it is minimal there too.
 */
static void test_pow2_top_of_space(void)
{
	static unsigned opt[SPACE + 1];
	const uint64_t top = UINT64_MAX - 1023;	/* 2^64 - 2^10 */
	unsigned long bad = 0, notmin = 0;
	struct viommu_pow2_iter it;
	unsigned n, o;

	for (unsigned b = 0; b < 1024; b++) {
		brute_opt(b, 64, opt);
		for (unsigned a = 0; a <= b; a++) {
			long k = check_cover(a, b, 64, 64, top);
			if (k < 0)
				bad++;
			else if ((unsigned long)k != opt[a])
				notmin++;
		}
	}
	T_EQ(bad, 0);
	T_EQ(notmin, 0);

	/* The whole space is one block of order 64. */
	n = 0;
	viommu_pow2_for_each(&it, 0, UINT64_MAX, 64, 64) {
		T_EQ_U64(it.addr, 0);
		T_EQ(it.order, 64);
		n++;
	}
	T_EQ(n, 1);
	/* [1, 2^64-1] needs one block of each order 0..63, ascending. */
	n = 0;
	viommu_pow2_for_each(&it, 1, UINT64_MAX, 64, 64) {
		T_EQ(it.order, n);
		T_EQ_U64(it.addr, n ? UINT64_C(1) << n : 1);
		n++;
	}
	T_EQ(n, 64);
	T_EQ(viommu_pow2_count(UINT64_MAX, UINT64_MAX, 64), 1);
	T_EQ(viommu_pow2_count(UINT64_C(1) << 63, UINT64_MAX, 64), 1);
	/* Capped at 2^62 the upper half is two blocks, the whole space four. */
	T_EQ(viommu_pow2_count(UINT64_C(1) << 63, UINT64_MAX, 62), 2);
	T_EQ(viommu_pow2_count(0, UINT64_MAX, 62), 4);
	/* [0, 2^64-1] with a cap of 0 would be 2^64 blocks: count the first few. */
	n = 0;
	viommu_pow2_for_each(&it, UINT64_MAX - 9, UINT64_MAX, 0, 64) {
		T_EQ(it.order, 0);
		n++;
	}
	T_EQ(n, 10);
	o = 99;
	viommu_pow2_for_each(&it, UINT64_MAX - 1, UINT64_MAX, 64, 64)
		o = it.order;
	T_EQ(o, 1);
}

static void test_pow2_width_and_errors(void)
{
	struct viommu_pow2_iter it;

	T_EQ(viommu_pow2_start(&it, 2, 1, 64, 64), -EINVAL);
	T_EQ(errno, EINVAL);
	T_EQ(viommu_pow2_start(&it, 0, 1, 65, 64), -EINVAL);
	T_EQ(viommu_pow2_start(&it, 0, 1, 64, 0), -EINVAL);
	T_EQ(viommu_pow2_start(&it, 0, 1, 64, 65), -EINVAL);
	/* last beyond a 39-bit address width */
	T_EQ(viommu_pow2_start(&it, 0, UINT64_C(1) << 39, 64, 39), -ERANGE);
	T_EQ(viommu_pow2_start(&it, 0, (UINT64_C(1) << 39) - 1, 64, 39), 0);
	/* the width caps the block size: the whole 39-bit space is one block */
	T_OK(viommu_pow2_next(&it));
	T_EQ(it.order, 39);
	T_OK(!viommu_pow2_next(&it));
	/* a width smaller than max_order clamps max_order */
	T_EQ(viommu_pow2_start(&it, 0, 0xfff, 64, 10), -ERANGE);
	T_EQ(viommu_pow2_start(&it, 0, 0x3ff, 64, 10), 0);
	T_OK(viommu_pow2_next(&it));
	T_EQ(it.order, 10);
	/* invalid arguments give an empty loop and a zero count */
	T_EQ(viommu_pow2_count(5, 4, 64), 0);
}

/*
 * The x86 interrupt window [0xfee00000, 0xfeefffff] is never DMA-remapped
 * (VT-d specification, "Interrupt Remapping"), so QEMU's VT-d model splits the
 * DMA space into two IOMMU notifiers, [0, 0xfedfffff] and [0xfef00000,
 * 2^48 - 1] (hw/i386/intel_iommu.c); a global invalidation lowered to
 * power-of-two pieces is 10 + 18 = 28 UNMAPs.
 */
static void test_pow2_interrupt_window(void)
{
	uint64_t below = viommu_pow2_count(0, 0xfedfffff, 64);
	uint64_t above = viommu_pow2_count(0xfef00000, (UINT64_C(1) << 48) - 1, 64);

	T_EQ(below, 10);
	T_EQ(above, 18);
	T_EQ(below + above, 28);
}

/* The brute-force count: step the cover (the cursor is checked against the optimum above). */
static uint64_t brute_count(uint64_t first, uint64_t last, unsigned cap)
{
	struct viommu_pow2_iter it;
	uint64_t n = 0;

	viommu_pow2_for_each(&it, first, last, cap, 64)
		n++;
	return n;
}

/*
 * viommu_pow2_count() is O(1) arithmetic, not a loop: it must equal the
 * number of blocks the cursor yields for every range of a 9-bit space and
 * every cap 0..10, the same ranges at the very top of the 64-bit space, and
 * random 64-bit ranges whose cover is short enough to step.
 */
static void test_pow2_count(struct t_rng *rng)
{
	const uint64_t top = UINT64_MAX - 511;
	unsigned long bad = 0, checked = 0;

	for (unsigned cap = 0; cap <= 10; cap++)
		for (uint64_t b = 0; b < 512; b++)
			for (uint64_t a = 0; a <= b; a++) {
				bad += viommu_pow2_count(a, b, cap) != brute_count(a, b, cap);
				bad += viommu_pow2_count(top + a, top + b, cap) != brute_count(top + a, top + b, cap);
				checked += 2;
			}
	T_EQ(checked, 11ul * 512 * 513);
	T_EQ(bad, 0);
	/* Random ranges anywhere (the cover of an uncapped range is at most 128 blocks). */
	for (int i = 0; i < 20000; i++) {
		uint64_t a = t_rng_next(rng), b = t_rng_next(rng), t;
		unsigned cap = (unsigned)t_rng_below(rng, 65);

		if (a > b)
			t = a, a = b, b = t;
		/* A cap of c over a range of L bytes steps about L >> c times: keep that small. */
		if (cap < 64 && (b - a) >> cap > 4096)
			b = a + (t_rng_next(rng) & ((UINT64_C(4096) << cap) - 1));
		if (b < a)
			b = UINT64_MAX;
		bad += viommu_pow2_count(a, b, cap) != brute_count(a, b, cap);
	}
	T_EQ(bad, 0);

	/* Counts no loop could reach (issue 17: 2^28 blocks took 10.5 s). */
	T_EQ_U64(viommu_pow2_count(0, (UINT64_C(1) << 40) - 1, 12), UINT64_C(1) << 28);
	T_EQ_U64(viommu_pow2_count(0, UINT64_MAX, 1), UINT64_C(1) << 63);
	T_EQ_U64(viommu_pow2_count(0, UINT64_MAX, 63), 2);
	T_EQ_U64(viommu_pow2_count(0, UINT64_MAX, 64), 1);
	T_EQ_U64(viommu_pow2_count(1, UINT64_MAX, 64), 64);
	/* [1, 2^64-1] at cap 1: a 1-byte block, then 2^63 - 1 blocks of 2 bytes. */
	T_EQ_U64(viommu_pow2_count(1, UINT64_MAX, 1), UINT64_C(1) << 63);
	/* 2^64 - 1 blocks fit; errno is left alone. */
	errno = 0;
	T_EQ_U64(viommu_pow2_count(0, UINT64_MAX - 1, 0), UINT64_MAX);
	T_EQ_U64(viommu_pow2_count(1, UINT64_MAX, 0), UINT64_MAX);
	T_EQ(errno, 0);
	/* 2^64 blocks do not: saturated, with EOVERFLOW (it used to wrap to the error value 0). */
	T_EQ_U64(viommu_pow2_count(0, UINT64_MAX, 0), UINT64_MAX);
	T_EQ(errno, EOVERFLOW);
	errno = 0;
	T_EQ_U64(viommu_pow2_count(3, 2, 0), 0);
	T_EQ(errno, EINVAL);
	errno = 0;
	T_EQ_U64(viommu_pow2_count(0, 1, 65), 0);
	T_EQ(errno, EINVAL);
}

/* The loop macro declares nothing, so two loops nest without -Wshadow (this file builds with -Werror). */
static void test_pow2_nested(void)
{
	struct viommu_pow2_iter outer, inner;
	unsigned pairs = 0, orders = 0;

	viommu_pow2_for_each(&outer, 0x1000, 0x2fffff, 64, 48) {
		viommu_pow2_for_each(&inner, outer.addr, outer.addr + vi_mask(outer.order), 13, 48) {
			pairs++;
			orders += inner.order;
		}
	}
	/* 10 outer blocks (4K, 8K, ... 1M, 1M); inside each, blocks of at most 8K. */
	T_EQ(pairs, 1 + 1 + 2 + 4 + 8 + 16 + 32 + 64 + 128 + 128);
	T_EQ(orders, 12 + 13 * (pairs - 1));
	/* An invalid range inside a valid loop gives an empty inner loop. */
	pairs = 0;
	viommu_pow2_for_each(&outer, 0, 0xfff, 64, 64)
		viommu_pow2_for_each(&inner, 2, 1, 64, 64)
			pairs++;
	T_EQ(pairs, 0);
}

/* Reference for the aligned cover: grow the block until it holds both ends. */
static unsigned brute_cover_order(uint64_t a, uint64_t b)
{
	unsigned o = 0;
	while (o < 64 && (a >> o) != (b >> o))
		o++;
	return o;
}

static void test_aligned_cover(void)
{
	unsigned long bad = 0;
	uint64_t addr;
	unsigned order;

	for (unsigned b = 0; b < SPACE; b++)
		for (unsigned a = 0; a <= b; a++) {
			unsigned o = brute_cover_order(a, b);
			if (viommu_range_aligned_cover(a, b, 0, &addr, &order) || order != o ||
			    addr != ((uint64_t)a & ~vi_mask(o)))
				bad++;
		}
	T_EQ(bad, 0);
	T_EQ(viommu_range_aligned_cover(0, UINT64_MAX, 0, &addr, &order), 0);
	T_EQ(order, 64);
	T_EQ_U64(addr, 0);
	T_EQ(viommu_range_aligned_cover(UINT64_MAX, UINT64_MAX, 0, &addr, &order), 0);
	T_EQ(order, 0);
	T_EQ_U64(addr, UINT64_MAX);
	T_EQ(viommu_range_aligned_cover(UINT64_MAX, UINT64_MAX, 12, &addr, &order), 0);
	T_EQ(order, 12);
	T_EQ_U64(addr, UINT64_MAX & ~UINT64_C(0xfff));
	T_EQ(viommu_range_aligned_cover(2, 1, 0, &addr, &order), -EINVAL);
	T_EQ(viommu_range_aligned_cover(1, 2, 65, &addr, &order), -EINVAL);
}

/*
 * Linux's calculate_psi_aligned_address() (drivers/iommu/intel/cache.c):
 * round the page count up to a power of two; if the start is not aligned to
 * it, widen to the lowest bit above that at which start and end agree.
 */
static int linux_psi(uint64_t start, uint64_t end, uint64_t *addr, unsigned *am)
{
	uint64_t spfn = start >> 12, epfn = end >> 12, pages = epfn - spfn + 1;
	uint64_t aligned = pages <= 1 ? 1 : UINT64_C(1) << (vi_fls64(pages - 1) + 1);
	unsigned mask = vi_ffs64(aligned);

	if (spfn & (aligned - 1)) {
		uint64_t shared = ~(spfn ^ epfn) & ~(aligned - 1);
		mask = shared ? vi_ffs64(shared) : 52;
	}
	*am = mask;
	*addr = (spfn & ~vi_mask(mask)) << 12;
	return 0;
}

static void test_vtd_psi(struct t_rng *rng)
{
	unsigned long bad = 0;
	uint64_t addr, ref_addr, first, last;
	unsigned am, ref_am;

	/* Every page range in a 12-bit page space, against Linux's algorithm. */
	for (uint64_t b = 0; b < 1024; b++)
		for (uint64_t a = 0; a <= b; a++) {
			uint64_t s = (a << 12) | (a & 0xfff), e = (b << 12) | 0xfff;
			linux_psi(s, e, &ref_addr, &ref_am);
			if (viommu_vtd_psi_encode(s, e, 52, &addr, &am) || am != ref_am || addr != ref_addr)
				bad++;
			/* the decoded range covers the request */
			if (viommu_vtd_psi_decode(addr, am, 52, &first, &last) || first > s || last < e)
				bad++;
		}
	/* Random 64-bit ranges. */
	for (int i = 0; i < 200000; i++) {
		uint64_t s = t_rng_next(rng) >> t_rng_below(rng, 64);
		uint64_t e = s + (t_rng_next(rng) >> t_rng_below(rng, 64));
		if (e < s)
			e = UINT64_MAX;
		linux_psi(s, e, &ref_addr, &ref_am);
		if (viommu_vtd_psi_encode(s, e, 64, &addr, &am) || am != ref_am || addr != ref_addr)
			bad++;
	}
	T_EQ(bad, 0);

	/* Worked example: pages 0x7 and 0x8 straddle a 16-page boundary: AM 4 at 0. */
	T_EQ(viommu_vtd_psi_encode(0x7000, 0x8fff, 18, &addr, &am), 0);
	T_EQ(am, 4);
	T_EQ_U64(addr, 0);
	/* An aligned 2M range is AM 9 exactly. */
	T_EQ(viommu_vtd_psi_encode(0x40200000, 0x403fffff, 18, &addr, &am), 0);
	T_EQ(am, 9);
	T_EQ_U64(addr, 0x40200000);
	/* Beyond MAMV (QEMU advertises 18): the caller must go domain-selective. */
	T_EQ(viommu_vtd_psi_encode(0, (UINT64_C(1) << 31) - 1, 18, &addr, &am), -ERANGE);
	T_EQ(viommu_vtd_psi_encode(0, (UINT64_C(1) << 30) - 1, 18, &addr, &am), 0);
	T_EQ(am, 18);
	T_EQ(viommu_vtd_psi_encode(0, UINT64_MAX, 64, &addr, &am), 0);
	T_EQ(am, 52);
	T_EQ(viommu_vtd_psi_encode(1, 0, 18, &addr, &am), -EINVAL);

	/* Decoding a guest descriptor: misaligned ADDR for AM, AM above MAMV. */
	T_EQ(viommu_vtd_psi_decode(0x201000, 9, 18, &first, &last), -EINVAL);
	T_EQ(viommu_vtd_psi_decode(0x200000, 19, 18, &first, &last), -EINVAL);
	T_EQ(viommu_vtd_psi_decode(0x200000, 9, 18, &first, &last), 0);
	T_EQ_U64(first, 0x200000);
	T_EQ_U64(last, 0x3fffff);
	/* IH and AM share the low 12 bits of the address qword: ignored here. */
	T_EQ(viommu_vtd_psi_decode(0x200049, 9, 18, &first, &last), 0);
	T_EQ_U64(first, 0x200000);
	T_EQ(viommu_vtd_psi_decode(0, 52, 64, &first, &last), 0);
	T_EQ_U64(last, UINT64_MAX);
	T_EQ(viommu_vtd_psi_decode(0, 53, 64, &first, &last), -EINVAL);
}

/* VT-d specification, "Device-TLB Invalidate Descriptor": size = 8K << (trailing ones above bit 12); S = 0 is one page. */
static void test_vtd_devtlb(struct t_rng *rng)
{
	unsigned long bad = 0;
	uint64_t addr, first, last;
	bool s;

	/* Spec examples. */
	T_EQ(viommu_vtd_devtlb_encode(0x10000, 0x10fff, &addr, &s), 0);
	T_EQ_U64(addr, 0x10000);
	T_EQ(s, 0);
	T_EQ(viommu_vtd_devtlb_encode(0x10000, 0x11fff, &addr, &s), 0);	/* 2 pages: m = 1 */
	T_EQ_U64(addr, 0x10fff);
	T_EQ(s, 1);
	T_EQ(viommu_vtd_devtlb_encode(0x10000, 0x13fff, &addr, &s), 0);	/* 4 pages: m = 2 */
	T_EQ_U64(addr, 0x11fff);
	T_EQ(viommu_vtd_devtlb_encode(0x200000, 0x3fffff, &addr, &s), 0);	/* 2M: m = 9 */
	T_EQ_U64(addr, 0x2fffff);
	T_EQ(viommu_vtd_devtlb_decode(0x2fffff, true, &first, &last), 0);
	T_EQ_U64(first, 0x200000);
	T_EQ_U64(last, 0x3fffff);
	/* The whole space and all-ones. */
	T_EQ(viommu_vtd_devtlb_encode(0, UINT64_MAX, &addr, &s), 0);
	T_EQ_U64(addr, UINT64_MAX >> 1);
	T_EQ(viommu_vtd_devtlb_decode(UINT64_MAX, true, &first, &last), 0);
	T_EQ_U64(first, 0);
	T_EQ_U64(last, UINT64_MAX);
	T_EQ(viommu_vtd_devtlb_decode(UINT64_MAX >> 1, true, &first, &last), 0);
	T_EQ_U64(last, UINT64_MAX);
	/* S = 0 ignores the low bits and names one 4K page. */
	T_EQ(viommu_vtd_devtlb_decode(0x12345fff, false, &first, &last), 0);
	T_EQ_U64(first, 0x12345000);
	T_EQ_U64(last, 0x12345fff);
	/* Not one aligned block of at least 4K. */
	T_EQ(viommu_vtd_devtlb_encode(0x1000, 0x2fff, &addr, &s), -EINVAL);	/* misaligned 8K */
	T_EQ(viommu_vtd_devtlb_encode(0x0, 0x2fff, &addr, &s), -EINVAL);	/* 12K */
	T_EQ(viommu_vtd_devtlb_encode(0x0, 0x7ff, &addr, &s), -EINVAL);		/* 2K */
	T_EQ(viommu_vtd_devtlb_encode(2, 1, &addr, &s), -EINVAL);

	/* Round trip for every order and random aligned addresses. */
	for (unsigned order = 12; order <= 64; order++)
		for (int i = 0; i < 2000; i++) {
			uint64_t base = order == 64 ? 0 : t_rng_next(rng) & ~vi_mask(order);
			uint64_t end = base | vi_mask(order);
			if (viommu_vtd_devtlb_encode(base, end, &addr, &s) ||
			    viommu_vtd_devtlb_decode(addr, s, &first, &last) || first != base || last != end)
				bad++;
			if (s != (order > 12))
				bad++;
		}
	/* Decode of arbitrary values against the definition. */
	for (int i = 0; i < 200000; i++) {
		uint64_t v = t_rng_next(rng);
		unsigned ones = 0, order;
		while (ones < 52 && ((v >> (12 + ones)) & 1))
			ones++;
		order = 13 + ones > 64 ? 64 : 13 + ones;
		viommu_vtd_devtlb_decode(v, true, &first, &last);
		if (first != (v & ~vi_mask(order)) || last != (first | vi_mask(order)))
			bad++;
	}
	T_EQ(bad, 0);
}

/* Decode every command and check they tile [iova, end] with no illegal encoding. */
static int smmu_check(uint64_t iova, uint64_t pages, unsigned gs, unsigned ttl, bool *widened, int *ncmds)
{
	struct viommu_smmu_tlbi small[64], *cmds = small;
	int n = viommu_smmu_tlbi_encode(iova, pages, gs, ttl, cmds, 64);
	uint64_t expect = iova, first, last = 0, want_last = iova + ((pages << gs) - 1);
	int rc = 0;

	*ncmds = n;
	if (n <= 0)
		return -1;
	if (n > 64) {
		/* Each command covers at most 32 << 31 granules: huge ranges need more. */
		cmds = malloc(sizeof(*cmds) * (size_t)n);
		if (!cmds || viommu_smmu_tlbi_encode(iova, pages, gs, ttl, cmds, (size_t)n) != n)
			rc = -1;
	}
	for (int i = 0; i < n && !rc; i++) {
		if (cmds[i].addr != expect || cmds[i].ttl != (cmds[i].tg ? ttl : 0))
			rc = -2;
		else if (cmds[i].tg && cmds[i].ttl == 0 && cmds[i].scale == 0 && cmds[i].num == 0)
			rc = -3;	/* the illegal combination */
		else if (viommu_smmu_tlbi_decode(&cmds[i], &first, &last))
			rc = -4;
		else if (cmds[i].tg && cmds[i].tg != (gs - 10) / 2)
			rc = -5;
		else if (first != expect)
			rc = -6;
		if (rc)
			break;
		if (cmds[i].tg == 0)
			last = first + ((UINT64_C(1) << gs) - 1);
		expect = last + 1;
		if ((last == want_last || last == want_last + (UINT64_C(1) << gs)) && i != n - 1)
			rc = -7;
	}
	if (cmds != small)
		free(cmds);
	if (rc)
		return rc;
	*widened = last != want_last;
	if (*widened && last != want_last + (UINT64_C(1) << gs))
		return -8;
	return 0;
}

static void test_smmu_tlbi(struct t_rng *rng)
{
	struct viommu_smmu_tlbi cmds[4];
	unsigned long bad = 0;
	uint64_t first, last;
	bool widened;
	int n;

	/* Linux's __arm_smmu_tlb_inv_range(): 1023 pages take exactly two commands. */
	n = viommu_smmu_tlbi_encode(0x40000000, 1023, 12, 3, cmds, 4);
	T_EQ(n, 2);
	T_EQ_U64(cmds[0].addr, 0x40000000);
	T_EQ(cmds[0].tg, 1);
	T_EQ(cmds[0].scale, 0);
	T_EQ(cmds[0].num, 30);		/* 31 pages */
	T_EQ(cmds[0].ttl, 3);
	T_EQ_U64(cmds[1].addr, 0x40000000 + 31 * 4096);
	T_EQ(cmds[1].scale, 5);
	T_EQ(cmds[1].num, 30);		/* 31 << 5 = 992 pages */

	/* One page with a known TTL is legal: SCALE = NUM = 0, TTL = 3. */
	T_EQ(viommu_smmu_tlbi_encode(0x1000, 1, 12, 3, cmds, 4), 1);
	T_EQ(cmds[0].scale, 0);
	T_EQ(cmds[0].num, 0);
	/* Without a TTL it is widened to two pages (Linux does the same). */
	T_EQ(viommu_smmu_tlbi_encode(0x1000, 1, 12, 0, cmds, 4), 1);
	T_EQ(cmds[0].scale, 1);
	T_EQ(cmds[0].num, 0);
	/* ...unless that passes 2^64: then a non-range command for that page. */
	T_EQ(viommu_smmu_tlbi_encode(UINT64_MAX - 0xfff, 1, 12, 0, cmds, 4), 1);
	T_EQ(cmds[0].tg, 0);
	T_EQ_U64(cmds[0].addr, UINT64_MAX - 0xfff);

	/* Errors. */
	T_EQ(viommu_smmu_tlbi_encode(0x1000, 1, 13, 0, cmds, 4), -EINVAL);
	T_EQ(viommu_smmu_tlbi_encode(0x1000, 0, 12, 0, cmds, 4), -EINVAL);
	T_EQ(viommu_smmu_tlbi_encode(0x1000, 1, 12, 4, cmds, 4), -EINVAL);
	T_EQ(viommu_smmu_tlbi_encode(0x1800, 1, 12, 0, cmds, 4), -EINVAL);
	T_EQ(viommu_smmu_tlbi_encode(0x1000, 1, 14, 0, cmds, 4), -EINVAL);	/* not 16K aligned */
	T_EQ(viommu_smmu_tlbi_encode(UINT64_MAX - 0xfff, 2, 12, 0, cmds, 4), -ERANGE);
	/* Asking with too small an array reports how many are needed. */
	T_EQ(viommu_smmu_tlbi_encode(0, 1023, 12, 3, cmds, 1), 2);

	/* Decoder rejects what the spec forbids. */
	T_EQ(viommu_smmu_tlbi_decode(&(struct viommu_smmu_tlbi){ .addr = 0x1000, .tg = 1 }, &first, &last),
	     -EINVAL);
	T_EQ(viommu_smmu_tlbi_decode(&(struct viommu_smmu_tlbi){ .addr = 0x1000, .tg = 4, .num = 1 },
				     &first, &last), -EINVAL);
	T_EQ(viommu_smmu_tlbi_decode(&(struct viommu_smmu_tlbi){ .addr = 0x1000, .tg = 1, .scale = 32 },
				     &first, &last), -EINVAL);
	T_EQ(viommu_smmu_tlbi_decode(&(struct viommu_smmu_tlbi){ .addr = 0x1000, .tg = 3, .num = 1 },
				     &first, &last), -EINVAL);	/* 64K granule, 4K-aligned address */
	T_EQ(viommu_smmu_tlbi_decode(&(struct viommu_smmu_tlbi){ .addr = UINT64_MAX - 0xfff, .tg = 1, .num = 1 },
				     &first, &last), -ERANGE);
	T_EQ(viommu_smmu_tlbi_decode(&(struct viommu_smmu_tlbi){ .addr = 0x10000, .tg = 3, .scale = 2, .num = 3 },
				     &first, &last), 0);
	T_EQ_U64(first, 0x10000);
	T_EQ_U64(last, 0x10000 + 16 * 0x10000 - 1);
	T_EQ(viommu_smmu_tlbi_decode(&(struct viommu_smmu_tlbi){ .addr = 0x1234 }, &first, &last), 0);
	T_EQ_U64(first, 0x1234);
	T_EQ_U64(last, 0x1234);

	/* Every count 1..4096, each granule and TTL: exact tiling, never illegal. */
	for (unsigned gs = 12; gs <= 16; gs += 2)
		for (unsigned ttl = 0; ttl <= 3; ttl++)
			for (uint64_t pages = 1; pages <= 4096; pages++) {
				int rc = smmu_check(UINT64_C(1) << 40, pages, gs, ttl, &widened, &n);
				if (rc || widened != (ttl == 0 && (pages & 31) == 1))
					bad++;
				/* one command per run of five bits of the count, plus the widening */
				if (n > 1 + (int)(vi_fls64(pages) / 5) + 1)
					bad++;
			}
	/* Random huge counts, including the top of the space and SCALE > 31. */
	for (int i = 0; i < 20000; i++) {
		unsigned gs = 12 + 2 * (unsigned)t_rng_below(rng, 3), ttl = (unsigned)t_rng_below(rng, 4);
		uint64_t maxpages = UINT64_C(1) << (64 - gs);
		uint64_t pages = 1 + t_rng_below(rng, (t_rng_next(rng) >> t_rng_below(rng, 64 - gs)) % maxpages + 1);
		uint64_t iova = t_rng_below(rng, 2) ? 0 : (maxpages - pages) << gs;
		int rc = smmu_check(iova, pages, gs, ttl, &widened, &n);
		if (rc)
			bad++;
	}
	T_EQ(bad, 0);
	/* 2^40 pages at 0: SCALE is capped at 31, so 2^40 / 2^36 = 16 commands. */
	T_EQ(viommu_smmu_tlbi_encode(0, UINT64_C(1) << 40, 12, 3, NULL, 0), 16);
}

int main(void)
{
	struct t_rng rng;

	t_rng_init(&rng, t_seed("test_range", 0x5eed0001));
	test_pow2_minimal_exhaustive();
	test_pow2_minimal_capped();
	test_pow2_top_of_space();
	test_pow2_width_and_errors();
	test_pow2_interrupt_window();
	test_pow2_count(&rng);
	test_pow2_nested();
	test_aligned_cover();
	test_vtd_psi(&rng);
	test_vtd_devtlb(&rng);
	test_smmu_tlbi(&rng);
	return t_done();
}

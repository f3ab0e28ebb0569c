// SPDX-License-Identifier: MIT
/*
 * IOTLB directed tests: every leaf size, first/last byte, overlap
 * replacement, tagging by (source, domain), invalidation by range (unaligned
 * bounds, top of the space), domain, source and all (entry by entry and
 * wholesale), CLOCK eviction one entry at a time, exact statistics, and the
 * log line of every refusal. QEMU's VT-d IOTLB (hw/i386/intel_iommu.c:
 * vtd_lookup_iotlb probes 4K, 2M, 1G in turn; vtd_update_iotlb drops the
 * whole table at 1024 entries) is the behaviour we improve on.
 */
#include <viommu/iotlb.h>

#include "test.h"

static char logged[512];
static unsigned nlogged;

static void log_sink(enum viommu_log_level level, const char *msg, void *ctx)
{
	(void)ctx;
	if (level == VIOMMU_LOG_WARN)
		snprintf(logged, sizeof(logged), "%s", msg);
	nlogged++;
}

/* The call's result, and the one line it logged. */
#define T_REFUSED(call, want_ret, want_line) do {				\
	unsigned n_ = nlogged;							\
	T_EQ((call), (want_ret));						\
	T_EQ(nlogged, n_ + 1);							\
	T_STREQ(logged, want_line);						\
} while (0)

static struct viommu_iotlb_entry E(uint32_t src, uint32_t dom, uint64_t iova, unsigned order, uint64_t out,
				   unsigned perm)
{
	struct viommu_iotlb_entry e = { .source = src, .domain = dom, .iova = iova, .output = out,
					.order = (uint8_t)order, .perm = (uint8_t)perm };
	return e;
}

static int ins(struct viommu_iotlb *c, uint32_t src, uint32_t dom, uint64_t iova, unsigned order, uint64_t out)
{
	struct viommu_iotlb_entry e = E(src, dom, iova, order, out, VIOMMU_PERM_READ | VIOMMU_PERM_WRITE);
	return viommu_iotlb_insert(c, &e);
}

/* Lookup returning the hit's iova, or 1 (never a leaf address) on a miss. */
static uint64_t hit_iova(struct viommu_iotlb *c, uint32_t src, uint32_t dom, uint64_t iova)
{
	struct viommu_iotlb_entry e;
	return viommu_iotlb_lookup(c, src, dom, iova, &e) ? e.iova : 1;
}

static struct viommu_iotlb_stats stats(struct viommu_iotlb *c)
{
	struct viommu_iotlb_stats s = { .sz = sizeof(s) };
	T_EQ(viommu_iotlb_get_stats(c, &s), 0);
	return s;
}

static void test_args(void)
{
	struct viommu_iotlb_opts o = { .sz = 4 };
	struct viommu_iotlb *c;
	struct viommu_iotlb_entry e;

	errno = 0;
	T_OK(!viommu_iotlb_new(&o));
	T_EQ(errno, EINVAL);
	o.sz = sizeof(o);
	o.capacity = (size_t)1 << 29;
	T_OK(!viommu_iotlb_new(&o));
	T_EQ(errno, EINVAL);
	c = viommu_iotlb_new(NULL);
	T_OK(c);
	T_EQ(stats(c).capacity, 4096);

	viommu_set_log(log_sink, NULL, VIOMMU_LOG_WARN);
	e = E(1, 1, 0x1000, 11, 0, 1);
	errno = 0;
	T_REFUSED(viommu_iotlb_insert(c, &e), -EINVAL,
		  "iotlb: insert at 0x1000 of order 11 (source 1, domain 1) refused: order outside 12..63");
	T_EQ(errno, EINVAL);
	e = E(1, 2, 0, 64, 0, 1);
	T_REFUSED(viommu_iotlb_insert(c, &e), -EINVAL,
		  "iotlb: insert at 0x0 of order 64 (source 1, domain 2) refused: order outside 12..63");
	e = E(1, 1, 0x1000, 13, 0, 1);	/* not aligned to 8K */
	T_REFUSED(viommu_iotlb_insert(c, &e), -EINVAL,
		  "iotlb: insert of [0x1000, 0x2fff] (order 13, source 1, domain 1) refused: iova not aligned to "
		  "the leaf size");
	e = E(3, 4, 0xffffffffffe00000ull, 21, 0, 7);	/* unknown permission bit */
	T_REFUSED(viommu_iotlb_insert(c, &e), -EINVAL,
		  "iotlb: insert of [0xffffffffffe00000, 0xffffffffffffffff] (order 21, source 3, domain 4) "
		  "refused: unknown permission bits 0x4");
	T_REFUSED(viommu_iotlb_insert(c, NULL), -EINVAL, "iotlb: insert refused: the entry is NULL");
	T_REFUSED(viommu_iotlb_insert(NULL, &e), -EINVAL, "iotlb: viommu_iotlb_insert refused: the cache is NULL");
	T_REFUSED(viommu_iotlb_invalidate_range(c, 1, 2, 1), -EINVAL,
		  "iotlb: invalidation of [0x2, 0x1] in domain 1 refused: first > last");
	T_REFUSED(viommu_iotlb_invalidate_range_all_domains(c, UINT64_MAX, 1), -EINVAL,
		  "iotlb: invalidation of [0xffffffffffffffff, 0x1] in every domain refused: first > last");
	T_REFUSED(viommu_iotlb_invalidate_domain(NULL, 1), -EINVAL,
		  "iotlb: viommu_iotlb_invalidate_domain refused: the cache is NULL");
	T_REFUSED(viommu_iotlb_get_stats(c, NULL), -EINVAL, "viommu_iotlb_stats: NULL output");
	o.capacity = ((size_t)1 << 28) + 1;
	T_REFUSED(viommu_iotlb_new(&o) == NULL, 1, "iotlb: capacity 268435457 refused: more than 2^28 entries");
	/* an options struct from a newer caller with a field we do not know set */
	struct { struct viommu_iotlb_opts o; uint64_t newer; } big = { .o = { .sz = sizeof(big) }, .newer = 1 };
	T_REFUSED(viommu_iotlb_new(&big.o) == NULL, 1,
		  "viommu_iotlb_opts: non-zero byte at offset 32, beyond the 32 bytes this library knows (sz 40)");
	big.newer = 0;
	struct viommu_iotlb *c2 = viommu_iotlb_new(&big.o);	/* zero beyond: accepted */
	T_OK(c2);
	viommu_iotlb_free(c2);
	viommu_set_log(NULL, NULL, VIOMMU_LOG_ERROR);
	T_EQ(stats(c).entries, 0);
	T_EQ(stats(c).inserts, 0);
	T_OK(!viommu_iotlb_lookup(NULL, 0, 0, 0, NULL));
	viommu_iotlb_free(c);
	viommu_iotlb_free(NULL);
}

/* Each size 2^12 .. 2^63 in its own domain, hit at its first and last byte, miss just outside. */
static void test_every_size(void)
{
	struct viommu_iotlb *c = viommu_iotlb_new(NULL);
	struct viommu_iotlb_entry e;

	for (unsigned o = 12; o <= 63; o++) {
		uint64_t size = UINT64_C(1) << o, iova = o == 63 ? size : size * 3;

		T_EQ(ins(c, 7, o, iova, o, 0xabc000 + o), 0);
	}
	for (unsigned o = 12; o <= 63; o++) {
		uint64_t size = UINT64_C(1) << o, iova = o == 63 ? size : size * 3;

		T_OK(viommu_iotlb_lookup(c, 7, o, iova, &e));
		T_EQ_U64(e.iova, iova);
		T_EQ(e.order, o);
		T_EQ_U64(e.output, 0xabc000 + o);
		T_EQ(e.source, 7);
		T_EQ(e.domain, o);
		T_EQ(e.perm, 3);
		T_EQ_U64(hit_iova(c, 7, o, iova + size - 1), iova);
		T_EQ_U64(hit_iova(c, 7, o, iova - 1), 1);
		if (o < 63)
			T_EQ_U64(hit_iova(c, 7, o, iova + size), 1);
		T_EQ_U64(hit_iova(c, 8, o, iova), 1);		/* other source */
		T_EQ_U64(hit_iova(c, 7, o + 100, iova), 1);	/* other domain */
	}
	/* 52 entries; per size 3 hits, 4 or 3 misses */
	struct viommu_iotlb_stats s = stats(c);
	T_EQ(s.entries, 52);
	T_EQ(s.inserts, 52);
	T_EQ(s.hits, 52 * 2);
	T_EQ(s.misses, 52 * 4 - 1);
	viommu_iotlb_free(c);
}

/* Mixed sizes in one context: an insert replaces what it overlaps (and only that). */
static void test_overlap(void)
{
	struct viommu_iotlb *c = viommu_iotlb_new(NULL);

	T_EQ(ins(c, 1, 1, 0x200000, 21, 0x40000000), 0);
	T_EQ(ins(c, 1, 1, 0x400000, 21, 0x40200000), 0);
	T_EQ(ins(c, 1, 1, 0x1000, 12, 0x9000), 0);
	T_EQ(ins(c, 1, 1, 0x8000, 15, 0x10000), 0);		/* 32K: an odd power of two */
	T_EQ_U64(hit_iova(c, 1, 1, 0x3fffff), 0x200000);
	T_EQ_U64(hit_iova(c, 1, 1, 0x1fff), 0x1000);
	T_EQ_U64(hit_iova(c, 1, 1, 0xffff), 0x8000);
	T_EQ_U64(hit_iova(c, 1, 1, 0x10000), 1);
	/* 4K inside the first 2M: the 2M leaf is replaced, its neighbour stays */
	T_EQ(ins(c, 1, 1, 0x201000, 12, 0x77000), 0);
	T_EQ_U64(hit_iova(c, 1, 1, 0x200000), 1);
	T_EQ_U64(hit_iova(c, 1, 1, 0x201fff), 0x201000);
	T_EQ_U64(hit_iova(c, 1, 1, 0x400000), 0x400000);
	T_EQ(stats(c).replaced, 1);
	/* a 1G leaf over all of them */
	T_EQ(ins(c, 1, 1, 0, 30, 0x80000000), 0);
	T_EQ(stats(c).replaced, 5);
	T_EQ(stats(c).entries, 1);
	T_EQ_U64(hit_iova(c, 1, 1, 0x201000), 0);
	/* the same range re-inserted with a new output replaces in place */
	T_EQ(ins(c, 1, 1, 0, 30, 0xc0000000), 0);
	struct viommu_iotlb_entry e;
	T_OK(viommu_iotlb_lookup(c, 1, 1, 0x3fffffff, &e));
	T_EQ_U64(e.output, 0xc0000000);
	T_EQ(stats(c).entries, 1);
	/* another source of the same domain is a separate context: nothing replaced */
	T_EQ(ins(c, 2, 1, 0x1000, 12, 0x5000), 0);
	T_EQ(stats(c).entries, 2);
	T_EQ_U64(hit_iova(c, 1, 1, 0x1000), 0);
	T_EQ_U64(hit_iova(c, 2, 1, 0x1000), 0x1000);
	viommu_iotlb_free(c);
}

static void test_invalidate(void)
{
	struct viommu_iotlb *c = viommu_iotlb_new(NULL);

	for (uint32_t src = 1; src <= 2; src++) {
		T_EQ(ins(c, src, 5, 0x1000, 12, 0), 0);
		T_EQ(ins(c, src, 5, 0x2000, 12, 0), 0);
		T_EQ(ins(c, src, 5, 0x3000, 12, 0), 0);
		T_EQ(ins(c, src, 5, 0x400000, 21, 0), 0);
		T_EQ(ins(c, src, 6, 0x2000, 12, 0), 0);
	}
	T_EQ(ins(c, 3, 5, 0xfffffffffffff000ull, 12, 0), 0);
	T_EQ(ins(c, 3, 6, 0xfffffffffffff000ull, 12, 0), 0);
	T_EQ(stats(c).entries, 12);
	/* unaligned closed range [0x2fff, 0x3001] touches 0x2000 and 0x3000 of both sources in domain 5 */
	T_EQ(viommu_iotlb_invalidate_range(c, 5, 0x2fff, 0x3001), 4);
	T_EQ_U64(hit_iova(c, 1, 5, 0x2000), 1);
	T_EQ_U64(hit_iova(c, 2, 5, 0x3000), 1);
	T_EQ_U64(hit_iova(c, 1, 5, 0x1000), 0x1000);
	T_EQ_U64(hit_iova(c, 1, 6, 0x2000), 0x2000);	/* other domain untouched */
	/* one byte of the 2M leaf's last page removes the whole leaf */
	T_EQ(viommu_iotlb_invalidate_range(c, 5, 0x5fffff, 0x5fffff), 2);
	T_EQ_U64(hit_iova(c, 2, 5, 0x400000), 1);
	/* the top of the space, reachable with a closed range */
	T_EQ(viommu_iotlb_invalidate_range(c, 5, UINT64_MAX, UINT64_MAX), 1);
	T_EQ(viommu_iotlb_invalidate_range(c, 5, UINT64_MAX, UINT64_MAX), 0);
	T_EQ_U64(hit_iova(c, 3, 6, UINT64_MAX), 0xfffffffffffff000ull);
	T_EQ(viommu_iotlb_invalidate_range_all_domains(c, 0x2000, UINT64_MAX), 3);
	T_EQ(stats(c).entries, 2);
	T_EQ(stats(c).invalidated, 10);
	T_EQ(stats(c).invalidations, 5);

	/* by domain: every source of it */
	T_EQ(ins(c, 1, 6, 0x2000, 12, 0), 0);
	T_EQ(ins(c, 2, 6, 0x200000, 21, 0), 0);
	T_EQ(viommu_iotlb_invalidate_domain(c, 5), 2);
	T_EQ(viommu_iotlb_invalidate_domain(c, 5), 0);
	T_EQ(stats(c).entries, 2);
	T_EQ_U64(hit_iova(c, 2, 6, 0x200000), 0x200000);
	/* by source: every domain of it */
	T_EQ(ins(c, 2, 7, 0x0, 12, 0), 0);
	T_EQ(viommu_iotlb_invalidate_source(c, 2), 2);
	T_EQ_U64(hit_iova(c, 1, 6, 0x2000), 0x2000);
	T_EQ_U64(hit_iova(c, 2, 7, 0), 1);
	T_EQ(ins(c, 9, 9, 0x0, 12, 0), 0);
	T_EQ(viommu_iotlb_invalidate_all(c), 2);
	T_EQ(viommu_iotlb_invalidate_all(c), 0);
	T_EQ(stats(c).entries, 0);
	/* the cache is fully usable after being emptied */
	T_EQ(ins(c, 1, 6, 0x2000, 12, 0x1234000), 0);
	T_EQ_U64(hit_iova(c, 1, 6, 0x2000), 0x2000);
	viommu_iotlb_free(c);
}

/*
 * invalidate_all of a well-filled cache clears the table wholesale rather
 * than entry by entry: same count, same emptiness, and the cache fills and
 * evicts exactly as before afterwards.
 */
static uint64_t leaf_iova(unsigned i)
{
	return i % 3 ? UINT64_C(0x100000000) + ((uint64_t)(i / 10) << 12)
		     : UINT64_C(0x200000000) + ((uint64_t)(i / 10) << 21);
}

static void test_invalidate_all_wholesale(void)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = 256 };
	struct viommu_iotlb *c = viommu_iotlb_new(&o);

	for (unsigned round = 0; round < 3; round++) {
		unsigned n = round == 1 ? 40 : 250;	/* 40: few enough for the entry-by-entry path */

		/* 4K pages and 2M leaves of 10 (source, domain) pairs, in separate regions: no overlap */
		for (unsigned i = 0; i < n; i++)
			T_EQ(ins(c, i % 10, i % 5, leaf_iova(i), i % 3 ? 12 : 21, i), 0);
		T_EQ(stats(c).entries, n);
		T_EQ(viommu_iotlb_invalidate_all(c), n);
		T_EQ(stats(c).entries, 0);
		for (unsigned i = 0; i < n; i++)
			T_EQ_U64(hit_iova(c, i % 10, i % 5, leaf_iova(i)), 1);
		T_EQ(viommu_iotlb_invalidate_domain(c, 1), 0);
	}
	/* full again, then 10 more: exactly one eviction each, 256 still cached */
	for (unsigned i = 0; i < 266; i++)
		T_EQ(ins(c, 7, 7, (uint64_t)i << 12, 12, (uint64_t)i << 12), 0);
	T_EQ(stats(c).entries, 256);
	T_EQ(stats(c).evictions, 10);
	unsigned present = 0;
	for (unsigned i = 0; i < 266; i++)
		present += hit_iova(c, 7, 7, (uint64_t)i << 12) == (uint64_t)i << 12;
	T_EQ(present, 256);
	T_EQ(stats(c).invalidated, 250 + 40 + 250);
	viommu_iotlb_free(c);
}

static struct viommu_iotlb_entry evicted[64];
static unsigned nevicted;

static void on_evict(const struct viommu_iotlb_entry *e, void *ctx)
{
	(void)ctx;
	if (nevicted < 64)
		evicted[nevicted] = *e;
	nevicted++;
}

/*
 * CLOCK (second chance): one eviction per insert when full, never below
 * capacity; an entry hit since the hand last passed it is spared. The hand's
 * order over entries is the table's, so the checks below hold for any order.
 */
static void test_eviction(void)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = 8, .on_evict = on_evict };
	struct viommu_iotlb *c = viommu_iotlb_new(&o);
	unsigned victim, present;

	for (unsigned i = 0; i < 8; i++)
		T_EQ(ins(c, i % 3, 1, (uint64_t)i << 12, 12, 0), 0);
	T_EQ(stats(c).entries, 8);
	T_EQ(nevicted, 0);
	/* all referenced on insert: the hand clears every bit, then takes one of the 8 */
	T_EQ(ins(c, 2, 1, 8 << 12, 12, 0), 0);
	T_EQ(nevicted, 1);
	victim = (unsigned)(evicted[0].iova >> 12);
	T_OK(victim < 8);
	T_EQ(evicted[0].source, victim % 3);
	T_EQ(evicted[0].domain, 1);
	T_EQ(evicted[0].order, 12);
	present = 0;
	for (unsigned i = 0; i <= 8; i++)
		present += hit_iova(c, i % 3, 1, (uint64_t)i << 12) == (uint64_t)i << 12;
	T_EQ(present, 8);
	T_OK(hit_iova(c, victim % 3, 1, (uint64_t)victim << 12) == 1);
	T_EQ(stats(c).entries, 8);
	T_EQ(stats(c).evictions, 1);
	/* The loop above hit all 8 survivors again: the next insert evicts exactly one of them. */
	T_EQ(ins(c, 0, 1, 9 << 12, 12, 0), 0);
	T_EQ(nevicted, 2);
	T_OK(evicted[1].iova != evicted[0].iova && evicted[1].iova <= 8 << 12);
	T_EQ(viommu_iotlb_invalidate_all(c), 8);

	/* A fresh round: fill, force one full sweep (all bits clear), then reference 7 of 8. */
	for (unsigned i = 0; i < 8; i++)
		T_EQ(ins(c, 5, 5, (uint64_t)i << 21, 21, 0), 0);
	nevicted = 0;
	T_EQ(ins(c, 5, 5, (uint64_t)8 << 21, 21, 0), 0);	/* sweep: all cleared, one evicted */
	T_EQ(nevicted, 1);
	victim = (unsigned)(evicted[0].iova >> 21);
	unsigned unhit = 99;
	for (unsigned i = 0; i < 8; i++) {
		if (i == victim)
			continue;
		if (unhit == 99) {
			unhit = i;	/* the one survivor left unreferenced */
			continue;
		}
		T_EQ_U64(hit_iova(c, 5, 5, ((uint64_t)i << 21) + 5), (uint64_t)i << 21);
	}
	/* entry 8 was referenced by its insert; so the only clear bit is unhit's */
	T_EQ(ins(c, 5, 5, (uint64_t)9 << 21, 21, 0), 0);
	T_EQ(nevicted, 2);
	T_EQ_U64(evicted[1].iova, (uint64_t)unhit << 21);

	/* an entry referenced before every insert is never evicted */
	T_EQ(viommu_iotlb_invalidate_all(c), 8);
	nevicted = 0;
	for (unsigned i = 0; i < 8; i++)
		T_EQ(ins(c, 4, 2, (uint64_t)i << 21, 21, 0), 0);
	for (unsigned i = 8; i < 40; i++) {
		T_EQ_U64(hit_iova(c, 4, 2, 3 << 21), 3 << 21);
		T_EQ(ins(c, 4, 2, (uint64_t)i << 21, 21, 0), 0);
		T_EQ(stats(c).entries, 8);
		T_EQ(nevicted, i - 7);
		T_OK(evicted[i - 8].iova != 3 << 21);
	}
	/* a replacing insert into a full cache evicts nothing */
	T_EQ(ins(c, 4, 2, 39 << 21, 21, 0x5000), 0);
	T_EQ(nevicted, 32);
	T_EQ(stats(c).entries, 8);
	viommu_iotlb_free(c);
}

/* A capacity of one still works: each new context evicts the old one. */
static void test_capacity_one(void)
{
	struct viommu_iotlb_opts o = { .sz = sizeof(o), .capacity = 1 };
	struct viommu_iotlb *c = viommu_iotlb_new(&o);

	for (uint32_t i = 0; i < 10; i++) {
		T_EQ(ins(c, i, i, 0, 12, i), 0);
		T_EQ_U64(hit_iova(c, i, i, 0xfff), 0);
		if (i)
			T_EQ_U64(hit_iova(c, i - 1, i - 1, 0), 1);
	}
	struct viommu_iotlb_stats s = stats(c);
	T_EQ(s.entries, 1);
	T_EQ(s.evictions, 9);
	T_EQ(s.hits, 10);
	T_EQ(s.misses, 9);
	viommu_iotlb_free(c);
}

/* An old, shorter stats struct is filled up to its size only. */
static void test_stats_size(void)
{
	struct viommu_iotlb *c = viommu_iotlb_new(NULL);
	struct { struct viommu_iotlb_stats s; uint64_t guard; } st;

	memset(&st, 0xee, sizeof(st));
	st.s.sz = offsetof(struct viommu_iotlb_stats, misses);
	T_EQ(viommu_iotlb_get_stats(c, &st.s), 0);
	T_EQ(st.s.hits, 0);
	T_EQ_U64(st.s.misses, 0xeeeeeeeeeeeeeeeeull);
	viommu_iotlb_free(c);
}

int main(void)
{
	test_args();
	test_every_size();
	test_overlap();
	test_invalidate();
	test_invalidate_all_wholesale();
	test_eviction();
	test_capacity_one();
	test_stats_size();
	return t_done();
}

// SPDX-License-Identifier: MIT
/*
 * Device IOTLB, directed cases with exact results: the (iova, size) form and
 * the invalidation that ends exactly at 2^64 (what QEMU sends a lazy guest's
 * vhost-user backend: [0, 0xfee00000) and 0xfef00000 + 0xffffffff01100000),
 * translation into merged segments, permissions, misses reported once per
 * page until answered, overlapping updates, retirement and refusal at the
 * capacity, every refusal logged with its range and changing nothing,
 * options and statistics.
 */
#include <viommu/devtlb.h>

#include "test.h"

#define R VIOMMU_PERM_READ
#define W VIOMMU_PERM_WRITE
#define RW VIOMMU_PERM_RW

static char last_log[512];
static unsigned log_lines;

static void sink(enum viommu_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	snprintf(last_log, sizeof(last_log), "%s", msg);
	log_lines++;
}

static struct viommu_devtlb_stats stats(struct viommu_devtlb *t)
{
	struct viommu_devtlb_stats st = { .sz = sizeof(st) };

	T_EQ(viommu_devtlb_get_stats(t, &st), 0);
	return st;
}

/* Translate and expect exactly one segment at @ua. */
static void expect_one(struct viommu_devtlb *t, uint64_t iova, uint64_t len, unsigned perm, uint64_t ua)
{
	struct viommu_devtlb_seg s[4];
	int n = viommu_devtlb_translate(t, iova, len, perm, s, 4, NULL);

	T_EQ(n, 1);
	if (n == 1) {
		T_EQ_U64(s[0].uaddr, ua);
		T_EQ_U64(s[0].len, len);
	}
}

static void expect_miss(struct viommu_devtlb *t, uint64_t iova, uint64_t len, unsigned perm, uint64_t at,
			bool report)
{
	struct viommu_devtlb_seg s[4];
	struct viommu_devtlb_miss m = { .iova = 1, .perm = 99, .report = !report };

	errno = 0;
	T_EQ(viommu_devtlb_translate(t, iova, len, perm, s, 4, &m), -EAGAIN);
	T_EQ(errno, EAGAIN);
	T_EQ_U64(m.iova, at);
	T_EQ(m.perm, perm);
	T_EQ(m.report, report);
}

static void test_range(void)
{
	uint64_t f = 0, l = 0;

	T_EQ(viommu_devtlb_range(0, 1, &f, &l), 0);
	T_EQ_U64(f, 0);
	T_EQ_U64(l, 0);
	/* QEMU's lazy-mode invalidation above the interrupt window: ends exactly at 2^64 */
	T_EQ(viommu_devtlb_range(0xfef00000, 0xffffffff01100000ull, &f, &l), 0);
	T_EQ_U64(f, 0xfef00000);
	T_EQ_U64(l, UINT64_MAX);
	T_EQ(viommu_devtlb_range(0, 0xfee00000, &f, &l), 0);
	T_EQ_U64(l, 0xfedfffff);
	T_EQ(viommu_devtlb_range(1, UINT64_MAX, &f, &l), 0);
	T_EQ_U64(l, UINT64_MAX);
	T_EQ(viommu_devtlb_range(0, UINT64_MAX, &f, &l), 0);
	T_EQ_U64(l, UINT64_MAX - 1);
	f = l = 7;
	errno = 0;
	T_EQ(viommu_devtlb_range(5, 0, &f, &l), -EINVAL);
	T_EQ(errno, EINVAL);
	T_EQ(viommu_devtlb_range(2, UINT64_MAX, &f, &l), -EINVAL);
	T_EQ(viommu_devtlb_range(0xfef00000, 0xffffffff01100001ull, &f, &l), -EINVAL);
	T_EQ_U64(f, 7);
	T_EQ_U64(l, 7);
}

static void test_translate(void)
{
	struct viommu_devtlb *t = viommu_devtlb_new(NULL);
	struct viommu_devtlb_seg s[4];
	struct viommu_devtlb_stats st;

	T_OK(t);
	/* three pages: two contiguous in user memory, the third elsewhere */
	T_EQ(viommu_devtlb_update(t, 0x10000, 0x10fff, 0x7f0000001000ull, RW), 0);
	T_EQ(viommu_devtlb_update(t, 0x11000, 0x11fff, 0x7f0000002000ull, RW), 0);
	T_EQ(viommu_devtlb_update(t, 0x12000, 0x12fff, 0x7f0000009000ull, R), 0);
	expect_one(t, 0x10010, 8, R, 0x7f0000001010ull);
	expect_one(t, 0x10ffc, 8, W, 0x7f0000001ffcull);	/* merged across the page */
	expect_one(t, 0x10000, 0x2000, RW, 0x7f0000001000ull);
	T_EQ(viommu_devtlb_translate(t, 0x10800, 0x2000, R, s, 4, NULL), 2);
	T_EQ_U64(s[0].uaddr, 0x7f0000001800ull);
	T_EQ_U64(s[0].len, 0x1800);
	T_EQ_U64(s[1].uaddr, 0x7f0000009000ull);
	T_EQ_U64(s[1].len, 0x800);
	errno = 0;
	T_EQ(viommu_devtlb_translate(t, 0x10800, 0x2000, R, s, 1, NULL), -E2BIG);
	T_EQ(errno, E2BIG);
	/* the read-only page refuses a write, even when the range starts in a writable one */
	errno = 0;
	T_EQ(viommu_devtlb_translate(t, 0x11ff0, 0x20, W, s, 4, NULL), -EACCES);
	T_EQ(errno, EACCES);
	T_EQ(viommu_devtlb_translate(t, 0x12000, 1, 0, s, 4, NULL), 1);	/* presence only */
	/* arguments */
	T_EQ(viommu_devtlb_translate(t, 0x10000, 0, R, s, 4, NULL), -EINVAL);
	T_EQ(viommu_devtlb_translate(t, UINT64_MAX, 2, R, s, 4, NULL), -EINVAL);
	T_EQ(viommu_devtlb_translate(t, 0x10000, 1, 4, s, 4, NULL), -EINVAL);
	T_EQ(viommu_devtlb_translate(t, 0x10000, 1, R, NULL, 4, NULL), -EINVAL);
	T_EQ(viommu_devtlb_translate(t, 0x10000, 1, R, s, 0, NULL), -EINVAL);
	T_EQ(viommu_devtlb_translate(NULL, 0x10000, 1, R, s, 1, NULL), -EINVAL);
	st = stats(t);
	T_EQ(st.translations, 7);	/* invalid arguments are not translations */
	T_EQ(st.hits, 5);
	T_EQ(st.denied, 1);
	T_EQ(st.misses, 0);
	T_EQ(st.updates, 3);
	T_EQ(st.entries, 3);
	T_EQ(st.capacity, VIOMMU_DEVTLB_DEFAULT_CAPACITY);
	T_OK(st.bytes > 3 * 48);
	viommu_devtlb_free(t);
}

static void test_misses(void)
{
	struct viommu_devtlb *t = viommu_devtlb_new(NULL);
	struct viommu_devtlb_stats st;

	/* a miss inside the range names its first uncached byte */
	T_EQ(viommu_devtlb_update(t, 0x20000, 0x20fff, 0x1000, RW), 0);
	expect_miss(t, 0x20f00, 0x200, R, 0x21000, true);
	expect_miss(t, 0x21abc, 4, R, 0x21abc, false);	/* same page, same permission: once */
	expect_miss(t, 0x21000, 1, W, 0x21000, true);	/* a permission not asked for yet */
	expect_miss(t, 0x21ff0, 8, RW, 0x21ff0, false);
	expect_miss(t, 0x22000, 1, R, 0x22000, true);	/* another page */
	st = stats(t);
	T_EQ(st.pending, 2);
	T_EQ(st.miss_reports, 3);
	T_EQ(st.misses, 5);
	/* an update answers the page: the next miss there is reported again */
	T_EQ(viommu_devtlb_update(t, 0x21000, 0x217ff, 0x5000, RW), 0);
	T_EQ(stats(t).pending, 1);
	{
		struct viommu_devtlb_seg sg[2];

		T_EQ(viommu_devtlb_translate(t, 0x20f00, 0x200, R, sg, 2, NULL), 2);	/* 0x2000 != 0x5000 */
		T_EQ_U64(sg[0].uaddr, 0x1f00);
		T_EQ_U64(sg[1].uaddr, 0x5000);
		T_EQ_U64(sg[1].len, 0x100);
	}
	expect_miss(t, 0x21800, 1, R, 0x21800, true);
	/* forgetting a page (the IOMMU could not answer) */
	T_EQ(viommu_devtlb_pending_clear(t, 0x22fff, 0x22fff), 1);
	T_EQ(viommu_devtlb_pending_clear(t, 0x22fff, 0x22fff), 0);
	expect_miss(t, 0x22000, 1, R, 0x22000, true);
	T_EQ(viommu_devtlb_pending_clear(t, 1, 0), -EINVAL);
	T_EQ(viommu_devtlb_pending_clear(t, 0, UINT64_MAX), 2);
	T_EQ(stats(t).pending, 0);
	viommu_devtlb_free(t);

	/* a 2M granule: one report per 2M page */
	struct viommu_devtlb_opts o = { .sz = sizeof(o), .page_shift = 21, .pending_capacity = 2 };
	t = viommu_devtlb_new(&o);
	T_OK(t);
	expect_miss(t, 0x200000, 1, R, 0x200000, true);
	expect_miss(t, 0x3fffff, 1, R, 0x3fffff, false);
	expect_miss(t, 0x400000, 1, R, 0x400000, true);
	/* the table holds 2 pages: a third empties it (logged), so the first is asked again */
	log_lines = 0;
	expect_miss(t, 0x600000, 1, R, 0x600000, true);
	T_EQ(log_lines, 1);
	T_OK(strstr(last_log, "2 pending misses"));
	expect_miss(t, 0x200000, 1, R, 0x200000, true);
	st = stats(t);
	T_EQ(st.pending_dropped, 2);
	T_EQ(st.pending, 2);
	viommu_devtlb_free(t);
}

static void test_overlap_and_invalidate(void)
{
	struct viommu_devtlb *t = viommu_devtlb_new(NULL);
	struct viommu_devtlb_seg s[2];

	T_EQ(viommu_devtlb_update(t, 0x1000, 0x2fff, 0xa000, RW), 0);
	T_EQ(viommu_devtlb_update(t, 0x5000, 0x5fff, 0xb000, RW), 0);
	/* overlapping the tail of the first: the first goes whole */
	T_EQ(viommu_devtlb_update(t, 0x2800, 0x3fff, 0xc000, R), 0);
	expect_miss(t, 0x1000, 1, R, 0x1000, true);
	expect_one(t, 0x2800, 0x1800, R, 0xc000);
	T_EQ(stats(t).replaced, 1);
	/* the same range again with a new translation replaces it (DPDK would keep the old one) */
	T_EQ(viommu_devtlb_update(t, 0x2800, 0x3fff, 0xd000, RW), 0);
	expect_one(t, 0x2800, 0x10, W, 0xd000);
	T_EQ(stats(t).replaced, 2);
	T_EQ(stats(t).entries, 2);
	/* one byte of an entry invalidates all of it; neighbours stay */
	T_EQ(viommu_devtlb_invalidate(t, 0x3fff, 0x4fff), 1);
	T_EQ(viommu_devtlb_translate(t, 0x2800, 1, R, s, 2, NULL), -EAGAIN);
	expect_one(t, 0x5000, 0x1000, R, 0xb000);
	T_EQ(viommu_devtlb_invalidate(t, 0x6000, 0x6fff), 0);
	T_EQ(viommu_devtlb_invalidate(t, 2, 1), -EINVAL);
	T_EQ(stats(t).invalidations, 2);
	T_EQ(stats(t).invalidated, 1);
	T_EQ(stats(t).refused, 1);
	viommu_devtlb_free(t);
}

/* What a lazy Linux guest's flush becomes (docs/reference.md §9, QEMU 10.0.2 measured): two invalidations around the interrupt window. */
static void test_lazy_flush_to_top(void)
{
	struct viommu_devtlb *t = viommu_devtlb_new(NULL);
	uint64_t f, l;

	T_EQ(viommu_devtlb_update(t, 0x1000, 0x1fff, 0x10000, RW), 0);
	T_EQ(viommu_devtlb_update(t, 0xfee00000, 0xfeefffff, 0x20000, RW), 0);	/* the window itself */
	T_EQ(viommu_devtlb_update(t, 0xfef00000, 0xfef00fff, 0x30000, RW), 0);
	T_EQ(viommu_devtlb_update(t, 0x100000000ull, 0x1001fffffull, 0x40000, RW), 0);
	T_EQ(viommu_devtlb_update(t, UINT64_MAX - 0xfff, UINT64_MAX, 0x50000, RW), 0);
	/* the very top byte is reachable, alone and as the end of a range */
	expect_one(t, UINT64_MAX, 1, W, 0x50fff);
	expect_one(t, UINT64_MAX - 0xfff, 0x1000, R, 0x50000);
	T_EQ(viommu_devtlb_range(0, 0xfee00000, &f, &l), 0);
	T_EQ(viommu_devtlb_invalidate(t, f, l), 1);
	T_EQ(viommu_devtlb_range(0xfef00000, 0xffffffff01100000ull, &f, &l), 0);
	T_EQ(viommu_devtlb_invalidate(t, f, l), 3);
	T_EQ(stats(t).entries, 1);
	expect_one(t, 0xfee00000, 0x100000, R, 0x20000);
	/* the whole space in one entry, and in one invalidation */
	T_EQ(viommu_devtlb_update(t, 0, UINT64_MAX, 0, R), 0);
	T_EQ(stats(t).replaced, 1);
	expect_one(t, 0, UINT64_MAX, R, 0);
	expect_one(t, UINT64_MAX, 1, R, UINT64_MAX);
	T_EQ(viommu_devtlb_invalidate(t, 0, UINT64_MAX), 1);
	T_EQ(stats(t).entries, 0);
	viommu_devtlb_free(t);
}

static void test_refusals(void)
{
	struct viommu_devtlb *t = viommu_devtlb_new(NULL);
	struct viommu_devtlb_stats before, after;

	T_EQ(viommu_devtlb_update(t, 0x1000, 0x1fff, 0x10000, RW), 0);
	before = stats(t);
	log_lines = 0;
	errno = 0;
	T_EQ(viommu_devtlb_update(t, 0x2000, 0x1fff, 0x1, R), -EINVAL);
	T_EQ(errno, EINVAL);
	T_STREQ(last_log, "devtlb: update [0x2000, 0x1fff] -> 0x1 perm 0x1 refused: first > last");
	T_EQ(viommu_devtlb_update(t, 0x1000, 0x1fff, 0x1, 4), -EINVAL);
	T_STREQ(last_log, "devtlb: update [0x1000, 0x1fff] -> 0x1 perm 0x4 refused: unknown permission bits");
	T_EQ(viommu_devtlb_update(t, 0x1000, 0x2fff, UINT64_MAX - 0x1000, R), -EINVAL);
	T_STREQ(last_log, "devtlb: update [0x1000, 0x2fff] -> 0xffffffffffffefff perm 0x1 refused: "
			  "user address range wraps past 2^64");
	T_EQ(viommu_devtlb_update(t, 0x1000, 0x2fff, UINT64_MAX - 0x1fff, R), 0);	/* ends exactly at the top */
	T_EQ(viommu_devtlb_update(t, 0x1000, 0x1fff, 0x10000, RW), 0);
	T_EQ(viommu_devtlb_invalidate(t, 9, 8), -EINVAL);
	T_STREQ(last_log, "devtlb: invalidate [0x9, 0x8] refused: first > last");
	T_EQ(log_lines, 4);
	after = stats(t);
	T_EQ(after.refused, before.refused + 4);
	T_EQ(after.entries, 1);
	expect_one(t, 0x1000, 0x1000, RW, 0x10000);
	viommu_devtlb_free(t);
}

static void test_capacity(void)
{
	struct viommu_devtlb_opts o = { .sz = sizeof(o), .capacity = 4 };
	struct viommu_devtlb *t = viommu_devtlb_new(&o);
	struct viommu_devtlb_stats st;

	T_OK(t);
	for (uint64_t i = 0; i < 4; i++)
		T_EQ(viommu_devtlb_update(t, i << 12, (i << 12) | 0xfff, 0x100000 + (i << 12), RW), 0);
	/* a fifth retires the oldest (Linux's VHOST_IOTLB_FLAG_RETIRE) */
	T_EQ(viommu_devtlb_update(t, 4 << 12, (4 << 12) | 0xfff, 0x200000, RW), 0);
	expect_miss(t, 0, 1, R, 0, true);
	expect_one(t, 0x1000, 0x3000, R, 0x101000);
	st = stats(t);
	T_EQ(st.retired, 1);
	T_EQ(st.entries, 4);
	/* full, but the update overlaps an entry: it replaces, nothing retires */
	T_EQ(viommu_devtlb_update(t, 0x2000, 0x2fff, 0x300000, R), 0);
	st = stats(t);
	T_EQ(st.retired, 1);
	T_EQ(st.replaced, 1);
	/* the oldest is now 0x1000; an update overlapping the oldest replaces it, none retires */
	T_EQ(viommu_devtlb_update(t, 0x1800, 0x1fff, 0x400000, R), 0);
	T_EQ(stats(t).retired, 1);
	T_EQ(stats(t).replaced, 2);
	viommu_devtlb_free(t);

	/* refusing instead of retiring */
	o.flags = VIOMMU_DEVTLB_NO_RETIRE;
	t = viommu_devtlb_new(&o);
	for (uint64_t i = 0; i < 4; i++)
		T_EQ(viommu_devtlb_update(t, i << 12, (i << 12) | 0xfff, 0x100000 + (i << 12), RW), 0);
	log_lines = 0;
	errno = 0;
	T_EQ(viommu_devtlb_update(t, 0x10000, 0x10fff, 0x900000, RW), -ENOSPC);
	T_EQ(errno, ENOSPC);
	T_STREQ(last_log, "devtlb: update [0x10000, 0x10fff] refused: cache full (4 entries)");
	T_EQ(log_lines, 1);
	expect_one(t, 0, 0x4000, R, 0x100000);	/* nothing changed */
	T_EQ(viommu_devtlb_update(t, 0x3000, 0x3fff, 0x900000, RW), 0);	/* replacing is fine */
	st = stats(t);
	T_EQ(st.entries, 4);
	T_EQ(st.refused, 1);
	T_EQ(st.retired, 0);
	viommu_devtlb_free(t);
}

static void test_opts_and_stats(void)
{
	struct {
		struct viommu_devtlb_opts o;
		uint64_t newer;
	} big = { .o = { .sz = sizeof(big) } };
	struct viommu_devtlb_opts o = { .sz = sizeof(o) };
	struct viommu_devtlb *t;

	errno = 0;
	o.capacity = VIOMMU_DEVTLB_MAX_CAPACITY + 1;
	T_OK(!viommu_devtlb_new(&o));
	T_EQ(errno, EINVAL);
	o.capacity = 0;
	o.page_shift = 11;
	T_OK(!viommu_devtlb_new(&o));
	o.page_shift = 31;
	T_OK(!viommu_devtlb_new(&o));
	o.page_shift = 0;
	o.flags = 2;
	T_OK(!viommu_devtlb_new(&o));
	o.flags = 0;
	o.sz = 4;
	T_OK(!viommu_devtlb_new(&o));
	/* a newer caller's larger struct: accepted with zero beyond, refused otherwise */
	t = viommu_devtlb_new(&big.o);
	T_OK(t);
	viommu_devtlb_free(t);
	big.newer = 1;
	T_OK(!viommu_devtlb_new(&big.o));
	/* an older caller's smaller struct: capacity only */
	o.sz = offsetof(struct viommu_devtlb_opts, pending_capacity);
	o.capacity = 7;
	o.page_shift = 99;	/* beyond its sz: not read */
	t = viommu_devtlb_new(&o);
	T_OK(t);

	/* statistics into an older, shorter struct: nothing written beyond its sz */
	struct {
		struct viommu_devtlb_stats st;
		uint64_t guard;
	} s;
	memset(&s, 0xab, sizeof(s));
	s.st.sz = offsetof(struct viommu_devtlb_stats, hits);
	T_EQ(viommu_devtlb_get_stats(t, &s.st), 0);
	T_EQ(s.st.sz, offsetof(struct viommu_devtlb_stats, hits));
	T_EQ_U64(s.st.translations, 0);
	T_EQ_U64(s.st.hits, 0xababababababababull);
	s.st.sz = sizeof(s);
	T_EQ(viommu_devtlb_get_stats(t, &s.st), 0);
	T_EQ_U64(s.st.capacity, 7);
	T_EQ_U64(s.guard, 0);
	s.st.sz = 2;
	T_EQ(viommu_devtlb_get_stats(t, &s.st), -EINVAL);
	T_EQ(viommu_devtlb_get_stats(t, NULL), -EINVAL);
	T_EQ(viommu_devtlb_update(NULL, 0, 0, 0, R), -EINVAL);
	T_EQ(viommu_devtlb_invalidate(NULL, 0, 0), -EINVAL);
	viommu_devtlb_free(t);
	viommu_devtlb_free(NULL);
}

int main(void)
{
	viommu_set_log(sink, NULL, VIOMMU_LOG_DEBUG);
	test_range();
	test_translate();
	test_misses();
	test_overlap_and_invalidate();
	test_lazy_flush_to_top();
	test_refusals();
	test_capacity();
	test_opts_and_stats();
	return t_done();
}

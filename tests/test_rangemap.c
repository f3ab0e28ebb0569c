// SPDX-License-Identifier: MIT
/*
 * Directed cases of the range map with exact expectations: empty map, every
 * overlap shape, the edges of the 64-bit space, exact vs inexact remove,
 * remove_inside with partial overlaps, cursor bounds, next/prev, set_value,
 * and memory returned as entries go. The randomised comparison with a model
 * lives in test_rangemap_random.c.
 */
#include <errno.h>
#include <viommu/rangemap.h>

#include "test.h"
#include "util/rangemap_internal.h"

#define MAXU UINT64_MAX

static void check_ok(const struct viommu_rangemap *m, int line)
{
	int rc = vi_rangemap_check(m);
	if (rc)
		fprintf(stderr, "invariant failed (rangemap.c line %d) at test line %d\n", -rc, line);
	T_EQ(rc, 0);
}
#define CHECK_MAP(m) check_ok((m), __LINE__)

/* The entries of m, in order, as a compact string for exact comparison. */
static const char *dump(const struct viommu_rangemap *m)
{
	static char buf[4096];
	struct viommu_rangemap_iter it;
	size_t off = 0;

	buf[0] = 0;
	viommu_rangemap_for_each(&it, m, 0, MAXU)
		off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s%" PRIx64 "-%" PRIx64 "=%" PRIx64,
					off ? " " : "", it.entry.first, it.entry.last, it.entry.value);
	return buf;
}

static void test_empty(void)
{
	struct viommu_rangemap *m = viommu_rangemap_new();
	struct viommu_range_entry e = { 1, 2, 3 };
	struct viommu_rangemap_iter it;

	T_OK(m != NULL);
	T_EQ(viommu_rangemap_count(m), 0);
	/* The header alone: no node and no pool chunk before the first insert. */
	T_OK(viommu_rangemap_bytes(m) > 0 && viommu_rangemap_bytes(m) <= 96);
	T_OK(!viommu_rangemap_find(m, 0, &e));
	T_OK(!viommu_rangemap_find(m, MAXU, NULL));
	T_OK(!viommu_rangemap_find_overlap(m, 0, MAXU, &e));
	T_OK(!viommu_rangemap_first(m, &e));
	T_OK(!viommu_rangemap_last(m, &e));
	T_OK(!viommu_rangemap_next(m, 0, &e));
	T_OK(!viommu_rangemap_prev(m, MAXU, &e));
	/* A failed lookup leaves *out alone. */
	T_EQ(e.first, 1);
	T_EQ(e.value, 3);
	errno = 0;
	T_EQ(viommu_rangemap_remove(m, 0, 0, NULL), -ENOENT);
	T_EQ(errno, ENOENT);
	T_EQ(viommu_rangemap_remove_inside(m, 0, MAXU, NULL, NULL), 0);
	T_EQ(viommu_rangemap_set_value(m, 5, 1), -ENOENT);
	T_OK(!viommu_rangemap_iter_start(&it, m, 0, MAXU));
	T_OK(!viommu_rangemap_iter_next(&it));
	T_OK(!viommu_rangemap_iter_prev(&it));
	viommu_rangemap_iter_set_value(&it, 7); /* no current entry: a no-op */
	viommu_rangemap_clear(m);
	CHECK_MAP(m);
	viommu_rangemap_free(m);
	viommu_rangemap_free(NULL);
}

/*
 * Overlap shapes against one 2-page entry at 16 (the iommufd selftest's
 * "area" cases, tools/testing/selftests/iommu/iommufd.c in Linux, in closed
 * form), plus containment both ways. Every
 * one is refused with -EEXIST and leaves the map exactly as it was.
 */
static void test_overlap_shapes(void)
{
	struct viommu_rangemap *m = viommu_rangemap_new();
	static const uint64_t shapes[][2] = {
		{ 16, 17 }, { 16, 16 }, { 17, 17 }, { 15, 16 }, { 15, 17 }, { 16, 18 }, { 17, 18 },
		{ 0, 16 },  { 17, MAXU }, { 0, MAXU }, { 10, 20 },
	};
	char before[4096];

	T_EQ(viommu_rangemap_insert(m, 16, 17, 0xa), 0);
	strcpy(before, dump(m));
	T_STREQ(before, "10-11=a");
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		errno = 0;
		T_EQ(viommu_rangemap_insert(m, shapes[i][0], shapes[i][1], 0xbad), -EEXIST);
		T_EQ(errno, EEXIST);
		T_STREQ(dump(m), before);
		T_EQ(viommu_rangemap_count(m), 1);
	}
	/* Touching neighbours are separate entries. */
	T_EQ(viommu_rangemap_insert(m, 18, 19, 0xb), 0);
	T_EQ(viommu_rangemap_insert(m, 14, 15, 0xc), 0);
	T_EQ(viommu_rangemap_insert(m, 0, 13, 0xd), 0);
	T_STREQ(dump(m), "0-d=d e-f=c 10-11=a 12-13=b");
	/* A gap of one address between two entries takes exactly one address. */
	T_EQ(viommu_rangemap_insert(m, 21, 30, 0xe), 0);
	T_EQ(viommu_rangemap_insert(m, 20, 21, 0xbad), -EEXIST);
	T_EQ(viommu_rangemap_insert(m, 19, 20, 0xbad), -EEXIST);
	T_EQ(viommu_rangemap_insert(m, 20, 20, 0xf), 0);
	T_STREQ(dump(m), "0-d=d e-f=c 10-11=a 12-13=b 14-14=f 15-1e=e");
	/* first > last */
	errno = 0;
	T_EQ(viommu_rangemap_insert(m, 100, 99, 1), -EINVAL);
	T_EQ(errno, EINVAL);
	T_EQ(viommu_rangemap_insert(m, MAXU, 0, 1), -EINVAL);
	T_EQ(viommu_rangemap_remove_inside(m, 5, 4, NULL, NULL), -EINVAL);
	T_OK(!viommu_rangemap_find_overlap(m, 5, 4, NULL));
	T_EQ(viommu_rangemap_count(m), 6);
	CHECK_MAP(m);
	viommu_rangemap_free(m);
}

/* Entries touching 0 and 2^64-1: nothing may compute last + 1 and wrap. */
static void test_edges_of_space(void)
{
	struct viommu_rangemap *m = viommu_rangemap_new();
	struct viommu_range_entry e;
	struct viommu_rangemap_iter it;
	uint64_t v = 0;

	/* The whole space as one entry. */
	T_EQ(viommu_rangemap_insert(m, 0, MAXU, 1), 0);
	T_OK(viommu_rangemap_find(m, 0, &e) && e.first == 0 && e.last == MAXU && e.value == 1);
	T_OK(viommu_rangemap_find(m, MAXU, &e) && e.first == 0);
	T_EQ(viommu_rangemap_insert(m, 5, 5, 2), -EEXIST);
	T_EQ(viommu_rangemap_insert(m, MAXU, MAXU, 2), -EEXIST);
	T_OK(!viommu_rangemap_next(m, 0, &e));	    /* no entry starts above 0 */
	T_OK(!viommu_rangemap_prev(m, MAXU, &e));   /* no entry ends below 2^64-1 */
	T_OK(viommu_rangemap_iter_start(&it, m, MAXU, MAXU) && it.entry.first == 0);
	T_OK(!viommu_rangemap_iter_next(&it));
	T_OK(!viommu_rangemap_iter_prev(&it));
	T_EQ(viommu_rangemap_remove(m, 0, MAXU - 1, NULL), -ENOENT);
	T_EQ(viommu_rangemap_remove(m, 0, MAXU, &v), 0);
	T_EQ_U64(v, 1);
	T_EQ(viommu_rangemap_count(m), 0);
	CHECK_MAP(m);

	/* Single addresses at both ends and a range reaching the top. */
	T_EQ(viommu_rangemap_insert(m, 0, 0, 0x10), 0);
	T_EQ(viommu_rangemap_insert(m, MAXU, MAXU, 0x20), 0);
	T_EQ(viommu_rangemap_insert(m, MAXU - 0xfff, MAXU, 0x30), -EEXIST);
	T_EQ(viommu_rangemap_insert(m, MAXU - 0xfff, MAXU - 1, 0x30), 0);
	T_EQ(viommu_rangemap_insert(m, 1, 0xfff, 0x40), 0);
	T_STREQ(dump(m), "0-0=10 1-fff=40 fffffffffffff000-fffffffffffffffe=30 ffffffffffffffff-ffffffffffffffff=20");
	T_OK(viommu_rangemap_next(m, 0, &e) && e.first == 1);
	T_OK(viommu_rangemap_next(m, 0xfff, &e) && e.first == MAXU - 0xfff);
	T_OK(viommu_rangemap_next(m, MAXU - 1, &e) && e.first == MAXU && e.value == 0x20);
	T_OK(!viommu_rangemap_next(m, MAXU, &e));
	T_OK(!viommu_rangemap_prev(m, 0, &e));
	T_OK(viommu_rangemap_prev(m, 1, &e) && e.first == 0 && e.last == 0);
	T_OK(viommu_rangemap_prev(m, MAXU, &e) && e.last == MAXU - 1);
	T_OK(viommu_rangemap_prev(m, MAXU - 0xfff, &e) && e.last == 0xfff);
	T_OK(viommu_rangemap_first(m, &e) && e.first == 0 && e.last == 0);
	T_OK(viommu_rangemap_last(m, &e) && e.first == MAXU && e.last == MAXU);
	T_OK(viommu_rangemap_find_overlap(m, MAXU, MAXU, &e) && e.value == 0x20);
	T_OK(viommu_rangemap_find_overlap(m, 0x1000, MAXU, &e) && e.value == 0x30);
	T_OK(!viommu_rangemap_find_overlap(m, 0x1000, MAXU - 0x1000, &e));
	/* remove_inside reaching the top removes the entries ending there. */
	T_EQ(viommu_rangemap_remove_inside(m, MAXU - 0xfff, MAXU, NULL, NULL), 2);
	T_EQ(viommu_rangemap_remove_inside(m, 0, 0, NULL, NULL), 1);
	T_STREQ(dump(m), "1-fff=40");
	T_EQ(viommu_rangemap_insert(m, 0x1000, MAXU, 0x50), 0);
	T_EQ(viommu_rangemap_remove_inside(m, 0, MAXU, NULL, NULL), 2);
	T_EQ(viommu_rangemap_count(m), 0);
	CHECK_MAP(m);
	viommu_rangemap_free(m);
}

static void test_exact_remove(void)
{
	struct viommu_rangemap *m = viommu_rangemap_new();
	uint64_t v = 0x77;

	T_EQ(viommu_rangemap_insert(m, 0x1000, 0x1fff, 0xabc), 0);
	/* Sub-ranges, super-ranges and shifted ranges are not the entry. */
	T_EQ(viommu_rangemap_remove(m, 0x1000, 0x1ffe, &v), -ENOENT);
	T_EQ(viommu_rangemap_remove(m, 0x1001, 0x1fff, &v), -ENOENT);
	T_EQ(viommu_rangemap_remove(m, 0x0fff, 0x1fff, &v), -ENOENT);
	T_EQ(viommu_rangemap_remove(m, 0x1000, 0x2000, &v), -ENOENT);
	T_EQ(viommu_rangemap_remove(m, 0, MAXU, &v), -ENOENT);
	T_EQ_U64(v, 0x77); /* untouched on failure */
	T_EQ(viommu_rangemap_count(m), 1);
	T_EQ(viommu_rangemap_remove(m, 0x1000, 0x1fff, &v), 0);
	T_EQ_U64(v, 0xabc);
	T_EQ(viommu_rangemap_remove(m, 0x1000, 0x1fff, NULL), -ENOENT);
	CHECK_MAP(m);
	viommu_rangemap_free(m);
}

struct seen {
	struct viommu_range_entry e[64];
	unsigned n;
};

static void seen_fn(const struct viommu_range_entry *e, void *ctx)
{
	struct seen *s = ctx;
	if (s->n < 64)
		s->e[s->n] = *e;
	s->n++;
}

/*
 * remove_inside: entries only partly inside stay (virtio-iommu specification,
 * "UNMAP request": every mapping fully inside the range goes; VFIO type1 v2
 * unmap, drivers/vfio/vfio_iommu_type1.c: covering whole mappings and holes is
 * fine); the callback sees the removed ones in ascending order.
 */
static void test_remove_inside(void)
{
	struct viommu_rangemap *m = viommu_rangemap_new();
	struct seen s = { .n = 0 };

	for (uint64_t i = 0; i < 5; i++)
		T_EQ(viommu_rangemap_insert(m, i * 10, i * 10 + 9, i), 0);
	T_EQ(viommu_rangemap_remove_inside(m, 5, 44, seen_fn, &s), 3);
	T_EQ(s.n, 3);
	T_OK(s.e[0].first == 10 && s.e[0].last == 19 && s.e[0].value == 1);
	T_OK(s.e[1].first == 20 && s.e[2].first == 30 && s.e[2].last == 39 && s.e[2].value == 3);
	T_STREQ(dump(m), "0-9=0 28-31=4");
	/* Nothing wholly inside: 0 and no change. */
	T_EQ(viommu_rangemap_remove_inside(m, 1, 45, seen_fn, &s), 0);
	T_EQ(viommu_rangemap_remove_inside(m, 10, 39, NULL, NULL), 0);
	T_STREQ(dump(m), "0-9=0 28-31=4");
	/* Exactly one entry's bounds. */
	T_EQ(viommu_rangemap_remove_inside(m, 40, 49, NULL, NULL), 1);
	T_STREQ(dump(m), "0-9=0");
	viommu_rangemap_clear(m);

	/* The virtio-iommu specification's UNMAP examples ("UNMAP request"). */
	T_EQ(viommu_rangemap_insert(m, 0, 9, 1), 0);
	T_EQ(viommu_rangemap_remove_inside(m, 0, 4, NULL, NULL), 0);
	viommu_rangemap_clear(m);
	T_EQ(viommu_rangemap_insert(m, 0, 4, 1), 0);
	T_EQ(viommu_rangemap_insert(m, 5, 9, 2), 0);
	T_EQ(viommu_rangemap_remove_inside(m, 0, 4, NULL, NULL), 1);
	T_STREQ(dump(m), "5-9=2");
	viommu_rangemap_clear(m);
	T_EQ(viommu_rangemap_insert(m, 0, 4, 1), 0);
	T_EQ(viommu_rangemap_insert(m, 10, 14, 2), 0);
	T_EQ(viommu_rangemap_remove_inside(m, 0, 14, NULL, NULL), 2);
	T_EQ(viommu_rangemap_count(m), 0);

	/*
	 * Across many leaves with partial entries at both ends: 20000 entries
	 * [16i, 16i+7]; remove [16*100+4, 16*19000+3] keeps entry 100 (starts
	 * below) and entry 19000 (ends above), removes 101..18999.
	 */
	for (uint64_t i = 0; i < 20000; i++)
		T_EQ(viommu_rangemap_insert(m, 16 * i, 16 * i + 7, i), 0);
	CHECK_MAP(m);
	s.n = 0;
	T_EQ(viommu_rangemap_remove_inside(m, 16 * 100 + 4, 16 * 19000 + 3, seen_fn, &s), 18899);
	T_EQ(s.n, 18899);
	T_OK(s.e[0].first == 16 * 101 && s.e[63].first == 16 * 164);
	T_EQ(viommu_rangemap_count(m), 20000 - 18899);
	CHECK_MAP(m);
	struct viommu_range_entry e;
	T_OK(viommu_rangemap_next(m, 16 * 100, &e) && e.first == 16 * 19000);
	T_OK(viommu_rangemap_find(m, 16 * 100 + 7, &e) && e.value == 100);
	viommu_rangemap_free(m);
}

/* The cursor: bounds, iter_prev, iter_set_value, and staying put on false. */
static void test_iter(void)
{
	struct viommu_rangemap *m = viommu_rangemap_new();
	struct viommu_rangemap_iter it;
	struct viommu_range_entry e;
	uint64_t got[8];
	unsigned n;

	T_EQ(viommu_rangemap_insert(m, 10, 19, 1), 0);
	T_EQ(viommu_rangemap_insert(m, 30, 39, 3), 0);
	T_EQ(viommu_rangemap_insert(m, 50, 59, 5), 0);

#define COLLECT(a, b) do { n = 0; viommu_rangemap_for_each(&it, m, (a), (b)) got[n++] = it.entry.value; } while (0)
	COLLECT(15, 35);
	T_EQ(n, 2);
	T_OK(got[0] == 1 && got[1] == 3);
	COLLECT(20, 29);
	T_EQ(n, 0);
	COLLECT(19, 50);
	T_EQ(n, 3);
	COLLECT(39, 39);
	T_OK(n == 1 && got[0] == 3);
	COLLECT(60, MAXU);
	T_EQ(n, 0);
	COLLECT(0, 9);
	T_EQ(n, 0);
	COLLECT(0, MAXU);
	T_OK(n == 3 && got[2] == 5);

	/* Forward to the end, then back to the start; false leaves the cursor put. */
	T_OK(viommu_rangemap_iter_start(&it, m, 12, 55));
	T_EQ(it.entry.first, 10);
	T_OK(!viommu_rangemap_iter_prev(&it));
	T_EQ(it.entry.first, 10);
	T_OK(viommu_rangemap_iter_next(&it) && it.entry.first == 30);
	viommu_rangemap_iter_set_value(&it, 33);
	T_EQ(it.entry.value, 33);
	T_OK(viommu_rangemap_iter_next(&it) && it.entry.first == 50);
	T_OK(!viommu_rangemap_iter_next(&it));
	T_EQ(it.entry.first, 50);
	T_OK(viommu_rangemap_iter_prev(&it) && it.entry.first == 30 && it.entry.value == 33);
	T_OK(viommu_rangemap_iter_prev(&it) && it.entry.first == 10);
	T_OK(!viommu_rangemap_iter_prev(&it));
	T_OK(viommu_rangemap_find(m, 35, &e) && e.value == 33);
	/* iter_prev stops at the range: 30-39 lies below [40, 55]. */
	T_OK(viommu_rangemap_iter_start(&it, m, 40, 55) && it.entry.first == 50);
	T_OK(!viommu_rangemap_iter_prev(&it));
	T_EQ(it.entry.first, 50);

	/* Across leaves, forwards and backwards, 1000 entries. */
	viommu_rangemap_clear(m);
	for (uint64_t i = 0; i < 1000; i++)
		T_EQ(viommu_rangemap_insert(m, 4 * i, 4 * i + 1, i), 0);
	uint64_t want = 10, bad = 0;
	viommu_rangemap_for_each(&it, m, 41, 3997)
		bad += it.entry.value != want++;
	T_EQ(bad, 0);
	T_EQ(want, 1000);
	/* The cursor now stands on the last entry (999); walk back to entry 10. */
	T_EQ(it.entry.value, 999);
	want = 998;
	while (viommu_rangemap_iter_prev(&it))
		bad += it.entry.value != want--;
	T_EQ(bad, 0);
	T_EQ(want, 9);
	viommu_rangemap_free(m);
}

static void test_next_prev_set_value(void)
{
	struct viommu_rangemap *m = viommu_rangemap_new();
	struct viommu_range_entry e;

	T_EQ(viommu_rangemap_insert(m, 100, 199, 1), 0);
	T_EQ(viommu_rangemap_insert(m, 300, 399, 3), 0);
	/* next: lowest entry with first > addr; prev: highest with last < addr. */
	T_OK(viommu_rangemap_next(m, 0, &e) && e.first == 100);
	T_OK(viommu_rangemap_next(m, 99, &e) && e.first == 100);
	T_OK(viommu_rangemap_next(m, 100, &e) && e.first == 300);
	T_OK(viommu_rangemap_next(m, 250, &e) && e.first == 300);
	T_OK(!viommu_rangemap_next(m, 300, &e));
	T_OK(!viommu_rangemap_next(m, MAXU, &e));
	T_OK(!viommu_rangemap_prev(m, 0, &e));
	T_OK(!viommu_rangemap_prev(m, 199, &e));
	T_OK(viommu_rangemap_prev(m, 200, &e) && e.first == 100);
	T_OK(viommu_rangemap_prev(m, 399, &e) && e.first == 100);
	T_OK(viommu_rangemap_prev(m, 400, &e) && e.first == 300);
	T_OK(viommu_rangemap_prev(m, MAXU, &e) && e.first == 300);

	T_EQ(viommu_rangemap_set_value(m, 150, 0x15), 0);
	T_EQ(viommu_rangemap_set_value(m, 399, 0x39), 0);
	T_EQ(viommu_rangemap_set_value(m, 200, 0x20), -ENOENT);
	T_EQ(viommu_rangemap_set_value(m, MAXU, 0x20), -ENOENT);
	T_STREQ(dump(m), "64-c7=15 12c-18f=39");
	viommu_rangemap_free(m);
}

/*
 * Memory follows the entry count: ascending fill packs leaves, and removing
 * everything (in random order) returns to the empty size. Rebalancing keeps
 * every node off the right spine at least half full, so bytes stay within
 * 2x the packed size plus the spine.
 */
static void test_memory_follows_count(void)
{
	struct viommu_rangemap *m = viommu_rangemap_new();
	size_t empty = viommu_rangemap_bytes(m), n = 100000;
	uint64_t *order = malloc(n * sizeof(*order));
	struct t_rng r;

	t_rng_init(&r, t_seed("rangemap_memory", 7));
	for (size_t i = 0; i < n; i++)
		T_EQ(viommu_rangemap_insert(m, 0x1000 * i, 0x1000 * i + 0xfff, i), 0);
	CHECK_MAP(m);
	double per = (double)viommu_rangemap_bytes(m) / (double)n;
	printf("ascending fill: %.1f bytes/entry, height %u\n", per, vi_rangemap_height(m));
	T_OK(per < 27.0);
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = t_rng_below(&r, i + 1);
		uint64_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < n; i++) {
		T_EQ(viommu_rangemap_remove(m, 0x1000 * order[i], 0x1000 * order[i] + 0xfff, NULL), 0);
		if (i == n * 9 / 10) {
			size_t left = n - i - 1, bytes = viommu_rangemap_bytes(m);
			printf("after removing 90%%: %.1f bytes/entry\n", (double)bytes / (double)left);
			/*
			 * Leaves off the spine hold >= 32 of 64 entries (1560 B
			 * each), inner nodes >= 16 of 32 children (520 B): at most
			 * ~50 B/entry, plus one spine node per level.
			 */
			T_OK(bytes <= 52 * left + 8 * 2100);
			CHECK_MAP(m);
		}
	}
	T_EQ(viommu_rangemap_count(m), 0);
	T_EQ(viommu_rangemap_bytes(m), empty);
	CHECK_MAP(m);

	/* Descending fill, then clear; the map is reusable. */
	for (size_t i = n; i-- > 0;)
		T_EQ(viommu_rangemap_insert(m, 2 * i, 2 * i, i), 0);
	CHECK_MAP(m);
	T_EQ(viommu_rangemap_count(m), n);
	viommu_rangemap_clear(m);
	T_EQ(viommu_rangemap_bytes(m), empty);
	T_EQ(viommu_rangemap_insert(m, 1, 1, 1), 0);
	T_EQ(viommu_rangemap_count(m), 1);
	free(order);
	viommu_rangemap_free(m);
}

/*
 * Loops over two cursors nest (the macro declares nothing, so -Wshadow, an
 * error in this build, has nothing to flag), and the inline step agrees with
 * viommu_rangemap_iter_next() across leaf boundaries: 200 entries span
 * several 64-entry leaves.
 */
static void test_nested_loops(void)
{
	struct viommu_rangemap *m = viommu_rangemap_new();
	struct viommu_rangemap_iter outer, inner, it;
	uint64_t pairs = 0, sum = 0, n = 0;

	for (uint64_t i = 0; i < 200; i++)
		T_EQ(viommu_rangemap_insert(m, i * 16, i * 16 + 9, i), 0);
	/* For each entry, the entries overlapping [its first, its first + 40]: itself and the next two (and a bit). */
	viommu_rangemap_for_each(&outer, m, 0, MAXU) {
		viommu_rangemap_for_each(&inner, m, outer.entry.first, outer.entry.first + 40) {
			pairs++;
			sum += inner.entry.value - outer.entry.value;
		}
	}
	/* Entries 0..197 see 3 (d = 0, 1, 2); 198 sees 2; 199 sees 1. */
	T_EQ_U64(pairs, 198 * 3 + 2 + 1);
	T_EQ_U64(sum, 198 * 3 + 1);
	/* The macro and manual iter_next visit the same entries in the same order. */
	T_OK(viommu_rangemap_iter_start(&it, m, 100, 3000));
	viommu_rangemap_for_each(&outer, m, 100, 3000) {
		T_EQ_U64(outer.entry.first, it.entry.first);
		T_EQ_U64(outer.entry.value, it.entry.value);
		n++;
		if (viommu_rangemap_iter_next(&it))
			continue;
		T_EQ_U64(it.entry.last, 3001);	/* the last overlapping entry, [2992, 3001] */
	}
	T_EQ_U64(n, (3000 - 96) / 16 + 1);
	viommu_rangemap_free(m);
}

int main(void)
{
	test_empty();
	test_overlap_shapes();
	test_edges_of_space();
	test_exact_remove();
	test_remove_inside();
	test_iter();
	test_next_prev_set_value();
	test_memory_follows_count();
	test_nested_loops();
	return t_done();
}

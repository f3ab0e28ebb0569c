// SPDX-License-Identifier: MIT
/*
 * Range map benchmark: insert, point lookups (random and ascending), full
 * iteration and removal, each against a sorted array with binary search (the
 * obvious alternative) measured in the same run.
 *
 *	bench_rangemap [entries [seed]]      default 1000000 entries, seed 0x5eed
 *
 * The inputs (entries, shuffled orders, probe addresses) are built before
 * each timed loop; lookups and iteration keep the best of 3 passes; a sink of looked-up values is printed at the end so no
 * loop is optimised away. Inserting into a sorted array costs O(n) per entry,
 * so both insert and remove are also measured at a smaller size (the case
 * name says which) where the array baseline finishes in reasonable time.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <viommu/rangemap.h>

#include "bench.h"

#include "util/rangemap_internal.h"

#define SMALL_N 20000u
/* Lookups and iteration are repeated and the fastest pass is kept: the machine is shared. */
#define REPS 3

#define BEST_OF(var, body) do {						\
	var = 1e300;							\
	for (int rep_ = 0; rep_ < REPS; rep_++) {				\
		double t0_ = (double)bench_cpu_ns(), d_;					\
		body;								\
		d_ = ((double)bench_cpu_ns() - t0_) / (double)n;				\
		if (d_ < var)							\
			var = d_;						\
	}								\
} while (0)

static uint64_t sink;

/*
 * Thread CPU time, not wall time: the benchmark is single-threaded and often
 * runs on a machine shared with builds, where wall time mostly measures the
 * scheduler.
 */



/* Entry i is [i * 64K, i * 64K + len_i], len_i < 64K: disjoint, with holes. */
static uint64_t *lens;
static inline uint64_t e_first(uint64_t i) { return i << 16; }
static inline uint64_t e_last(uint64_t i) { return (i << 16) + lens[i]; }

/* ---- the baseline: a sorted array of entries ---- */

struct arr {
	struct viommu_range_entry *e;
	size_t n;
};

static size_t arr_lb(const struct arr *a, uint64_t key)
{
	size_t lo = 0, hi = a->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->e[mid].last < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int arr_insert(struct arr *a, uint64_t first, uint64_t last, uint64_t value)
{
	size_t i = arr_lb(a, first);
	if (i < a->n && a->e[i].first <= last)
		return -1;
	memmove(&a->e[i + 1], &a->e[i], (a->n - i) * sizeof(a->e[0]));
	a->e[i] = (struct viommu_range_entry){ first, last, value };
	a->n++;
	return 0;
}

static int arr_remove(struct arr *a, uint64_t first, uint64_t last)
{
	size_t i = arr_lb(a, first);
	if (i >= a->n || a->e[i].first != first || a->e[i].last != last)
		return -1;
	memmove(&a->e[i], &a->e[i + 1], (a->n - i - 1) * sizeof(a->e[0]));
	a->n--;
	return 0;
}

static inline const struct viommu_range_entry *arr_find(const struct arr *a, uint64_t addr)
{
	size_t i = arr_lb(a, addr);
	return i < a->n && a->e[i].first <= addr ? &a->e[i] : NULL;
}

static void line(const char *name, double ours, double base)
{
	printf("%s %.1f ns\n", name, ours);
	if (base > 0)
		printf("%s ratio %.3f\n", name, ours / base);
}

/* Insert and remove in random order at size n, ours and the array; returns via out. */
static void insert_remove(size_t n, const uint64_t *order, double *ins, double *ins_base, double *rem,
			  double *rem_base)
{
	struct viommu_rangemap *m = viommu_rangemap_new();
	struct arr a = { malloc(n * sizeof(*a.e)), 0 };
	double t;
	int bad = 0;

	t = (double)bench_cpu_ns();
	for (size_t i = 0; i < n; i++)
		bad |= viommu_rangemap_insert(m, e_first(order[i]), e_last(order[i]), order[i]);
	*ins = ((double)bench_cpu_ns() - t) / (double)n;
	if (ins_base) {
		t = (double)bench_cpu_ns();
		for (size_t i = 0; i < n; i++)
			bad |= arr_insert(&a, e_first(order[i]), e_last(order[i]), order[i]);
		*ins_base = ((double)bench_cpu_ns() - t) / (double)n;
	}
	/* Remove in a different random order than the inserts. */
	uint64_t *rorder = malloc(n * sizeof(*rorder));
	memcpy(rorder, order, n * sizeof(*rorder));
	bench_shuffle(rorder, n);
	t = (double)bench_cpu_ns();
	for (size_t i = 0; i < n; i++)
		bad |= viommu_rangemap_remove(m, e_first(rorder[i]), e_last(rorder[i]), NULL);
	*rem = ((double)bench_cpu_ns() - t) / (double)n;
	if (rem_base) {
		t = (double)bench_cpu_ns();
		for (size_t i = 0; i < n; i++)
			bad |= arr_remove(&a, e_first(rorder[i]), e_last(rorder[i]));
		*rem_base = ((double)bench_cpu_ns() - t) / (double)n;
	}
	if (bad || viommu_rangemap_count(m) != 0)
		fprintf(stderr, "insert/remove failed\n");
	free(rorder);
	free(a.e);
	viommu_rangemap_free(m);
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 1000000;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 0x5eed;
	size_t small = n < SMALL_N ? n : SMALL_N;
	double ins, ins_b, rem, rem_b, t;

	if (n < 2)
		n = 2;
	bench_seed(seed);
	printf("seed 0x%" PRIx64 " entries %zu small_entries %zu leaf_cap %d inner_cap %d\n", seed, n, small,
	       VI_RM_LEAF_CAP, VI_RM_INNER_CAP);

	lens = malloc(n * sizeof(*lens));
	uint64_t *order = malloc(n * sizeof(*order));
	uint64_t *probe = malloc(n * sizeof(*probe));
	for (size_t i = 0; i < n; i++) {
		lens[i] = bench_rng() & 0xffff;
		order[i] = i;
	}

	/* Sequential fill: bytes per entry when entries arrive in ascending order. */
	struct viommu_rangemap *m = viommu_rangemap_new();
	t = (double)bench_cpu_ns();
	for (size_t i = 0; i < n; i++)
		viommu_rangemap_insert(m, e_first(i), e_last(i), i);
	double ins_seq = ((double)bench_cpu_ns() - t) / (double)n;
	printf("rangemap.bytes_per_entry.sequential %.1f B\n", (double)viommu_rangemap_bytes(m) / (double)n);
	/* Iterate the ascending-filled map (leaves allocated in key order, as
	 * the reconciler's and the page-table oracle's maps mostly are) against
	 * the same sorted array as iterate.all below. */
	{
		struct arr sa = { malloc(n * sizeof(*sa.e)), n };
		struct viommu_rangemap_iter sit;
		double it_seq, it_base;

		for (size_t i = 0; i < n; i++)
			sa.e[i] = (struct viommu_range_entry){ e_first(i), e_last(i), i };
		BEST_OF(it_seq, viommu_rangemap_for_each(&sit, m, 0, UINT64_MAX) sink += sit.entry.value ^ sit.entry.last);
		BEST_OF(it_base, for (size_t i = 0; i < sa.n; i++) sink += sa.e[i].value ^ sa.e[i].last);
		line("rangemap.iterate.sequential", it_seq, it_base);
		free(sa.e);
	}
	viommu_rangemap_free(m);

	/* Random fill: the map every lookup case below uses. */
	bench_shuffle(order, n);
	m = viommu_rangemap_new();
	t = (double)bench_cpu_ns();
	for (size_t i = 0; i < n; i++)
		viommu_rangemap_insert(m, e_first(order[i]), e_last(order[i]), order[i]);
	ins = ((double)bench_cpu_ns() - t) / (double)n;
	printf("rangemap.bytes_per_entry.random %.1f B\n", (double)viommu_rangemap_bytes(m) / (double)n);
	printf("rangemap.height %u levels\n", vi_rangemap_height(m) + 1);
	line("rangemap.insert.sequential", ins_seq, 0);
	line("rangemap.insert.random", ins, 0);

	struct arr a = { malloc(n * sizeof(*a.e)), n };
	for (size_t i = 0; i < n; i++)
		a.e[i] = (struct viommu_range_entry){ e_first(i), e_last(i), i };

	/* Random point lookups: an address inside a random entry, 1 in 8 in a hole. */
	for (size_t i = 0; i < n; i++) {
		uint64_t k = bench_rng() % n;
		probe[i] = (bench_rng() & 7) ? e_first(k) + bench_rng() % (lens[k] + 1) : e_last(k) + 1;
	}
	struct viommu_range_entry e;
	double look, base;
	BEST_OF(look, for (size_t i = 0; i < n; i++) if (viommu_rangemap_find(m, probe[i], &e)) sink += e.value);
	BEST_OF(base, for (size_t i = 0; i < n; i++) {
		const struct viommu_range_entry *p = arr_find(&a, probe[i]);
		if (p)
			sink += p->value;
	});
	line("rangemap.lookup.random", look, base);

	/* Ascending point lookups: one address per entry, in order. */
	for (size_t i = 0; i < n; i++)
		probe[i] = e_first(i) + lens[i] / 2;
	BEST_OF(look, for (size_t i = 0; i < n; i++) if (viommu_rangemap_find(m, probe[i], &e)) sink += e.value);
	BEST_OF(base, for (size_t i = 0; i < n; i++) {
		const struct viommu_range_entry *p = arr_find(&a, probe[i]);
		if (p)
			sink += p->value;
	});
	line("rangemap.lookup.sequential", look, base);

	/* Iterate everything: ns per entry. */
	struct viommu_rangemap_iter it;
	double iter;
	BEST_OF(iter, viommu_rangemap_for_each(&it, m, 0, UINT64_MAX) sink += it.entry.value ^ it.entry.last);
	BEST_OF(base, for (size_t i = 0; i < a.n; i++) sink += a.e[i].value ^ a.e[i].last);
	line("rangemap.iterate.all", iter, base);

	/* Remove everything in random order (at full size; no array baseline there). */
	bench_shuffle(order, n);
	t = (double)bench_cpu_ns();
	for (size_t i = 0; i < n; i++)
		viommu_rangemap_remove(m, e_first(order[i]), e_last(order[i]), NULL);
	rem = ((double)bench_cpu_ns() - t) / (double)n;
	line("rangemap.remove.random", rem, 0);
	if (viommu_rangemap_count(m) != 0)
		fprintf(stderr, "remove left entries\n");
	viommu_rangemap_free(m);
	free(a.e);

	/* Insert and remove against the O(n)-per-op array at the small size. */
	for (size_t i = 0; i < small; i++)
		order[i] = i * (n / small);
	bench_shuffle(order, small);
	insert_remove(small, order, &ins, &ins_b, &rem, &rem_b);
	char name[64];
	snprintf(name, sizeof(name), "rangemap.insert.random_n%zu", small);
	line(name, ins, ins_b);
	snprintf(name, sizeof(name), "rangemap.remove.random_n%zu", small);
	line(name, rem, rem_b);

	printf("sink %" PRIu64 "\n", sink);
	free(order);
	free(probe);
	free(lens);
	return 0;
}

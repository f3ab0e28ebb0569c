/* SPDX-License-Identifier: MIT */
/*
 * Shared by the benchmarks, which follow SQLite's speedtest1 and Linux's
 * lib/interval_tree_test.c: a fixed seed and a size parameter, inputs built
 * before the timed loop, a result sink printed so nothing is optimised away,
 * one stable "<case> <value> <unit>" line per case and "<case> ratio <R>"
 * (ours divided by the same run's baseline, lower is better). Here: a seeded
 * splitmix64 generator, a Fisher-Yates shuffle and the two clocks.
 */
#ifndef VIOMMU_BENCH_H
#define VIOMMU_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

static uint64_t bench_rng_state;

static inline void bench_seed(uint64_t seed)
{
	bench_rng_state = seed;
}

static inline uint64_t bench_rng(void)
{
	uint64_t z = (bench_rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform enough in [0, n) for benchmarks; n > 0. */
static inline uint64_t bench_below(uint64_t n)
{
	return bench_rng() % n;
}

static inline void bench_shuffle(uint64_t *a, size_t n)
{
	for (size_t i = n - 1; n > 1 && i > 0; i--) {
		size_t j = (size_t)bench_below(i + 1);
		uint64_t t = a[i];

		a[i] = a[j];
		a[j] = t;
	}
}

/* Wall clock, for whole operations that may sleep or wait. */
static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* This thread's CPU time: steadier than the wall clock on a shared machine. */
static inline uint64_t bench_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif

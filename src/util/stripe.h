/* SPDX-License-Identifier: MIT */
/*
 * Per-thread statistics stripes: a cache keeps its hot counters in an array
 * of cache-line-aligned structs, one per thread group, added to with relaxed
 * atomics so that threads on different CPUs never write one line; a stats
 * call sums them. Each stripe struct starts with its uint64_t counters, in
 * the order the caller's sums[] wants them (the caller asserts that with
 * offsetof).
 */
#ifndef VI_UTIL_STRIPE_H
#define VI_UTIL_STRIPE_H

#include <stddef.h>
#include <stdint.h>

/*
 * sums[i] = counter i summed over @n stripes of @stride bytes at @stripes,
 * each read with a relaxed atomic load. O(n * ncounters).
 */
static inline void vi_stripe_sum(const void *stripes, unsigned n, size_t stride, uint64_t *sums,
				 unsigned ncounters)
{
	for (unsigned i = 0; i < ncounters; i++)
		sums[i] = 0;
	for (unsigned k = 0; k < n; k++) {
		const uint64_t *c = (const uint64_t *)((const char *)stripes + (size_t)k * stride);

		for (unsigned i = 0; i < ncounters; i++)
			sums[i] += __atomic_load_n(&c[i], __ATOMIC_RELAXED);
	}
}

#endif

/* SPDX-License-Identifier: MIT */
/* Small helpers every module uses: errno return, container_of, bit tricks. */
#ifndef VI_UTIL_COMPILER_H
#define VI_UTIL_COMPILER_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <viommu/common.h>

#define VI_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define vi_container_of(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))
#define vi_likely(x)   __builtin_expect(!!(x), 1)
#define vi_unlikely(x) __builtin_expect(!!(x), 0)
#define VI_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VI_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Return a negative errno from a public function and set errno to match. */
static inline int vi_errno(int neg)
{
	if (neg < 0)
		errno = -neg;
	return neg;
}

/* NULL with errno set, for constructors. */
static inline void *vi_null(int err)
{
	errno = err;
	return NULL;
}

/* Index of the lowest set bit; x must be non-zero. */
static inline unsigned vi_ffs64(uint64_t x) { return (unsigned)__builtin_ctzll(x); }
/* Index of the highest set bit; x must be non-zero. */
static inline unsigned vi_fls64(uint64_t x) { return 63u - (unsigned)__builtin_clzll(x); }
/* Mask of the low @order bits; order may be 64. */
static inline uint64_t vi_mask(unsigned order) { return order >= 64 ? UINT64_MAX : (UINT64_C(1) << order) - 1; }

#endif

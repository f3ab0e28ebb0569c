/* SPDX-License-Identifier: MIT */
/*
 * Shared by the fuzz targets: a byte reader over the input and a check macro
 * that aborts (so both libFuzzer and the corpus replay see the failure).
 */
#ifndef VIOMMU_FUZZ_H
#define VIOMMU_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FZ_CHECK(cond) do {							\
	if (!(cond)) {								\
		fprintf(stderr, "fuzz check failed %s:%d: %s\n", __FILE__, __LINE__, #cond); \
		abort();							\
	}									\
} while (0)

struct fz_in { const uint8_t *p; size_t n; };

static inline int fz_left(const struct fz_in *in) { return in->n > 0; }

static inline uint8_t fz_u8(struct fz_in *in)
{
	uint8_t v = 0;
	if (in->n) { v = *in->p++; in->n--; }
	return v;
}

static inline uint64_t fz_u64(struct fz_in *in)
{
	uint64_t v = 0;
	size_t k = in->n < 8 ? in->n : 8;
	memcpy(&v, in->p, k);
	in->p += k;
	in->n -= k;
	return v;
}

static inline uint32_t fz_u32(struct fz_in *in)
{
	uint32_t v = 0;
	size_t k = in->n < 4 ? in->n : 4;
	memcpy(&v, in->p, k);
	in->p += k;
	in->n -= k;
	return v;
}

#endif

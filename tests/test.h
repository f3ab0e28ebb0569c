/* SPDX-License-Identifier: MIT */
/*
 * The test harness: one program per tests/test_*.c. Every check counts; the
 * program ends with the line "N passed, N failed" and exits 0 (pass), 1 (fail)
 * or 77 (skip), which ctest understands (SKIP_RETURN_CODE 77).
 *
 *	int main(void) {
 *		T_EQ(viommu_foo(1), 0);
 *		return t_done();
 *	}
 *
 * Randomised tests take their seed from t_seed(default), which honours the
 * VIOMMU_SEED environment variable and prints the seed it uses.
 */
#ifndef VIOMMU_TEST_H
#define VIOMMU_TEST_H

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long t_passed, t_failed;
static unsigned t_fail_prints;

#define T_MAX_FAIL_PRINTS 50

static inline void t_report(int ok, const char *file, int line, const char *expr, const char *detail)
{
	if (ok) {
		t_passed++;
		return;
	}
	t_failed++;
	if (t_fail_prints++ < T_MAX_FAIL_PRINTS)
		fprintf(stderr, "FAIL %s:%d: %s%s%s\n", file, line, expr, detail ? " -- " : "", detail ? detail : "");
}

#define T_OK(cond) t_report(!!(cond), __FILE__, __LINE__, #cond, NULL)

/* Exact integer equality, printing both values on failure. */
#define T_EQ(a, b) do {								\
	long long t_a_ = (long long)(a), t_b_ = (long long)(b);			\
	if (t_a_ == t_b_) {							\
		t_passed++;							\
	} else {								\
		char t_d_[96];							\
		snprintf(t_d_, sizeof(t_d_), "%lld != %lld", t_a_, t_b_);	\
		t_report(0, __FILE__, __LINE__, #a " == " #b, t_d_);		\
	}									\
} while (0)

#define T_EQ_U64(a, b) do {							\
	uint64_t t_a_ = (uint64_t)(a), t_b_ = (uint64_t)(b);			\
	if (t_a_ == t_b_) {							\
		t_passed++;							\
	} else {								\
		char t_d_[96];							\
		snprintf(t_d_, sizeof(t_d_), "0x%" PRIx64 " != 0x%" PRIx64, t_a_, t_b_); \
		t_report(0, __FILE__, __LINE__, #a " == " #b, t_d_);		\
	}									\
} while (0)

#define T_STREQ(a, b) do {							\
	const char *t_a_ = (a), *t_b_ = (b);					\
	int t_ok_ = t_a_ && t_b_ && !strcmp(t_a_, t_b_);			\
	char t_d_[256];								\
	snprintf(t_d_, sizeof(t_d_), "\"%.100s\" != \"%.100s\"", t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)"); \
	t_report(t_ok_, __FILE__, __LINE__, #a " == " #b, t_d_);		\
} while (0)

/* Stop a test program early (an impossible state): counts as a failure. */
#define T_FATAL(...) do {							\
	fprintf(stderr, "FATAL %s:%d: ", __FILE__, __LINE__);			\
	fprintf(stderr, __VA_ARGS__);						\
	fprintf(stderr, "\n");							\
	t_failed++;								\
	exit(t_done());								\
} while (0)

static inline int t_done(void)
{
	printf("%lu passed, %lu failed\n", t_passed, t_failed);
	fflush(stdout);
	return t_failed ? 1 : 0;
}

static inline int t_skip(const char *why)
{
	printf("SKIP: %s\n", why);
	printf("%lu passed, %lu failed, 1 skipped\n", t_passed, t_failed);
	return t_failed ? 1 : 77;
}

/* xoshiro256** seeded by splitmix64: fast, deterministic, good enough. */
struct t_rng { uint64_t s[4]; };

static inline uint64_t t_splitmix(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline void t_rng_init(struct t_rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = t_splitmix(&seed);
}

static inline uint64_t t_rng_next(struct t_rng *r)
{
	uint64_t *s = r->s;
	uint64_t x = s[1] * 5, res = ((x << 7) | (x >> 57)) * 9, t = s[1] << 17;
	s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3]; s[2] ^= t;
	s[3] = (s[3] << 45) | (s[3] >> 19);
	return res;
}

/* Uniform in [0, n); n > 0. */
static inline uint64_t t_rng_below(struct t_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)t_rng_next(r) * n) >> 64);
}

/* The seed for this run: VIOMMU_SEED if set, else @dflt. Always printed. */
static inline uint64_t t_seed(const char *what, uint64_t dflt)
{
	const char *e = getenv("VIOMMU_SEED");
	uint64_t seed = e ? strtoull(e, NULL, 0) : dflt;
	printf("seed %s 0x%" PRIx64 "\n", what, seed);
	return seed;
}

#endif

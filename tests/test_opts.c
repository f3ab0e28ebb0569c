// SPDX-License-Identifier: MIT
/*
 * The size rule of public structs (src/util/opts.h, after libbpf's
 * OPTS_VALID/OPTS_HAS/OPTS_GET): an older caller's smaller struct works with
 * defaults, a newer caller's larger one only if the unknown bytes are zero,
 * and every refusal is logged with the offset.
 */
#include <viommu/common.h>

#include "test.h"
#include "util/opts.h"

/* Version 1 of an options struct, and the version 2 a newer caller has. */
struct demo_opts {
	size_t sz;
	unsigned a;
	uint64_t b;
	unsigned char c;	/* last field: 7 bytes of padding follow */
};
#define demo_opts__last_field c

struct demo_opts_v2 {
	size_t sz;
	unsigned a;
	uint64_t b;
	unsigned char c;
	unsigned char d;	/* lives in v1's padding */
	uint32_t e;
};

struct demo_opts_v0 {	/* an older caller: no b, no c */
	size_t sz;
	unsigned a;
};

static char g_log[512];
static int g_nlog;

static void sink(enum viommu_log_level level, const char *msg, void *ctx)
{
	(void)level;
	(void)ctx;
	g_nlog++;
	snprintf(g_log, sizeof(g_log), "%s", msg);
}

/* What a library entry point does; noinline so the caller's size is unknown to it, as across a .so. */
__attribute__((noinline)) static int lib_entry(const struct demo_opts *o, struct demo_opts *full)
{
	if (!VI_OPTS_VALID(o, demo_opts))
		return -EINVAL;
	VI_OPTS_COPY(full, o);
	return (int)VI_OPTS_GET(o, b, 42);
}

__attribute__((noinline)) static int lib_stats(struct demo_opts *user)
{
	struct demo_opts src = { .sz = sizeof(src), .a = 10, .b = 20, .c = 30 };

	return VI_OPTS_OUT(user, &src, demo_opts);
}

/* Caller structs of every version live in one buffer, so no access is out of bounds. */
union caller {
	struct demo_opts_v0 v0;
	struct demo_opts v1;
	struct demo_opts_v2 v2;
};

int main(void)
{
	union caller u;
	struct demo_opts full;

	viommu_set_log(sink, NULL, VIOMMU_LOG_DEBUG);
	T_EQ(lib_entry(NULL, &full), 42);
	T_EQ(full.a, 0);
	memset(&u, 0, sizeof(u));
	u.v1 = (struct demo_opts){ .sz = sizeof(u.v1), .a = 1, .b = 2, .c = 3 };
	T_EQ(lib_entry(&u.v1, &full), 2);
	T_EQ(full.c, 3);
	T_EQ(g_nlog, 0);

	/* Older caller: accepted, missing fields read as their default. */
	memset(&u, 0xee, sizeof(u));	/* bytes beyond its struct are not the caller's */
	u.v0 = (struct demo_opts_v0){ .sz = sizeof(u.v0), .a = 7 };
	T_EQ(lib_entry(&u.v1, &full), 42);
	T_EQ(full.a, 7);
	T_EQ_U64(full.b, 0);
	T_EQ(full.c, 0);
	T_EQ(full.sz, sizeof(u.v0));
	T_EQ(g_nlog, 0);

	/* Newer caller with its new fields zero: accepted. */
	memset(&u, 0, sizeof(u));
	u.v2 = (struct demo_opts_v2){ .sz = sizeof(u.v2), .a = 1, .b = 2, .c = 3 };
	T_EQ(lib_entry(&u.v1, &full), 2);
	T_EQ(g_nlog, 0);
	/* A new field set, even one inside this version's padding: refused, logged. */
	u.v2.d = 1;
	T_EQ(lib_entry(&u.v1, &full), -EINVAL);
	T_EQ(g_nlog, 1);
	T_OK(strstr(g_log, "demo_opts: non-zero byte at offset 25, beyond the 25 bytes") != NULL);
	u.v2.d = 0;
	u.v2.e = 5;
	T_EQ(lib_entry(&u.v1, &full), -EINVAL);
	T_OK(strstr(g_log, "offset 28") != NULL);

	/* sz below the size field itself. */
	u.v1.sz = 4;
	T_EQ(lib_entry(&u.v1, &full), -EINVAL);
	T_OK(strstr(g_log, "sz 4 is smaller") != NULL);

	/* Output structs: min(sz, known) bytes written, sz kept, unknown tail zeroed. */
	memset(&u, 0xff, sizeof(u));
	u.v0.sz = sizeof(u.v0);
	T_EQ(lib_stats(&u.v1), 0);
	T_EQ(u.v0.a, 10);
	T_EQ(u.v0.sz, sizeof(u.v0));
	T_EQ(u.v2.b, UINT64_MAX);	/* beyond the caller's struct: untouched */
	memset(&u, 0xff, sizeof(u));
	u.v2.sz = sizeof(u.v2);
	T_EQ(lib_stats(&u.v1), 0);
	T_EQ(u.v2.a, 10);
	T_EQ_U64(u.v2.b, 20);
	T_EQ(u.v2.c, 30);
	T_EQ(u.v2.d, 0);
	T_EQ(u.v2.e, 0);
	T_EQ(u.v2.sz, sizeof(u.v2));
	u.v1.sz = 2;
	T_EQ(lib_stats(&u.v1), -EINVAL);
	T_EQ(lib_stats(NULL), -EINVAL);
	viommu_set_log(NULL, NULL, VIOMMU_LOG_ERROR);
	return t_done();
}

/* SPDX-License-Identifier: MIT */
/*
 * The one rule for public options, listener and statistics structs, after
 * libbpf (src/libbpf_internal.h: OPTS_VALID, OPTS_HAS, OPTS_GET).
 *
 * Every such struct starts with `size_t sz`, which the caller sets to
 * sizeof(the struct) as it was compiled. The library knows each struct up to
 * the end of its last field, named by a `TYPE__last_field` macro next to the
 * code that checks it (not sizeof: a newer field may live in what is padding
 * here).
 *  - sz smaller than what the library knows (a caller built against an older
 *    header): accepted; the fields beyond sz read as zero (their default).
 *  - sz larger (a newer caller): accepted only if every byte beyond what the
 *    library knows is zero; otherwise -EINVAL, with the offset in the log.
 *  - sz smaller than sizeof(size_t): -EINVAL.
 * Output structs (statistics) follow the same size rule: the library writes
 * min(sz, known) bytes and leaves sz as the caller set it.
 */
#ifndef VI_UTIL_OPTS_H
#define VI_UTIL_OPTS_H

#include <stdbool.h>
#include <stddef.h>

#define vi_offsetofend(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* The check behind VI_OPTS_VALID; logs the reason (with @type) when it refuses. */
bool vi_opts_valid(const void *opts, size_t known, size_t user_sz, const char *type);
/* Copy what the caller gave into a zeroed struct of @dst_sz bytes (call after the check). */
void vi_opts_copy(void *dst, size_t dst_sz, const void *opts, size_t user_sz);
/* Write @known bytes of @src to a caller's output struct of @user_sz bytes, keeping its sz. */
int vi_opts_out(void *user, size_t user_sz, const void *src, size_t known, const char *type);

/* True if @opts is NULL or its sz is acceptable for `struct type`. */
#define VI_OPTS_VALID(opts, type)							\
	(!(opts) || vi_opts_valid((opts), vi_offsetofend(struct type, type##__last_field),	\
				  (opts)->sz, #type))
/* True if the caller's struct is large enough to hold @field. */
#define VI_OPTS_HAS(opts, field) ((opts) && (opts)->sz >= vi_offsetofend(__typeof__(*(opts)), field))
/* The caller's @field, or @fallback when the struct is NULL or older than the field. */
#define VI_OPTS_GET(opts, field, fallback) (VI_OPTS_HAS(opts, field) ? (opts)->field : (fallback))
/* *dst = the caller's struct as this library knows it (zero beyond its sz). */
#define VI_OPTS_COPY(dst, opts) vi_opts_copy((dst), sizeof(*(dst)), (opts), (opts) ? (opts)->sz : 0)
/* Fill the caller's output struct @user (with its sz) from the full struct @src of `struct type`. */
#define VI_OPTS_OUT(user, src, type)								\
	vi_opts_out((user), (user) ? (user)->sz : 0, (src),					\
		    vi_offsetofend(struct type, type##__last_field), #type)

#endif

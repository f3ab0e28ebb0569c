// SPDX-License-Identifier: MIT
/* The size rule of public structs (opts.h). */
#include <string.h>

#include "util/compiler.h"
#include "util/log.h"
#include "util/opts.h"

bool vi_opts_valid(const void *opts, size_t known, size_t user_sz, const char *type)
{
	const unsigned char *p = opts;

	if (user_sz < sizeof(size_t)) {
		vi_warn("%s: sz %zu is smaller than the size field itself", type, user_sz);
		return false;
	}
	for (size_t i = known; i < user_sz; i++) {
		if (p[i]) {
			vi_warn("%s: non-zero byte at offset %zu, beyond the %zu bytes this library knows (sz %zu)",
				type, i, known, user_sz);
			return false;
		}
	}
	return true;
}

void vi_opts_copy(void *dst, size_t dst_sz, const void *opts, size_t user_sz)
{
	memset(dst, 0, dst_sz);
	if (opts)
		memcpy(dst, opts, VI_MIN(dst_sz, user_sz));
}

int vi_opts_out(void *user, size_t user_sz, const void *src, size_t known, const char *type)
{
	if (!user || user_sz < sizeof(size_t)) {
		vi_warn("%s: %s", type, user ? "sz is smaller than the size field itself" : "NULL output");
		return -EINVAL;
	}
	/* Bytes the caller has and this library does not know are zeroed. */
	if (user_sz > known)
		memset((char *)user + known, 0, user_sz - known);
	memcpy((char *)user + sizeof(size_t), (const char *)src + sizeof(size_t),
	       VI_MIN(user_sz, known) - sizeof(size_t));
	return 0;
}

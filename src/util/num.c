// SPDX-License-Identifier: MIT
/* The one number parser (num.h). */
#include <stddef.h>

#include "util/num.h"

static int digit(char c, unsigned base)
{
	int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 99;

	return d < (int)base ? d : -1;
}

bool vi_parse_number(const char **p, uint64_t *out)
{
	const char *s = *p;
	unsigned base = 10, shift = 0;
	uint64_t v = 0;
	bool any = false;
	int d;

	if (!s)
		return false;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	for (; (d = digit(*s, base)) >= 0; s++) {
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return false;
		v = v * base + (uint64_t)d;
		any = true;
	}
	if (!any)
		return false;
	switch (*s) {
	case 'K': case 'k': shift = 10; break;
	case 'M': case 'm': shift = 20; break;
	case 'G': case 'g': shift = 30; break;
	case 'T': case 't': shift = 40; break;
	default: break;
	}
	if (shift) {
		if (v > (UINT64_MAX >> shift))
			return false;
		v <<= shift;
		s++;
	}
	*out = v;
	*p = s;
	return true;
}

bool vi_parse_u64(const char *s, uint64_t *out)
{
	const char *p = s;
	uint64_t v;

	if (!vi_parse_number(&p, &v) || *p)
		return false;
	*out = v;
	return true;
}

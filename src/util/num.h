/* SPDX-License-Identifier: MIT */
/*
 * The one parser of numbers given as text: backend spec strings (the
 * library), the CLI's arguments and scenario files (tools/). A number is
 * decimal, or hexadecimal after 0x / 0X, optionally followed by one binary
 * suffix K, M, G or T (either case: 2^10, 2^20, 2^30, 2^40). Leading zeros
 * are decimal, never octal. Anything that would pass 2^64 - 1 is refused.
 */
#ifndef VI_UTIL_NUM_H
#define VI_UTIL_NUM_H

#include <stdbool.h>
#include <stdint.h>

/* Parse one number at *p; on success *p points past it. false (nothing moved) on junk or overflow. */
bool vi_parse_number(const char **p, uint64_t *out);
/* The whole of @s is one number. */
bool vi_parse_u64(const char *s, uint64_t *out);

#endif

#!/bin/sh
# SPDX-License-Identifier: MIT
# Where a bug can live unseen: every field of a public options, stats, report,
# caps, record or result struct (include/viommu/*.h) that no test program
# (tests/*.c, tests/*.h, tests/qtest/*) names, as `.field` or `->field`.
# A field no test names is never set to a non-default value, or never
# asserted: a planted bug in what it controls or counts goes unseen.
# Not run by `make check`; its output is a worklist, not a verdict.
# usage: tests/mutate/fields.sh [SOURCE_DIR]
set -u
src=${1:-$(cd "$(dirname "$0")/../.." && pwd)}
tests=$(ls "$src"/tests/*.c "$src"/tests/*.h "$src"/tests/qtest/*.c "$src"/tests/qtest/*.h 2>/dev/null)
total=0 unused=0
for h in "$src"/include/viommu/*.h; do
	# struct NAME { ... }; blocks whose NAME ends in one of the kinds, one
	# "struct field" line per member (function pointers and nested unions
	# included; `sz` and private members are skipped)
	awk '
	/^struct viommu_[a-z0-9_]*(opts|stats|report|caps|record|result|fault) \{/ { s = $2; priv = 0; next }
	s && /^\};/ { s = ""; next }
	s && /\/\* *private/ { priv = 1 }
	s && !priv {
		line = $0
		# drop comments, also those spanning lines
		if (inc) { if (!sub(/.*\*\//, "", line)) next; inc = 0 }
		gsub(/\/\*([^*]|\*[^\/])*\*\//, "", line)
		if (sub(/\/\*.*/, "", line)) inc = 1
		sub(/\/\/.*/, "", line)
		if (line !~ /;/) next
		# function pointer: (*name)(...)
		if (match(line, /\(\*[a-z_0-9]+\)/)) { print s, substr(line, RSTART + 2, RLENGTH - 3); next }
		sub(/;.*/, "", line); gsub(/\[[^]]*\]/, "", line)
		n = split(line, parts, ",")
		for (i = 1; i <= n; i++) {
			f = parts[i]; gsub(/.*[ *]/, "", f)
			if (f != "" && f != "sz" && f ~ /^[a-z_][a-z_0-9]*$/) print s, f
		}
	}' "$h"
done | sort -u | {
	while read -r st field; do
		total=$((total + 1))
		# shellcheck disable=SC2086
		if ! grep -qE "(\.|->)$field([^a-z0-9_]|$)" $tests; then
			unused=$((unused + 1))
			echo "$st.$field"
		fi
	done
	echo "$unused of $total fields named by no test" >&2
}

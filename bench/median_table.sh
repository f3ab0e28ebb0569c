#!/bin/sh
# SPDX-License-Identifier: MIT
# Turn several runs of one benchmark into the Markdown cost table
# docs/design.md shows, so tables are made from bench output and never
# copied by hand (`make bench-tables` runs every bench 3 times and calls this
# for each). POSIX sh and awk only: no python on a minimal machine.
#
#   bench/median_table.sh [-b BASE,...] [-c COL,... -p PATTERN] [-o OLDRUN]... RUN...
#
# Each RUN is one run's output: "<case> <value> <unit>" and
# "<case> ratio <R>" lines as bench/bench.h describes (other lines are
# ignored). Every cell is the median over the RUNs (an even count takes the
# lower middle value); with -o (repeatable) each cell reads "after (before)",
# the before being the median over the OLDRUNs.
#
# Layouts:
#   (default)   one row per case, in the order cases first appear:
#               | case | value | ratio |, the ratio from "<case> ratio R".
#   -b BASES    peer baselines: a row per case that has "<case>.<BASE> V unit"
#               and "<case>.vs_<BASE> ratio R" for every BASE:
#               | case | ours | BASE... | ours / BASE... |, then every
#               other line as a list (bench_iotlb: -b qemu72,qemu81).
#   -c COLS -p PATTERN
#               a matrix: PATTERN names a case with {col} and {row}; one
#               column per COL, one row per {row} found, "X ratio" rows for
#               ratio lines (bench_pgtable: -c vtd4,amd4 -p 'pgtable.{col}.{row}').
set -eu
usage() { echo "usage: $0 [-b BASE,...] [-c COL,... -p PATTERN] [-o OLDRUN]... RUN..." >&2; exit 2; }
bases= cols= pattern= old=
while getopts b:c:p:o: opt; do
	case $opt in
	b) bases=$OPTARG ;;
	c) cols=$OPTARG ;;
	p) pattern=$OPTARG ;;
	o) [ -r "$OPTARG" ] || { echo "$0: cannot read $OPTARG" >&2; exit 2; }
	   old="$old$OPTARG
" ;;
	*) usage ;;
	esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || usage
[ -z "$cols" ] || [ -n "$pattern" ] || usage
[ -z "$bases" ] || [ -z "$cols" ] || usage
for f in "$@"; do [ -r "$f" ] || { echo "$0: cannot read $f" >&2; exit 2; }; done

# Old runs first, marked by the awk variable `old`, then the new ones.
set -- old=0 "$@"
if [ -n "$old" ]; then
	# One file name per line (no name in the tree has a newline).
	saved_ifs=$IFS
	IFS='
'
	set -- old=1 $old "$@"
	IFS=$saved_ifs
fi

awk -v bases="$bases" -v cols="$cols" -v pattern="$pattern" '
function isnum(s) { return s ~ /^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$/ }
# Median of the values of key in set w (0 new, 1 old); "" if none.
function median(w, key,    n, i, j, t, v) {
	n = cnt[w, key]
	if (!n)
		return ""
	for (i = 1; i <= n; i++)
		v[i] = val[w, key, i]
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return v[int((n + 1) / 2)]
}
function fmt(x, ratio) {
	if (x == "")
		return "-"
	if (ratio)
		return sprintf("%.2f", x)
	return x >= 100 ? sprintf("%.0f", x) : x >= 10 ? sprintf("%.1f", x) : sprintf("%.2f", x)
}
# One cell: the new median, and the old one in parentheses when there are old runs.
function cell(key, ratio,    s) {
	s = fmt(median(0, key), ratio)
	if (nold)
		s = s " (" fmt(median(1, key), ratio) ")"
	return s
}
function has(key) { return (0 SUBSEP key) in cnt }
FNR == 1 && old { nold++ }
NF == 3 && ($2 == "ratio" ? isnum($3) : isnum($2)) {
	w = old ? 1 : 0
	if ($2 == "ratio") {
		key = $1 " ratio"
		v = $3
	} else {
		key = $1
		v = $2
		unit[key] = $3
	}
	cnt[w, key]++
	val[w, key, cnt[w, key]] = v
	if (!w && !(key in seen)) {
		seen[key] = 1
		order[++nkey] = key
	}
}
END {
	if (bases != "")
		by_bases()
	else if (cols != "")
		matrix()
	else
		plain()
}
function plain(    i, k) {
	printf "| case | value | ratio |\n|---|---:|---:|\n"
	for (i = 1; i <= nkey; i++) {
		k = order[i]
		if (k ~ / ratio$/)
			continue
		printf "| %s | %s %s | %s |\n", k, cell(k, 0), unit[k], has(k " ratio") ? cell(k " ratio", 1) : ""
	}
	# ratio lines of cases that print no value line of their own
	for (i = 1; i <= nkey; i++) {
		k = order[i]
		if (k ~ / ratio$/ && !has(substr(k, 1, length(k) - 6)))
			printf "| %s | | %s |\n", substr(k, 1, length(k) - 6), cell(k, 1)
	}
}
function by_bases(    nb, base, b, i, k, ok, intable) {
	nb = split(bases, base, ",")
	printf "| case | ours"
	for (b = 1; b <= nb; b++)
		printf " | %s", base[b]
	for (b = 1; b <= nb; b++)
		printf " | ours / %s", base[b]
	printf " |\n|---|---"
	for (b = 1; b <= 2 * nb; b++)
		printf "|---"
	printf "|\n"
	for (i = 1; i <= nkey; i++) {
		k = order[i]
		ok = k !~ / ratio$/
		for (b = 1; b <= nb; b++)
			if (!has(k "." base[b]) || !has(k ".vs_" base[b] " ratio"))
				ok = 0
		if (!ok)
			continue
		intable[k] = 1
		for (b = 1; b <= nb; b++)
			intable[k "." base[b]] = intable[k ".vs_" base[b] " ratio"] = 1
		printf "| %s | %s %s", k, cell(k, 0), unit[k]
		for (b = 1; b <= nb; b++)
			printf " | %s", cell(k "." base[b], 0)
		for (b = 1; b <= nb; b++)
			printf " | %s", cell(k ".vs_" base[b] " ratio", 1)
		printf " |\n"
	}
	printf "\n"
	for (i = 1; i <= nkey; i++) {
		k = order[i]
		if (k in intable)
			continue
		if (k ~ / ratio$/)
			printf "- `%s`: %s (ratio)\n", substr(k, 1, length(k) - 6), cell(k, 1)
		else
			printf "- `%s`: %s %s\n", k, cell(k, 0), unit[k]
	}
}
function matrix(    nc, col, c, at, pre, post, i, k, r, row, nrow, rows, name, ratio) {
	nc = split(cols, col, ",")
	at = index(pattern, "{row}")
	for (i = 1; i <= nkey; i++) {
		k = order[i]
		ratio = k ~ / ratio$/
		name = ratio ? substr(k, 1, length(k) - 6) : k
		for (c = 1; c <= nc; c++) {
			pre = substr(pattern, 1, at - 1)
			post = substr(pattern, at + 5)
			gsub(/\{col\}/, col[c], pre)
			gsub(/\{col\}/, col[c], post)
			if (length(name) > length(pre) + length(post) && substr(name, 1, length(pre)) == pre &&
			    substr(name, length(name) - length(post) + 1) == post) {
				r = substr(name, length(pre) + 1, length(name) - length(pre) - length(post))
				if (ratio)
					r = r " ratio"
				if (!(r in rows)) {
					rows[r] = 1
					row[++nrow] = r
				}
				break
			}
		}
	}
	printf "| case"
	for (c = 1; c <= nc; c++)
		printf " | %s", col[c]
	printf " |\n|---"
	for (c = 1; c <= nc; c++)
		printf "|---:"
	printf "|\n"
	for (i = 1; i <= nrow; i++) {
		r = row[i]
		ratio = r ~ / ratio$/
		name = ratio ? substr(r, 1, length(r) - 6) : r
		printf "| %s", r
		for (c = 1; c <= nc; c++) {
			k = pattern
			gsub(/\{col\}/, col[c], k)
			sub(/\{row\}/, name, k)
			printf " | %s", cell(ratio ? k " ratio" : k, ratio)
		}
		printf " |\n"
	}
}' "$@"

#!/bin/sh
# Turn several runs of a benchmark into the Markdown cost table docs/design.md
# shows, so the table is made from bench output and never copied by hand.
#
#   bench/median_table.sh BASE[,BASE...] RUN1 RUN2 RUN3 ...
#
# Each RUN is a file of "<case> <value> <unit>" lines as the benches print
# them; for every case that has a line "<case>.<BASE> <value> <unit>" for
# each BASE, it prints one row: the case, our median, each baseline's median
# and the median of each "<case>.vs_<BASE> ratio <R>" line, in the order the
# cases first appear; then every other line's median as a list. Medians over
# the runs; with an even count, the lower middle value.
# Example: bench/median_table.sh qemu72,qemu81 run1.txt run2.txt run3.txt
set -eu
[ $# -ge 2 ] || { echo "usage: $0 BASE[,BASE...] RUN..." >&2; exit 2; }
bases=$1
shift
awk -v bases="$bases" '
function median(key,    n, i, j, t, v) {
	n = cnt[key]
	for (i = 1; i <= n; i++)
		v[i] = val[key, i]
	for (i = 2; i <= n; i++)
		for (j = i; j > 1 && v[j - 1] > v[j]; j--) {
			t = v[j]; v[j] = v[j - 1]; v[j - 1] = t
		}
	return v[int((n + 1) / 2)]
}
function fmt(x) {
	return x >= 100 ? sprintf("%.0f", x) : x >= 10 ? sprintf("%.1f", x) : sprintf("%.2f", x)
}
BEGIN { nb = split(bases, base, ",") }
NF == 3 {
	key = $1
	cnt[key]++
	val[key, cnt[key]] = $2 == "ratio" ? $3 : $2
	unit[key] = $2 == "ratio" ? "" : $3
	if (!(key in seen)) {
		seen[key] = 1
		order[++nkey] = key
	}
}
END {
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
		ok = unit[k] != ""
		for (b = 1; b <= nb; b++)
			if (!((k "." base[b]) in cnt) || !((k ".vs_" base[b]) in cnt))
				ok = 0
		if (!ok)
			continue
		intable[k] = 1
		for (b = 1; b <= nb; b++)
			intable[k "." base[b]] = intable[k ".vs_" base[b]] = 1
		printf "| %s | %s %s", k, fmt(median(k)), unit[k]
		for (b = 1; b <= nb; b++)
			printf " | %s", fmt(median(k "." base[b]))
		for (b = 1; b <= nb; b++)
			printf " | %.2f", median(k ".vs_" base[b])
		printf " |\n"
	}
	# every other line, by its median
	printf "\n"
	for (i = 1; i <= nkey; i++)
		if (!(order[i] in intable))
			printf "- `%s`: %s%s\n", order[i], fmt(median(order[i])), unit[order[i]] == "" ? " (ratio)" : " " unit[order[i]]
}' "$@"

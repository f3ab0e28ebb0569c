#!/bin/sh
# SPDX-License-Identifier: MIT
# Mutation round: plant one single-line bug at a time in a scratch copy of the
# tree and see whether the test suite (`make check`: ctest -LE qtest) notices.
# Not run by `make check` (CMake globs only tests/test_*.c and tests/*.sh; this
# lives in a subfolder because it runs the suite itself, many times).
#
# usage: tests/mutate/run.sh [-j N] [-t SECONDS] [-w | -r REV] [-d WORKDIR] [-o RESULTS] LIST
#        tests/mutate/run.sh --candidates [SEED [N]]   print a mutation list
#
# LIST has one mutation per line (# starts a comment):
#     FILE:LINE<TAB>OLD<TAB>NEW
# FILE is relative to the source root, OLD a fixed string that must occur on
# LINE (its first occurrence there is replaced by NEW; a list that no longer
# matches the source is reported as "stale", never silently skipped).
#
# The checkout is never modified: the committed tree (git archive HEAD, or
# of REV with -r, e.g. the suite before a change; the working tree with -w) is copied to WORKDIR/tree (default build-mutate/) and
# built in WORKDIR/build; two runs with their own WORKDIR can share a list. Each mutant is judged in two steps, both with a
# per-test timeout (a hang counts as caught):
#  1. the tests whose name matches the mutated module (src/MODULE/... ->
#     ctest -R MODULE), stopping at the first failure;
#  2. if those pass, the whole suite, as `make check` runs it.
# Step 1 only saves time: the verdict is "caught" iff some test of the suite
# fails, exactly as a full run would say. A mutant that does not compile is
# "nocompile" and counts neither way.
#
# Output: one line per mutant, "RESULT FILE:LINE OLD => NEW [failing tests]",
# and a summary "planted P caught C missed M nocompile X stale S".
#
# --candidates prints, for every src/*.c line, the mechanical mutations of
# the kinds this round plants (flipped comparisons, off-by-one in ranges,
# dropped error checks, swapped permission bits), and with SEED N a
# deterministic sample of N of them spread over the files.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)

candidates() {
	seed=${1:-}
	n=${2:-40}
	# shellcheck disable=SC2016
	list=$(cd "$here" && find src -name '*.c' | sort | while read -r f; do
		awk -v f="$f" -v tab='	' '
		function emit(old, new) { print f ":" FNR tab old tab new }
		/^[ \t]*(\/\*|\*)/ { next }			# comment lines
		/#include|#define|vi_(warn|err|info|dbg)\(/ { next }
		{
			line = $0
			if (index(line, " <= ")) emit(" <= ", " < ")
			else if (index(line, " >= ")) emit(" >= ", " > ")
			else if (index(line, " < ") && !index(line, "<<")) emit(" < ", " <= ")
			else if (index(line, " > ") && !index(line, ">>") && !index(line, "->")) emit(" > ", " >= ")
			if (index(line, " == ")) emit(" == ", " != ")
			if (index(line, " - 1")) emit(" - 1", "")
			if (index(line, " + 1")) emit(" + 1", "")
			if (match(line, /if \((rc|ret|err) < 0\)/)) emit(substr(line, RSTART, RLENGTH), "if (0)")
			else if (match(line, /if \((rc|ret|err)\)/)) emit(substr(line, RSTART, RLENGTH), "if (0)")
			if (index(line, "VIOMMU_PERM_READ") && !index(line, "VIOMMU_PERM_WRITE"))
				emit("VIOMMU_PERM_READ", "VIOMMU_PERM_WRITE")
			else if (index(line, "VIOMMU_PERM_WRITE") && !index(line, "VIOMMU_PERM_READ"))
				emit("VIOMMU_PERM_WRITE", "VIOMMU_PERM_READ")
		}' "$f"
	done)
	if [ -z "$seed" ]; then
		printf '%s\n' "$list"
		return
	fi
	# A deterministic sample: shuffle by a seeded hash, then take N.
	printf '%s\n' "$list" | awk -v seed="$seed" 'BEGIN { srand(seed) } { print rand() "\t" $0 }' |
		sort -n | cut -f2- | head -n "$n"
}

if [ "${1:-}" = "--candidates" ]; then
	shift
	candidates "$@"
	exit 0
fi

jobs=2 timeout=120 from=head rev=HEAD out= work=
while [ $# -gt 1 ]; do
	case $1 in
	-j) jobs=$2; shift 2 ;;
	-t) timeout=$2; shift 2 ;;
	-w) from=worktree; shift ;;
	-r) rev=$2; shift 2 ;;
	-o) out=$2; shift 2 ;;
	-d) work=$2; shift 2 ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || { echo "usage: $0 [-j N] [-t SECONDS] [-w | -r REV] [-d WORKDIR] [-o RESULTS] LIST | --candidates [SEED [N]]" >&2; exit 2; }
list=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
[ -f "$list" ] || { echo "$0: $1: no such file" >&2; exit 2; }

[ -n "$work" ] || work=$here/build-mutate
mkdir -p "$work" && work=$(cd "$work" && pwd)
tree=$work/tree
bld=$work/build
rm -rf "$tree"
mkdir -p "$tree" "$bld"
if [ "$from" = head ]; then
	git -C "$here" archive "$rev" | tar -x -C "$tree" || exit 2
else
	(cd "$here" && git ls-files -co --exclude-standard | tar -c -T -) | tar -x -C "$tree" || exit 2
fi
log=$work/log
: >"$log"
say() { echo "$*"; [ -z "$out" ] || echo "$*" >>"$out"; }

cmake -S "$tree" -B "$bld" >>"$log" 2>&1 || { echo "$0: configure failed (see $log)" >&2; exit 2; }
cmake --build "$bld" -j"$jobs" >>"$log" 2>&1 || { echo "$0: the unmutated tree does not build (see $log)" >&2; exit 2; }
ctest --test-dir "$bld" -j"$jobs" -LE qtest --timeout "$timeout" >>"$log" 2>&1 ||
	{ echo "$0: the unmutated tree fails its tests (see $log)" >&2; exit 2; }

saved=$work/saved
# cp without -p: the restored file must be newer than the mutant's objects
restore() { [ -f "$saved" ] && [ -n "${cur:-}" ] && cp "$saved" "$tree/$cur"; rm -f "$saved"; }
trap 'restore; exit 130' INT TERM

planted=0 caught=0 missed=0 nocompile=0 stale=0
tab=$(printf '\t')
while IFS="$tab" read -r where old new; do
	case $where in ''|'#'*) continue ;; esac
	cur=${where%:*}
	line=${where##*:}
	desc="$where $old => $new"
	if [ ! -f "$tree/$cur" ] || ! sed -n "${line}p" "$tree/$cur" | grep -qF -- "$old"; then
		stale=$((stale + 1))
		say "stale $desc"
		continue
	fi
	cp "$tree/$cur" "$saved"
	awk -v n="$line" -v old="$old" -v new="$new" '
		FNR == n { i = index($0, old); $0 = substr($0, 1, i - 1) new substr($0, i + length(old)) } { print }' \
		"$saved" >"$tree/$cur"
	# the module the file belongs to names its tests
	mod=$(echo "$cur" | cut -d/ -f2)
	base=$(basename "$cur" .c)
	[ "$mod" = util ] && mod=$base
	targets=$(ctest --test-dir "$bld" -N -R "$mod" 2>/dev/null | sed -n 's/.*Test *#[0-9]*: //p' |
		sed 's/_corpus$//' | grep -v '^sh_' | tr '\n' ' ')
	echo "== $desc" >>"$log"
	if ! cmake --build "$bld" -j"$jobs" --target viommu viommu_cli $targets >>"$log" 2>&1; then
		nocompile=$((nocompile + 1))
		say "nocompile $desc"
		restore
		continue
	fi
	planted=$((planted + 1))
	verdict=missed
	if ! ctest --test-dir "$bld" -j"$jobs" -LE qtest -R "$mod" --no-tests=ignore --timeout "$timeout" --stop-on-failure \
		>"$work/step1" 2>&1; then
		verdict=caught
		failed=$(sed -n 's/.*[0-9]* - \([A-Za-z0-9_]*\) (.*/\1/p' "$work/step1" | tr '\n' ' ')
	else
		if ! cmake --build "$bld" -j"$jobs" >>"$log" 2>&1; then
			nocompile=$((nocompile + 1)) planted=$((planted - 1))
			say "nocompile $desc"
			restore
			continue
		fi
		if ! ctest --test-dir "$bld" -j"$jobs" -LE qtest --timeout "$timeout" >"$work/step2" 2>&1; then
			verdict=caught
			failed=$(sed -n 's/.*[0-9]* - \([A-Za-z0-9_]*\) (.*/\1/p' "$work/step2" | tr '\n' ' ')
		fi
	fi
	cat "$work/step1" >>"$log"
	if [ $verdict = caught ]; then
		caught=$((caught + 1))
		say "caught $desc [$failed]"
	else
		missed=$((missed + 1))
		say "missed $desc"
	fi
	restore
	cur=
done <"$list"
# leave the scratch build equal to the unmutated tree
cmake --build "$bld" -j"$jobs" >>"$log" 2>&1
say "planted $planted caught $caught missed $missed nocompile $nocompile stale $stale"

#!/bin/sh
# SPDX-License-Identifier: MIT
# The manual renders from the source tree: every page in man/ as
# `man -l man/X.3` run from the source root (man-db), or where man-db is
# absent (or VIOMMU_MAN_RENDERER=groff) through groff from another directory,
# with no warning and no error; an alias page shows a page whose NAME lists
# the alias; every public function (VIOMMU_API) and every public loop macro
# has a page. With neither man-db nor groff the test is skipped (77).
#
# Aliases are symbolic links (man/viommu_as_free.3 -> viommu_as_new.3), not
# `.so man3/X.3` requests: under -l, man-db resolves a .so path against the
# current directory only (`man -d -l` shows "opening man3/X.3"), so a .so alias
# works installed (man chdirs to the manpath root) but not from a source tree.
# A link works in both places and CMake installs it as a link.
# usage: man.sh BUILD_DIR SOURCE_DIR
set -u
src=$(cd "$2" && pwd)
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

have_man=0 have_groff=0
command -v man >/dev/null && man -l --help 2>&1 | grep -q -- --local-file && have_man=1
command -v groff >/dev/null && have_groff=1
[ $have_man = 1 ] || [ $have_groff = 1 ] || { echo "SKIP: neither man-db nor groff (apt-get install man-db)"; exit 77; }
[ "${VIOMMU_MAN_RENDERER:-}" = groff ] && [ $have_groff = 1 ] && have_man=0
if [ $have_man = 1 ]; then have_groff=0; echo "rendering with man-db: $(man --version)"
else echo "rendering with $(groff --version | head -n 1) (no man-db)"; fi

# The NAME section of a rendered page on one line; a word hyphenated at a line
# end is joined again.
names() {
	awk '/^NAME/ { f = 1; next } /^[A-Z]/ { f = 0 } f' "$1" | sed ':a;/-$/{N;s/-\n *//;ba}' | tr -s ' \n' '  '
}

# $1: page name, $2: rendered text, $3: warnings, $4: what rendered it, $5:
# "alias" if the page is another's (its NAME must list it)
judge() {
	if [ -s "$3" ]; then
		bad "$1 ($4) warns:"; sed 's/^/    /' "$3" | head -n 5
	elif ! grep -q '^NAME' "$2"; then
		bad "$1 ($4) rendered no NAME section"
	elif [ "$5" != alias ]; then
		ok
	else
		n=$(names "$2")
		case " $n " in
		*[!a-z0-9_]"$1"[!a-z0-9_]*) ok ;;
		*) bad "$1 ($4): the page shown does not name it: $n" ;;
		esac
	fi
}

# Render every page (four at a time: man-db takes a quarter second a page),
# then judge each.
mkdir "$tmp/r"
if [ $have_man = 1 ]; then
	(cd "$src" && ls man | grep '\.[1-8]$' | xargs -P 4 -I{} sh -c \
		'MANWIDTH=80 man --warnings --nh --nj -l "man/$1" >"$2/r/$1.out" 2>"$2/r/$1.err" ||
		 echo "man exited $?" >>"$2/r/$1.err"' sh {} "$tmp")
	how="man -l man/"
else
	(cd "$tmp" && ls "$src/man" | grep '\.[1-8]$' | xargs -P 4 -I{} sh -c \
		'groff -man -Tascii -P-cbou -ww "$3/man/$1" >"$2/r/$1.out" 2>"$2/r/$1.err" ||
		 echo "groff exited $?" >>"$2/r/$1.err"' sh {} "$tmp" "$src")
	how="groff from elsewhere, "
fi
pages=0
for f in "$src"/man/*.[1-8]; do
	p=$(basename "$f")
	pages=$((pages + 1))
	kind=page
	{ [ -L "$f" ] || grep -q '^\.so ' "$f"; } && kind=alias
	if [ -f "$tmp/r/$p.out" ]; then
		judge "${p%.*}" "$tmp/r/$p.out" "$tmp/r/$p.err" "$how$p" $kind
	else
		bad "$p was not rendered"
	fi
done
[ "$pages" -ge 100 ] && ok || bad "only $pages pages found in $src/man"

# Every public function and public loop macro has a page.
declared=$(cat "$src"/include/viommu/*.h | tr '\n' ' ' | grep -o 'VIOMMU_API[^;{]*(' |
	   sed 's/($//; s/.*[ *]\([a-z_0-9]*\)$/\1/' | sort -u)
macros=$(grep -ho '^#define viommu_[a-z_0-9]*(' "$src"/include/viommu/*.h | sed 's/^#define //; s/($//' | sort -u)
[ -n "$declared" ] && [ -n "$macros" ] && ok || bad "no declarations or macros found"
for s in $declared $macros; do
	[ -e "$src/man/$s.3" ] && ok || bad "no page man/$s.3 for $s"
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

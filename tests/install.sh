#!/bin/sh
# `make install` contract: DESTDIR and prefix honoured; headers, shared and
# static library, pkg-config file, man pages (aliases as links that resolve)
# and the CLI installed; programs built only against the installed tree, with
# the flags the installed viommu.pc gives, link and run: a small one, and the
# README's library example exactly as printed, whose output must be the one
# the README shows.
# usage: install.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
src=$2
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
pass=0 fail=0
check() { if eval "$1"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $1"; fi; }

DESTDIR=$dest cmake --install "$build" --prefix /opt/viommu >/dev/null 2>&1
check '[ -f $dest/opt/viommu/include/viommu/common.h ]'
check '[ -f $dest/opt/viommu/include/viommu/range.h ]'
check '[ -L $dest/opt/viommu/lib/libviommu.so ] || [ -L $dest/opt/viommu/lib64/libviommu.so ] || [ -L $dest/opt/viommu/lib/x86_64-linux-gnu/libviommu.so ]'
libdir=$(dirname "$(find "$dest/opt/viommu" -name 'libviommu.so' | head -n1)")
check '[ -f $libdir/libviommu.a ]'
check '[ -e $libdir/libviommu.so.0 ]'
check 'grep -q "^Libs: -L\${libdir} -lviommu" $libdir/pkgconfig/viommu.pc'
check 'grep -q "^prefix=/opt/viommu" $libdir/pkgconfig/viommu.pc'
check '[ -x $dest/opt/viommu/bin/viommu ]'
check '[ -f $dest/opt/viommu/share/man/man1/viommu.1 ]'
check '[ -f $dest/opt/viommu/share/man/man3/viommu_pow2_start.3 ]'
# aliases are links to the page that documents them, in the same directory
check '[ -L $dest/opt/viommu/share/man/man3/viommu_pow2_for_each.3 ]'
check '[ "$(readlink $dest/opt/viommu/share/man/man3/viommu_pow2_for_each.3)" = viommu_pow2_start.3 ]'
dangling=$(find "$dest/opt/viommu/share/man" -xtype l)
check '[ -z "$dangling" ]'
if command -v man >/dev/null && man -l --help 2>&1 | grep -q -- --local-file; then
	page=$(MANWIDTH=80 man --nh -M "$dest/opt/viommu/share/man" 3 viommu_iommu_event_for_each_new 2>/dev/null)
	check 'echo "$page" | grep -q "^NAME" && echo "$page" | grep -q "viommu_iommu_listener_register, "'
fi

cat >"$dest/use.c" <<'C'
#include <stdio.h>
#include <viommu/range.h>
int main(void)
{
	printf("%s %llu\n", viommu_version(), (unsigned long long)viommu_pow2_count(0x1000, 0x2fffff, 64));
	return 0;
}
C
# a sanitized library needs a sanitized program
san=
grep -q '^VIOMMU_SANITIZE:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null && san="-fsanitize=address,undefined"
grep -q '^VIOMMU_TSAN:BOOL=ON' "$build/CMakeCache.txt" 2>/dev/null && san="-fsanitize=thread"
# The flags come from the installed .pc, as a consumer gets them (the sysroot
# prefixes DESTDIR to its paths); without pkg-config, the same flags by hand.
if command -v pkg-config >/dev/null; then
	flags=$(PKG_CONFIG_PATH=$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$dest pkg-config --cflags --libs viommu)
	check '[ "$(echo $flags)" = "-I$dest/opt/viommu/include -L$libdir -lviommu" ]'
else
	echo "note: pkg-config missing (apt-get install pkg-config): using -I/-L by hand"
	flags="-I$dest/opt/viommu/include -L$libdir -lviommu"
fi
check 'cc $san -o $dest/use $dest/use.c $flags'
check '[ "$(LD_LIBRARY_PATH=$libdir $dest/use)" = "$($dest/opt/viommu/bin/viommu --version | cut -d" " -f2) 10" ]'

# The README's example: the first C block of "Using the library", and the text
# block after it is what it prints.
awk '/^## Using the library/ { s = 1 } s && /^## / && !/Using the library/ { s = 0 }
     s && /^```c$/ { c = 1; next } c && /^```$/ { c = 0; exit } c' "$src/README.md" >"$dest/example.c"
awk '/^## Using the library/ { s = 1 } s && /^## / && !/Using the library/ { s = 0 }
     s && /^```text$/ { c = 1; next } c && /^```$/ { c = 0; exit } c' "$src/README.md" >"$dest/example.want"
check '[ -s $dest/example.c ] && [ -s $dest/example.want ]'
check 'cc $san -std=c11 -Wall -Wextra -Werror -o $dest/example $dest/example.c $flags'
check 'LD_LIBRARY_PATH=$libdir $dest/example >$dest/example.out 2>$dest/example.err'
check 'cmp -s $dest/example.out $dest/example.want || { diff $dest/example.want $dest/example.out; false; }'
check '[ ! -s $dest/example.err ]'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

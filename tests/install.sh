#!/bin/sh
# `make install` contract: DESTDIR and prefix honoured; headers, shared and
# static library, pkg-config file, man pages and the CLI installed; a program
# built only against the installed tree links and runs.
# usage: install.sh BUILD_DIR SOURCE_DIR
set -u
build=$1
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
check 'cc $san -o $dest/use $dest/use.c -I$dest/opt/viommu/include -L$libdir -lviommu'
check '[ "$(LD_LIBRARY_PATH=$libdir $dest/use)" = "$($dest/opt/viommu/bin/viommu --version | cut -d" " -f2) 10" ]'
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/sh
# Every public header compiles alone, as C99 and as C++17, with the strictest
# warnings a consumer is likely to use (no C++ keywords as field names, no GNU
# extensions a pedantic C99 build refuses, no header that forgets its own
# includes), and all of them together in one C++ translation unit.
# usage: headers.sh BUILD_DIR SOURCE_DIR
set -u
src=$2
cc=${CC:-gcc}
cxx=${CXX:-g++}
command -v "$cc" >/dev/null || { echo "SKIP: no C compiler $cc"; exit 77; }
command -v "$cxx" >/dev/null || { echo "SKIP: no C++ compiler $cxx (apt-get install g++)"; exit 77; }
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

n=0
for h in "$src"/include/viommu/*.h; do
	name=$(basename "$h")
	n=$((n + 1))
	printf '#include <viommu/%s>\n' "$name" >"$tmp/one.c"
	if "$cxx" -x c++ -std=c++17 -Wall -Wextra -pedantic -Werror -I"$src/include" -fsyntax-only "$tmp/one.c" \
		>"$tmp/out" 2>&1; then ok; else bad "$name as C++17"; cat "$tmp/out"; fi
	if "$cc" -x c -std=c99 -Wall -Wextra -pedantic -Werror -I"$src/include" -fsyntax-only "$tmp/one.c" \
		>"$tmp/out" 2>&1; then ok; else bad "$name as C99"; cat "$tmp/out"; fi
done
[ "$n" -ge 9 ] && ok || bad "only $n public headers found"

: >"$tmp/all.c"
for h in "$src"/include/viommu/*.h; do printf '#include <viommu/%s>\n' "$(basename "$h")" >>"$tmp/all.c"; done
printf 'int main(void) { return 0; }\n' >>"$tmp/all.c"
if "$cxx" -x c++ -std=c++17 -Wall -Wextra -pedantic -Werror -I"$src/include" -c -o "$tmp/all.o" "$tmp/all.c" \
	>"$tmp/out" 2>&1; then ok; else bad "all headers together as C++17"; cat "$tmp/out"; fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

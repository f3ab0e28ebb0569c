#!/bin/sh
# The shared library's ABI contract (libbpf's: src/libbpf.map, the export macro): a soname, and exactly
# the functions declared VIOMMU_API in include/viommu/*.h are exported, all in
# the VIOMMU_* version nodes, nothing else.
# usage: abi.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
lib=$build/libviommu.so
command -v nm >/dev/null && command -v readelf >/dev/null || { echo "SKIP: binutils missing"; exit 77; }
pass=0 fail=0
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[ "$soname" = "libviommu.so.0" ] && ok || bad "soname is '$soname', want libviommu.so.0"

exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {print $3}' | sed 's/@.*//' | sort -u)
declared=$(cat "$src"/include/viommu/*.h | tr '\n' ' ' | grep -o 'VIOMMU_API[^;{]*(' |
	   sed 's/($//; s/.*[ *]\([a-z_0-9]*\)$/\1/' | sort -u)

[ -n "$declared" ] && ok || bad "no VIOMMU_API declarations found"
for s in $exported; do
	case " $(echo $declared) " in *" $s "*) ok ;; *) bad "exported but not declared VIOMMU_API: $s" ;; esac
done
for s in $declared; do
	case " $(echo $exported) " in *" $s "*) ok ;; *) bad "declared VIOMMU_API but not exported: $s" ;; esac
done
# every export carries a version node
unversioned=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ && $3 !~ /@@?VIOMMU_/ && $3 !~ /^VIOMMU_/ {print $3}')
[ -z "$unversioned" ] && ok || bad "exports without a version: $unversioned"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

#!/bin/sh
# Every shipped example replays with all its expectations and invariant
# checks holding, under each simulated host semantics (docs/reference.md §3).
# usage: examples.sh BUILD_DIR SOURCE_DIR
set -u
v=$1/viommu
pass=0 fail=0
for f in "$2"/examples/*.scn; do
	for b in sim:type1v2 sim:type1v1 sim:iommufd; do
		if out=$("$v" replay "$f" --backend "$b" --quiet 2>&1); then
			pass=$((pass + 1))
		else
			fail=$((fail + 1))
			echo "FAIL: $f --backend $b"
			echo "$out" | tail -n 15
		fi
	done
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

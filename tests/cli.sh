#!/bin/sh
# The CLI's contract: exit 0 on success, 2 on usage errors with a message on
# stderr, exact output for a known decomposition (docs/reference.md §6.2).
# usage: cli.sh BUILD_DIR SOURCE_DIR
set -u
v=$1/viommu
pass=0 fail=0
expect_rc() { # WANT_RC ARGS...
	want=$1; shift
	"$v" "$@" >/tmp/viommu-cli.$$ 2>&1; rc=$?
	if [ "$rc" -eq "$want" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: viommu $* -> $rc, want $want"; cat /tmp/viommu-cli.$$; fi
}
expect_out() { # EXPECTED ARGS...
	want=$1; shift
	got=$("$v" "$@" 2>&1)
	if [ "$got" = "$want" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); printf 'FAIL: viommu %s\n--- got\n%s\n--- want\n%s\n' "$*" "$got" "$want"; fi
}
expect_rc 0 --help
expect_rc 0 --version
expect_rc 0 split --help
expect_rc 2
expect_rc 2 nosuchcommand
expect_rc 2 --bogus
expect_rc 2 split 1
expect_rc 2 split 5 4
expect_rc 2 split 0 0x1000 --width 8
expect_rc 2 split 0 zz
expect_rc 2 split 0 1 --max-order
expect_rc 2 tlbi 0 1 --granule 8K
expect_rc 2 devtlb 0x1000 0x2fff
expect_rc 0 demo
# the demo cites public sources and the project's own docs, never material outside the repository
if "$v" demo | grep -q 'semantics\.md\|style\.md\|\.\./shared'; then fail=$((fail + 1)); echo "FAIL: demo cites material outside the repository"; else pass=$((pass + 1)); fi
# one number parser: 0x hex, either-case suffixes, never octal, nothing past 2^64 - 1
expect_out "minimal power-of-two cover of [0xa, 0xa]:
  [0x000000000000000a, 0x000000000000000a]  2^0
1 block" split 010 010
expect_rc 0 split 4k 8K
expect_rc 2 split 0 0x10000000000000000
expect_out "viommu $(sed -n 's/^project(viommu VERSION \([0-9.]*\).*/\1/p' "$2/CMakeLists.txt")" --version
expect_out "minimal power-of-two cover of [0x1000, 0x3fff]:
  [0x0000000000001000, 0x0000000000001fff]  2^12
  [0x0000000000002000, 0x0000000000003fff]  2^13
2 blocks" split 0x1000 0x3fff
expect_out "SMMUv3 range invalidation of 1023 granules at 0x0: 2 commands
  ADDR 0x0000000000000000 TG 1 SCALE  0 NUM 30 TTL 3  [0x0, 0x1efff]
  ADDR 0x000000000001f000 TG 1 SCALE  5 NUM 30 TTL 3  [0x1f000, 0x3fefff]" tlbi 0 1023 --ttl 3
expect_out "page-selective invalidation: ADDR 0x0 AM 4 covers [0x0, 0xffff]" psi 0x7000 0x8fff
expect_rc 0 memory
# replay: 0 when everything held, 1 when an expectation failed or the file is missing, 2 for a malformed file
scn=/tmp/viommu-cli-scn.$$
printf 'ram r 4K\nadd root r 0\nexpect mappings 1\n' > $scn.ok
printf 'ram r 4K\nadd root r 0\nexpect mappings 2\n' > $scn.fail
printf 'ram r 4K\nfrobnicate\n' > $scn.bad
expect_rc 0 replay $scn.ok
expect_rc 0 replay $scn.ok --backend sim:iommufd --json
expect_rc 1 replay $scn.fail
expect_rc 2 replay $scn.bad
expect_rc 1 replay /nonexistent/file.scn
expect_rc 2 replay
expect_rc 2 replay $scn.ok --policy sideways
got=$("$v" replay $scn.bad 2>&1 >/dev/null)
if [ "$got" = "viommu replay: $scn.bad:2: unknown command 'frobnicate'" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: replay error message: $got"; fi
got=$("$v" replay $scn.ok --json)
case $got in
'{"file": "'$scn.ok'", "result": {"backend": "sim:type1v2", "commits": 1, "map_ops": 1, "unmap_ops": 0, "map_bytes": 4096,'*) pass=$((pass + 1)) ;;
*) fail=$((fail + 1)); echo "FAIL: replay --json: $got" ;;
esac
rm -f $scn.ok $scn.fail $scn.bad
rm -f /tmp/viommu-cli.$$
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

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
expect_rc 2 replay /nonexistent/file.scn
expect_rc 2 replay /tmp
expect_rc 2 replay
expect_rc 2 replay $scn.ok --policy sideways
got=$("$v" replay $scn.bad 2>&1 >/dev/null)
if [ "$got" = "viommu replay: $scn.bad:2: unknown command 'frobnicate'" ]; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: replay error message: $got"; fi
got=$("$v" replay $scn.ok --json)
case $got in
'{"file": "'$scn.ok'", "result": {"backend": "sim:type1v2", "commits": 1, "map_ops": 1, "unmap_ops": 0, "map_bytes": 4096,'*) pass=$((pass + 1)) ;;
*) fail=$((fail + 1)); echo "FAIL: replay --json: $got" ;;
esac
# issue 17 §3: a granule the backend refuses is a usage error at the granule's line, never a run with no backend
for g in 1 2 2K; do
	printf 'granule %s\nram r 64K\nadd root r 0\n' "$g" > $scn.g
	expect_rc 2 replay $scn.g
	got=$("$v" replay $scn.g 2>&1 >/dev/null)
	case $got in
	"viommu replay: $scn.g:1: cannot attach backend 'sim:type1v2': Invalid argument"*) pass=$((pass + 1)) ;;
	*) fail=$((fail + 1)); echo "FAIL: granule $g: $got" ;;
	esac
done
printf 'granule 4K\nram r 64K\nadd root r 0\nexpect mappings 16\n' > $scn.g
expect_rc 0 replay $scn.g
# a region placed or moved past 2^64 - 1 is refused, not clipped
printf 'ram r 64K\nadd root r 0xffffffffffff8000\n' > $scn.w
expect_rc 2 replay $scn.w
got=$("$v" replay $scn.w 2>&1 >/dev/null)
[ "$got" = "viommu replay: $scn.w:2: 'r' at 0xffffffffffff8000 with size 0x10000 passes 2^64 - 1" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: wrap: $got"; }
printf 'ram r 64K\nadd root r 0\nmove r 0xffffffffffff0001\n' > $scn.w
expect_rc 2 replay $scn.w
printf 'ram r 64K\nadd root r 0\nmove r 0xffffffffffff0000\n' > $scn.w
expect_rc 1 replay $scn.w	# fits, but reserved on the x86 simulator: an error report, exit 1
# a run that reports an error exits 1 (viommu(1)), with or without expectations
printf 'ram r 64K\nadd root r 0xfee00000\n' > $scn.e
expect_rc 1 replay $scn.e
got=$("$v" replay $scn.e --json)
case $got in *'"errors": 1,'*) pass=$((pass + 1)) ;; *) fail=$((fail + 1)); echo "FAIL: errors in json: $got" ;; esac
# --check: the whole check after every commit, same answer; the per-commit checks and one at the end are counted
printf 'repeat 3\nram r{i} 4K\nadd root r{i} {i*8K}\nend\ncheck\nexpect mappings 3\n' > $scn.c
expect_rc 0 replay $scn.c --check
for f in "" --check; do
	got=$("$v" replay $scn.c $f | grep '^  invariant checks ')
	[ "$got" = "  invariant checks           5  passed, 0 failed" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: checks $f: $got"; }
done
# issue 17 §4: the CLI
# --backend foo is the command line's fault, not the file's first region line
printf '# comment\nram r 4K\nadd root r 0\n' > $scn.b
got=$("$v" replay $scn.b --backend foo 2>&1 >/dev/null)
case $got in "viommu replay: $scn.b: backend spec 'foo': unknown backend"*) pass=$((pass + 1)) ;; *) fail=$((fail + 1)); echo "FAIL: --backend blame: $got" ;; esac
# a backend line with no region after it is still opened (and refused)
printf 'backend sim:nope\n' > $scn.b
expect_rc 2 replay $scn.b
got=$("$v" replay $scn.b 2>&1 >/dev/null)
case $got in "viommu replay: $scn.b:1: backend spec 'sim:nope': unknown simulated semantics"*) pass=$((pass + 1)) ;; *) fail=$((fail + 1)); echo "FAIL: lone backend line: $got" ;; esac
# an empty file runs on the default backend and says so
: > $scn.b
got=$("$v" replay $scn.b | sed -n 3p)
[ "$got" = "0 commits on sim:type1v2, policy minimal: 0 expectations and 1 invariant check held, no host errors" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: empty file: $got"; }
# --opt=VALUE and FILE --help
printf 'ram r 4K\nadd root r 0\nexpect mappings 1\n' > $scn.b
got=$("$v" replay $scn.b --backend=sim:iommufd --policy=naive --quiet | sed -n 3p)
[ "$got" = "1 commit on sim:iommufd, policy naive (QEMU): 1 expectation and 2 invariant checks held, no host errors" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: --opt=VALUE: $got"; }
expect_rc 2 replay $scn.b --policy=sideways
expect_rc 2 replay $scn.b --backend
expect_rc 2 replay $scn.b --backend=
expect_rc 0 replay $scn.b --help
got=$("$v" replay $scn.b --help | head -1)
case $got in "usage: viommu replay FILE "*) pass=$((pass + 1)) ;; *) fail=$((fail + 1)); echo "FAIL: replay FILE --help: $got" ;; esac
# {4K} and {0x1000} in expressions; priorities are any int
printf 'ram r 4K\nadd root r {4K} prio=2147483647\nalias a r {0x0} 4K\nadd root a {0x1000*2} prio=-2147483648\nexpect mapped 4K r 0\nexpect mapped 8K r 0\nexpect mappings 2\n' > $scn.b
expect_rc 0 replay $scn.b
printf 'ram r 4K\nadd root r 0 prio=2147483648\n' > $scn.b
expect_rc 2 replay $scn.b
# the help table: every command on its own line, its description indented below it
"$v" --help | awk '/^Commands:/{c=1;next} c&&/^$/{exit} c' > $scn.h
if [ "$(grep -c '^  [a-z]' $scn.h)" -eq "$(grep -c '^      [^ ]' $scn.h)" ] && ! grep -qv '^  [a-z]\|^      [^ ]' $scn.h; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: help table"; cat $scn.h; fi
# issue 17 §8: the planted bugs the suite missed
# `expect mapped ... ro|rw` compares the permission exactly, both ways
printf 'ram r 4K readonly\nram w 4K\nadd root r 0\nadd root w 4K\nexpect mapped 0 r 0 ro\nexpect mapped 4K w 0 rw\nexpect mapped 4K w 0\n' > $scn.p
expect_rc 0 replay $scn.p
printf 'ram r 4K readonly\nadd root r 0\nexpect mapped 0 r 0 rw\n' > $scn.p
expect_rc 1 replay $scn.p
printf 'ram w 4K\nadd root w 0\nexpect mapped 0 w 0 ro\n' > $scn.p
expect_rc 1 replay $scn.p
got=$("$v" replay $scn.p --quiet | grep 'first failure')
[ "$got" = "  first failure: $scn.p:3: IOVA 0x0: maps elsewhere or with other permissions" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: ro on rw: $got"; }
# exactly 2^64 is not a number in a scenario either
printf 'ram r 0x10000000000000000\n' > $scn.p
expect_rc 2 replay $scn.p
printf 'ram r 0xffffffffffffffff+1\n' > $scn.p
expect_rc 2 replay $scn.p
# a commit's reports count its skipped ranges
printf 'ram r 4K\nadd root r 0\nramdev d 0x800\nadd root d 0x10000800\n' > $scn.p
got=$("$v" replay $scn.p | grep '^       2 ')
[ "$got" = "       2      4      0      0        0         1        1" ] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL: commit reports: $got"; }
# an inner `repeat` variable hides an outer one of the same name (mappings is 0 throughout: {i} must be 0)
printf 'repeat 3 i\nrepeat 1 i\nexpect mappings {i}\nend\nend\n' > $scn.p
expect_rc 0 replay $scn.p
printf 'repeat 3 i\nrepeat 1 j\nexpect mappings {i}\nend\nend\n' > $scn.p
expect_rc 1 replay $scn.p	# the outer i is seen where nothing hides it
rm -f $scn.g $scn.w $scn.e $scn.c $scn.b $scn.h $scn.p
rm -f $scn.ok $scn.fail $scn.bad
rm -f /tmp/viommu-cli.$$
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

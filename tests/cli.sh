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
# issue 17 §5: the first screen. What ran (the file's opening comment), whether it held, the host calls against
# QEMU's policy, the windows and why they matter; then each failed expectation of either run (FILE:LINE: what)
ok_line() { pass=$((pass + 1)); }
no_line() { fail=$((fail + 1)); printf 'FAIL: %s\n--- got\n%s\n--- want\n%s\n' "$1" "$2" "$3"; }
same() { if [ "$2" = "$3" ]; then ok_line; else no_line "$1" "$2" "$3"; fi; }
printf '%s\n' "# SMRAM comes and goes over RAM: QEMU's policy unmaps the RAM around it" 'ram ram 2M' 'mmio smram 64K' \
	begin 'add root ram 0' 'add root smram 0x10000 prio=1' commit 'repeat 2' 'del root smram' \
	'add root smram 0x10000 prio=1' end 'expect windows 0' 'expect mappings 2' > $scn.s
got=$("$v" replay $scn.s --compare-naive | sed -n '1,/^commits/p')
same "first screen" "$got" "viommu replay $scn.s
  SMRAM comes and goes over RAM: QEMU's policy unmaps the RAM around it

5 commits on sim:type1v2, policy minimal: 2 expectations and 6 invariant checks held, no host errors

                          viommu       naive  (QEMU's delete-then-add listener)
  host map calls               4           8
  host unmap calls             2           6
  windows opened               0           6
  unchanged unmapped         0 B    7.75 MiB
  host errors                  0           0
  expectations failed          0           1
A window: a translation that did not change, unmapped and mapped again; a device DMA into that hole faults.

the naive run: 1 of 2 expectations and 0 of 6 invariant checks failed
  $scn.s:12: windows: 6, expected 0

commits (host calls and reports over all backends; --verbose lists each host call)"
# the same run failing its own expectations lists each of them, and the naive run's under it
sed 's/^expect mappings 2$/expect mappings 1/' $scn.s > $scn.t
printf 'expect mapped 0x10000 ram 0x10000\n' >> $scn.t
got=$("$v" replay $scn.t --compare-naive | sed -n '/^5 commits/p;/^this run/,/^commits/p')
same "failed expectations" "$got" "5 commits on sim:type1v2, policy minimal: 2 of 3 expectations and 0 of 6 invariant checks FAILED, 0 host errors
this run: 2 of 3 expectations and 0 of 6 invariant checks failed
  $scn.t:13: mappings: 2, expected 1
  $scn.t:14: IOVA 0x10000: not mapped

the naive run: 3 of 3 expectations and 0 of 6 invariant checks failed
  $scn.t:12: windows: 6, expected 0
  $scn.t:13: mappings: 2, expected 1
  $scn.t:14: IOVA 0x10000: not mapped

commits (host calls and reports over all backends; --verbose lists each host call)"
expect_rc 1 replay $scn.t --compare-naive
# --verbose: each commit row names its host calls (IOVA range, size, permission, host address)
got=$("$v" replay $scn.s --verbose | sed -n '/^  commit /,/^$/p')
same "--verbose" "$got" "  commit   line    map  unmap  windows  mappings  reports
       1      7      2      0        0         2        0
           map   [0x0, 0xffff] 64.00 KiB rw host 0x100000000000
           map   [0x20000, 0x1fffff] 1.88 MiB rw host 0x100000020000
       2      9      1      0        0         3        0
           map   [0x10000, 0x1ffff] 64.00 KiB rw host 0x100000010000
       3     10      0      1        0         2        0
           unmap [0x10000, 0x1ffff] 64.00 KiB
       4      9      1      0        0         3        0
           map   [0x10000, 0x1ffff] 64.00 KiB rw host 0x100000010000
       5     10      0      1        0         2        0
           unmap [0x10000, 0x1ffff] 64.00 KiB"
# two backends: each call says whose it is; a refused call says why
printf 'ram r 8K\nadd root r 0\nattach sim:iommufd\nramdev d 4K\nadd root d 0xfee00000\n' > $scn.t
got=$("$v" replay $scn.t --verbose | sed -n '/^  commit /,/^$/p')
same "--verbose, two backends" "$got" "  commit   line    map  unmap  windows  mappings  reports
       1      2      1      0        0         1        0
           map   [0x0, 0x1fff] 8.00 KiB rw host 0x100000000000
  line 5: skipped RAM device: inside a reserved IOVA window: [0xfee00000, 0xfee00fff] region 'd'
  line 5: skipped RAM device: inside a reserved IOVA window: [0xfee00000, 0xfee00fff] region 'd'
       2      5      0      0        0         1        2
           backend 2: map   [0x0, 0x1fff] 8.00 KiB rw host 0x100000000000"
# `make run`: only the CLI's output (no build output when the build works), and the build's output when it fails
got=$(env -u MAKEFLAGS -u MAKELEVEL make -s --no-print-directory -C "$2" run BUILD="$1" 2>&1 | grep -v '^  time ')
want=$(cd "$2" && "$v" replay examples/boot.scn --compare-naive 2>&1 | grep -v '^  time ')
same "make run" "$got" "$want"
printf '#!/bin/sh\necho "the build log"\nexit 1\n' > $scn.cmake
chmod +x $scn.cmake
got=$(env -u MAKEFLAGS -u MAKELEVEL make -s --no-print-directory -C "$2" run BUILD=$scn.build CMAKE=$scn.cmake 2>&1; echo "exit $?")
got=$(printf '%s\n' "$got" | grep -v '^make: \*\*\*')
same "make run, failed build" "$got" "the build log
make run: the build failed (its output is above and in $scn.build/cli-build.log)
exit 2"
rm -rf $scn.build $scn.cmake
# issue 17 §7: --svg. Per panel (run, backend) the rects of each class, against the run's own counts
svg_counts() { # SVG -> "panel class count" lines
	awk '/<g class="panel"/ { match($0, /data-run="[0-9]+" data-backend="[0-9]+"/); p = substr($0, RSTART, RLENGTH); gsub(/[^0-9 ]/, "", p); sub(/ /, "/", p) }
	     /<rect class="(map|window|skip|error|reserved)"/ { match($0, /class="[a-z]+"/); c = substr($0, RSTART + 7, RLENGTH - 8); n[p " " c]++ }
	     /data-bytes=/ { match($0, /data-bytes="[0-9]+"/); b[p] += substr($0, RSTART + 12, RLENGTH - 13) }
	     END { for (k in n) print k, n[k]; for (k in b) printf "%s window-bytes %.0f\n", k, b[k] }' "$1" | sort
}
json_field() { # JSON RUN FIELD
	printf '%s' "$1" | sed -n "s/.*\"$2\": {[^}]*\"$3\": \([0-9]*\).*/\1/p"
}
for fb in "$2/examples/boot.scn sim:type1v2" "$2/examples/boot.scn sim:type1v1" "$2/examples/boot.scn sim:iommufd" \
	"$2/examples/merge-churn.scn sim:type1v2" "$2/examples/virtio-mem.scn sim:iommufd" "$2/examples/boot-vm.scn sim:type1v1" \
	"$scn.s sim:type1v2"; do
	f=${fb% *} b=${fb#* }
	"$v" replay "$f" --backend $b --svg $scn.svg --quiet >/dev/null
	js=$("$v" replay "$f" --backend $b --compare-naive --json)
	got=$(svg_counts $scn.svg)
	want=$( {
		for r in result naive; do
			n=1; [ $r = naive ] && n=2
			echo "$n/1 map $(json_field "$js" $r map_ops)"
			w=$(json_field "$js" $r windows); [ "$w" -gt 0 ] && echo "$n/1 window $w" && echo "$n/1 window-bytes $(json_field "$js" $r window_bytes)"
			k=$(json_field "$js" $r skipped); [ "$k" -gt 0 ] && echo "$n/1 skip $k"
			echo "$n/1 reserved 2"	# the x86 simulator: the interrupt window and everything above 2^39
		done; } | sort)
	same "svg counts $f $b" "$got" "$want"
	# deterministic: the same file gives the same bytes
	"$v" replay "$f" --backend $b --svg $scn.svg2 --quiet >/dev/null
	if cmp -s $scn.svg $scn.svg2; then ok_line; else no_line "svg deterministic $f" "differs" "same bytes"; fi
done
# a window's rect spans the IOVA the unmap removed, in its commit's column
got=$(grep -c '<rect class="window" x="430" y="96" width="40" height="11" fill="#d62728" data-first="0x0" data-last="0xffff" data-bytes="65536">' $scn.svg)
same "svg window rect" "$got" 1
# the file's name is text in the picture, escaped
cp $scn.s "$scn.a&b<c>.scn"
"$v" replay "$scn.a&b<c>.scn" --svg $scn.svg --quiet >/dev/null
got=$(grep -c "^<text x=\"10\" y=\"18\" font-size=\"13\">viommu replay $scn.a&amp;b&lt;c&gt;.scn: " $scn.svg)
same "svg escapes the file name" "$got" 1
rm -f "$scn.a&b<c>.scn"
# a commit of more host calls than the simulator's timeline holds (4096): --verbose says so, the picture is
# redrawn from the backend's mappings in both runs and says so
printf 'ram pool 32M\nbegin\nrepeat 5000\nalias b{i} pool {i}*4K 4K\nunmergeable b{i} on\nadd root b{i} {i}*4K\nend\ncommit\nexpect mappings 5000\n' > $scn.big
got=$("$v" replay $scn.big --verbose --svg $scn.svg | grep -c 'not recorded\|^           map ')
same "--verbose, timeline full" "$got" 4097
same "svg, timeline full" "$(grep -c 'class="map"' $scn.svg) $(grep -c '>host calls not recorded from commit 1: redrawn from the backend<' $scn.svg)" "10000 2"
rm -f $scn.big
expect_rc 2 replay $scn.s --svg /nonexistent/dir/out.svg
expect_rc 2 replay $scn.s --svg
# issue 17 §7: a progress line on stderr when it is a terminal and the run is longer than a second
# (VIOMMU_PROGRESS_AFTER=0 starts it at once); never when stderr is not a terminal. script(1) gives the terminal;
# its stdin must be open (CI may have none)
prog() { tr '\r' '\n' | sed -n 's/^\(viommu replay: .*, \)[0-9.]* s\x1b\[K$/\1T/p' | sort -u; }
got=$(VIOMMU_PROGRESS_AFTER=0 script -qec "$v replay $scn.s --compare-naive" /dev/null </dev/null | prog)
same "progress on a terminal" "$got" "viommu replay: naive run, commit 1, line 7 of 13, T
viommu replay: viommu run, commit 1, line 7 of 13, T"
got=$(VIOMMU_PROGRESS_AFTER=0 script -qec "$v replay $scn.s --compare-naive 2>$scn.err" /dev/null </dev/null | prog)
same "no progress when stderr is a file (stdout a terminal)" "$got$(cat $scn.err)" ""
got=$(script -qec "$v replay $scn.s" /dev/null </dev/null | prog)
same "no progress in a short run" "$got" ""
# a long run (200,000 commits) with the default second: a progress line if and only if it took longer
# (its own summary says how long)
printf 'ram r 64M\nmmio m 4K\nadd root r 0\nrepeat 100000\nadd root m 0x10000 prio=1\ndel root m\nend\n' > $scn.l
out=$(script -qec "$v replay $scn.l --quiet" /dev/null </dev/null | tr '\r' '\n')
ms=$(printf '%s\n' "$out" | sed -n 's/^  time *\([0-9]*\)\..*/\1/p')
shown=$(printf '%s\n' "$out" | grep -c '^viommu replay: viommu run, commit ')
# (between 1 and 1.5 s either is right: the last commit may come before the second and the end after it)
if { [ "$ms" -gt 1500 ] && [ "$shown" -gt 0 ]; } || { [ "$ms" -lt 1000 ] && [ "$shown" -eq 0 ]; } || { [ "$ms" -ge 1000 ] && [ "$ms" -le 1500 ]; }; then ok_line; else no_line "long run progress ($ms ms)" "$shown lines" "lines iff > 1 s"; fi
"$v" replay $scn.l --quiet 2>$scn.err >/dev/null
same "long run, stderr not a terminal" "$(cat $scn.err)" ""
rm -f $scn.s $scn.t $scn.svg $scn.svg2 $scn.err $scn.l
rm -f $scn.g $scn.w $scn.e $scn.c $scn.b $scn.h $scn.p
rm -f $scn.ok $scn.fail $scn.bad
rm -f /tmp/viommu-cli.$$
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]

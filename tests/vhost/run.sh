#!/usr/bin/env bash
# make check-vhost: a real Linux guest does block I/O through QEMU's
# intel-iommu with a device TLB, to a vhost-user-blk device served by
# `viommu vhost-user-blk`, whose every guest address goes through viommu's
# device IOTLB. Per mode (caching mode on/off x strict/lazy invalidation):
#
#  - the guest's stock virtio_blk driver writes a 1 MiB pattern (O_DIRECT,
#    fsync), reads it back directly and through the page cache, syncs;
#  - the guest then drives the same device from user space through VFIO
#    (tests/vhost/guest/vblk_unmap.c): after it unmaps a buffer, a descriptor
#    still pointing at it must be refused (VIRTIO_BLK_S_IOERR);
#  - the host compares the whole image byte for byte with the expected one,
#    checks the back-end's refusal and miss-failure counts, and prints its
#    IOTLB counts (updates, misses, invalidations, translations).
#
# QEMU 10.0.2 comes from bookworm-backports (unpacked into the cache, never
# installed; 7.2's vhost start segfaults under TCG), the guest kernel is
# Debian's stock 6.1 (tests/vm/lib.sh fetches it).
#
# With --viommu, QEMU is the one `make check-qemu` builds (qemu/build.sh,
# cached by hash) and its intel-iommu runs with viommu=MODE (issue 13's last
# check): `shadow` answers with QEMU's model while viommu's VT-d decodes the
# same descriptors, `replace` answers with viommu's. Both count the guest's
# device-TLB descriptors (viommu's devtlb_inv), and the glue's probe
# notifier, registered as vhost registers its own (DEVIOTLB_UNMAP on the two
# sections around the interrupt window), counts the events a vhost-style
# listener receives and how many are not aligned 2^n blocks; the back-end
# counts the IOTLB invalidate messages that reach it. viommu's VT-d has no
# interrupt remapping: these runs have intremap=off (both models).
#
# usage: tests/vhost/run.sh [--build DIR] [--qemu BIN] [--modes LIST] [--viommu MODES] [--keep]
#   --qemu BIN	another qemu-system-x86_64 (e.g. one with viommu's VT-d); its
#		data directory may be given with VIOMMU_VHOST_QEMU_DATA
#   --modes	comma-separated from cm-on-strict,cm-on-lazy,cm-off-strict,cm-off-lazy
#   --viommu	comma-separated from shadow,replace (each run once per mode)
# exit: 0 all passed, 1 a check failed, 77 QEMU or the kernel cannot be had.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$top/build
qemu_bin=${VIOMMU_VHOST_QEMU:-}
modes=cm-on-strict,cm-on-lazy,cm-off-strict,cm-off-lazy
keep=0
viommu_modes=
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$(cd "$2" && pwd); shift 2 ;;
	--qemu) qemu_bin=$2; shift 2 ;;
	--modes) modes=$2; shift 2 ;;
	--viommu) viommu_modes=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	*) echo "usage: $0 [--build DIR] [--qemu BIN] [--modes LIST] [--viommu MODES] [--keep]" >&2; exit 2 ;;
	esac
done
cache=${VIOMMU_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/viommu-vm}
mkdir -p "$cache"
. "$top/tests/vm/lib.sh"
. "$here/lib.sh"
timeout_s=${VIOMMU_VHOST_TIMEOUT:-420}

finish() {
	echo "$1" > "$build/check-vhost.status" 2>/dev/null || true
	[ "$1" = 77 ] && vh_log "SKIP: QEMU 10.0.2 or the guest kernel cannot be had on this machine"
	exit "$1"
}
[ -x "$build/viommu" ] || { vh_log "no $build/viommu: build first (make all)"; finish 1; }
vm_ensure_tools || finish 77	# cpio, kmod, a static libc, and QEMU 7.2's libraries for 10.0.2
if [ -n "$viommu_modes" ]; then
	# the check-qemu binary: it loads the current libviommu (LD_LIBRARY_PATH below)
	[ -n "$qemu_bin" ] || qemu_bin=$("$top/qemu/build.sh" \
		"${VIOMMU_QEMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/viommu-qemu}" "$build") ||
		{ vh_log "QEMU with the integration cannot be built"; finish 1; }
	export LD_LIBRARY_PATH=$build${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	qdata=${VIOMMU_VHOST_QEMU_DATA:-/usr/share/qemu}
	qmod=
elif [ -n "$qemu_bin" ]; then
	qdata=${VIOMMU_VHOST_QEMU_DATA:-}
	qmod=
else
	qdir=$(vh_qemu) || finish 77
	qemu_bin=$qdir/usr/bin/qemu-system-x86_64
	qdata=$qdir/usr/share/qemu
	qmod=$qdir/usr/lib/x86_64-linux-gnu/qemu
fi
qver=$(QEMU_MODULE_DIR=$qmod "$qemu_bin" --version 2>&1 | head -n1) || { vh_log "$qemu_bin does not run: $qver"; finish 77; }
kdir=$(vm_stock_kernel) || finish 77
work=$(mktemp -d /tmp/viommu-vhost.XXXXXX)
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
gcc -static -O2 -Wall -Wextra -Werror -o "$work/vblk_unmap" "$here/guest/vblk_unmap.c" || finish 1
initrd=$(vh_initramfs "$kdir" "$work") || finish 1
vh_log "$qver; guest kernel $(ls "$kdir/lib/modules")"

# The expected image: zeros, the kernel test's 1 MiB at 0, vblk_unmap's 4 KiB at sector 8192.
img_bytes=$((64 * 1024 * 1024))
truncate -s $img_bytes "$work/expected.img"
"$work/vblk_unmap" pattern $((1024 * 1024)) | dd of="$work/expected.img" conv=notrunc status=none
"$work/vblk_unmap" buffer-a | dd of="$work/expected.img" bs=512 seek=8192 conv=notrunc status=none

failed=0
summary=()
runs=()
for mode in ${modes//,/ }; do
	if [ -n "$viommu_modes" ]; then
		for v in ${viommu_modes//,/ }; do runs+=("$mode/$v"); done
	else
		runs+=("$mode/")
	fi
done
for run in "${runs[@]}"; do
	mode=${run%/*} vmode=${run#*/}
	case $vmode in
	'') iommu=intel-iommu,intremap=on ;;
	shadow|replace) iommu=intel-iommu,intremap=off,viommu=$vmode ;;
	*) vh_log "unknown viommu mode $vmode"; finish 2 ;;
	esac
	case $mode in
	cm-on-strict) cm=on strict=1 ;;
	cm-on-lazy) cm=on strict=0 ;;
	cm-off-strict) cm=off strict=1 ;;
	cm-off-lazy) cm=off strict=0 ;;
	*) vh_log "unknown mode $mode"; finish 2 ;;
	esac
	tag=$mode${vmode:+-$vmode}
	img=$work/disk-$tag.img blog=$work/backend-$tag.log clog=$work/console-$tag.log sock=$work/vu-$tag.sock
	stats=$work/stats-$tag
	: > "$stats"
	rm -f "$img" && truncate -s $img_bytes "$img"
	"$build/viommu" vhost-user-blk --socket "$sock" --file "$img" --once > "$blog" 2>&1 &
	bpid=$!
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
	start=$(date +%s)
	qargs=()
	[ -n "$qdata" ] && qargs+=(-L "$qdata")
	[ -d /usr/share/seabios ] && qargs+=(-L /usr/share/seabios)
	[ -n "$vmode" ] && [ -d /usr/lib/ipxe/qemu ] && qargs+=(-L /usr/lib/ipxe/qemu)
	VIOMMU_QEMU_STATS=$stats VIOMMU_QEMU_PROBE=1 QEMU_MODULE_DIR=$qmod timeout --foreground -k 5 "$timeout_s" "$qemu_bin" "${qargs[@]}" \
		-machine q35,accel=tcg,kernel-irqchip=split -cpu max -m 512 -smp 1 \
		-object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem \
		-device "$iommu,device-iotlb=on,caching-mode=$cm" \
		-chardev socket,id=vu0,path="$sock" \
		-device vhost-user-blk-pci,chardev=vu0,iommu_platform=on,ats=on,disable-legacy=on \
		-kernel "$kdir/vmlinuz" -initrd "$initrd" \
		-append "console=ttyS0 intel_iommu=on iommu.strict=$strict panic=-1 loglevel=4 no_timer_check" \
		-nographic -nodefaults -serial stdio -monitor none -no-reboot </dev/null > "$clog" 2>&1 || true
	secs=$(( $(date +%s) - start ))
	brc=0
	for _ in $(seq 50); do kill -0 $bpid 2>/dev/null || break; sleep 0.1; done
	if kill -0 $bpid 2>/dev/null; then kill $bpid; brc=124; fi
	wait $bpid || brc=$?
	sed -n 's/\r$//; /^VHOST-VM:/p; /^case /p; /passed, .* failed/p; /DMAR: \[/p; /^SKIP/p' "$clog" | sed "s/^/[$tag] /"
	ok=1
	grep -q "^VHOST-VM: done" "$clog" || { vh_log "$tag: the guest did not finish in $secs s"; ok=0; }
	grep -q "^case .* FAIL" "$clog" && ok=0
	[ "$(grep -c '^case .* ok' "$clog")" = 14 ] || { vh_log "$tag: not every case ran"; ok=0; }
	[ "$(grep -c ' passed, 0 failed' "$clog")" = 2 ] || ok=0
	[ $brc = 0 ] || { vh_log "$tag: the back-end exited with $brc"; ok=0; }
	if cmp -s "$img" "$work/expected.img"; then
		cmpres="image identical to the expected one ($img_bytes bytes)"
	else
		cmpres="IMAGE DIFFERS: $(cmp "$img" "$work/expected.img" 2>&1 | head -n1)"
		ok=0
	fi
	upd=$(vh_stat "$blog" updates) inv=$(vh_stat "$blog" invalidations) top=$(vh_stat "$blog" to_top)
	mis=$(vh_stat "$blog" misses) mfail=$(vh_stat "$blog" miss_failures) tr=$(vh_stat "$blog" translations)
	req=$(vh_stat "$blog" requests) ref=$(vh_stat "$blog" refused) wr=$(vh_stat "$blog" writes)
	fl=$(vh_stat "$blog" flushes)
	# vblk_unmap's two requests into the unmapped buffer, and nothing else, are refused
	[ "${ref:-x}" = 2 ] || { vh_log "$tag: the back-end refused ${ref:-?} requests, expected 2"; ok=0; }
	[ "${mfail:-0}" -ge 2 ] || { vh_log "$tag: ${mfail:-?} misses failed, expected at least 2"; ok=0; }
	[ "${upd:-0}" -gt 0 ] && [ "${inv:-0}" -gt 0 ] && [ "${mis:-0}" -gt 0 ] && [ "${tr:-0}" -gt 0 ] &&
		[ "${fl:-0}" -gt 0 ] || { vh_log "$tag: no IOTLB traffic or no flush"; ok=0; }
	# a lazy guest without caching mode flushes with [0, 0xfee00000) and a range ending at 2^64
	if [ $mode = cm-off-lazy ] && [ "${top:-0}" -lt 1 ]; then
		vh_log "$tag: no invalidation ending at 2^64"; ok=0
	fi
	# issue 13: IOTLB invalidate messages per guest device-TLB descriptor
	dtlb=
	if [ -n "$vmode" ]; then
		st=$(cat "$stats")
		sv() { echo "$st" | sed -n 's/.* '"$1"'=\([0-9]*\).*/\1/p'; }
		desc=$(sv devtlb_inv) ev=$(sv devtlb_probe_deviotlb) un=$(sv devtlb_probe_unaligned)
		mm=$(sv mismatches)
		dtlb=$(printf ' viommu=%s devtlb_descriptors=%s probe_events=%s probe_unaligned=%s backend_invalidations=%s mismatches=%s' \
			"$vmode" "${desc:-?}" "${ev:-?}" "${un:-?}" "$inv" "${mm:-?}")
		[ -n "$desc" ] && [ "$desc" -gt 0 ] || { vh_log "$tag: viommu saw no device-TLB descriptor"; ok=0; }
		[ "$vmode" != shadow ] || [ "${mm:-x}" = 0 ] || { vh_log "$tag: shadow mismatches: ${mm:-?}"; ok=0; }
	fi
	line=$(printf '%-13s %3ss  updates=%s misses=%s miss_failures=%s invalidations=%s (to 2^64: %s) translations=%s requests=%s writes=%s flushes=%s refused=%s; %s' \
		"$tag" "$secs" "$upd" "$mis" "$mfail" "$inv" "$top" "$tr" "$req" "$wr" "$fl" "$ref" "$cmpres")$dtlb
	summary+=("$([ $ok = 1 ] && echo ok || echo FAIL) $line")
	if [ $ok = 0 ]; then
		failed=1
		vh_log "$tag failed; back-end log and console tail follow"
		cat "$blog" >&2
		tail -n 40 "$clog" >&2
	fi
done
vh_log "results ($qver, Debian $(ls "$kdir/lib/modules")):"
for l in "${summary[@]}"; do echo "check-vhost: $l"; done
[ "$keep" = 1 ] && vh_log "work files kept in $work"
finish $failed

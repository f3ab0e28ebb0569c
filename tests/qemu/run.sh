#!/usr/bin/env bash
# make check-qemu: boot the guests of tests/vm with their IOMMU on viommu's
# models inside QEMU (qemu/, docs/design.md "QEMU integration") and check
# that every guest result equals the same suite on QEMU's own model, same
# binary, viommu=off.
#
# Runs (name: kernel, device):
#   vtd-{off,replace,shadow}-{stock,iommufd}   intel-iommu,intremap=off,caching-mode=on
#   virtio-{off,replace,shadow}-iommufd        virtio-iommu-pci (6.12 with CONFIG_VIRTIO_IOMMU)
# Interrupt remapping is not part of viommu's VT-d: every VT-d run, QEMU's
# model included, has intremap=off, so the comparison is like for like.
#
# usage: tests/qemu/run.sh [--build DIR] [--only REGEX] [--qemu BIN] [--keep]
#   --qemu BIN	a qemu-system-x86_64 already built by qemu/build.sh (not rebuilt)
# exit: 0 all equal and passed, 1 otherwise, 77 QEMU or a kernel cannot be had.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$top/build
only=.
keep=0
qemu=
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$(cd "$2" && pwd); shift 2 ;;
	--only) only=$2; shift 2 ;;
	--qemu) qemu=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	*) echo "usage: $0 [--build DIR] [--only REGEX] [--qemu BIN] [--keep]" >&2; exit 2 ;;
	esac
done
log() { echo "check-qemu: $*" >&2; }
# The status also goes to BUILD/check-qemu.status: `make check-qemu` turns every
# failure into 2 and CI must tell a skip (77) from a failure.
status=1
trap 'echo $status > "$build/check-qemu.status" 2>/dev/null || true' EXIT
rm -f "$build/check-qemu.status"
qcache=${VIOMMU_QEMU_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/viommu-qemu}
cache=${VIOMMU_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/viommu-vm}
mkdir -p "$qcache" "$cache"

t0=$(date +%s)
[ -n "$qemu" ] || qemu=$("$top/qemu/build.sh" "$qcache" "$build") ||
	{ log "QEMU with the integration cannot be built"; exit 1; }
log "QEMU: $qemu (ready after $(( $(date +%s) - t0 )) s)"

work=$(mktemp -d /tmp/viommu-qemu.XXXXXX)
[ "$keep" = 1 ] || trap 'rm -rf "$work"; echo $status > "$build/check-qemu.status" 2>/dev/null || true' EXIT
# The binary finds the current libviommu through LD_LIBRARY_PATH; firmware
# from Debian's seabios / ipxe-qemu / qemu-system-data packages.
cat > "$work/qemu" <<EOF
#!/bin/sh
LD_LIBRARY_PATH=$build\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH} exec "$qemu" \\
	-L /usr/share/seabios -L /usr/lib/ipxe/qemu -L /usr/share/qemu "\$@"
EOF
chmod +x "$work/qemu"
lib=$(LD_LIBRARY_PATH=$build ldd "$qemu" | awk '/libviommu/ {print $3}')
[ "$lib" = "$(cd "$build" && pwd)/libviommu.so.0" ] || { log "QEMU loads '$lib', not $build/libviommu.so.0"; exit 1; }

export VIOMMU_VM_QEMU=$work/qemu
here=$top/tests/vm		# lib.sh finds kernel.sh and guest/ through it
. "$here/lib.sh"
vm_ensure_tools || { status=77; exit 77; }
vm_build_guest_programs "$build" "$work/bin" || exit 1

# What a run's verdict is made of: the guest's result lines without timings.
results() {
	sed -n 's/\r$//; /^ok /p; /^FAIL/p; /^case /p; /^caps /p; /^replay /p; /passed, .* failed/p; /^VIOMMU-VM: exit /p' "$1" |
		sed -E 's/[0-9]+(\.[0-9]+)? ?(ms|us|ns|s)\b/T/g' | sed "s/$2/TAG/g" |
		sed -E '/ race_naive /s/ (bad|windows|faults)=[0-9]+/ \1=N/g'
}
# (race_naive's bad reads, windows and the faults its windows cause count what
# the scheduler let through a policy that opens windows; only its verdict is
# compared.)

stock=$(vm_stock_kernel) || stock=
iommufd=$(vm_iommufd_kernel) || iommufd=
[ -n "$iommufd" ] && ! grep -q '^CONFIG_VIRTIO_IOMMU=y' "$iommufd/config" && {
	log "the 6.12 kernel lacks CONFIG_VIRTIO_IOMMU"; iommufd=; }
export VIOMMU_QEMU_PROBE=1
# Neither VT-d without interrupt remapping nor virtio-iommu on x86 isolates
# MSIs, so VFIO refuses the device (EPERM) unless told it may
# (drivers/vfio/vfio_iommu_type1.c, vfio_iommu_type1_attach_group;
# drivers/iommu/iommufd/device.c, allow_unsafe_interrupts). Every run, QEMU's
# models included, gets the same parameters.
VM_TYPE1_ARGS="allow_unsafe_interrupts=1"
VM_APPEND="$VM_APPEND vfio_iommu_type1.allow_unsafe_interrupts=1 iommufd.allow_unsafe_interrupts=1"
rc=0 ran=0
printf '%-26s %6s %8s %s\n' run result boot_s counters > "$work/table"
for dev in vtd virtio; do
	for k in stock iommufd; do
		[ $dev = virtio ] && [ $k = stock ] && continue	# Debian's 6.1 has no virtio-iommu driver
		kdir=${!k}
		[ -n "$kdir" ] || { log "SKIP $dev on $k: no kernel"; rc=1; continue; }
		for mode in off replace shadow; do
			tag=$dev-$mode-$k
			[[ $tag =~ $only ]] || continue
			case $dev in
			vtd) VM_IOMMU_ARGS="-device intel-iommu,intremap=off,caching-mode=on,aw-bits=39,viommu=$mode" ;;
			virtio) VM_IOMMU_ARGS="-device virtio-iommu-pci,viommu=$mode" ;;
			esac
			export VIOMMU_QEMU_STATS=$work/stats-$tag
			: > "$VIOMMU_QEMU_STATS"
			start=$(date +%s)
			verdict=pass
			vm_boot_and_check "$tag" "$kdir" "$work" || { verdict=FAIL; rc=1; }
			secs=$(( $(date +%s) - start ))
			ran=$((ran + 1))
			results "$work/console-$tag.log" "$tag" > "$work/results-$tag"
			if [ $mode != off ] && [ -f "$work/results-$dev-off-$k" ]; then
				if ! diff -u "$work/results-$dev-off-$k" "$work/results-$tag" > "$work/diff-$tag"; then
					log "$tag: results differ from QEMU's own model:"; cat "$work/diff-$tag" >&2
					verdict=DIFF; rc=1
				fi
			fi
			if [ $mode = shadow ] && ! grep -q ' mismatches=0 ' "$VIOMMU_QEMU_STATS"; then
				log "$tag: shadow mismatches:"; grep -h 'viommu shadow' "$work/console-$tag.log" | head -n 20 >&2
				verdict=MISMATCH; rc=1
			fi
			printf '%-26s %6s %8s %s\n' "$tag" "$verdict" "$secs" \
				"$(sed 's/^viommu-qemu //' "$VIOMMU_QEMU_STATS" | tr '\n' ' ')" >> "$work/table"
		done
	done
done
cat "$work/table"
[ -n "${VIOMMU_QEMU_TABLE:-}" ] && cp "$work/table" "$VIOMMU_QEMU_TABLE"
[ $ran -gt 0 ] || { status=77; exit 77; }
[ "$keep" = 1 ] && log "work files kept in $work"
log "total $(( $(date +%s) - t0 )) s"
status=$rc
exit $rc

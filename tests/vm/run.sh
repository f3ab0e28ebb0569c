#!/usr/bin/env bash
# make check-vm: run the guest test programs in a QEMU q35 guest with an
# emulated VT-d (caching mode) and the edu DMA device, against a real Linux
# kernel (docs/design.md, "Real-kernel tests"). Installs what it needs from Debian's
# archive; caches kernels and packages outside the work tree.
#
# usage: tests/vm/run.sh [--build DIR] [--kernel stock|iommufd|all] [--keep]
# exit: 0 all passed, 1 a case failed, 77 QEMU or a kernel cannot be had.
# The status is also written to BUILD/check-vm.status, because `make check-vm`
# turns every failure into 2 and CI must tell a skip (77) from a failure.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
build=$top/build
kernels=all
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$(cd "$2" && pwd); shift 2 ;;
	--kernel) kernels=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	*) echo "usage: $0 [--build DIR] [--kernel stock|iommufd|all] [--keep]" >&2; exit 2 ;;
	esac
done
finish() {
	echo "$1" > "$build/check-vm.status" 2>/dev/null || true
	[ "$1" = 77 ] && vm_log "SKIP: QEMU or a guest kernel cannot be had on this machine"
	exit "$1"
}
rm -f "$build/check-vm.status"
cache=${VIOMMU_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/viommu-vm}
mkdir -p "$cache"
. "$here/lib.sh"

vm_ensure_tools || finish 77
work=$(mktemp -d /tmp/viommu-vm.XXXXXX)
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
vm_build_guest_programs "$build" "$work/bin" || finish 1

case $kernels in
stock|iommufd|all) ;;
*) echo "unknown kernel '$kernels'" >&2; finish 2 ;;
esac
# 0 when every kernel ran and passed; 1 when any case failed; 77 only when no
# kernel could be had at all.
ran=0 failed=0 skipped=0
if [ "$kernels" != iommufd ]; then
	if kdir=$(vm_stock_kernel); then
		ran=$((ran + 1)); vm_boot_and_check stock "$kdir" "$work" || failed=1
	else
		vm_log "SKIP stock kernel: cannot fetch it from Debian's archive"; skipped=1
	fi
fi
if [ "$kernels" != stock ]; then
	if kdir=$(vm_iommufd_kernel); then
		ran=$((ran + 1)); vm_boot_and_check iommufd "$kdir" "$work" || failed=1
	else
		vm_log "SKIP iommufd kernel: cannot build it"; skipped=1
	fi
fi
rc=0
[ $failed = 1 ] && rc=1
[ $failed = 0 ] && [ $ran = 0 ] && rc=77
[ $failed = 0 ] && [ $ran -gt 0 ] && [ $skipped = 1 ] && [ "$kernels" = all ] && { vm_log "a kernel was skipped: failing"; rc=1; }
[ "$keep" = 1 ] && echo "check-vm: work files kept in $work"
finish $rc

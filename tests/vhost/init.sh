#!/bin/sh
# /init of the vhost-user guest (tests/vhost/run.sh): load the virtio and
# VFIO modules, write a pattern to the vhost-user disk through the stock
# virtio_blk driver and read it back, then hand the device to vfio-pci and
# run vblk_unmap (a descriptor pointing at an unmapped buffer must be
# refused). Every line the host judges starts with "case ", "VHOST-VM:" or
# ends with "passed, N failed".
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "VHOST-VM: kernel $(uname -r): $(cat /proc/cmdline)"
while read -r mod; do
	[ -n "$mod" ] && { insmod "$mod" || echo "VHOST-VM: insmod $mod failed"; }
done < /modules.list
pass=0 fail=0
case_() { if [ "$2" = ok ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi; echo "case $1 $2${3:+: $3}"; }
n=0
while [ ! -b /dev/vda ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
if [ -b /dev/vda ]; then
	case_ disk_present ok "$(cat /sys/block/vda/size) sectors"
	grep -o 'iommu.strict=[01]' /proc/cmdline
	bytes=$((1024 * 1024))
	vblk_unmap pattern $bytes > /tmp/pattern
	if dd if=/tmp/pattern of=/dev/vda bs=65536 oflag=direct conv=fsync 2>/dev/null; then
		case_ kernel_write ok "$bytes bytes, O_DIRECT, fsync"
	else
		case_ kernel_write FAIL
	fi
	dd if=/dev/vda of=/tmp/back bs=65536 count=16 iflag=direct 2>/dev/null
	if cmp -s /tmp/pattern /tmp/back; then case_ kernel_readback_direct ok
	else case_ kernel_readback_direct FAIL "$(cmp /tmp/pattern /tmp/back 2>&1 | head -n1)"; fi
	sync
	echo 3 > /proc/sys/vm/drop_caches
	dd if=/dev/vda of=/tmp/back2 bs=4096 count=256 2>/dev/null
	if cmp -s /tmp/pattern /tmp/back2; then case_ kernel_readback_cached ok
	else case_ kernel_readback_cached FAIL "$(cmp /tmp/pattern /tmp/back2 2>&1 | head -n1)"; fi
	sync
else
	case_ disk_present FAIL "no /dev/vda"
fi
echo "$pass passed, $fail failed"

# the same device, now driven from user space through VFIO
dev=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat "$d/vendor"):$(cat "$d/device")" = "0x1af4:0x1042" ] && dev=$d
done
if [ -n "$dev" ]; then
	bdf=${dev##*/}
	[ -e "$dev/driver" ] && echo "$bdf" > "$dev/driver/unbind"
	echo vfio-pci > "$dev/driver_override"
	echo "$bdf" > /sys/bus/pci/drivers_probe
	group=$(basename "$(readlink "$dev/iommu_group")")
	echo "VHOST-VM: $bdf group $group driver $(basename "$(readlink "$dev/driver")")"
	echo "VHOST-VM: run vblk_unmap"
	vblk_unmap "/dev/vfio/$group" "$bdf"
	echo "VHOST-VM: exit vblk_unmap $?"
else
	echo "VHOST-VM: no virtio-blk device"
fi
echo "VHOST-VM: done"
poweroff -f

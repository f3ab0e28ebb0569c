#!/bin/sh
# /init of the test guest (docs/design.md, "Real-kernel tests"): mount the pseudo filesystems, load the
# VFIO modules in dependency order, bind the edu device to vfio-pci, run every
# test program named in /tests.list and power off. Each program prints its own
# case lines and a final "N passed, N failed"; the host parses the console.
export PATH=/bin:/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "VIOMMU-VM: kernel $(uname -r)"
while read -r mod params; do
	[ -n "$mod" ] || continue
	insmod "$mod" $params || echo "VIOMMU-VM: insmod $mod failed"
done < /modules.list
# Every edu device goes to vfio-pci; the first is VIOMMU_VM_BDF/GROUP/CDEV,
# the second (two IOASes and two containers, issue 15) VIOMMU_VM_BDF2/...
n=0
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor):$(cat $d/device)" = "0x1234:0x11e8" ] || continue
	n=$((n + 1))
	bdf=${d##*/}
	echo vfio-pci > "$d/driver_override"
	[ -e "$d/driver" ] && echo "$bdf" > "$d/driver/unbind"
	echo "$bdf" > /sys/bus/pci/drivers_probe
	group=$(basename "$(readlink "$d/iommu_group")")
	echo "VIOMMU-VM: edu $bdf group $group driver $(basename "$(readlink "$d/driver")")"
	cdev=$(ls "$d/vfio-dev" 2>/dev/null | head -n1)
	sfx=; [ $n = 1 ] || sfx=$n
	export VIOMMU_VM_BDF$sfx=$bdf VIOMMU_VM_GROUP$sfx=$group
	[ -n "$cdev" ] && export VIOMMU_VM_CDEV$sfx=/dev/vfio/devices/$cdev
done
[ $n -gt 0 ] || echo "VIOMMU-VM: no edu device"
while read -r prog args; do
	[ -n "$prog" ] || continue
	echo "VIOMMU-VM: run $prog"
	/bin/$prog $args
	echo "VIOMMU-VM: exit $prog $?"
done < /tests.list
echo "VIOMMU-VM: done"
poweroff -f

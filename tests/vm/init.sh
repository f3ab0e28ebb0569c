#!/bin/sh
# /init of the test guest (test-vm.md): mount the pseudo filesystems, load the
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
edu=
for d in /sys/bus/pci/devices/*; do
	[ "$(cat $d/vendor):$(cat $d/device)" = "0x1234:0x11e8" ] && edu=$d
done
if [ -z "$edu" ]; then
	echo "VIOMMU-VM: no edu device"
else
	bdf=${edu##*/}
	echo vfio-pci > "$edu/driver_override"
	[ -e "$edu/driver" ] && echo "$bdf" > "$edu/driver/unbind"
	echo "$bdf" > /sys/bus/pci/drivers_probe
	group=$(basename "$(readlink "$edu/iommu_group")")
	echo "VIOMMU-VM: edu $bdf group $group driver $(basename "$(readlink "$edu/driver")")"
	export VIOMMU_VM_BDF=$bdf VIOMMU_VM_GROUP=$group
	cdev=$(ls "$edu/vfio-dev" 2>/dev/null | head -n1)
	[ -n "$cdev" ] && export VIOMMU_VM_CDEV=/dev/vfio/devices/$cdev
fi
while read -r prog args; do
	[ -n "$prog" ] || continue
	echo "VIOMMU-VM: run $prog"
	/bin/$prog $args
	echo "VIOMMU-VM: exit $prog $?"
done < /tests.list
echo "VIOMMU-VM: done"
poweroff -f

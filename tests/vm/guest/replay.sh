#!/bin/sh
# `viommu replay` in the guest (issue 7): the scaled boot example on the real
# kernel (VFIO type1 v2 and v1 through the group, and iommufd through the
# device cdev on the iommufd kernel) must give the same summary as the same
# scenario on the simulated backend in the same semantics, for both the
# reconciler and QEMU's delete-then-add policy (--compare-naive). Compared:
# every count of the JSON summary except the backend's name, the run time and
# the invariant checks/expectations, which only a simulated backend can
# evaluate. Prints "replay SEM kernel=... sim=... ok" and "N passed, N failed".
kernel=${1:-stock}
scn=/examples/boot-vm.scn
limit=$(cat /sys/module/vfio_iommu_type1/parameters/dma_entry_limit 2>/dev/null || echo 65535)
pass=0 fail=0

summary() {
	/bin/viommu replay "$scn" --backend "$1" --compare-naive --json 2>&1 |
		sed -E 's/"(backend|seconds|checks|checks_failed|expects|expects_failed)": ("[^"]*"|[0-9.]+)(, )?//g; s/, }/}/g'
}

compare() {	# SEM REAL-SPEC SIM-SPEC
	k=$(summary "$2"); krc=$?
	s=$(summary "$3")
	if [ -n "$k" ] && [ "$k" = "$s" ] && echo "$k" | grep -q '"commits": 7'; then
		echo "replay $1 kernel=$k sim=$s ok"; pass=$((pass + 1))
	else
		echo "replay $1 kernel=$k sim=$s MISMATCH"; fail=$((fail + 1))
	fi
	[ $krc = 0 ] || { echo "replay $1: exit $krc"; fail=$((fail + 1)); }
	/bin/viommu replay "$scn" --backend "$2" --quiet >/dev/null 2>&1 && pass=$((pass + 1)) ||
		{ echo "replay $1: viommu replay $scn --backend $2 failed"; fail=$((fail + 1)); }
}

compare type1v2 "vfio:$VIOMMU_VM_GROUP" "sim:type1v2,limit=$limit"
compare type1v1 "vfio:$VIOMMU_VM_GROUP,v1" "sim:type1v1,limit=$limit"
if [ "$kernel" = iommufd ]; then
	compare iommufd "iommufd:$VIOMMU_VM_CDEV" "sim:iommufd"
fi
echo "$pass passed, $fail failed"
[ $fail = 0 ]

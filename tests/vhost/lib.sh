# Helpers for tests/vhost/run.sh (sourced after tests/vm/lib.sh, whose
# vm_fetch_deb, vm_busybox, vm_stock_kernel and vm_ensure_tools it uses).
# Everything fetched goes to $cache, as for make check-vm.
# shellcheck shell=bash

vh_log() { echo "check-vhost: $*" >&2; }

# apt options for a private bookworm-backports configuration in $cache
# (tests/vm/lib.sh vm_backports_apt; the same directory and sources list
# tests/vm/kernel.sh uses for linux-source).
vh_backports_apt() {
	vm_backports_apt "$cache/apt-backports" || return 1
	VH_APT=("${VM_BACKPORTS_APT[@]}")
}

# QEMU 10.0.2 from bookworm-backports, unpacked (never installed) into the
# cache: its vhost-user works under TCG where bookworm's 7.2 segfaults in
# vhost start. Prints the directory (usr/bin/qemu-system-x86_64 inside).
vh_qemu() {
	local want=${VIOMMU_VHOST_QEMU_VERSION:-10.0.2} ver dir deb
	vh_backports_apt || return 1
	ver=$(apt-cache "${VH_APT[@]}" show qemu-system-x86 2>/dev/null | awk '/^Version:/ {print $2}' |
	      grep -F ":$want+" | head -n1 || true)
	if [ -z "$ver" ]; then
		apt-get "${VH_APT[@]}" update -q >/dev/null 2>&1 || { vh_log "apt update of backports failed"; return 1; }
		ver=$(apt-cache "${VH_APT[@]}" show qemu-system-x86 | awk '/^Version:/ {print $2}' |
		      grep -F ":$want+" | head -n1 || true)
	fi
	[ -n "$ver" ] || { vh_log "no qemu-system-x86 $want in bookworm-backports"; return 1; }
	dir=$cache/pkg/qemu-$want
	if [ ! -f "$dir/.done" ]; then
		rm -rf "$dir" "$dir.debs" && mkdir -p "$dir.debs"
		(cd "$dir.debs" && apt-get "${VH_APT[@]}" download "qemu-system-x86=$ver" "qemu-system-common=$ver" \
			"qemu-system-data=$ver" >/dev/null 2>&1) || { vh_log "download of QEMU $ver failed"; return 1; }
		for deb in "$dir.debs"/*.deb; do
			dpkg-deb -x "$deb" "$dir" || return 1
		done
		rm -rf "$dir.debs"
		touch "$dir/.done"
	fi
	echo "$dir"
}

# Copy the modules the guest needs, with their dependencies in load order,
# from kernel directory $1 into root $2 (decompressed for busybox insmod) and
# list them in $2/modules.list.
vh_modules() {
	local kdir=$1 root=$2 kver m name
	kver=$(ls "$kdir/lib/modules" | head -n1)
	mkdir -p "$root/lib/modules"
	: > "$root/modules.list"
	for m in virtio_pci virtio_blk vfio_iommu_type1 vfio_pci; do
		modprobe -d "$kdir" -S "$kver" --show-depends "$m" 2>/dev/null
	done | awk '$1 == "insmod" && !seen[$2]++ {print $2}' | while read -r m; do
		name=$(basename "$m")
		m=${m#"$kdir"}
		case $name in
		*.ko.xz) xz -dc "$kdir$m" > "$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
		*.ko.zst) zstd -qdc "$kdir$m" > "$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
		*) cp "$kdir$m" "$root/lib/modules/$name" ;;
		esac || return 1
		echo "/lib/modules/$name" >> "$root/modules.list"
	done
}

# The initramfs: busybox, the modules, tests/vhost/init.sh as /init and the
# guest program. Prints its path.
vh_initramfs() {
	local kdir=$1 work=$2 root=$2/root busybox a
	rm -rf "$root" && mkdir -p "$root"/{bin,sbin,proc,sys,dev,tmp}
	busybox=$(vm_busybox) || return 1
	cp "$busybox" "$root/bin/busybox"
	for a in $("$busybox" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
	done
	vh_modules "$kdir" "$root" || return 1
	cp "$here/init.sh" "$root/init" && chmod +x "$root/init"
	cp "$work/vblk_unmap" "$root/bin/"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd.gz" || return 1
	echo "$work/initrd.gz"
}

# "key=value" from the back-end's stats lines in log $1.
vh_stat() {
	sed -n 's/^vhost-user-blk:.*[ (]'"$2"'=\([0-9]*\).*/\1/p' "$1" | tail -n1
}

# Helpers for run.sh (sourced). Everything fetched or built goes to $cache.
# shellcheck shell=bash

VM_QEMU=${VIOMMU_VM_QEMU:-qemu-system-x86_64}
VM_TIMEOUT=${VIOMMU_VM_TIMEOUT:-240}
# vfio_iommu_type1's mapping limit in the guest: small, so ENOSPC is reached
# quickly (vfio_iommu_type1.c dma_entry_limit, default 65535); the guest programs read it from the kernel.
VM_DMA_LIMIT=${VIOMMU_VM_DMA_LIMIT:-100}
# Extra kernel command line; NAME=VALUE words the kernel does not know reach
# /init's environment (e.g. VIOMMU_VM_RACE_DMAS=40 for a short race).
VM_APPEND=${VIOMMU_VM_APPEND:-}
# Extra vfio_iommu_type1 parameters (insmod does not read the command line).
VM_TYPE1_ARGS=${VM_TYPE1_ARGS:-}

vm_log() { echo "check-vm: $*" >&2; }

apt_ready=0
vm_apt_install() {
	[ "$(id -u)" = 0 ] || { vm_log "need root to install $*"; return 1; }
	if [ $apt_ready = 0 ]; then
		apt-get update -q >/dev/null || return 1
		apt_ready=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# QEMU, cpio, depmod/modprobe, gzip, and a static libc for the guest programs.
vm_ensure_tools() {
	local need=()
	command -v "$VM_QEMU" >/dev/null || need+=(qemu-system-x86)
	command -v cpio >/dev/null || need+=(cpio)
	command -v depmod >/dev/null || need+=(kmod)
	command -v gzip >/dev/null || need+=(gzip)
	[ -f /usr/lib/x86_64-linux-gnu/libc.a ] || need+=(libc6-dev)
	if [ ${#need[@]} -gt 0 ]; then
		vm_log "installing ${need[*]}"
		vm_apt_install "${need[@]}" || { vm_log "SKIP: cannot install ${need[*]}"; return 1; }
	fi
	command -v "$VM_QEMU" >/dev/null || { vm_log "SKIP: no $VM_QEMU"; return 1; }
}

# A private apt configuration for bookworm-backports in directory $1 (with
# deb-src lines too when $2 is "src"): the system's apt sources and state stay
# untouched; the mirror is the one the system already uses (deb822 or
# one-line format). Sets the array VM_BACKPORTS_APT of apt-get / apt-cache
# options. Used by tests/vhost/lib.sh and qemu/build.sh. (tests/vm/kernel.sh
# has the same lines: its cache key hashes the script, so moving them would
# rebuild every cached 6.12 kernel; it should call this on its next change.)
vm_backports_apt() {
	local apt_dir=$1 uri
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" || return 1
	if [ ! -s "$apt_dir/sources.list" ]; then
		uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u {print u; exit}' \
			/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
		[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' \
			/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
		[ -n "$uri" ] || { vm_log "cannot find the system's Debian mirror"; return 1; }
		{
			echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm-backports main"
			[ "${2:-}" != src ] ||
				echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm-backports main"
		} > "$apt_dir/sources.list"
	fi
	VM_BACKPORTS_APT=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
		-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
		-o "APT::Get::List-Cleanup=0")
}

# Fetch a Debian package into the cache and extract it; print the directory.
vm_fetch_deb() {
	local pkg=$1 dir=$cache/pkg/$1
	if [ ! -f "$dir/.done" ]; then
		mkdir -p "$cache/debs" && rm -rf "$dir" && mkdir -p "$dir"
		(cd "$cache/debs" && rm -f "${pkg}"_*.deb && apt-get download "$pkg" >/dev/null 2>&1) ||
			{ [ $apt_ready = 1 ] || { apt-get update -q >/dev/null && apt_ready=1; } &&
			  (cd "$cache/debs" && apt-get download "$pkg" >/dev/null 2>&1); } || return 1
		dpkg-deb -x "$cache/debs/${pkg}"_*.deb "$dir" && touch "$dir/.done" || return 1
	fi
	echo "$dir"
}

vm_busybox() {
	local d
	d=$(vm_fetch_deb busybox-static) || return 1
	echo "$d/bin/busybox"
}

# Debian's stock kernel (what users' hosts run): print a directory holding
# vmlinuz and lib/modules/KVER with a modules.dep.
vm_stock_kernel() {
	local pkg dir kver
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	if [ -z "$pkg" ]; then
		vm_apt_install apt-utils >/dev/null 2>&1 || true
		pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
	fi
	[ -n "$pkg" ] || return 1
	dir=$(vm_fetch_deb "$pkg") || return 1
	kver=$(ls "$dir/lib/modules" | head -n1)
	[ -f "$dir/lib/modules/$kver/modules.dep" ] || depmod -b "$dir" "$kver" || return 1
	ln -sf "boot/vmlinuz-$kver" "$dir/vmlinuz"
	echo "$dir"
}

# The kernel with iommufd and the VFIO device cdev, built from Debian's
# linux-source (Debian kernels lack CONFIG_IOMMUFD); see kernel.sh. Cached by its configuration.
vm_iommufd_kernel() {
	"$here/kernel.sh" "$cache"
}

# Build every tests/vm/guest/*.c statically against the library (each is a
# guest test program), copy every tests/vm/guest/*.sh as one too (without the
# suffix), and build a static `viommu` CLI into $out/../cli for the scripts.
vm_build_guest_programs() {
	local build=$1 out=$2 lib=$1/libviommu.a src name cflags
	[ -f "$lib" ] || { vm_log "no $lib: build first (make all)"; return 1; }
	mkdir -p "$out" "$out/../cli"
	cflags="-static -O2 -g -std=gnu11 -I$top/include -I$top/src"
	for src in "$here"/guest/*.c; do
		name=$(basename "$src" .c)
		# shellcheck disable=SC2086
		gcc $cflags -Wall -Wextra -Werror -I"$top/tests" -o "$out/$name" "$src" "$lib" -lpthread || return 1
	done
	for src in "$here"/guest/*.sh; do
		[ -e "$src" ] || continue
		install -m 755 "$src" "$out/$(basename "$src" .sh)" || return 1
	done
	# the CLI as CMake builds it (its own warning flags), but static
	# shellcheck disable=SC2086
	gcc $cflags -I"$top/tools" -o "$out/../cli/viommu" "$top"/tools/*.c "$top"/tools/*/*.c "$lib" -lpthread -lm || return 1
}

# Make the initramfs for one kernel directory; print its path.
vm_initramfs() {
	local kdir=$1 work=$2 tag=$3 root kver busybox m
	root=$work/root-$tag
	rm -rf "$root" && mkdir -p "$root"/{bin,sbin,proc,sys,dev,lib/modules,tmp}
	busybox=$(vm_busybox) || return 1
	cp "$busybox" "$root/bin/busybox"
	for a in $("$busybox" --list); do
		[ "$a" = busybox ] || ln -sf busybox "$root/bin/$a"
	done
	cp "$here/init.sh" "$root/init" && chmod +x "$root/init"
	: > "$root/modules.list"
	if [ -d "$kdir/lib/modules" ]; then
		kver=$(ls "$kdir/lib/modules" | head -n1)
		for mod in vfio_iommu_type1 vfio_pci; do
			modprobe -d "$kdir" -S "$kver" --show-depends "$mod" 2>/dev/null
		done | awk '$1 == "insmod" && !seen[$2]++ {print $2}' | while read -r m; do
			local name
			name=$(basename "$m")
			m=${m#"$kdir"}		# modprobe -d prints paths below the root
			case $name in
			*.ko.xz) xz -dc "$kdir$m" > "$root/lib/modules/${name%.xz}"; name=${name%.xz} ;;
			*.ko.zst) zstd -qdc "$kdir$m" > "$root/lib/modules/${name%.zst}"; name=${name%.zst} ;;
			*) cp "$kdir$m" "$root/lib/modules/$name" ;;
			esac || return 1
			# insmod does not read module parameters from the kernel command line
			case $name in
			vfio_iommu_type1.ko) echo "/lib/modules/$name dma_entry_limit=$VM_DMA_LIMIT $VM_TYPE1_ARGS" ;;
			*) echo "/lib/modules/$name" ;;
			esac >> "$root/modules.list"
		done
	fi
	cp "$work"/bin/* "$work"/cli/viommu "$root/bin/"
	mkdir -p "$root/examples" && cp "$top"/examples/*.scn "$root/examples/"
	: > "$root/tests.list"
	for p in "$work"/bin/*; do echo "$(basename "$p") $tag" >> "$root/tests.list"; done
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$work/initrd-$tag.gz" || return 1
	echo "$work/initrd-$tag.gz"
}

# Boot the guest and judge its console: every program must exit 0 and end
# with "N passed, 0 failed"; the guest must reach "done".
# no_timer_check: at boot the x86 kernel checks that the timer interrupt
# arrives through the IO-APIC within a few busy-waited jiffies
# (arch/x86/kernel/apic/io_apic.c, timer_irq_works); under TCG on a loaded
# host it sometimes does not and the kernel panics with "timer doesn't work
# through Interrupt-remapped IO-APIC". The parameter skips only that check;
# nothing is retried, so a real failure still fails.
VM_KERNEL_ARGS="console=ttyS0 intel_iommu=on panic=-1 loglevel=4 no_timer_check"
# The IOMMU the guest gets (tests/qemu/run.sh puts its own device here).
VM_IOMMU_ARGS=${VM_IOMMU_ARGS:-"-device intel-iommu,intremap=on,caching-mode=on"}
vm_boot_and_check() {
	local tag=$1 kdir=$2 work=$3 initrd log start rc=0 prog
	initrd=$(vm_initramfs "$kdir" "$work" "$tag") || return 1
	log=$work/console-$tag.log
	start=$(date +%s)
	timeout --foreground -k 5 "$VM_TIMEOUT" "$VM_QEMU" -machine q35,accel=tcg -cpu max -m 512 -smp 1 \
		$VM_IOMMU_ARGS -device edu -device edu \
		-kernel "$kdir/vmlinuz" -initrd "$initrd" \
		-append "$VM_KERNEL_ARGS vfio_iommu_type1.dma_entry_limit=$VM_DMA_LIMIT $VM_APPEND" \
		-nographic -nodefaults -serial stdio -monitor none -no-reboot </dev/null > "$log" 2>&1 || true
	vm_log "$tag kernel: guest ran $(( $(date +%s) - start )) s"
	sed -n 's/\r$//; /^VIOMMU-VM:/p; /^ok /p; /^FAIL/p; /^case /p; /^caps /p; /^race /p; /^replay /p; /^kmsg: /p; /^pins /p; /^dirty /p; /^getinfo /p; /passed, .* failed/p; /^SKIP/p; /DMAR/p' "$log" \
		| sed "s/^/[$tag] /"
	grep -q "^VIOMMU-VM: done" "$log" || { vm_log "$tag: the guest did not finish (see $log)"; rc=1; }
	while read -r prog _; do
		grep -q "^VIOMMU-VM: exit $prog 0" "$log" || { vm_log "$tag: $prog failed"; rc=1; }
	done < "$work/root-$tag/tests.list"
	[ $rc = 0 ] || { vm_log "$tag: console log follows"; tail -n 60 "$log" >&2; }
	return $rc
}

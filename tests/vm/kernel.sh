#!/usr/bin/env bash
# Build (once) the guest kernel with iommufd and the VFIO device cdev from
# Debian's own linux-source-6.12 (bookworm-backports): Debian's packaged
# kernels lack CONFIG_IOMMUFD. The source is fetched through a private apt
# configuration so the system's stays untouched; the mirror is the one the
# system already uses. The result is cached in CACHE/kernel-iommufd-HASH,
# HASH covering the config fragment and this script without their comment
# lines, and the source version, so a rebuild happens only when one of them
# changes in substance.
#
# usage: kernel.sh CACHE   (prints the directory holding vmlinuz)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=$1
pkg=linux-source-6.12
log() { echo "kernel.sh: $*" >&2; }

apt_dir=$cache/apt-backports
mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial"
if [ ! -s "$apt_dir/sources.list" ]; then
	# The Debian mirror the system uses (deb822 or one-line format).
	uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ && u {print u; exit}' \
		/etc/apt/sources.list.d/*.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' \
		/etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
	[ -n "$uri" ] || { log "cannot find the system's Debian mirror"; exit 1; }
	echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $uri bookworm-backports main" \
		> "$apt_dir/sources.list"
fi
aptopts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
	 -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache::Archives=$apt_dir/archives"
	 -o "APT::Get::List-Cleanup=0")
ver=$(apt-cache "${aptopts[@]}" show "$pkg" 2>/dev/null | awk '/^Version:/ {print $2; exit}' || true)
if [ -z "$ver" ]; then
	apt-get "${aptopts[@]}" update -q >/dev/null 2>&1 || { log "apt update of backports failed"; exit 1; }
	ver=$(apt-cache "${aptopts[@]}" show "$pkg" | awk '/^Version:/ {print $2; exit}')
fi
[ -n "$ver" ] || { log "no $pkg in bookworm-backports"; exit 1; }

key=$(cat <(grep -v '^[[:space:]]*#' "$here/iommufd.config") <(grep -v '^[[:space:]]*#' "$0") <(echo "$pkg $ver") |
	sha256sum | cut -c1-16)
out=$cache/kernel-iommufd-$key
if [ -f "$out/vmlinuz" ]; then
	echo "$out"
	exit 0
fi

need=()
for p in build-essential flex bison bc libelf-dev libssl-dev xz-utils; do
	dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${need[@]}" >/dev/null || { log "cannot install ${need[*]}"; exit 1; }
fi

work=$(mktemp -d /tmp/viommu-kernel.XXXXXX)
trap 'rm -rf "$work"' EXIT
log "building $pkg $ver with iommufd (several minutes on 2 cores; cached afterwards)"
(cd "$work" && apt-get "${aptopts[@]}" download "$pkg=$ver" >/dev/null 2>&1) || { log "download failed"; exit 1; }
dpkg-deb -x "$work"/${pkg}_*.deb "$work/pkg"
tar -C "$work" -xf "$work"/pkg/usr/src/${pkg}.tar.xz
src=$(ls -d "$work"/linux-source-*/ | head -n1)
start=$(date +%s)
(
	cd "$src"
	make -s tinyconfig
	./scripts/kconfig/merge_config.sh -m .config "$here/iommufd.config" >/dev/null
	make -s olddefconfig
	# every line of the fragment must have survived olddefconfig
	while IFS= read -r line; do
		case $line in CONFIG_*) grep -qx "$line" .config || { echo "kernel.sh: $line did not stick" >&2; exit 1; } ;; esac
	done < "$here/iommufd.config"
	nice -n 10 make -s -j"$(nproc)" bzImage
) >&2
mkdir -p "$out.tmp"
cp "$src/arch/x86/boot/bzImage" "$out.tmp/vmlinuz"
cp "$src/.config" "$out.tmp/config"
rm -rf "$out" && mv "$out.tmp" "$out"
log "built in $(( $(date +%s) - start )) s"
echo "$out"

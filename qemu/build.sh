#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Build (once) QEMU 10.0.2 from Debian's source with viommu's integration
# (qemu/hw/*.c, qemu/patches/*.patch) and print the path of the resulting
# qemu-system-x86_64. See docs/design.md, "QEMU integration".
#
# The source is Debian's bookworm-backports qemu (10.0.2+ds), fetched through a
# private apt configuration (the system's stays untouched; the mirror is the
# one the system already uses, as tests/vm/kernel.sh does). Only the orig
# tarball can be had (the .dsc and Debian diff are not fetchable), so its
# SHA-256 is checked against the Sources index itself before it is unpacked.
# QEMU 10 needs meson >= 1.5 and pycotap: bookworm-backports' meson and
# python3-pycotap are pure Python and are used unpacked (PYTHONPATH), not
# installed.
#
# Cache: CACHE/qemu-bin-KEY/qemu-system-x86_64, KEY a hash of the source
# version, the configure options, this script, every file of the integration
# and viommu's public headers (the glue's ABI). The binary is linked against
# libviommu.so but finds it at run time through LD_LIBRARY_PATH, so the
# library under test is always the current build's (tests/qemu/run.sh sets it
# and checks which one was loaded). A work tree CACHE/qemu-work-SRCKEY (source
# + configured build dir, SRCKEY covering only version and options) is kept,
# so a change to the integration rebuilds only what it touches.
#
# A work tree can be seeded from an already built plain tree of the same
# version and options (VIOMMU_QEMU_SEED=/path/qemu-10.0.2 with build/): it is
# copied, never modified, and only what the integration touches is rebuilt.
#
# usage: qemu/build.sh CACHE LIBDIR   (LIBDIR holds the current libviommu.so)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
cache=$1
libdir=$(cd "$2" && pwd)
pkg=qemu
upver=10.0.2
log() { echo "qemu/build.sh: $*" >&2; }
[ -f "$libdir/libviommu.so" ] || { log "no $libdir/libviommu.so: build the library first"; exit 1; }

CONFIGURE_OPTS=(--target-list=x86_64-softmmu --without-default-features --enable-tcg --enable-slirp
	--enable-fdt=system --disable-docs --disable-werror --disable-install-blobs --python=/usr/bin/python3
	--enable-vhost-user)
BUILD_DEPS=(build-essential ninja-build pkg-config libglib2.0-dev libpixman-1-dev libfdt-dev libslirp-dev
	flex bison python3 python3-venv xz-utils patch)

# The private apt configuration (deb and deb-src lines): tests/vm/lib.sh.
# shellcheck source=../tests/vm/lib.sh
. "$top/tests/vm/lib.sh"
vm_log() { log "$*"; }
vm_backports_apt "$cache/apt-qemu" src || exit 1
aptopts=("${VM_BACKPORTS_APT[@]}")
srcinfo() { apt-cache "${aptopts[@]}" showsrc "$pkg" 2>/dev/null | awk -v up="$upver" '
	/^Package:/ {p = $2} /^Version:/ {v = $2}
	/^Checksums-Sha256:/ {c = 1; next} /^[^ ]/ {c = 0}
	c && $3 ~ ("^qemu_" up "\\+ds\\.orig\\.tar\\.xz$") && p == "qemu" {print v, $1, $3; exit}'; }
info=$(srcinfo || true)
if [ -z "$info" ]; then
	apt-get "${aptopts[@]}" update -q >/dev/null 2>&1 || { log "apt update of bookworm-backports failed"; exit 1; }
	info=$(srcinfo || true)
fi
[ -n "$info" ] || { log "no qemu $upver source in bookworm-backports"; exit 1; }
read -r ver sha tarball <<< "$info"

# The integration and everything else the binary depends on.
key=$( { echo "$pkg $ver $sha"; echo "${CONFIGURE_OPTS[*]}"; cat "$0";
	 (cd "$top" && find qemu include/viommu -type f | LC_ALL=C sort | xargs sha256sum); } |
	 sha256sum | cut -c1-16)
srckey=$( { echo "$pkg $ver $sha"; echo "${CONFIGURE_OPTS[*]}"; } | sha256sum | cut -c1-12)
out=$cache/qemu-bin-$key
if [ -x "$out/qemu-system-x86_64" ]; then
	echo "$out/qemu-system-x86_64"
	exit 0
fi

need=()
for p in "${BUILD_DEPS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || need+=("$p"); done
if [ ${#need[@]} -gt 0 ]; then
	log "installing ${need[*]}"
	{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${need[@]}" >/dev/null; } || { log "cannot install ${need[*]}"; exit 1; }
fi

# meson >= 1.5 and pycotap from bookworm-backports, unpacked.
py=$cache/qemu-py-$srckey
if [ ! -f "$py/.done" ]; then
	rm -rf "$py" && mkdir -p "$py/debs"
	(cd "$py/debs" && apt-get "${aptopts[@]}" download meson python3-pycotap >/dev/null 2>&1) ||
		{ log "cannot download meson / python3-pycotap from bookworm-backports"; exit 1; }
	for d in "$py"/debs/*.deb; do dpkg-deb -x "$d" "$py/root"; done
	touch "$py/.done"
fi
export PYTHONPATH=$py/root/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}

work=$cache/qemu-work-$srckey
src=$work/qemu-$upver
start=$(date +%s)
seed=${VIOMMU_QEMU_SEED:-}
# seed_fits DIR: DIR/build was configured with every option of CONFIGURE_OPTS (but the python path).
seed_fits() {
	local o
	[ -f "$1/build/build.ninja" ] && [ -f "$1/build/config.status" ] || return 1
	for o in "${CONFIGURE_OPTS[@]}"; do
		case $o in --python=*) continue ;; esac
		grep -qF -- "'$o'" "$1/build/config.status" || return 1
	done
}
if [ ! -f "$work/.unpacked" ] && [ -n "$seed" ] && seed_fits "$seed"; then
	# Ninja rebuilds whatever command line changed, and QEMU's hold the
	# tree's absolute path: the copy is built where the seed was, by bind
	# mounting it there in a private mount namespace (the seed itself is
	# never written).
	rm -rf "$work" && mkdir -p "$work"
	cp -a "$seed" "$work/qemu-$upver" && chown -R "$(id -u):$(id -g)" "$work/qemu-$upver"
	sed -i 's/^if unpack_edk2_blobs$/if false/' "$work/qemu-$upver/pc-bios/meson.build"
	(cd "$work/qemu-$upver" && git init -q && git add -A && git -c user.name=viommu -c user.email=viommu@localhost \
		commit -qm "qemu $ver (seeded from $seed)") || { log "cannot record the pristine tree"; exit 1; }
	printf '%s\n' "$seed" > "$work/.seed"
	log "seeded from $seed (built at that path in a private mount namespace)"
	touch "$work/.unpacked"
fi
if [ ! -f "$work/.unpacked" ]; then
	rm -rf "$work" && mkdir -p "$work/dl"
	log "fetching qemu $ver source"
	(cd "$work/dl" && apt-get "${aptopts[@]}" source --download-only "$pkg=$ver" >/dev/null 2>&1) || true
	[ -f "$work/dl/$tarball" ] || { log "download of $tarball failed"; exit 1; }
	echo "$sha  $work/dl/$tarball" | sha256sum -c --quiet - ||
		{ log "$tarball does not match the Sources index"; exit 1; }
	# as root tar keeps the tarball's owners, and git refuses a tree owned by another user
	tar --no-same-owner -C "$work" -xf "$work/dl/$tarball"
	[ -d "$src" ] || src=$(ls -d "$work"/qemu-*/ | head -n1)
	# The +ds tarball has no edk2 firmware blobs: do not try to unpack them.
	sed -i 's/^if unpack_edk2_blobs$/if false/' "$src/pc-bios/meson.build"
	grep -q '^if false$' "$src/pc-bios/meson.build" || { log "pc-bios/meson.build: edit did not apply"; exit 1; }
	rm -rf "$work/dl"
	(cd "$src" && git init -q && git add -A && git -c user.name=viommu -c user.email=viommu@localhost \
		commit -qm "qemu $ver (Debian orig tarball)") || { log "cannot record the pristine tree"; exit 1; }
	touch "$work/.unpacked"
fi
src=$(ls -d "$work"/qemu-*/ | head -n1); src=${src%/}
# in_tree DIR CMD...: run CMD in DIR of the source tree (where a seed was, for a seeded tree).
in_tree() {
	local rel=$1; shift
	if [ -f "$work/.seed" ]; then
		local at; at=$(cat "$work/.seed")
		# the seed may be gone since: only its path is needed, as a mount point
		[ -d "$at" ] || mkdir -p "$at" || { log "cannot recreate $at, the seeded tree's build path"; return 1; }
		unshare -m --propagation private sh -c 'mount --bind "$1" "$2" && cd "$2/$3" && shift 3 && exec "$@"' \
			sh "$src" "$at" "$rel" "$@"
	else
		(cd "$src/$rel" && exec "$@")
	fi
}

# The integration: back to the pristine tree (a git index of it), then the
# patches and the glue files, and libviommu's headers and library stub as the
# glue's build dependency (tests/qemu/run.sh loads the current library).
(
	cd "$src"
	git checkout -q -- . && git clean -qfd -e build
	for p in "$here"/patches/*.patch; do
		patch -s -p1 --no-backup-if-mismatch < "$p" || { log "patch $(basename "$p") did not apply"; exit 1; }
	done
	mkdir -p hw/viommu viommu-sdk/lib
	cp "$here"/hw/*.c "$here"/hw/*.h hw/viommu/ 2>/dev/null || cp "$here"/hw/*.c hw/viommu/
	cp "$here"/hw/meson.build hw/viommu/meson.build
	rm -rf linux-headers/viommu && cp -r "$top/include/viommu" linux-headers/viommu
	cp "$libdir/libviommu.so" viommu-sdk/lib/libviommu.so
) || exit 1

if [ ! -f "$src/build/build.ninja" ]; then
	log "configuring qemu $ver"
	mkdir -p "$src/build"
	in_tree build sh -c 'exec nice -n 10 ../configure "$@" >configure.log 2>&1' sh "${CONFIGURE_OPTS[@]}" ||
		{ tail -n 30 "$src/build/configure.log" >&2; log "configure failed"; exit 1; }
fi
bstart=$(date +%s)
log "building qemu-system-x86_64 (a full build takes 3 min idle, 22 min on 2 loaded cores; cached afterwards)"
in_tree build sh -c 'exec nice -n 10 ninja -j"$1" qemu-system-x86_64 >ninja.log 2>&1' sh "$(nproc)" ||
	{ grep -B2 -A12 -m3 'error' "$src/build/ninja.log" >&2 || tail -n 40 "$src/build/ninja.log" >&2
	  log "build failed (log: $src/build/ninja.log)"; exit 1; }
mkdir -p "$out.tmp"
cp "$src/build/qemu-system-x86_64" "$out.tmp/"
echo "$ver" > "$out.tmp/version"
rm -rf "$out" && mv "$out.tmp" "$out"
log "built in $(( $(date +%s) - start )) s (ninja $(( $(date +%s) - bstart )) s)"
echo "$out/qemu-system-x86_64"

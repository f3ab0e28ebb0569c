#!/usr/bin/env bash
# Install Debian's QEMU (qemu-system-x86) for the qtest oracle tests if it is
# not on the machine; a machine where it cannot be installed fails the target.
set -euo pipefail
q=${VIOMMU_QEMU:-qemu-system-x86_64}
command -v "$q" >/dev/null && exit 0
echo "check-qtest: installing qemu-system-x86 from Debian's archive"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q qemu-system-x86 >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q qemu-system-x86 >/dev/null; }
command -v "$q" >/dev/null || { echo "check-qtest: $q is still missing" >&2; exit 1; }

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs every Debian 12 package that building, image building, running and testing Bistro need.
# Idempotent and non-interactive; runs `apt-get update` only when a package is missing.
set -euo pipefail

PACKAGES=(
        # build
        meson ninja-build pkg-config gcc clang llvm libclang-rt-14-dev clang-format
        protobuf-c-compiler libprotobuf-c-dev libjson-c-dev libsystemd-dev libseccomp-dev libcap-ng-dev libsodium-dev
        libslirp-dev libglib2.0-dev
        # tests
        libcmocka-dev python3 python3-pytest socat desktop-file-utils
        # GUI tests and bench/gui-bench.py: a headless sway desktop, screenshots, clipboard, a test app
        sway grim wl-clipboard foot
        # VMs and images
        qemu-system-x86 qemu-utils busybox-static cpio zstd squashfs-tools kmod cryptsetup-bin binutils
        debootstrap e2fsprogs
        # containers (liblxc for tremplin and vshd), the vsh-vs-ssh benchmark
        lxc-dev openssh-client dropbear-bin
        # "Linux files" (bistro files): sshfs in passive mode, fusermount3
        sshfs fuse3
)

if [ "$(id -u)" -eq 0 ]; then
        SUDO=()
else
        SUDO=(sudo)
fi

missing=()
for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
                missing+=("$p")
        fi
done

# The image builders download Debian packages (kernel, Termina's root): they need package lists
# that exist and are recent enough for the mirror to still serve what they name.
lists_fresh() {
        local newest
        newest=$(find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -1440 2>/dev/null | head -1)
        [ -n "$newest" ]
}
if ! lists_fresh; then
        echo "bootstrap: apt package lists missing or older than a day: updating"
        "${SUDO[@]}" apt-get update -q
fi

if [ ${#missing[@]} -eq 0 ]; then
        echo "bootstrap: all ${#PACKAGES[@]} packages present"
        exit 0
fi

echo "bootstrap: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Update the lists only when the packages cannot be found in the current ones.
if ! apt-cache show "${missing[@]}" >/dev/null 2>&1; then
        "${SUDO[@]}" apt-get update -q
fi
install() {
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}
# Stale lists can name versions the mirror no longer has: update once and retry.
install "${missing[@]}" || { "${SUDO[@]}" apt-get update -q && install "${missing[@]}"; }

#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds the tiny busybox container image (for tests): a rootfs with Debian's static busybox, its
# applet links, /sbin/init (busybox init) and minimal /etc, packed into the image store as
# busybox.tar.zst + busybox.json. Rebuilds only when an input changed. Seconds; no network.
#
# Usage: build-busybox.sh [STORE]   (default ${XDG_DATA_HOME:-~/.local/share}/bistro/images/containers)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"
die() { echo "busybox: error: $*" >&2; exit 1; }

store=${1:-$(default_store)}
busybox=${BUSYBOX:-/bin/busybox}
[[ -x $busybox ]] || die "$busybox not found (Debian package busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || [[ ! -x /usr/bin/file ]] || die "$busybox is not static"

inputs=$(sha256sum "$here/build-busybox.sh" "$here/common.sh" "$busybox" | cut -d' ' -f1 | sha256sum | cut -d' ' -f1)
if up_to_date "$store" busybox "$inputs"; then
        echo "busybox: up to date: $store/busybox.tar.zst" >&2
        exit 0
fi
release=$("$busybox" 2>&1 | sed -n '1s/^BusyBox v\([^ ]*\).*/\1/p')

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,dev,proc,sys,tmp,run,root,var/log,home}
chmod 1777 "$root/tmp"
chmod 0700 "$root/root"
cp "$busybox" "$root/bin/busybox"
for app in $("$busybox" --list-full); do
        [[ $app == bin/busybox ]] && continue
        ln -sf /bin/busybox "$root/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$root/etc/group"
printf 'root:*:19000:0:99999:7:::\n' > "$root/etc/shadow"
chmod 0640 "$root/etc/shadow"
echo busybox > "$root/etc/hostname"
printf 'NAME=BusyBox\nID=busybox\nVERSION_ID=%s\nPRETTY_NAME="BusyBox %s (Bistro test image)"\n' \
        "$release" "$release" > "$root/etc/os-release"
# busybox init: no gettys, just a shell-less idle container that stops on SIGTERM/SIGPWR.
printf '::sysinit:/bin/mount -t tmpfs tmpfs /run\n::shutdown:/bin/sync\n' > "$root/etc/inittab"
pack "$root" "$store" busybox busybox "$release" "$inputs" --owner=0 --group=0 --mtime=@0

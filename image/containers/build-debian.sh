#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds the `debian` container image (the default penguin container): Debian 12 "bookworm" via
# debootstrap --variant=minbase plus bash, sudo, apt, ca-certificates, locales, less, procps and
# iproute2, with an en_US.UTF-8 locale, packed into the image store as debian.tar.zst +
# debian.json. Minutes the first time (downloads ~60 MiB of .debs into a cache); afterwards it
# rebuilds only when an input changed, offline once the .debs are cached. Needs root (debootstrap).
#
# Usage: build-debian.sh [STORE]   (default ${XDG_DATA_HOME:-~/.local/share}/bistro/images/containers)
# Env:   BISTRO_DEBIAN_MIRROR (default http://deb.debian.org/debian)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=common.sh
. "$here/common.sh"
die() { echo "debian: error: $*" >&2; exit 1; }

store=${1:-$(default_store)}
suite=bookworm
release=12
mirror=${BISTRO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
include=bash,sudo,apt,ca-certificates,locales,less,procps,iproute2
cache=${XDG_CACHE_HOME:-$HOME/.cache}/bistro/debootstrap-$suite
export PATH=$PATH:/usr/sbin:/sbin

[[ $(id -u) == 0 ]] || die "debootstrap needs root (run with sudo)"
command -v debootstrap >/dev/null || die "debootstrap not found (Debian package debootstrap)"

inputs=$( { sha256sum "$here/build-debian.sh" "$here/common.sh" | cut -d' ' -f1; echo "$suite $include"; } |
        sha256sum | cut -d' ' -f1)
if up_to_date "$store" debian "$inputs"; then
        echo "debian: up to date: $store/debian.tar.zst" >&2
        exit 0
fi

mkdir -p "$cache" "$store"
tmp=$(mktemp -d "$store/.debian-build.XXXXXX")
trap 'umount -R "$tmp/root/proc" 2>/dev/null || true; rm -rf "$tmp"' EXIT
root=$tmp/root

echo "debian: [1/3] debootstrap $suite ($include), .debs cached in $cache" >&2
debootstrap --variant=minbase --merged-usr --include="$include" --cache-dir="$cache" \
        "$suite" "$root" "$mirror" >&2 || die "debootstrap failed (see above)"

echo "debian: [2/3] configuring" >&2
echo "en_US.UTF-8 UTF-8" > "$root/etc/locale.gen"
chroot "$root" /usr/sbin/locale-gen >&2
echo 'LANG=en_US.UTF-8' > "$root/etc/default/locale"
echo penguin > "$root/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 penguin\n::1 localhost ip6-localhost ip6-loopback\n' > "$root/etc/hosts"
cat > "$root/etc/apt/sources.list" <<SOURCES
deb http://deb.debian.org/debian $suite main
deb http://deb.debian.org/debian $suite-updates main
deb http://deb.debian.org/debian-security $suite-security main
SOURCES
# Image-specific state that must not be shared by every container made from it.
: > "$root/etc/machine-id"
rm -f "$root"/var/cache/apt/archives/*.deb "$root"/var/cache/apt/*.bin "$root"/var/lib/apt/lists/*_* \
        "$root"/var/log/*.log "$root"/var/log/apt/* "$root/etc/resolv.conf"
rm -rf "$root"/tmp/* "$root"/debootstrap

echo "debian: [3/3] packing" >&2
pack "$root" "$store" debian debian "$release" "$inputs"

#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Fetches Debian's cloud kernel into a cache and prints the cache directory on stdout:
#   <dir>/vmlinuz, <dir>/config, <dir>/VERSION ("<package> <debian version> <kernel release>"),
#   <dir>/modules/lib/modules/<release>/... with modules.dep made by `depmod -b`.
# The version is pinned in image/kernel/VERSION; when the archive no longer has it, the script follows
# the linux-image-cloud-amd64 metapackage and says so. Idempotent; offline once cached.
#
# Usage: fetch-kernel.sh [--print-release]
# Env:   BISTRO_KERNEL_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/bistro/kernel)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${BISTRO_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bistro/kernel}
meta=linux-image-cloud-amd64

log() { echo "fetch-kernel: $*" >&2; }
die() { log "$*"; exit 1; }

read -r pin_pkg pin_ver < "$here/VERSION" || die "cannot read $here/VERSION"
[[ $pin_pkg == linux-image-* && -n $pin_ver ]] || die "malformed $here/VERSION"

# A complete cache dir has a VERSION file, written last.
finish() {
        local dir=$1
        if [[ ${print_release:-0} == 1 ]]; then
                read -r _ _ rel < "$dir/VERSION"
                echo "$rel"
        else
                echo "$dir"
        fi
        exit 0
}

print_release=0
[[ ${1:-} == --print-release ]] && print_release=1

pin_dir="$cache/${pin_pkg#linux-image-}_$pin_ver"
[[ -f $pin_dir/VERSION ]] && finish "$pin_dir"
# The pinned version was gone once and we followed the metapackage: reuse that, still offline.
if [[ -f $cache/followed-$pin_ver && ! ${BISTRO_KERNEL_REFRESH:-} ]]; then
        d=$(cat "$cache/followed-$pin_ver")
        [[ -f $d/VERSION ]] && finish "$d"
fi

command -v apt-get >/dev/null || die "apt-get not found: fetching the kernel needs Debian's apt"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found"
depmod=$(command -v depmod || echo /sbin/depmod)
[[ -x $depmod ]] || die "depmod not found (Debian package kmod)"

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.tmp.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

pkg=$pin_pkg
ver=$pin_ver
if ! apt-get download "$pkg=$ver" >&2 2>"$tmp/apt.err"; then
        cat "$tmp/apt.err" >&2
        log "pinned $pkg=$ver is not in the archive; following $meta"
        pkg=$(apt-cache depends "$meta" | awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
        [[ -n $pkg ]] || die "cannot resolve $meta: are the apt lists there? (sudo apt-get update)"
        apt-get download "$pkg" >&2 || die "apt-get download $pkg failed (sudo apt-get update?)"
        ver=$(dpkg-deb -f ./"$pkg"_*.deb Version)
        log "using $pkg $ver instead; update image/kernel/VERSION to pin it"
fi

deb=$(echo ./"$pkg"_*.deb)
[[ -f $deb ]] || die "download produced no .deb"
dpkg-deb -x "$deb" x
rel=${pkg#linux-image-}
[[ -f x/boot/vmlinuz-$rel && -d x/lib/modules/$rel ]] || die "$deb has no vmlinuz-$rel or modules"

out="$cache/${rel}_$ver"
rm -rf "$out.new"
mkdir -p "$out.new/modules/lib/modules"
mv "x/boot/vmlinuz-$rel" "$out.new/vmlinuz"
mv "x/boot/config-$rel" "$out.new/config"
mv "x/lib/modules/$rel" "$out.new/modules/lib/modules/$rel"
# The .deb ships no modules.dep: generate it (and modules.alias etc.) for this tree.
"$depmod" -b "$out.new/modules" "$rel"
[[ -s $out.new/modules/lib/modules/$rel/modules.dep ]] || die "depmod produced no modules.dep"
echo "$pkg $ver $rel" > "$out.new/VERSION"
rm -rf "$out"
mv "$out.new" "$out"
[[ $pkg == "$pin_pkg" && $ver == "$pin_ver" ]] || echo "$out" > "$cache/followed-$pin_ver"
log "cached $pkg $ver in $out"
finish "$out"

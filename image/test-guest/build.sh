#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds the guest test image: OUTDIR/vmlinuz (Debian's cloud kernel) and OUTDIR/initramfs.img
# (busybox-static, bistro-guest-test, the virtio/vsock modules in dependency order, ./init).
# Rebuilds only when an input changed (OUTDIR/inputs.sha256 records them).
#
# Usage: build.sh OUTDIR [PATH-TO-bistro-guest-test]
#   default binary: ${BISTRO_BUILD_DIR:-<repo>/build}/test/guest/bistro-guest-test
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
die() { echo "test-guest: $*" >&2; exit 1; }

[[ $# -ge 1 ]] || die "usage: build.sh OUTDIR [bistro-guest-test]"
out=$1
guest_bin=${2:-${BISTRO_BUILD_DIR:-$top/build}/test/guest/bistro-guest-test}
busybox=${BUSYBOX:-/bin/busybox}
# Modules the test guest needs; their dependencies are added from modules.dep.
# button + evdev: the ACPI power button, so QMP system_powerdown reaches bistro-guest-test.
wanted=(virtio_mmio virtio_blk virtio_net vmw_vsock_virtio_transport button evdev)

[[ -x $guest_bin ]] || die "$guest_bin not found: build it first (ninja test/guest/bistro-guest-test)"
[[ -x $busybox ]] || die "$busybox not found (Debian package busybox-static)"
file -L "$busybox" 2>/dev/null | grep -q 'statically linked' || [[ ! -x /usr/bin/file ]] ||
        die "$busybox is not static"

kdir=$("$top/image/kernel/fetch-kernel.sh")
read -r _ _ krel < "$kdir/VERSION"
mdir="$kdir/modules/lib/modules/$krel"

# Dependency closure in load order (depth first, dependencies before dependents).
declare -A dep seen
while IFS=: read -r mod deps; do
        dep[$mod]=$deps
done < "$mdir/modules.dep"
order=()
visit() {
        local m=$1 d
        [[ -n ${seen[$m]:-} ]] && return
        seen[$m]=1
        for d in ${dep[$m]}; do
                visit "$d"
        done
        order+=("$m")
}
for w in "${wanted[@]}"; do
        path=$(grep -E "(^|/)$w\.ko:" "$mdir/modules.dep" | cut -d: -f1 || true)
        [[ -n $path ]] || die "module $w not in $mdir/modules.dep (built in?)"
        visit "$path"
done

inputs=$(
        {
                sha256sum "$here/build.sh" "$here/init" "$guest_bin" "$busybox" "$kdir/vmlinuz" | cut -d' ' -f1
                cat "$kdir/VERSION"
                printf '%s\n' "${order[@]}"
        } | sha256sum | cut -d' ' -f1
)
if [[ -f $out/inputs.sha256 && $(cat "$out/inputs.sha256") == "$inputs" && -f $out/initramfs.img &&
        -f $out/vmlinuz ]]; then
        exit 0
fi

mkdir -p "$out"
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/modules}
cp "$busybox" "$root/bin/busybox"
for app in $("$busybox" --list); do
        [[ $app == busybox ]] || ln -s busybox "$root/bin/$app"
done
cp "$guest_bin" "$root/bin/bistro-guest-test"
install -m 0755 "$here/init" "$root/init"
: > "$root/lib/modules/load-order"
for m in "${order[@]}"; do
        cp "$mdir/$m" "$root/lib/modules/"
        basename "$m" >> "$root/lib/modules/load-order"
done
echo "$krel" > "$root/lib/modules/kernel-release"

# Uncompressed: unpacking is a memcpy, where decompression under TCG costs boot time.
(cd "$root" && find . -print0 | LC_ALL=C sort -z |
        cpio --null --create --format=newc --owner=0:0 --quiet) > "$tmp/initramfs.img"
cp "$kdir/vmlinuz" "$tmp/vmlinuz"
cp "$kdir/VERSION" "$tmp/kernel-version"
mv -f "$tmp/initramfs.img" "$tmp/vmlinuz" "$tmp/kernel-version" "$out/"
echo "$inputs" > "$out/inputs.sha256"
echo "test-guest: built $out/initramfs.img ($(du -h "$out/initramfs.img" | cut -f1)) for kernel $krel" >&2

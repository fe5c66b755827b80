#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds a small test guest with maitred as /init, for test/integration/test_maitred.py when no
# Termina image is at hand: OUTDIR/vmlinuz (Debian's cloud kernel) and OUTDIR/initramfs.img with
# busybox-static, maitred and its shared-library closure copied from this Debian 12 host (the
# same libraries Termina ships), the virtio/vsock/power-button modules with modules.dep, and an
# /etc/bistro tree (modules list, image-version, hostname, a service). The root is the initramfs
# itself (writable), unlike Termina's read-only squashfs.
#
# Usage: build-maitred-initramfs.sh OUTDIR MAITRED-BINARY
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
die() { echo "maitred-initramfs: $*" >&2; exit 1; }

[[ $# -eq 2 ]] || die "usage: build-maitred-initramfs.sh OUTDIR MAITRED-BINARY"
out=$1
maitred=$2
busybox=${BUSYBOX:-/bin/busybox}
modules=(virtio_mmio virtio_blk vmw_vsock_virtio_transport button evdev)

[[ -x $maitred ]] || die "$maitred not found: build it first (ninja src/maitred/maitred)"
[[ -x $busybox ]] || die "$busybox not found (Debian package busybox-static)"

kdir=$("$top/image/kernel/fetch-kernel.sh")
read -r _ _ krel < "$kdir/VERSION"
mdir="$kdir/modules/lib/modules/$krel"

mkdir -p "$out"
tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"
mkdir -p "$root"/{bin,sbin,usr/sbin,dev,proc,sys,run,tmp,var,mnt,root,etc/bistro/services,lib/modules/"$krel"}

cp "$busybox" "$root/bin/busybox"
for app in $("$busybox" --list); do
        [[ $app == busybox ]] || ln -s busybox "$root/bin/$app"
done
for fs in ext2 ext3 ext4; do
        printf '#!/bin/sh\nexec /bin/mke2fs -q "$@"\n' > "$root/sbin/mkfs.$fs"
        chmod 0755 "$root/sbin/mkfs.$fs"
done

install -m 0755 "$maitred" "$root/usr/sbin/maitred"
ln -s usr/sbin/maitred "$root/init"
ln -s ../usr/sbin/maitred "$root/sbin/init"
# The shared-library closure, at the paths the dynamic loader looks for.
while read -r lib; do
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
done < <(ldd "$maitred" | grep -oE '/[^ ]+' | sort -u)

# Modules with their dependencies (maitred resolves the order from modules.dep).
declare -A seen
add_module() {
        local path=$1 d
        [[ -n ${seen[$path]:-} ]] && return
        seen[$path]=1
        mkdir -p "$root/lib/modules/$krel/$(dirname "$path")"
        cp "$mdir/$path" "$root/lib/modules/$krel/$path"
        for d in $(grep -E "^$path:" "$mdir/modules.dep" | cut -d: -f2); do
                add_module "$d"
        done
}
for m in "${modules[@]}"; do
        path=$(grep -E "(^|/)$m\.ko:" "$mdir/modules.dep" | cut -d: -f1 || true)
        [[ -n $path ]] || die "module $m not in $mdir/modules.dep"
        add_module "$path"
        echo "$m" >> "$root/etc/bistro/modules"
done
cp "$mdir/modules.dep" "$root/lib/modules/$krel/"

echo "test-initramfs-1" > "$root/etc/bistro/image-version"
echo "bistro-test" > "$root/etc/bistro/hostname"
cat > "$root/etc/bistro/services/hello.conf" <<'CONF'
# A long-running service from the image: proves the service directory is read.
exec = /bin/sh -c "echo 'hello-service: started'; exec sleep 1000000"
respawn = yes
env = GREETING=hello
CONF
cat > "$root/etc/bistro/services/bad.conf" <<'CONF'
exec = relative/path
CONF
mkdir -p "$root/usr/share/zoneinfo/Europe"
cp -L /usr/share/zoneinfo/UTC "$root/usr/share/zoneinfo/UTC"
cp -L /usr/share/zoneinfo/Europe/Paris "$root/usr/share/zoneinfo/Europe/Paris"
ln -s /run/bistro/localtime "$root/etc/localtime"

(cd "$root" && find . -print0 | LC_ALL=C sort -z |
        cpio --null --create --format=newc --owner=0:0 --quiet) > "$tmp/initramfs.img"
cp "$kdir/vmlinuz" "$tmp/vmlinuz"
echo "$krel" > "$tmp/kernel-release"
mv -f "$tmp/initramfs.img" "$tmp/vmlinuz" "$tmp/kernel-release" "$out/"
echo "maitred-initramfs: built $out/initramfs.img ($(du -h "$out/initramfs.img" | cut -f1)) for kernel $krel" >&2

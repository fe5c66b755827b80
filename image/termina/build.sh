#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds the Termina guest image into OUTDIR:
#   vmlinuz          Debian's cloud kernel (pinned in image/kernel/VERSION)
#   initramfs.img    stage 1 (bistro-stage1 as /init) + the modules it loads, in load order
#   rootfs.img       read-only squashfs root, dm-verity hash tree appended (no verity superblock)
#   manifest         "key value" lines: versions, verity parameters, sha256 of the three files
#   manifest.sig     Ed25519 signature of manifest (bistro-image sign)
#   signing-key.pub  the public half of the signing key (what the host must trust)
#   sizes            byte sizes, for bench/ and the build log
# Rebuilds only when an input changed (OUTDIR/inputs.sha256); offline once the .debs are cached.
#
# Usage: build.sh --out DIR --stage1 PATH --bistro-image PATH [--maitred PATH] [--vshd PATH]
#                 [--port-listener PATH] [--tremplin PATH] [--opt-bin PATH]... [--opt-bistro DIR]
#                 [--waypipe-bundle DIR] [--image-version V] [--stamp FILE]
#        --waypipe-bundle DIR is installed as /opt/bistro/lib/waypipe (image/waypipe/build-bundle.sh).
# Env:   BISTRO_IMAGE_KEY       signing key (default ${XDG_CONFIG_HOME:-~/.config}/bistro/image-signing.key,
#                               generated on first build, its public key then added to trusted-image-keys/)
#        BISTRO_DEB_CACHE       .deb cache (default ${XDG_CACHE_HOME:-~/.cache}/bistro/debs)
#        BISTRO_TERMINA_INIT    local testing only: use this binary as /usr/sbin/maitred
#        BISTRO_SQUASHFS_COMP   zstd (default) or xz
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../.." && pwd)
step_total=9
step_n=0
step() { step_n=$((step_n + 1)); echo "termina: [$step_n/$step_total] $*" >&2; }
log() { echo "termina: $*" >&2; }
die() { echo "termina: error: $*" >&2; exit 1; }

out= stage1= bimg= maitred= opt_bistro= waypipe_bundle= version= stamp=
# Guest daemons maitred supervises (/etc/bistro/services/NAME.conf); a missing one is left out.
daemons=()
# Static helpers for containers, installed as /opt/bistro/bin/NAME (bind-mounted into each one).
opt_bins=()
while [[ $# -gt 0 ]]; do
        case $1 in
        --out) out=$2; shift 2 ;;
        --stage1) stage1=$2; shift 2 ;;
        --bistro-image) bimg=$2; shift 2 ;;
        --maitred) maitred=$2; shift 2 ;;
        --vshd | --port-listener | --tremplin) daemons+=("$2"); shift 2 ;;
        --opt-bin) [[ ! -x $2 ]] || opt_bins+=("$2"); shift 2 ;;
        --opt-bistro) opt_bistro=$2; shift 2 ;;
        --waypipe-bundle) waypipe_bundle=$2; shift 2 ;;
        --image-version) version=$2; shift 2 ;;
        --stamp) stamp=$2; shift 2 ;;
        *) die "unknown argument $1" ;;
        esac
done
[[ -n $out && -n $stage1 && -n $bimg ]] || die "usage: build.sh --out DIR --stage1 PATH --bistro-image PATH [--maitred PATH]"
[[ -x $stage1 ]] || die "$stage1 not built"
[[ -x $bimg ]] || die "$bimg not built"
finish_stamp() { [[ -z $stamp ]] || echo "$1" > "$stamp"; }
[[ -z $waypipe_bundle || -x $waypipe_bundle/waypipe ]] || die "$waypipe_bundle has no waypipe (image/waypipe/build-bundle.sh)"

if [[ -n ${BISTRO_TERMINA_INIT:-} ]]; then
        log "BISTRO_TERMINA_INIT=$BISTRO_TERMINA_INIT replaces maitred (local testing only)"
        maitred=$BISTRO_TERMINA_INIT
fi
if [[ -z $maitred || ! -x $maitred ]]; then
        log "maitred is not built (${maitred:-no path}): no Termina image this time"
        finish_stamp "skipped: no maitred"
        exit 0
fi
present=()
for d in "${daemons[@]}"; do
        if [[ -x $d ]]; then present+=("$d"); else log "$d is not built: left out of the image"; fi
done
daemons=("${present[@]}")
for t in mksquashfs veritysetup dpkg-deb apt-get readelf depmod cpio; do
        command -v "$t" >/dev/null || [[ -x /usr/sbin/$t || -x /sbin/$t ]] ||
                die "$t not found (Debian packages: squashfs-tools cryptsetup-bin dpkg apt binutils kmod cpio)"
done
export PATH=$PATH:/usr/sbin:/sbin

comp=${BISTRO_SQUASHFS_COMP:-zstd}
cfg=${XDG_CONFIG_HOME:-$HOME/.config}/bistro
key=${BISTRO_IMAGE_KEY:-$cfg/image-signing.key}
debs=${BISTRO_DEB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bistro/debs}
mkdir -p "$out" "$debs"

# Fast path: nothing the image depends on changed since the last build (no apt or dpkg queries).
# The full input digest below is the authority; this one only avoids recomputing it.
quick=$(
        {
                sha256sum "$here"/*.sh "$here"/*.py "$here"/packages "$here"/exclude "$here"/prune \
                        "$here"/modules-root "$top/image/kernel/VERSION" "$stage1" "$maitred" "${daemons[@]}" "${opt_bins[@]}" |
                        cut -d' ' -f1
                [[ -z $opt_bistro ]] || (cd "$opt_bistro" && find . -type f -print0 | sort -z | xargs -0r sha256sum)
                [[ -z $waypipe_bundle ]] || (cd "$waypipe_bundle" && find . -type f -print0 | sort -z | xargs -0r sha256sum)
                ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null
                stat -c '%n %s %Y' "$key" 2>/dev/null || true
                echo "${version:-} $comp ${BISTRO_SQUASHFS_BLOCK:-} ${BISTRO_KEEP_MODULE_SIGNATURES:-} $debs"
        } | sha256sum | cut -d' ' -f1
)
if [[ -f $out/quick-inputs.sha256 && $(cat "$out/quick-inputs.sha256") == "$quick" && -f $out/manifest.sig &&
        -f $out/inputs.sha256 ]]; then
        log "up to date: $out"
        finish_stamp "$(cat "$out/inputs.sha256")"
        exit 0
fi

step "kernel"
kdir=$("$top/image/kernel/fetch-kernel.sh")
read -r kpkg kver krel < "$kdir/VERSION"
mdir="$kdir/modules/lib/modules/$krel"

step "signing key"
if [[ ! -f $key ]]; then
        [[ -z ${BISTRO_IMAGE_KEY:-} ]] || die "BISTRO_IMAGE_KEY=$key does not exist"
        mkdir -p "$cfg/trusted-image-keys"
        "$bimg" keygen "$key" "$cfg/trusted-image-keys/development.pub" >&2
        log "generated a development signing key $key; the host now trusts $cfg/trusted-image-keys/development.pub"
fi
pub=$("$bimg" pubkey "$key")

step "resolving Debian packages"
# The libraries maitred and the guest daemons link against, as host packages (the host is Debian 12 too).
extra=()
for bin in "$maitred" "${daemons[@]}"; do
        while read -r so; do
                p=$(dpkg -S "*/$so" 2>/dev/null | awk -F': ' 'NR == 1 { sub(/:.*/, "", $1); print $1 }')
                [[ -n $p ]] || die "$bin needs $so, which no installed Debian package provides"
                extra+=("$p")
        done < <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
done
apt_state=$(ls -l --time-style=+%s /var/lib/apt/lists/ 2>/dev/null | sha256sum | cut -d' ' -f1)
res_key=$( { cat "$here/packages" "$here/exclude" "$here/resolve-packages.py"; printf '%s\n' "${extra[@]}" "$apt_state"; } |
        sha256sum | cut -d' ' -f1)
res_file=$debs/closure-$res_key
if [[ ! -s $res_file ]]; then
        # Two builds at once (two build directories) share the cache: each writes its own temporary.
        "$here/resolve-packages.py" "$here/packages" "$here/exclude" "${extra[@]}" > "$res_file.tmp.$$"
        mv "$res_file.tmp.$$" "$res_file"
fi
mapfile -t pkgs < "$res_file"
deb_name() { # name version arch -> the file name apt-get download writes
        local v=${2//:/%3a}
        echo "${1}_${v}_${3}.deb"
}
missing=()
for l in "${pkgs[@]}"; do
        read -r n v a <<< "$l"
        [[ -f $debs/$(deb_name "$n" "$v" "$a") ]] || missing+=("$n=$v")
done
if [[ ${#missing[@]} -gt 0 ]]; then
        log "downloading ${#missing[@]} of ${#pkgs[@]} packages into $debs"
        (cd "$debs" && apt-get download "${missing[@]}" >&2) || die "apt-get download failed"
fi

inputs=$(
        {
                sha256sum "$here"/build.sh "$here"/packages "$here"/exclude "$here"/prune "$here"/modules-root "$here"/strip-module-signature.py "$stage1" \
                        "$maitred" "${daemons[@]}" "${opt_bins[@]}" "$kdir/vmlinuz" | cut -d' ' -f1
                [[ -z $opt_bistro ]] || (cd "$opt_bistro" && find . -type f -print0 | sort -z | xargs -0r sha256sum)
                [[ -z $waypipe_bundle ]] || (cd "$waypipe_bundle" && find . -type f -print0 | sort -z | xargs -0r sha256sum)
                cat "$kdir/VERSION" "$res_file"
                echo "$version $comp ${BISTRO_SQUASHFS_BLOCK:-} $pub ${BISTRO_KEEP_MODULE_SIGNATURES:-}"
        } | sha256sum | cut -d' ' -f1
)
if [[ -f $out/inputs.sha256 && $(cat "$out/inputs.sha256") == "$inputs" && -f $out/manifest.sig ]]; then
        log "up to date: $out"
        echo "$quick" > "$out/quick-inputs.sha256"
        finish_stamp "$inputs"
        exit 0
fi
[[ -n $version ]] || version="0.0.0"
version="$version+$(date -u +%Y%m%d%H%M%S)"

tmp=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root=$tmp/root

step "unpacking ${#pkgs[@]} packages"
mkdir -p "$root/usr"
for d in bin sbin lib lib64; do
        mkdir -p "$root/usr/$d"
        ln -s "usr/$d" "$root/$d"
done
mkdir -p "$tmp/x"
for l in "${pkgs[@]}"; do
        read -r n v a <<< "$l"
        dpkg-deb -x "$debs/$(deb_name "$n" "$v" "$a")" "$tmp/x"
done
# Debian 12's .debs still use the split layout; the root is merged-/usr.
for d in bin sbin lib lib64; do
        if [[ -d $tmp/x/$d && ! -L $tmp/x/$d ]]; then
                cp -a "$tmp/x/$d/." "$root/usr/$d/"
                rm -rf "${tmp:?}/x/$d"
        fi
done
cp -a "$tmp/x/." "$root/"
rm -rf "$tmp/x"

step "pruning and installing Bistro files"
# CA bundle as update-ca-certificates would make it; the tool itself needs openssl and perl.
mkdir -p "$root/etc/ssl/certs"
find "$root/usr/share/ca-certificates" -name '*.crt' -print0 | sort -z | xargs -0 cat > "$root/etc/ssl/certs/ca-certificates.crt"
while read -r pat; do
        [[ -z $pat || $pat == \#* ]] && continue
        [[ $pat != /* && $pat != *..* ]] || die "bad prune pattern $pat"
        # shellcheck disable=SC2086 # the pattern is a glob on purpose
        rm -rf "$root"/$pat
done < "$here/prune"
find "$root" -name '*.a' -delete
find "$root/usr/lib" -maxdepth 2 -name '*.la' -delete
install -D -m 0755 "$maitred" "$root/usr/sbin/maitred"
ln -sf maitred "$root/usr/sbin/init"
installed=()
for d in "${daemons[@]}"; do
        n=$(basename "$d")
        install -D -m 0755 "$d" "$root/usr/sbin/$n"
        mkdir -p "$root/etc/bistro/services"
        printf '# Supervised by maitred (respawned when it exits).\nexec = /usr/sbin/%s\n' "$n" > "$root/etc/bistro/services/$n.conf"
        installed+=("$root/usr/sbin/$n")
done
mkdir -p "$root/opt/bistro" "$root/etc/bistro"
[[ -z $opt_bistro ]] || cp -a "$opt_bistro/." "$root/opt/bistro/"
for b in "${opt_bins[@]}"; do install -D -m 0755 "$b" "$root/opt/bistro/bin/$(basename "$b")"; done
# The same waypipe as the host's, with its own loader and libc: sommelier runs it in any container.
if [[ -n $waypipe_bundle ]]; then
        mkdir -p "$root/opt/bistro/lib/waypipe"
        cp -a "$waypipe_bundle/." "$root/opt/bistro/lib/waypipe/"
fi
# garcon is also bistro-open (it looks at argv[0]): the container's xdg-open/x-www-browser target.
[[ ! -e $root/opt/bistro/bin/garcon ]] || ln -sf garcon "$root/opt/bistro/bin/bistro-open"
echo "$version" > "$root/etc/bistro/image-version"
echo "$krel" > "$root/etc/bistro/kernel-release"
for d in dev proc sys run tmp var mnt/stateful root; do mkdir -p "$root/$d"; done
chmod 1777 "$root/tmp"
ln -sf /proc/self/mounts "$root/etc/mtab"
printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
printf 'root:x:0:\n' > "$root/etc/group"
echo termina > "$root/etc/hostname"
echo termina > "$root/etc/bistro/hostname"
ln -sf /run/bistro/localtime "$root/etc/localtime"
# maitred writes the resolver configuration on ConfigureNetwork; the root is read-only.
ln -sf /run/resolv.conf "$root/etc/resolv.conf"
# btrfs loads on the first btrfs Mount (modules_load_filesystem): it costs seconds of raid6/xor
# calibration that the ready call need not wait for.
# Stage 1 already loaded the boot modules; this list is for maitred (see docs/design/maitred.md).
printf '# Modules maitred loads at boot; stage 1 loads the boot set (docs/design/termina.md).\n' > "$root/etc/bistro/modules"
printf 'virtio_net\n' >> "$root/etc/bistro/modules" # eth0 for ConfigureNetwork (vmm --net user)
# /dev/fuse for FUSE in containers (maitred makes it 0666); virtiofs itself loads on its Mount.
printf 'fuse\n' >> "$root/etc/bistro/modules"
# Every binary we ship must find its libraries inside the root.
for bin in "$root/usr/sbin/maitred" "${installed[@]}" "$root/usr/bin/lxc-start" "$root/usr/sbin/mkfs.btrfs"; do
        while read -r so; do
                [[ -e $root/usr/lib/x86_64-linux-gnu/$so || -e $root/usr/lib/$so ]] ||
                        die "${bin#"$root"} needs $so, which is not in the root"
        done < <(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
done

# Modules maitred loads later (btrfs, overlay, fuse, veth, bridge, nftables, ...): a subset of the
# kernel's tree with its own modules.dep.
mkdir -p "$root/usr/lib/modules/$krel"
shopt -s nullglob
while read -r pat; do
        [[ -z $pat || $pat == \#* ]] && continue
        # shellcheck disable=SC2206 # the pattern is a glob on purpose
        found=($mdir/kernel/$pat)
        [[ ${#found[@]} -gt 0 ]] || die "kernel/$pat matches nothing in $krel's module tree"
        for f in "${found[@]}"; do
                rel=${f#"$mdir/"}
                mkdir -p "$root/usr/lib/modules/$krel/$(dirname "$rel")"
                cp -a "$f" "$root/usr/lib/modules/$krel/$(dirname "$rel")/"
        done
done < "$here/modules-root"
shopt -u nullglob
cp "$mdir"/modules.{order,builtin,builtin.modinfo} "$root/usr/lib/modules/$krel/" 2>/dev/null || true
# Every dependency (from the full tree's modules.dep) of a module in the root must be there too.
while IFS=: read -r mod deps; do
        [[ -e $root/usr/lib/modules/$krel/$mod ]] || continue
        for d in $deps; do
                [[ -e $root/usr/lib/modules/$krel/$d ]] ||
                        die "$mod needs $d, which image/termina/modules-root does not list"
        done
done < "$mdir/modules.dep"
# The root is dm-verity protected: the kernel's per-module RSA check adds nothing there either.
[[ ${BISTRO_KEEP_MODULE_SIGNATURES:-} ]] ||
        find "$root/usr/lib/modules/$krel" -name '*.ko' -print0 | xargs -0r "$here/strip-module-signature.py"
depmod -b "$root/usr" "$krel" 2>"$tmp/depmod.err" || { cat "$tmp/depmod.err" >&2; die "depmod failed"; }

# Stage 1 modules: block device, dm-verity, squashfs, vsock and the ACPI power button (maitred
# watches it for a graceful stop), dependencies first.
wanted=(virtio_mmio virtio_blk dm-verity squashfs vmw_vsock_virtio_transport button evdev)
declare -A dep seen
while IFS=: read -r mod deps; do dep[$mod]=$deps; done < "$mdir/modules.dep"
order=()
visit() {
        local m=$1 d
        [[ -n ${seen[$m]:-} ]] && return
        seen[$m]=1
        for d in ${dep[$m]}; do visit "$d"; done
        order+=("$m")
}
for w in "${wanted[@]}"; do
        p=$(grep -E "(^|/)$w\.ko:" "$mdir/modules.dep" | cut -d: -f1 || true)
        [[ -n $p ]] || die "module $w not in $mdir/modules.dep"
        visit "$p"
done

step "squashfs root ($comp)"
find "$root" -newermt @0 -print0 | xargs -0r touch -h -d @0 2>/dev/null || true
comp_opts=()
block=${BISTRO_SQUASHFS_BLOCK:-131072}
[[ $comp != zstd ]] || comp_opts=(-Xcompression-level 19)
[[ $comp != lz4 ]] || comp_opts=(-Xhc)
mksquashfs "$root" "$tmp/rootfs.img" -comp "$comp" "${comp_opts[@]}" -b "$block" -noappend -all-root -no-xattrs \
        -mkfs-time 0 -all-time 0 -quiet -no-progress >&2
data_size=$(stat -c %s "$tmp/rootfs.img")
# mksquashfs pads to 4 KiB; verity needs whole blocks.
(( data_size % 4096 == 0 )) || truncate -s $(( (data_size + 4095) / 4096 * 4096 )) "$tmp/rootfs.img"
data_size=$(stat -c %s "$tmp/rootfs.img")
data_blocks=$((data_size / 4096))

step "dm-verity hash tree"
salt=$(sha256sum "$tmp/rootfs.img" | cut -d' ' -f1)
veritysetup format --no-superblock --hash=sha256 --data-block-size=4096 --hash-block-size=4096 \
        --data-blocks="$data_blocks" --hash-offset="$data_size" --salt="$salt" \
        "$tmp/rootfs.img" "$tmp/rootfs.img" > "$tmp/verity.out"
root_hash=$(sed -n 's/^Root hash:[[:space:]]*//p' "$tmp/verity.out")
[[ $root_hash =~ ^[0-9a-f]{64}$ ]] || { cat "$tmp/verity.out" >&2; die "veritysetup printed no root hash"; }

step "initramfs (${#order[@]} modules)"
ir=$tmp/initramfs
mkdir -p "$ir"/{dev,proc,sys,root,lib/modules}
install -m 0755 "$stage1" "$ir/init"
strip "$ir/init"
: > "$ir/lib/modules/load-order"
for m in "${order[@]}"; do
        cp "$mdir/$m" "$ir/lib/modules/"
        basename "$m" >> "$ir/lib/modules/load-order"
done
[[ ${BISTRO_KEEP_MODULE_SIGNATURES:-} ]] || "$here/strip-module-signature.py" "$ir"/lib/modules/*.ko
echo "$krel" > "$ir/lib/modules/kernel-release"
# Uncompressed: unpacking is a memcpy, where decompression under TCG costs boot time.
(cd "$ir" && find . -print0 | LC_ALL=C sort -z |
        cpio --null --create --format=newc --owner=0:0 --quiet --reproducible) > "$tmp/initramfs.img"
cp "$kdir/vmlinuz" "$tmp/vmlinuz"

step "manifest"
sha() { sha256sum "$1" | cut -d' ' -f1; }
{
        echo "format 1"
        echo "image_version $version"
        echo "kernel_release $krel"
        echo "kernel_package $kpkg $kver"
        echo "vmlinuz_sha256 $(sha "$tmp/vmlinuz")"
        echo "initramfs_sha256 $(sha "$tmp/initramfs.img")"
        echo "rootfs_sha256 $(sha "$tmp/rootfs.img")"
        echo "rootfs_size $(stat -c %s "$tmp/rootfs.img")"
        echo "verity_algorithm sha256"
        echo "verity_block_size 4096"
        echo "verity_data_blocks $data_blocks"
        echo "verity_hash_offset $data_size"
        echo "verity_salt $salt"
        echo "verity_root_hash $root_hash"
} > "$tmp/manifest"
"$bimg" sign --key "$key" "$tmp/manifest" "$tmp/manifest.sig" >&2
echo "$pub" > "$tmp/signing-key.pub"
{
        echo "vmlinuz $(stat -c %s "$tmp/vmlinuz")"
        echo "initramfs.img $(stat -c %s "$tmp/initramfs.img")"
        echo "rootfs.img $(stat -c %s "$tmp/rootfs.img")"
        echo "rootfs.squashfs $data_size"
        echo "total $(( $(stat -c %s "$tmp/vmlinuz") + $(stat -c %s "$tmp/initramfs.img") + $(stat -c %s "$tmp/rootfs.img") ))"
} > "$tmp/sizes"
# Replace the old image: signature last, so a half-updated directory never verifies.
rm -f "$out/manifest.sig" "$out/inputs.sha256" "$out/quick-inputs.sha256"
mv -f "$tmp"/{vmlinuz,initramfs.img,rootfs.img,manifest,signing-key.pub,sizes} "$out/"
mv -f "$tmp/manifest.sig" "$out/"
echo "$inputs" > "$out/inputs.sha256"
echo "$quick" > "$out/quick-inputs.sha256"
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
while read -r f s; do log "  $(printf '%-16s' "$f") $(mib "$s")"; done < "$out/sizes"
log "built $out (image $version, kernel $krel, root hash ${root_hash:0:16}...)"
finish_stamp "$inputs"

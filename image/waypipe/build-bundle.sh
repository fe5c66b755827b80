#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
#
# Builds Bistro's waypipe bundle (docs/design/sommelier.md, "The waypipe bundle") into OUT/bundle:
#   waypipe, ld-linux-x86-64.so.2, libc.so.6, liblz4.so.1, libzstd.so.1   from Debian's .debs, pinned
#                                                                          in image/waypipe/VERSION
#   libavcodec.so.59, libavutil.so.57, libswscale.so.6, libva.so.2, libgbm.so.1
#                  "unavailable" stand-ins generated from waypipe's own undefined symbols
#                  (unavailable-libs.py): each function says video/GPU support is not there, exit 70
#   versions       "package version" of what went in
#   copyright/     the packages' copyright files
# Run it as DIR/ld-linux-x86-64.so.2 --library-path DIR DIR/waypipe ARGS (src/basic/waypipe-bundle.h);
# it needs nothing outside DIR, which the script checks before it replaces OUT/bundle.
# When the archive no longer has a pinned version the script takes the archive's and says so.
# Idempotent (OUT/inputs.sha256); offline once the .debs are cached.
#
# Usage: build-bundle.sh --out DIR [--cc "COMPILER [ARGS]"] [--stamp FILE]
# Env:   BISTRO_WAYPIPE_CACHE    .deb cache (default ${XDG_CACHE_HOME:-$HOME/.cache}/bistro/waypipe)
#        BISTRO_WAYPIPE_REFRESH  set: ask the archive again for a pin that was followed before
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${BISTRO_WAYPIPE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bistro/waypipe}
ldso=ld-linux-x86-64.so.2
multiarch=x86_64-linux-gnu

log() { echo "waypipe-bundle: $*" >&2; }
die() { log "error: $*"; exit 1; }

out='' cc=cc stamp=''
while [[ $# -gt 0 ]]; do
        case $1 in
        --out) out=$2; shift 2 ;;
        --cc) cc=$2; shift 2 ;;
        --stamp) stamp=$2; shift 2 ;;
        *) die "unknown argument $1 (usage: build-bundle.sh --out DIR [--cc COMPILER] [--stamp FILE])" ;;
        esac
done
[[ -n $out ]] || die "usage: build-bundle.sh --out DIR [--cc COMPILER] [--stamp FILE]"
read -ra ccv <<< "$cc"
mkdir -p "$out"
out=$(cd "$out" && pwd)
finish_stamp() { [[ -z $stamp ]] || echo "$1" > "$stamp"; }

pins=()
while read -r p v; do
        [[ -z ${p:-} || $p == \#* ]] && continue
        [[ -n ${v:-} ]] || die "malformed line '$p' in $here/VERSION"
        pins+=("$p $v")
done < "$here/VERSION"
[[ ${#pins[@]} -gt 0 ]] || die "$here/VERSION pins nothing"

deb_name() { # package version -> the file apt-get download writes (amd64 only: the bundle is x86-64)
        echo "${1}_${2//:/%3a}_amd64.deb"
}
# The cached .deb for a pin, without asking the archive: the pinned one, or the one followed last time.
cached_deb() {
        local p=$1 v=$2 f
        f=$cache/debs/$(deb_name "$p" "$v")
        if [[ -f $f ]]; then echo "$f"; return 0; fi
        [[ -z ${BISTRO_WAYPIPE_REFRESH:-} && -f $cache/followed-$p-$v ]] || return 1
        f=$cache/debs/$(cat "$cache/followed-$p-$v")
        [[ -f $f ]] && echo "$f"
}

inputs_of() { # .deb paths -> the digest of everything the bundle is made from
        {
                sha256sum "$here/VERSION" "$here/build-bundle.sh" "$here/unavailable-libs.py" "$@" | cut -d' ' -f1
                echo "$cc"
        } | sha256sum | cut -d' ' -f1
}

# Fast path: every pin is cached and nothing changed since the last bundle (no apt queries).
debs=()
for pin in "${pins[@]}"; do
        read -r p v <<< "$pin"
        f=$(cached_deb "$p" "$v") || { debs=(); break; }
        debs+=("$f")
done
if [[ ${#debs[@]} -eq ${#pins[@]} ]]; then
        inputs=$(inputs_of "${debs[@]}")
        if [[ -f $out/inputs.sha256 && $(cat "$out/inputs.sha256") == "$inputs" && -x $out/bundle/waypipe ]]; then
                finish_stamp "$inputs"
                exit 0
        fi
fi

for t in apt-get dpkg-deb readelf nm python3; do
        command -v "$t" >/dev/null || die "$t not found (Debian packages: apt dpkg binutils python3)"
done
[[ $(dpkg --print-architecture 2>/dev/null) == amd64 ]] || die "the waypipe bundle is built for amd64 hosts only"
mkdir -p "$cache/debs"
tmp=$(mktemp -d "$out/.bundle.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Fetch what is not cached. Each download goes to its own directory first: two builds (two build
# directories) may share the cache.
debs=()
for pin in "${pins[@]}"; do
        read -r p v <<< "$pin"
        if f=$(cached_deb "$p" "$v"); then
                debs+=("$f")
                continue
        fi
        dl=$tmp/dl-$p
        mkdir -p "$dl"
        if ! (cd "$dl" && apt-get download "$p=$v" >&2 2>"$dl.err"); then
                cat "$dl.err" >&2
                log "warning: pinned $p=$v is not in the archive; following the archive"
                (cd "$dl" && apt-get download "$p" >&2) ||
                        die "apt-get download $p failed (are the apt lists there? apt-get update)"
        fi
        f=$(echo "$dl"/*.deb)
        [[ -f $f ]] || die "apt-get download $p produced no .deb"
        got=$(dpkg-deb -f "$f" Version)
        mv -f "$f" "$cache/debs/$(deb_name "$p" "$got")"
        if [[ $got != "$v" ]]; then
                deb_name "$p" "$got" > "$cache/followed-$p-$v"
                log "warning: using $p $got instead of $v; update image/waypipe/VERSION to pin it"
        fi
        debs+=("$cache/debs/$(deb_name "$p" "$got")")
done
inputs=$(inputs_of "${debs[@]}")

x=$tmp/x
b=$tmp/bundle
mkdir -p "$x" "$b"
: > "$b/versions"
mkdir -p "$b/copyright"
for f in "${debs[@]}"; do
        dpkg-deb -x "$f" "$x"
        p=$(dpkg-deb -f "$f" Package)
        echo "$p $(dpkg-deb -f "$f" Version)" >> "$b/versions"
        # The licences travel with the binaries (Termina prunes /usr/share/doc).
        cp "$x/usr/share/doc/$p/copyright" "$b/copyright/$p" || die "$p has no copyright file"
done
[[ -f $x/usr/bin/waypipe ]] || die "the waypipe package has no /usr/bin/waypipe"

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }
# A library by file name in the unpacked packages, symlinks followed (the caller checks that they
# stay inside).
find_lib() {
        local d
        for d in lib/$multiarch usr/lib/$multiarch; do
                [[ -e $x/$d/$1 ]] || continue
                readlink -f "$x/$d/$1"
                return 0
        done
        return 1
}

# The closure of waypipe's libraries in the packages; what waypipe needs and they lack is stubbed.
install -m 0755 "$x/usr/bin/waypipe" "$b/waypipe"
stubs=() shipped=() queue=()
mapfile -t queue < <(needed "$b/waypipe")
direct=" ${queue[*]} "
declare -A seen
while [[ ${#queue[@]} -gt 0 ]]; do
        so=${queue[0]}
        queue=("${queue[@]:1}")
        [[ -z ${seen[$so]:-} ]] || continue
        seen[$so]=1
        if f=$(find_lib "$so"); then
                [[ $f == "$x"/* ]] || die "$so points outside the packages ($f)"
                install -m 0755 "$f" "$b/$so"
                shipped+=("$b/$so")
                mapfile -t -O "${#queue[@]}" queue < <(needed "$f")
        elif [[ $direct == *" $so "* ]]; then
                stubs+=("$so")
        else
                die "$so (needed by a shipped library) is in no package of image/waypipe/VERSION"
        fi
done
[[ -f $b/$ldso ]] || die "$ldso is in no package of image/waypipe/VERSION"

log "unavailable: ${stubs[*]}"
python3 "$here/unavailable-libs.py" "$b/waypipe" "$tmp/src" --stub "${stubs[@]}" --shipped "${shipped[@]}"
for so in "${stubs[@]}"; do
        "${ccv[@]}" -shared -fPIC -O2 -nostdlib -ffreestanding -fno-stack-protector -fno-sanitize=all -s \
                -Wl,-soname,"$so" -Wl,--version-script="$tmp/src/$so.map" \
                -Wl,-z,now,-z,relro,-z,noexecstack,-z,noseparate-code \
                -o "$b/$so" "$tmp/src/$so.c" || die "compiling $so failed"
        chmod 0644 "$b/$so"
done
rm -rf "$out/unavailable-src"
cp -a "$tmp/src" "$out/unavailable-src"

# The bundle must stand alone: with an empty environment every library resolves inside it,
# every version need is met, and waypipe runs.
trace=$(env -i LD_TRACE_LOADED_OBJECTS=1 "$b/$ldso" --library-path "$b" "$b/waypipe" 2>&1) ||
        { echo "$trace" >&2; die "the bundled loader cannot load waypipe"; }
while read -r line; do
        case $line in
        linux-vdso.so.1\ *) ;;
        *" => $b/"*) ;;
        *) echo "$trace" >&2; die "not resolved inside the bundle: $line" ;;
        esac
done <<< "$trace"
wp_upstream=$(awk '$1 == "waypipe" { sub(/-[^-]*$/, "", $2); print $2 }' "$b/versions")
ver=$(env -i "$b/$ldso" --library-path "$b" "$b/waypipe" --version 2>&1) ||
        { echo "$ver" >&2; die "waypipe --version failed"; }
[[ $(head -1 <<< "$ver") == "waypipe $wp_upstream" ]] ||
        { echo "$ver" >&2; die "waypipe --version does not say $wp_upstream"; }

rm -rf "$out/bundle.old"
[[ ! -e $out/bundle ]] || mv "$out/bundle" "$out/bundle.old"
mv "$b" "$out/bundle"
rm -rf "$out/bundle.old"
echo "$inputs" > "$out/inputs.sha256"
total=$(find "$out/bundle" -type f -printf '%s\n' | awk '{ t += $1 } END { print t }')
mib=$(awk -v b="$total" 'BEGIN { printf "%.1f MiB", b / 1048576 }')
log "$(head -1 <<< "$ver") in $out/bundle: $(find "$out/bundle" -type f | wc -l) files, $mib ($total bytes)"
finish_stamp "$inputs"

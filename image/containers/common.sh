# SPDX-License-Identifier: LGPL-2.1-or-later
# Shared by the container image builders: packing a rootfs into the image store.
# Store layout: STORE/<name>.tar.zst (a rootfs tarball, numeric owners, sorted, mtimes kept) and
# STORE/<name>.json {"name", "distro", "release", "arch", "size", "sha256", "unpacked_size",
# "created", "inputs"}; "size" and "sha256" are of the .tar.zst.

default_store() {
        echo "${BISTRO_IMAGE_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/bistro/images/containers}"
}

# up_to_date STORE NAME INPUTS: true when STORE/NAME.* were built from INPUTS and still match.
up_to_date() {
        local store=$1 name=$2 inputs=$3
        [[ -f $store/$name.tar.zst && -f $store/$name.json ]] || return 1
        grep -q "\"inputs\": \"$inputs\"" "$store/$name.json" || return 1
        grep -q "\"sha256\": \"$(sha256sum "$store/$name.tar.zst" | cut -d' ' -f1)\"" "$store/$name.json"
}

# pack ROOT STORE NAME DISTRO RELEASE INPUTS [TAR-ARGS...]
pack() {
        local root=$1 store=$2 name=$3 distro=$4 release=$5 inputs=$6
        shift 6
        local arch tmp size sha unpacked
        arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
        mkdir -p "$store"
        tmp=$(mktemp "$store/.$name.XXXXXX")
        unpacked=$(du -sb "$root" | cut -f1)
        echo "$name: packing $(awk -v b="$unpacked" 'BEGIN { printf "%.1f MiB", b / 1048576 }') into $store/$name.tar.zst" >&2
        tar -C "$root" --numeric-owner --sort=name --xattrs --acls "$@" -cf - . |
                zstd -q -T0 -19 -o "$tmp" -f
        size=$(stat -c %s "$tmp")
        sha=$(sha256sum "$tmp" | cut -d' ' -f1)
        mv -f "$tmp" "$store/$name.tar.zst"
        cat > "$store/$name.json.tmp" <<JSON
{
  "name": "$name",
  "distro": "$distro",
  "release": "$release",
  "arch": "$arch",
  "size": $size,
  "sha256": "$sha",
  "unpacked_size": $unpacked,
  "created": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
  "inputs": "$inputs"
}
JSON
        mv -f "$store/$name.json.tmp" "$store/$name.json"
        echo "$name: $store/$name.tar.zst ($(awk -v b="$size" 'BEGIN { printf "%.1f MiB", b / 1048576 }'), sha256 $sha)" >&2
}

#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Writes the seed corpora of fuzz-tar-extract and fuzz-tar-header: small real tarballs made by GNU
# tar (ustar, gnu, pax, with xattrs) and busybox tar, and hostile ones (gen-hostile.py).
# Usage: test/fuzz/tar/gen-corpus.sh   (from the top of the tree; needs tar, busybox, python3)
set -euo pipefail
top=$(cd "$(dirname "$0")/../../.." && pwd)
out=$top/test/fuzz/corpus/fuzz-tar-extract
hdr=$top/test/fuzz/corpus/fuzz-tar-header
mkdir -p "$out" "$hdr"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

src=$tmp/src
mkdir -p "$src/etc/deep" "$src/usr/bin" "$src/run"
echo "root:x:0:0:root:/root:/bin/sh" >"$src/etc/passwd"
printf 'hello\n' >"$src/usr/bin/tool"
chmod 4755 "$src/usr/bin/tool"
ln "$src/etc/passwd" "$src/etc/passwd-"
ln -s ../usr/bin/tool "$src/etc/tool-link"
ln -s /etc/passwd "$src/etc/abs-link"
mkfifo "$src/run/fifo"
long=$src/etc/deep/$(printf 'x%.0s' $(seq 1 120))
mkdir -p "$long"
echo long >"$long/$(printf 'y%.0s' $(seq 1 110))"
setfattr -n user.bistro -v seed "$src/etc/passwd" 2>/dev/null || true
chown -R 1000:1000 "$src/run"
touch -d @1700000000.5 "$src/etc/passwd"

for f in ustar gnu pax; do
        args=(--numeric-owner --sort=name --format=$f -C "$src" .)
        if [ $f = ustar ]; then
                # ustar cannot hold the long names: only the short part
                args=(--numeric-owner --sort=name --format=ustar -C "$src" ./etc/passwd ./etc/passwd- ./etc/tool-link ./usr ./run)
        fi
        tar -cf "$out/gnu-$f.tar" "${args[@]}"
done
tar -cf "$out/gnu-pax-xattrs.tar" --numeric-owner --sort=name --xattrs --acls --format=pax -C "$src" .
(cd "$src" && busybox tar -cf "$out/busybox.tar" etc/passwd usr run)
# GNU base-256 numbers: a uid beyond the octal field
cp "$src/etc/passwd" "$tmp/big-uid"
tar -cf "$out/gnu-base256-uid.tar" --format=gnu --owner=3000000000 --group=3000000000 -C "$tmp" big-uid

/usr/bin/python3 "$top/test/fuzz/tar/gen-hostile.py" "$out"

# header fuzzer: the first blocks of each tarball
for f in "$out"/*; do
        head -c 2048 "$f" >"$hdr/$(basename "$f")"
done

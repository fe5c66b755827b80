#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's run command. Once `bistro` exists it opens the Terminal (a shell in penguin); until
# then it shows what is built and proves the VM layer works by booting the test guest once.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
b=$top/build

if [ -x "$b/src/bistro/bistro" ]; then
        exec "$b/src/bistro/bistro" "$@"
fi

echo "Bistro $(git -C "$top" describe --always --dirty 2>/dev/null || echo dev): the Terminal (bistro) is not built yet."
echo "Built programs:"
for p in vmm vsockd concierge cicerone vmc vsh bistro; do
        f=$(find "$b/src" -maxdepth 2 -type f -name "$p" -perm -u+x 2>/dev/null | head -1)
        [ -n "$f" ] && echo "  $p  ($f)"
done
if [ -x "$b/src/vmm/vmm" ] && [ -x "$top/image/test-guest/build.sh" ]; then
        echo "Booting the test guest through vmm + vsockd and talking to it over vsock:"
        exec /usr/bin/python3 "$top/tools/vm-demo.py" "$b"
fi

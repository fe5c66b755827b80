#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's run command. Once `bistro` exists it opens the Terminal (a shell in penguin); until
# then it shows what is built and proves the VM layers work: the test guest through vmm + vsockd,
# then the default VM 'termina' through vmc and concierge. Never waits for input.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
b=$top/build

if [ -x "$b/src/bistro/bistro" ]; then
        exec "$b/src/bistro/bistro" "$@"
fi

if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
        # No login session (CI, su): a private runtime dir, as systemd would give us.
        if [ -d "/run/user/$(id -u)" ]; then
                export XDG_RUNTIME_DIR=/run/user/$(id -u)
        else
                export XDG_RUNTIME_DIR=/tmp/bistro-runtime-$(id -u)
                mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
        fi
fi

echo "Bistro $(git -C "$top" describe --always --dirty 2>/dev/null || echo dev): the Terminal (bistro) is not built yet."
echo "Built programs:"
for p in concierge vmc vmm vsockd maitred bistro-image; do
        f=$(find "$b/src" -maxdepth 2 -type f -name "$p" -perm -u+x 2>/dev/null | head -1)
        [ -n "$f" ] && echo "  $p  ($f)"
done

echo
echo "1. The VM layer: a test guest through vmm (jailed QEMU) + vsockd (our vsock device):"
/usr/bin/python3 "$top/tools/vm-demo.py" "$b"

vmc=$b/src/vmc/vmc
if [ -x "$vmc" ]; then
        echo
        echo "2. The default VM through vmc and concierge (Termina image, stateful btrfs disk):"
        "$vmc" start termina
        "$vmc" list
        "$vmc" info termina
        "$vmc" stop termina
        echo "termina's disk is kept in ${XDG_DATA_HOME:-$HOME/.local/share}/bistro/vms/termina/; 'vmc destroy termina' removes it."
fi

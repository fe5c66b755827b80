#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# The README's run command (`make run`, after the build): opens the Terminal, `bistro` — a shell in
# the container penguin of the VM termina, set up on first use. Arguments go to bistro
# (`tools/run.sh -- uname -a`). Never waits for input when stdin is not a terminal: bistro then sets
# everything up, shows what it did and exits.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
b=${BISTRO_BUILD_DIR:-$top/build}
bistro=$b/src/bistro/bistro

if [ ! -x "$bistro" ]; then
        echo "run.sh: $bistro is not built: run 'make run' (or 'make build') first" >&2
        exit 1
fi

uid=$(id -u)
if [ -z "${XDG_RUNTIME_DIR:-}" ]; then
        # No login session (CI, su): a private runtime dir, as systemd would give us.
        if [ -d "/run/user/$uid" ] && [ -w "/run/user/$uid" ]; then
                XDG_RUNTIME_DIR=/run/user/$uid
        else
                XDG_RUNTIME_DIR=/tmp/bistro-runtime-$uid
                mkdir -m 0700 "$XDG_RUNTIME_DIR" 2>/dev/null || true
                if [ ! -d "$XDG_RUNTIME_DIR" ] || [ -L "$XDG_RUNTIME_DIR" ] || [ "$(stat -c %u "$XDG_RUNTIME_DIR")" != "$uid" ]; then
                        echo "run.sh: $XDG_RUNTIME_DIR is not a directory of yours; set XDG_RUNTIME_DIR" >&2
                        exit 1
                fi
                chmod 0700 "$XDG_RUNTIME_DIR"
        fi
        export XDG_RUNTIME_DIR
fi

# penguin's image. bistro builds it itself when it runs as root; otherwise debootstrap needs sudo,
# once (the image is cached in the store afterwards).
store=${BISTRO_IMAGE_STORE:-${XDG_DATA_HOME:-$HOME/.local/share}/bistro/images/containers}
if [ "$uid" -ne 0 ] && ! [[ -f $store/debian.tar.zst && -f $store/debian.json ]]; then
        echo "The Debian image for penguin is not in $store yet: building it (debootstrap, as root through sudo; takes minutes)." >&2
        sudo_args=()
        [ -t 0 ] || sudo_args=(-n) # no terminal: never wait for a password
        mkdir -p "$store"
        if ! sudo "${sudo_args[@]}" "$top/image/containers/build-debian.sh" "$store"; then
                echo "run.sh: building the Debian image failed; run: sudo $top/image/containers/build-debian.sh $store" >&2
                exit 1
        fi
fi

exec "$bistro" "$@"

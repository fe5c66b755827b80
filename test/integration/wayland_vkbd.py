#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Puts a keyboard on a headless compositor's seat and holds it until killed.

Headless sway (WLR_LIBINPUT_NO_DEVICES=1) has a seat without a keyboard, so no client ever gets
keyboard focus, and the clipboard's normal data-device flow (the only one a container has through
the Wayland filter) cannot work. This speaks just enough raw Wayland to create a
zwp_virtual_keyboard_v1 on the seat (as wtype does). Prints "ready" once the keymap is sent.

  XDG_RUNTIME_DIR=... WAYLAND_DISPLAY=wayland-1 wayland_vkbd.py
"""

import array
import os
import socket
import struct
import tempfile
import time

KEYMAP = b"""xkb_keymap {
xkb_keycodes "(unnamed)" { minimum = 8; maximum = 255; <K1> = 9; };
xkb_types "(unnamed)" { include "complete" };
xkb_compatibility "(unnamed)" { include "complete" };
xkb_symbols "(unnamed)" { key <K1> {[a]}; };
};
\0"""


def message(obj, opcode, payload=b""):
    return struct.pack("<II", obj, (8 + len(payload)) << 16 | opcode) + payload


def string(s):
    b = s.encode() + b"\0"
    return struct.pack("<I", len(b)) + b + b"\0" * (-len(b) % 4)


def main():
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(os.path.join(os.environ["XDG_RUNTIME_DIR"], os.environ.get("WAYLAND_DISPLAY", "wayland-0")))
    # get_registry (id 2), sync (id 3): the globals arrive before the callback's done.
    sock.sendall(message(1, 1, struct.pack("<I", 2)) + message(1, 0, struct.pack("<I", 3)))
    buf, names, synced = b"", {}, False
    while not synced:
        data = sock.recv(65536)
        if not data:
            raise SystemExit("the compositor closed the connection")
        buf += data
        while len(buf) >= 8:
            obj, word = struct.unpack_from("<II", buf)
            size = word >> 16
            if len(buf) < size:
                break
            m, buf = buf[:size], buf[size:]
            if obj == 2 and word & 0xFFFF == 0:
                name, n = struct.unpack_from("<II", m, 8)
                names[m[16:16 + n - 1].decode()] = name
            elif obj == 3:
                synced = True
    for iface, new_id in (("wl_seat", 4), ("zwp_virtual_keyboard_manager_v1", 5)):
        sock.sendall(message(2, 0, struct.pack("<I", names[iface]) + string(iface) + struct.pack("<II", 1, new_id)))
    sock.sendall(message(5, 0, struct.pack("<II", 4, 6)))  # create_virtual_keyboard(seat 4, id 6)
    with tempfile.TemporaryFile() as f:
        f.write(KEYMAP)
        f.flush()
        # keymap(format xkb_v1, fd, size)
        sock.sendmsg([message(6, 0, struct.pack("<II", 1, len(KEYMAP)))],
                     [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [f.fileno()]))])
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()

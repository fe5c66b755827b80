#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Records Wayland traffic for the wayland-filter fuzz corpus and benchmark.

Listens on $XDG_RUNTIME_DIR/LISTEN (a Wayland socket name) and, for each client that connects,
connects to $XDG_RUNTIME_DIR/UPSTREAM (the real compositor) and relays bytes and file descriptors
both ways, unchanged. Each connection is written to OUTDIR/conn-N.bin in the format of
test/fuzz/wayland-gate/fuzz-wayland-filter.c: one byte (the window mark, 0), then one record per
chunk read: a byte (0 client -> compositor, 1 compositor -> client), a little-endian u16 length,
the bytes. Run by hand, as the compositor's user:

  XDG_RUNTIME_DIR=... tools/wayland-record.py wayland-1 wayland-rec OUTDIR &
  WAYLAND_DISPLAY=wayland-rec foot

Only the standard library; stops on SIGINT/SIGTERM.
"""

import array
import os
import selectors
import socket
import struct
import sys

FDS_MAX = 28  # libwayland sends at most this many per sendmsg()


def recv(sock):
    fds = array.array("i")
    data, anc, _, _ = sock.recvmsg(65535, socket.CMSG_SPACE(FDS_MAX * fds.itemsize))
    for level, kind, payload in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    return data, list(fds)


def send(sock, data, fds):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
    while data:
        n = sock.sendmsg([data], anc)
        data, anc = data[n:], []


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    upstream, listen, outdir = sys.argv[1:]
    rt = os.environ["XDG_RUNTIME_DIR"]
    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(rt, listen)
    if os.path.exists(path):
        os.unlink(path)
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(path)
    lsock.listen()
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    n = 0
    try:
        while True:
            for key, _ in sel.select():
                if key.data is None:
                    client, _ = lsock.accept()
                    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    server.connect(os.path.join(rt, upstream))
                    out = open(os.path.join(outdir, f"conn-{n}.bin"), "wb")
                    out.write(b"\0")
                    n += 1
                    pair = {"out": out}
                    sel.register(client, selectors.EVENT_READ, (pair, 0, server))
                    sel.register(server, selectors.EVENT_READ, (pair, 1, client))
                    continue
                pair, direction, peer = key.data
                data, fds = recv(key.fileobj)
                if not data:
                    for s in (key.fileobj, peer):
                        sel.unregister(s)
                        s.close()
                    pair["out"].close()
                    continue
                pair["out"].write(struct.pack("<BH", direction, len(data)) + data)
                pair["out"].flush()
                send(peer, data, fds)
                for fd in fds:
                    os.close(fd)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: LGPL-2.1-or-later
"""Python side of bistro-guest-test's protocol (see notes/interfaces.md, docs/design/vmm.md)."""

import struct

PORT_ECHO = 5000
PORT_SINK = 5001
PORT_SOURCE = 5002
PORT_CONTROL = 5003
PORT_STALL = 5004
HOST_READY_PORT = 7777

FNV_INIT = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
_M64 = (1 << 64) - 1


def fnv1a64(data, h=FNV_INIT):
    """FNV-1a 64 over bytes; pass the previous value as h to hash in pieces."""
    for b in data:
        h ^= b
        h = (h * FNV_PRIME) & _M64
    return h


class Stream:
    """stream(seed): xorshift64*, 8 little-endian bytes per step; read() continues where it stopped."""

    def __init__(self, seed):
        self.x = seed if seed else 1
        self.pending = b""

    def _block(self):
        x = self.x
        x ^= x >> 12
        x ^= (x << 25) & _M64
        x ^= x >> 27
        self.x = x
        return struct.pack("<Q", (x * 0x2545F4914F6CDD1D) & _M64)

    def read(self, n):
        out = [self.pending[:n]]
        have = len(out[0])
        self.pending = self.pending[n:]
        while have < n:
            blk = self._block()
            take = min(8, n - have)
            out.append(blk[:take])
            self.pending = blk[take:]
            have += take
        return b"".join(out)


def stream(seed, nbytes):
    return Stream(seed).read(nbytes)


def sink_reply(data):
    """The line port 5001 answers for data."""
    return "%d %016x\n" % (len(data), fnv1a64(data))


def source_request(nbytes, seed):
    return b"%d %d\n" % (nbytes, seed)


def dial_request(port, nbytes, seed):
    return b"DIAL %d %d %d\n" % (port, nbytes, seed)


def recv_all(sock, limit=1 << 30):
    """Reads to EOF (at most limit bytes)."""
    chunks, n = [], 0
    while n < limit:
        b = sock.recv(min(1 << 16, limit - n))
        if not b:
            break
        chunks.append(b)
        n += len(b)
    return b"".join(chunks)


def recv_line(sock, limit=256):
    """Reads one line byte by byte, so nothing after it is consumed."""
    buf = b""
    while not buf.endswith(b"\n"):
        b = sock.recv(1)
        if not b:
            break
        buf += b
        if len(buf) > limit:
            raise ValueError("line too long")
    return buf.decode()

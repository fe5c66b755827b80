# SPDX-License-Identifier: LGPL-2.1-or-later
"""Python side of the guest's protocols: bistro-guest-test's (see notes/interfaces.md,
docs/design/vmm.md), and for talking to guest services as the host programs do, vsockd's hybrid
socket handshake, bistro wire frames (docs/design/wire.md) and a minimal protobuf codec."""

import socket
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


# -- vsockd's hybrid socket: "CONNECT <port>\n", answered "OK <local port>\n"


def hybrid_connect(path, port, timeout=None):
    """A stream to guest vsock port through the hybrid socket at path (CONNECT handshake done)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(str(path))
        s.sendall(b"CONNECT %d\n" % port)
        line = b""
        while not line.endswith(b"\n"):
            b = s.recv(1)
            if not b:
                raise ConnectionError(f"vsockd closed the connection to port {port} ({line!r})")
            line += b
            if len(line) > 128:
                raise ConnectionError(f"bad CONNECT reply {line!r}")
        if not line.startswith(b"OK "):
            raise ConnectionError(f"CONNECT {port}: {line!r}")
    except BaseException:
        s.close()
        raise
    return s


# -- bistro wire frames: magic, type, id, flags, payload length (little endian), then the payload

FRAME_MAGIC = 0x01534942
FRAME_HEADER = struct.Struct("<IIQII")
REQUEST, RESPONSE, EVENT = 1, 2, 4
ERROR_REPLY, EMPTY = 1, 2
# port forwarding (proto/ports.proto)
WATCH_PORTS, FORWARD_CONNECT, LIST_FORWARDS, ADD_FORWARD, REMOVE_FORWARD = 600, 601, 602, 603, 604
PORTS_UPDATE, LIST_FORWARDS_RESPONSE = 620, 650
TCP, UDP = 1, 2
PORT_LISTENER_PORT = 9002


def frame(mtype, flags, mid, payload=b""):
    return FRAME_HEADER.pack(FRAME_MAGIC, mtype, mid, flags, len(payload)) + payload


def recv_exact(sock, n):
    b = b""
    while len(b) < n:
        c = sock.recv(n - len(b))
        if not c:
            raise EOFError(f"EOF after {len(b)} of {n} bytes")
        b += c
    return b


def recv_frame(sock):
    """(type, id, flags, payload) of the next frame."""
    magic, mtype, mid, flags, length = FRAME_HEADER.unpack(recv_exact(sock, FRAME_HEADER.size))
    assert magic == FRAME_MAGIC, hex(magic)
    return mtype, mid, flags, recv_exact(sock, length)


# -- protobuf: varints and length-delimited fields only (the messages are small and fixed)


def varint(v):
    v &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if not v:
            out.append(b)
            return bytes(out)
        out.append(b | 0x80)


def pb_varint(num, v):
    return varint(num << 3) + varint(v)


def pb_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint((num << 3) | 2) + varint(len(b)) + b


def read_varint(buf, i):
    v = shift = 0
    while True:
        b = buf[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def pb_parse(buf):
    """{field: [values]}: ints for varints, bytes for length-delimited."""
    out, i = {}, 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wt}")
        out.setdefault(num, []).append(v)
    return out


def pb_fields(buf):
    """{field: value}, the last value of each (a singular field's rule)."""
    return {num: vs[-1] for num, vs in pb_parse(buf).items()}


def int64(v):
    """A varint read back as a signed 64-bit value."""
    return v - (1 << 64) if v >= 1 << 63 else v


def error_reply(errno_, msg):
    """An ErrorReply payload: the negative errno and the message."""
    return pb_varint(1, -errno_) + pb_bytes(2, msg)


def error_of(payload):
    """(negative errno, message) of an ErrorReply payload."""
    f = pb_fields(payload)
    return int64(f.get(1, 0)), f.get(2, b"").decode()

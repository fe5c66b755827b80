#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Writes the seed corpora of the vsockd fuzzers (output committed): gen-seeds.py test/fuzz/corpus"""
import os
import struct
import sys

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "corpus")


def write(name, seed, data):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, seed), "wb") as f:
        f.write(data)


def desc(addr, length, flags=0, nxt=0):
    return struct.pack("<QIHH", addr, length, flags, nxt)


def vsock_hdr(src_cid, dst_cid, src_port, dst_port, op, length=0, flags=0, buf_alloc=262144, fwd_cnt=0, typ=1):
    return struct.pack("<QQIIIHHIII", src_cid, dst_cid, src_port, dst_port, length, typ, op, flags, buf_alloc, fwd_cnt)


NEXT, WRITE, INDIRECT = 1, 2, 4

# --- fuzz-vring: 4 config bytes, then RAM (GPA 0x40000; desc at 0, avail at 0x8000, used at 0xa000) ---
GPA = 0x40000


def vring_seed(descs, heads, num_log2=3, cfg1=1, cfg3=0):
    ram = bytearray(0x10000)
    for i, d in enumerate(descs):
        ram[16 * i:16 * i + 16] = d
    struct.pack_into("<HH", ram, 0x8000, 0, len(heads))
    for i, h in enumerate(heads):
        struct.pack_into("<H", ram, 0x8004 + 2 * i, h)
    return bytes([num_log2, cfg1, 0, cfg3]) + bytes(ram).rstrip(b"\0")


write("fuzz-vring", "tx-header-payload", vring_seed([desc(GPA + 0x1000, 44, NEXT, 1), desc(GPA + 0x2000, 1000)], [0]))
write("fuzz-vring", "rx-writable", vring_seed([desc(GPA + 0x1000, 3776, WRITE)] * 4, [0, 1, 2, 3]))
write("fuzz-vring", "loop", vring_seed([desc(GPA + 0x1000, 16, NEXT, 1), desc(GPA + 0x1000, 16, NEXT, 0)], [0]))
write("fuzz-vring", "wrong-direction", vring_seed([desc(GPA + 0x1000, 16, WRITE | NEXT, 1), desc(GPA, 16)], [0]))
write("fuzz-vring", "out-of-range", vring_seed([desc(0xFFFFFFFFFFFFFFF0, 64), desc(GPA + 0xFFF0, 64)], [0, 1]))
write("fuzz-vring", "huge-length", vring_seed([desc(GPA, 0xFFFFFFFF)], [0]))
write("fuzz-vring", "indirect", vring_seed([desc(GPA + 0x1000, 64, INDIRECT)], [0]))
write("fuzz-vring", "cross-region", vring_seed([desc(GPA + 0x10000 - 8, 100)], [0]))
write("fuzz-vring", "bad-head", vring_seed([desc(GPA, 8)], [9]))
write("fuzz-vring", "unpop-event-idx", vring_seed([desc(GPA + 0x1000, 64, WRITE)] * 8, list(range(8)), cfg1=5))

# --- fuzz-vhost-user: u16 len + guest memory, then messages ---
UVA = 0x7F0000000000


def msg(req, payload=b"", flags=1):
    return struct.pack("<III", req, flags, len(payload)) + payload


def u64(v):
    return struct.pack("<Q", v)


def state(i, n):
    return struct.pack("<II", i, n)


def addr(i, d, u, a):
    return struct.pack("<IIQQQQ", i, 0, d, u, a, 0)


# TX ring of vq1 at 0x4000 holds one REQUEST to host port 1234.
mem = bytearray(0x6100)
RXD, TXD = 0x0000, 0x4000
mem[TXD:TXD + 16] = desc(0x6000, 44)
struct.pack_into("<HHH", mem, TXD + 0x800, 0, 1, 0)
mem[0x6000:0x6000 + 44] = vsock_hdr(3, 2, 40000, 1234, 1)
for i in range(8):
    mem[RXD + 16 * i:RXD + 16 * i + 16] = desc(0x200000 + 0x1000 * i, 4096, WRITE)
struct.pack_into("<HH", mem, RXD + 0x800, 0, 8)
for i in range(8):
    struct.pack_into("<H", mem, RXD + 0x804 + 2 * i, i)
features = (1 << 32) | (1 << 30) | (1 << 29)
stream = b"".join([
    msg(3),
    msg(1),
    msg(15),
    msg(16, u64(1 << 9)),
    msg(24, struct.pack("<III", 0, 8, 0) + bytes(8)),
    msg(2, u64(features)),
    msg(5, struct.pack("<II", 1, 0) + struct.pack("<QQQQ", 0, 1 << 20, UVA, 0)),
] + [b"".join([
    msg(8, state(q, 128)),
    msg(10, state(q, 0)),
    msg(9, addr(q, UVA + base, UVA + base + 0x1000, UVA + base + 0x800)),
    msg(12, u64(q)),
    msg(13, u64(q)),
    msg(13, u64(q)),
    msg(18, state(q, 1)),
]) for q, base in ((0, RXD), (1, TXD))] + [msg(11, state(0, 0)), msg(11, state(1, 0))])
write("fuzz-vhost-user", "qemu-startup", struct.pack("<H", len(mem)) + bytes(mem) + stream)
write("fuzz-vhost-user", "no-memory", struct.pack("<H", 0) + msg(1) + msg(2, u64(1 << 32)) + msg(17))
write("fuzz-vhost-user", "bad-mem-table", struct.pack("<H", 0) +
      msg(5, struct.pack("<II", 2, 0) + struct.pack("<QQQQ", 0, 1 << 21, UVA, 0) + struct.pack("<QQQQ", 0, 4096, UVA, 1 << 63)))
write("fuzz-vhost-user", "extra-fd", struct.pack("<H", 0) + msg(13, u64(0), flags=0x101) + msg(12, u64(0x100)))

# --- fuzz-vsock-pkt: records ---


def P(*a, payload=b"", **k):
    return b"P" + vsock_hdr(*a, length=len(payload), **k) + payload


L = 1 << 30
seq = b"".join([
    P(3, 2, 40000, 1, 1),                              # guest connects to host port 1 (listener)
    P(3, 2, 40000, 1, 5, payload=b"hello" * 100),      # data
    P(3, 2, 40000, 1, 7),                              # credit request
    P(3, 2, 40000, 1, 4, flags=2),                     # shutdown send
    P(3, 2, 40000, 1, 4, flags=3),                     # full shutdown
    P(3, 2, 40001, 77, 1),                             # nobody listens: RST
    P(3, 5, 40002, 1, 1),                              # guest to guest
    b"C\x0dCONNECT 5000\n",                          # host client
    P(3, 2, 5000, L, 2),                               # guest accepts
    b"W\x00\x10" + b"A" * 0x400,                       # host writes
    P(3, 2, 5000, L, 6, fwd_cnt=1024),                 # credit update
    b"E\x00\x0f",
    b"X\x00",
    b"E\x00\x05",
    b"D",
])
write("fuzz-vsock-pkt", "lifecycle", seq)
write("fuzz-vsock-pkt", "host-refused", b"C\x0dCONNECT 6000\nP" + vsock_hdr(3, 2, 6000, L, 3) + b"D")
write("fuzz-vsock-pkt", "bad-line", b"C\x08CONNECT \nC\x40" + b"9" * 64)
write("fuzz-vsock-pkt", "credit-overrun", P(3, 2, 40003, 2, 1) + b"".join(P(3, 2, 40003, 2, 5, payload=bytes(65536)) for _ in range(6)))
write("fuzz-vsock-pkt", "bad-headers", P(3, 2, 1, 1, 0) + P(3, 2, 1, 1, 9) + P(3, 2, 1, 1, 1, typ=2) + P(7, 2, 1, 1, 1))

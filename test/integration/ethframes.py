# SPDX-License-Identifier: LGPL-2.1-or-later
"""Ethernet frames for the tests that speak to slirpd as the guest would: ARP, NDP, IPv4, IPv6, TCP,
UDP with real checksums, QEMU's stream framing (4-byte big-endian length + frame), and a minimal TCP
client (in-order data only, no retransmission: enough against libslirp on one host)."""

import select
import socket
import struct
import time

GUEST_MAC = bytes.fromhex("525400123456")
BROADCAST = b"\xff" * 6
GUEST_V4, HOST_V4, DNS_V4 = "10.0.2.15", "10.0.2.2", "10.0.2.3"
GUEST_V6, HOST_V6, DNS_V6 = "fec0::15", "fec0::2", "fec0::3"
ETH_IP, ETH_ARP, ETH_IP6 = 0x0800, 0x0806, 0x86DD
TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10


def a4(s):
    return socket.inet_pton(socket.AF_INET, s)


def a6(s):
    return socket.inet_pton(socket.AF_INET6, s)


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def eth(dst, src, ethertype, payload):
    return dst + src + struct.pack("!H", ethertype) + payload


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, ETH_IP, 6, 4, op) + sha + a4(spa) + tha + a4(tpa)


def ipv4(src, dst, proto, payload, ttl=64, ident=1):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, 0x4000, ttl, proto, 0, a4(src), a4(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload


def ipv6(src, dst, nh, payload, hlim=64):
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nh, hlim, a6(src), a6(dst)) + payload


def pseudo(src, dst, proto, length):
    if ":" in src:
        return a6(src) + a6(dst) + struct.pack("!IxxxB", length, proto)
    return a4(src) + a4(dst) + struct.pack("!xBH", proto, length)


def tcp(src, dst, sport, dport, seq, ack, flags, payload=b"", window=65535, mss=None):
    opts = struct.pack("!BBH", 2, 4, mss) if mss else b""
    off = (20 + len(opts)) // 4
    h = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4, flags, window, 0, 0)
    seg = h + opts + payload
    c = csum(pseudo(src, dst, TCP, len(seg)) + seg)
    return seg[:16] + struct.pack("!H", c) + seg[18:]


def udp(src, dst, sport, dport, payload):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    c = csum(pseudo(src, dst, UDP, len(seg)) + seg) or 0xFFFF
    return seg[:6] + struct.pack("!H", c) + seg[8:]


def icmp_echo(ident, seq, data=b"bistro-ping"):
    h = struct.pack("!BBHHH", 8, 0, 0, ident, seq) + data
    return h[:2] + struct.pack("!H", csum(h)) + h[4:]


def icmp6_ns(src, target, mac):
    body = struct.pack("!BBHI16s", 135, 0, 0, 0, a6(target)) + struct.pack("!BB", 1, 1) + mac
    c = csum(pseudo(src, solicited(target), ICMP6, len(body)) + body)
    return body[:2] + struct.pack("!H", c) + body[4:]


def icmp6_na(src, dst, target, mac):
    body = struct.pack("!BBHI16s", 136, 0, 0, 0x60000000, a6(target)) + struct.pack("!BB", 2, 1) + mac
    c = csum(pseudo(src, dst, ICMP6, len(body)) + body)
    return body[:2] + struct.pack("!H", c) + body[4:]


def solicited(addr):
    b = a6(addr)
    return socket.inet_ntop(socket.AF_INET6, a6("ff02::1:ff00:0")[:13] + b[13:])


def ip_packet(src, dst, proto, payload):
    return ipv6(src, dst, proto, payload) if ":" in src else ipv4(src, dst, proto, payload)


class Packet:
    """A parsed frame: eth fields, then (for IP) src, dst, proto, and for TCP/UDP the ports etc."""

    def __init__(self, frame):
        self.raw = frame
        self.dst_mac, self.src_mac = frame[:6], frame[6:12]
        self.type = struct.unpack("!H", frame[12:14])[0]
        self.proto = None
        p = frame[14:]
        if self.type == ETH_ARP:
            self.arp_op = struct.unpack("!H", p[6:8])[0]
            self.arp_sha, self.arp_spa, self.arp_tpa = p[8:14], socket.inet_ntoa(p[14:18]), socket.inet_ntoa(p[24:28])
            return
        if self.type == ETH_IP:
            hl = (p[0] & 15) * 4
            total = struct.unpack("!H", p[2:4])[0]
            self.proto, self.src, self.dst = p[9], socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20])
            l4 = p[hl:total]
        elif self.type == ETH_IP6:
            plen = struct.unpack("!H", p[4:6])[0]
            self.proto = p[6]
            self.src = socket.inet_ntop(socket.AF_INET6, p[8:24])
            self.dst = socket.inet_ntop(socket.AF_INET6, p[24:40])
            l4 = p[40:40 + plen]
        else:
            return
        self.l4 = l4
        if self.proto == TCP:
            (self.sport, self.dport, self.seq, self.ack, off, self.flags,
             self.window) = struct.unpack("!HHIIBBH", l4[:16])
            self.payload = l4[(off >> 4) * 4:]
        elif self.proto == UDP:
            self.sport, self.dport = struct.unpack("!HH", l4[:4])
            self.payload = l4[8:]
        elif self.proto in (ICMP, ICMP6):
            self.icmp_type, self.icmp_code = l4[0], l4[1]
            self.payload = l4[4:]

    def __repr__(self):
        if self.proto == TCP:
            return f"<TCP {self.src}:{self.sport} > {self.dst}:{self.dport} flags {self.flags:#x} seq {self.seq} ack {self.ack} len {len(self.payload)}>"
        if self.proto is not None:
            return f"<IP proto {self.proto} {self.src} > {self.dst} {self.l4[:8].hex()}>"
        return f"<frame type {self.type:#x} {self.raw[:42].hex()}>"


class Stream:
    """QEMU's side of the stream netdev: the guest's NIC. Answers libslirp's ARP and neighbour
    solicitations for the guest's addresses by itself."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.host_mac = None
        self.backlog = []

    def send_frame(self, frame):
        self.sock.sendall(struct.pack("!I", len(frame)) + frame)

    def send_ip(self, src, dst, proto, payload):
        dmac = self.host_mac or BROADCAST
        self.send_frame(eth(dmac, GUEST_MAC, ETH_IP6 if ":" in src else ETH_IP, ip_packet(src, dst, proto, payload)))

    def _read_frame(self, deadline):
        while True:
            if len(self.buf) >= 4:
                n = struct.unpack("!I", self.buf[:4])[0]
                if len(self.buf) >= 4 + n:
                    f, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
                    return f
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([self.sock], [], [], left)
            if not r:
                return None
            d = self.sock.recv(65536)
            if not d:
                raise EOFError("slirpd closed the stream")
            self.buf += d

    def _auto(self, p):
        """Answers what a guest NIC answers; True when p was consumed."""
        if p.type == ETH_ARP and p.arp_op == 1 and p.arp_tpa == GUEST_V4:
            self.send_frame(eth(p.src_mac, GUEST_MAC, ETH_ARP, arp(2, GUEST_MAC, GUEST_V4, p.arp_sha, p.arp_spa)))
            return True
        if p.proto == ICMP6 and p.icmp_type == 135 and socket.inet_ntop(socket.AF_INET6, p.l4[8:24]) == GUEST_V6:
            self.send_frame(eth(p.src_mac, GUEST_MAC, ETH_IP6,
                                ipv6(GUEST_V6, p.src, ICMP6, icmp6_na(GUEST_V6, p.src, GUEST_V6, GUEST_MAC), 255)))
            return True
        if p.proto == ICMP6 and p.icmp_type == 134:  # router advertisements: not for us
            return True
        return False

    def recv(self, match=lambda p: True, timeout=5.0):
        """The next frame for which match(p) is true (others are kept for later calls); None on timeout."""
        for i, p in enumerate(self.backlog):
            if match(p):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            f = self._read_frame(deadline)
            if f is None:
                return None
            p = Packet(f)
            if self._auto(p):
                continue
            if match(p):
                return p
            self.backlog.append(p)
            del self.backlog[:-256]

    def resolve_host(self):
        """ARP (and NDP) for the gateway: libslirp learns our MAC from the requests."""
        self.send_frame(eth(BROADCAST, GUEST_MAC, ETH_ARP, arp(1, GUEST_MAC, GUEST_V4, b"\0" * 6, HOST_V4)))
        p = self.recv(lambda p: p.type == ETH_ARP and p.arp_op == 2 and p.arp_spa == HOST_V4)
        assert p is not None, "no ARP reply for 10.0.2.2"
        self.host_mac = p.arp_sha
        return p

    def resolve_host6(self):
        ns = icmp6_ns(GUEST_V6, HOST_V6, GUEST_MAC)
        self.send_frame(eth(b"\x33\x33\xff" + a6(HOST_V6)[13:], GUEST_MAC, ETH_IP6,
                            ipv6(GUEST_V6, solicited(HOST_V6), ICMP6, ns, 255)))
        return self.recv(lambda p: p.proto == ICMP6 and p.icmp_type == 136)


class TcpClient:
    """The guest's end of one TCP connection: SYN, in-order data with ACKs, FIN."""

    def __init__(self, stream, src, dst, dport, sport=40000, isn=1000):
        self.s, self.src, self.dst, self.sport, self.dport = stream, src, dst, sport, dport
        self.snd_nxt = isn
        self.rcv_nxt = 0
        self.received = bytearray()
        self.fin_received = False
        self.rst_received = False

    def _mine(self, p):
        return p.proto == TCP and p.sport == self.dport and p.dport == self.sport and p.src == self.dst

    def _send(self, flags, payload=b""):
        self.s.send_ip(self.src, self.dst, TCP, tcp(self.src, self.dst, self.sport, self.dport, self.snd_nxt,
                                                     self.rcv_nxt, flags, payload, mss=1460 if flags & SYN else None))

    def syn(self):
        self._send(SYN)
        self.snd_nxt += 1

    def wait_synack(self, timeout=5.0):
        """The SYN-ACK (completing the handshake), an RST, or None."""
        p = self.s.recv(lambda p: self._mine(p) or (p.proto in (ICMP, ICMP6)), timeout)
        if p is not None and p.proto == TCP and p.flags & SYN and p.flags & ACK:
            self.rcv_nxt = p.seq + 1
            self._send(ACK)
        return p

    def connect(self, timeout=5.0):
        self.syn()
        p = self.wait_synack(timeout)
        assert p is not None and p.proto == TCP and p.flags & SYN, f"no SYN-ACK: {p}"

    def pump(self, timeout=0.0):
        """Takes what has arrived (waiting up to timeout for the first segment), ACKing data."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.s.recv(self._mine, max(0.0, deadline - time.monotonic()))
            if p is None:
                return
            deadline = 0
            if p.flags & RST:
                self.rst_received = True
                return
            if p.payload and p.seq == self.rcv_nxt:
                self.received += p.payload
                self.rcv_nxt += len(p.payload)
            if p.flags & FIN and p.seq + len(p.payload) == self.rcv_nxt:
                self.rcv_nxt += 1
                self.fin_received = True
            if p.payload or p.flags & FIN:
                self._send(ACK)

    def send(self, data):
        for i in range(0, len(data), 1400):
            chunk = data[i:i + 1400]
            self._send(ACK | PSH, chunk)
            self.snd_nxt += len(chunk)

    def shutdown(self):
        self._send(FIN | ACK)
        self.snd_nxt += 1

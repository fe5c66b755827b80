# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hermetic network namespaces for the network tests (test_slirpd.py, test_network_boundary.py).

"host" and "peer" namespaces joined by a veth pair with documentation addresses that exist only
there (203.0.113.0/30, 2001:db8:b157::/64); the host's default route leads into the peer, which
forwards nothing, so no test packet can reach a real network. A DNS reply builder for the
responders the tests run on the host's 127.0.0.53 (the systemd-resolved case)."""

import os
import socket
import struct
import subprocess
import uuid

NS_V4_HOST, NS_V4_PEER = "203.0.113.1", "203.0.113.2"
NS_V6_HOST, NS_V6_PEER = "2001:db8:b157::1", "2001:db8:b157::2"
RESOLVER = "127.0.0.53"
DNS_ANSWER = "192.0.2.77"  # TEST-NET-1: only ever an answer, never contacted


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check)


def make_pair(prefix):
    """Creates the two namespaces; returns (host, peer, ipv6). Removes what it made on failure."""
    tag = uuid.uuid4().hex[:6]
    host, peer = f"{prefix}h-{tag}", f"{prefix}p-{tag}"
    try:
        sh("ip", "netns", "add", host)
        sh("ip", "netns", "add", peer)
        ipv6 = os.path.exists("/proc/net/if_inet6")
        hx = ("ip", "netns", "exec", host)
        px = ("ip", "netns", "exec", peer)
        sh(*hx, "ip", "link", "set", "lo", "up")
        sh(*px, "ip", "link", "set", "lo", "up")
        sh(*hx, "ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", peer)
        sh(*hx, "ip", "addr", "add", f"{NS_V4_HOST}/30", "dev", "veth0")
        sh(*px, "ip", "addr", "add", f"{NS_V4_PEER}/30", "dev", "veth0")
        if ipv6:
            sh(*hx, "ip", "-6", "addr", "add", f"{NS_V6_HOST}/64", "dev", "veth0", "nodad")
            sh(*px, "ip", "-6", "addr", "add", f"{NS_V6_PEER}/64", "dev", "veth0", "nodad")
        sh(*hx, "ip", "link", "set", "veth0", "up")
        sh(*px, "ip", "link", "set", "veth0", "up")
        sh(*hx, "ip", "route", "add", "default", "via", NS_V4_PEER)
        if ipv6:
            sh(*hx, "ip", "-6", "route", "add", "default", "via", NS_V6_PEER)
    except BaseException:
        delete(host, peer)
        raise
    return host, peer, ipv6


def delete(*names):
    for n in names:
        sh("ip", "netns", "del", n, check=False)


def dns_reply(q):
    """A reply to query q: A gets DNS_ANSWER, other types an empty answer; None for junk."""
    if len(q) < 17:
        return None
    end = 12
    while end < len(q) and q[end] != 0:
        end += q[end] + 1
    question = q[12:end + 5]
    qtype = int.from_bytes(q[end + 1:end + 3], "big")
    answer = b""
    if qtype == 1:
        answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(DNS_ANSWER)
    return q[:2] + struct.pack(">HHHHH", 0x8180, 1, 1 if answer else 0, 0, 0) + question + answer

# SPDX-License-Identifier: LGPL-2.1-or-later
"""The containers' network (docs/design/containers.md): tremplin's bridge bistrobr0, forwarding and
nft masquerading out of the VM's eth0 (slirpd on the host: docs/design/network.md).

Driven through the real tools: `vmc container termina NAME --image busybox` (concierge -> tremplin)
and `vsh termina NAME -- CMD`. The VM is started with `--host-loopback`, so that traffic goes only to
the host's loopback (10.0.2.2 and fec0::2 are then the host's 127.0.0.1 and ::1), to slirpd's DNS
forwarder 10.0.2.3, and to addresses inside the VM. The default (no host loopback) and the outside
are tested hermetically in test_network_boundary.py.

Clients keep their input open (`sleep 2 | nc`), so that the server closes first.
"""

import os
import re
import socket
import struct
import subprocess
import threading

import pytest

from concierge_helpers import image_store, Concierge
from procutil import build_dir

VM = "termina"
STORE = image_store()
TOKEN = "bistro-network-ok"
DNS_ANSWER = "192.0.2.77"  # TEST-NET-1: only ever an answer, never contacted


def vsh_path():
    return build_dir() / "src/vsh/vsh"


def vsh(cc, name, script, timeout=120):
    return subprocess.run([str(vsh_path()), VM, name, "--", "/bin/sh", "-c", script], env=cc.env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def vsh_ok(cc, name, script, timeout=120):
    r = vsh(cc, name, script, timeout)
    assert r.returncode == 0, (f"in container {name}: {script!r} failed ({r.returncode})\n"
                               f"stdout: {r.stdout}\nstderr: {r.stderr}\n" + cc.diagnostics())
    return r.stdout


class TcpServer:
    """Accepts connections on the host's loopback, sends TOKEN and closes; counts connections."""

    def __init__(self, family, addr):
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((addr, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            with c:
                c.sendall((TOKEN + "\n").encode())

    def close(self):
        self.sock.close()


class DnsServer:
    """A minimal DNS responder on the host's loopback (UDP): A queries get DNS_ANSWER, others an
    empty answer. Counts the queries it answered."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = []
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                q, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(q) < 17:
                continue
            end = 12
            while end < len(q) and q[end] != 0:
                end += q[end] + 1
            question = q[12:end + 5]
            qtype = int.from_bytes(q[end + 1:end + 3], "big")
            self.queries.append(qtype)
            answer = b""
            if qtype == 1:
                answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + socket.inet_aton(DNS_ANSWER)
            header = q[:2] + struct.pack(">HHHHH", 0x8180, 1, 1 if answer else 0, 0, 0)
            self.sock.sendto(header + question + answer, peer)

    def close(self):
        self.sock.close()


def host_has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def cc():
    for p in (vsh_path(), build_dir() / "src/vmc/vmc", build_dir() / "src/tremplin/tremplin"):
        if not os.access(p, os.X_OK):
            pytest.skip(f"{p} is not built")
    if not (STORE / "busybox.tar.zst").exists():
        pytest.skip(f"no busybox image in {STORE} (image/containers/build-busybox.sh)")
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(STORE)})
    c.start()
    try:
        r = c.vmc("start", VM, "--host-loopback", check=True, timeout=900)
        assert "every service" in r.stderr, r.stderr
        for name in ("net1", "net2"):
            c.vmc("container", VM, name, "--image", "busybox", check=True, timeout=900)
        yield c
    finally:
        c.cleanup()


def container_addresses(cc, name):
    out = vsh_ok(cc, name, "ip -4 addr show dev eth0; ip -6 addr show dev eth0 scope global")
    v4 = re.findall(r"inet (10\.0\.3\.\d+)/24", out)
    v6 = re.findall(r"inet6 (fd42:b157:3::[0-9a-f]+)/64", out)
    assert len(v4) == 1, f"{name}: no single 10.0.3.x/24 on eth0:\n{out}"
    return v4[0], v6[0] if v6 else None


def test_distinct_addresses_and_gateway(cc):
    a1 = container_addresses(cc, "net1")
    a2 = container_addresses(cc, "net2")
    assert a1[0] != a2[0], f"both containers have {a1[0]}"
    for name in ("net1", "net2"):
        vsh_ok(cc, name, "ping -c 1 -W 10 10.0.3.1")
    # and the other container, across the bridge
    vsh_ok(cc, "net1", f"ping -c 1 -W 10 {a2[0]}")
    if a1[1] and a2[1]:
        assert a1[1] != a2[1]
        # A container just started may still hold its address as tentative (duplicate address
        # detection, about 1 s): a ping from it then goes nowhere (seen once in CI).
        vsh_ok(cc, "net2", "for i in $(seq 50); do ip -6 addr show dev eth0 | grep -q tentative || break; "
                           "sleep 0.2; done; ping6 -c 1 -W 10 fd42:b157:3::1")
    # the default route points at the bridge
    out = vsh_ok(cc, "net1", "ip -4 route show default")
    assert "via 10.0.3.1" in out, out


def test_ipv4_to_host(cc):
    srv = TcpServer(socket.AF_INET, "127.0.0.1")
    try:
        out = vsh_ok(cc, "net1", f"sleep 2 | nc 10.0.2.2 {srv.port}")
        assert TOKEN in out, out
        assert srv.accepted == 1
    finally:
        srv.close()


def test_ipv6_to_host(cc):
    if not host_has_ipv6_loopback():
        pytest.skip("the host has no IPv6 loopback (::1)")
    if "fec0::3" not in vsh_ok(cc, "net1", "cat /etc/resolv.conf"):
        pytest.skip("the VM has no IPv6 (tremplin wrote no fec0::3 nameserver: eth0 has no fec0:: address)")
    srv = TcpServer(socket.AF_INET6, "::1")
    try:
        out = vsh_ok(cc, "net2", f"sleep 2 | nc fec0::2 {srv.port}")
        assert TOKEN in out, out
        assert srv.accepted == 1
    finally:
        srv.close()


def test_dns_over_nat(cc):
    """UDP DNS through the masquerade: busybox nslookup asks a responder on the host's loopback
    (reached as 10.0.2.2:PORT) and prints its answer."""
    srv = DnsServer()
    try:
        out = vsh_ok(cc, "net2", f"nslookup bistro.test 10.0.2.2:{srv.port}")
        assert DNS_ANSWER in out, out
        assert 1 in srv.queries, srv.queries
    finally:
        srv.close()


def test_dns_through_qemu(cc):
    conf = vsh_ok(cc, "net1", "cat /etc/resolv.conf")
    assert re.search(r"^nameserver 10\.0\.2\.3$", conf, re.M), conf
    # A name the host resolves through its own DNS servers (slirpd forwards 10.0.2.3 to the first).
    name = os.environ.get("BISTRO_TEST_DNS_NAME", "deb.debian.org")
    try:
        socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        pytest.skip(f"the host cannot resolve {name}: no DNS server reachable from here")
    r = vsh(cc, "net1", f"nslookup {name}", timeout=120)
    out = r.stdout + r.stderr
    # slirpd's sandbox keeps the host's resolv.conf readable: a timeout here is a bug.
    assert r.returncode == 0 and re.search(r"Address:?\s+\d+\.\d+\.\d+\.\d+", out.split(name, 1)[-1]), out


def test_resolv_conf_symlink_replaced(cc):
    """A container that points /etc/resolv.conf at a path of the VM (/run is the VM's writable
    tmpfs) gets a new regular file at its next start; tremplin never writes through the link."""
    vsh_ok(cc, "net2", "ln -sf /run/bistro-resolv-escape /etc/resolv.conf && test -L /etc/resolv.conf")
    cc.vmc("container-stop", VM, "net2", check=True)
    cc.vmc("container", VM, "net2", check=True, timeout=300)
    out = vsh_ok(cc, "net2", "test -f /etc/resolv.conf && test ! -L /etc/resolv.conf && cat /etc/resolv.conf")
    assert re.search(r"^nameserver 10\.0\.2\.3$", out, re.M), out
    # nothing appeared at the link's target in the VM
    assert cc.guest_sh(VM, "test ! -e /run/bistro-resolv-escape") == 0, "tremplin wrote through the symlink"

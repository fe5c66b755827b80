# SPDX-License-Identifier: LGPL-2.1-or-later
"""Port forwarding (docs/design/ports.md).

Part 1 runs chunneld alone against a stand-in for port-listener (ports_fake_agent.py) behind a fake
hybrid vsock socket: no VM, fast, every rule of the design (auto forward on both loopbacks, removal,
SHADOWED, BUSY, reset on a refused connect, manual TCP/UDP forwards, 50 x 10 MiB, sandbox, exit).

Part 2 runs end to end through concierge, a Termina VM and a busybox container (busybox httpd/nc:
the debian image has no python3), once port-listener is in the Termina image; skipped otherwise.
"""

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from ports_fake_agent import (TCPSERV_C, FakeAgent, add_forward, error_of, list_forwards, port_held,
                              put_static_program, remove_forward, serve_in_threads)
from procutil import build_dir

GENEROUS = 30.0  # bounds for polling, never timing assertions


def chunneld_path():
    return build_dir() / "src/chunneld/chunneld"


def host_has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


IPV6 = host_has_ipv6_loopback()


def free_port():
    """A port free on 127.0.0.1 and ::1 (TCP and UDP), >= 1024."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        try:
            for fam, addr in ((socket.AF_INET, "127.0.0.1"),) + (((socket.AF_INET6, "::1"),) if IPV6 else ()):
                for typ in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                    with socket.socket(fam, typ) as t:
                        t.bind((addr, port))
            return port
        except OSError:
            continue
    raise AssertionError("no free port")


def connects(addr, port):
    try:
        with socket.create_connection((addr, port), timeout=2):
            return True
    except OSError:
        return False


def poll(cond, bound=GENEROUS, step=0.02):
    """Seconds until cond() held, or None after bound."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < bound:
        if cond():
            return time.monotonic() - t0
        time.sleep(step)
    return None


class Target:
    """A TCP server on the host standing for a container's server: 'file' sends BODY and closes,
    'echo' sends back what it reads (half-close kept)."""

    BODY = b"hello from the container\n" * 100

    def __init__(self, mode="file"):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.mode = mode
        serve_in_threads(self.sock, self._serve)

    def _serve(self, c):
        try:
            if self.mode == "file":
                c.sendall(self.BODY)
            else:
                while True:
                    d = c.recv(1 << 16)
                    if not d:
                        break
                    c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.sock.close()


class Chunneld:
    def __init__(self, tmp_path, sandbox=True):
        self.dir = tmp_path
        self.vsock = tmp_path / "vsock.sock"
        self.control = tmp_path / "chunneld.sock"
        self.agent = FakeAgent(str(self.vsock))
        args = [str(chunneld_path()), "--vm", "fake", "--vsock", str(self.vsock), "--control", str(self.control)]
        if not sandbox:
            args.append("--no-sandbox")
        self.log = open(tmp_path / "chunneld.log", "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, BISTRO_LOG_LEVEL="debug"))
        assert poll(lambda: self.control.exists() and self.agent.watchers, 10) is not None, self.logtext()

    def logtext(self):
        return (self.dir / "chunneld.log").read_text(errors="replace")[-4000:]

    def forwards(self):
        return list_forwards(self.control)

    def forward(self, container, port, manual=False):
        for f in self.forwards():
            if f["container"] == container and f["container_port"] == port and f["manual"] == manual:
                return f
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.agent.close()
        self.log.close()


@pytest.fixture
def ch(tmp_path):
    if not os.access(chunneld_path(), os.X_OK):
        pytest.skip(f"{chunneld_path()} is not built")
    # Short path: unix socket names must fit 108 bytes.
    d = Path(f"/tmp/bp-{os.getpid()}-{time.monotonic_ns()}")
    d.mkdir(mode=0o700)
    c = Chunneld(d)
    yield c
    c.stop()
    log = c.logtext()
    shutil.rmtree(d, ignore_errors=True)
    assert c.proc.returncode == 0, f"chunneld exited with {c.proc.returncode}\n{log}"


def fetch(addr, port):
    with socket.create_connection((addr, port), timeout=10) as s:
        data = b""
        while True:
            d = s.recv(1 << 16)
            if not d:
                return data
            data += d


def echo_many(port, timeout, n=50, size=10 << 20):
    """n concurrent connections to an echo server on 127.0.0.1:port, size bytes each way (half-close
    after sending), checksums compared: (seconds, [errors])."""
    chunk = os.urandom(1 << 20)
    errors = []

    def one(i):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                sent, got = hashlib.sha256(), hashlib.sha256()
                n_got = 0

                def send():
                    for k in range(size // len(chunk)):
                        piece = bytes([i]) + chunk[1:] if k == 0 else chunk
                        sent.update(piece)
                        s.sendall(piece)
                    s.shutdown(socket.SHUT_WR)  # half-close: the echo still comes back

                th = threading.Thread(target=send)
                th.start()
                while True:
                    d = s.recv(1 << 16)
                    if not d:
                        break
                    got.update(d)
                    n_got += len(d)
                th.join()
                if n_got != size or got.digest() != sent.digest():
                    errors.append(f"conn {i}: {n_got} bytes, checksum {'ok' if got.digest() == sent.digest() else 'bad'}")
        except Exception as e:  # noqa: BLE001
            errors.append(f"conn {i}: {e!r}")

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.monotonic() - t0, errors


# ---- part 1: chunneld against a stand-in guest ----


def test_auto_forward_and_removal(ch):
    t = Target()
    port = free_port()
    ch.agent.targets[("web", port)] = ("tcp", "127.0.0.1", t.port)
    t0 = time.monotonic()
    ch.agent.set_ports([("web", port)])
    took = poll(lambda: connects("127.0.0.1", port))
    assert took is not None, ch.logtext()
    print(f"detection (update -> host port accepts): {1000 * (time.monotonic() - t0):.1f} ms")
    assert fetch("127.0.0.1", port) == Target.BODY
    f = ch.forward("web", port)
    assert f["state"] == "active" and f["reason"] == "" and not f["manual"]
    if IPV6:
        assert fetch("::1", port) == Target.BODY
        assert f["host_addresses"] == "127.0.0.1,::1"
        assert ("web", 1, port, True) in ch.agent.forward_requests
    assert ("web", 1, port, False) in ch.agent.forward_requests
    t0 = time.monotonic()
    ch.agent.set_ports([])
    took = poll(lambda: not connects("127.0.0.1", port))
    assert took is not None
    print(f"removal (update -> host port refused): {1000 * took:.1f} ms")
    assert ch.forwards() == []
    t.close()


def test_privileged_not_forwarded(ch):
    ch.agent.set_ports([("web", 80)])
    assert poll(lambda: ch.forward("web", 80)) is not None
    f = ch.forward("web", 80)
    assert f["state"] == "failed" and "privileged" in f["reason"], f


def test_shadowed_then_promoted(ch):
    t = Target()
    port = free_port()
    ch.agent.targets[("a", port)] = ("tcp", "127.0.0.1", t.port)
    ch.agent.targets[("b", port)] = ("tcp", "127.0.0.1", t.port)
    ch.agent.set_ports([("a", port)])
    assert poll(lambda: connects("127.0.0.1", port)) is not None
    ch.agent.set_ports([("b", port), ("a", port)])
    assert poll(lambda: ch.forward("b", port) is not None) is not None
    b = ch.forward("b", port)
    assert b["state"] == "shadowed" and "container a" in b["reason"], b
    assert ch.forward("a", port)["state"] == "active"
    ch.agent.set_ports([("b", port)])
    assert poll(lambda: (ch.forward("b", port) or {}).get("state") == "active") is not None
    assert fetch("127.0.0.1", port) == Target.BODY
    assert ch.agent.forward_requests[-1][0] == "b"
    t.close()


def test_busy_and_half_busy(ch):
    port = free_port()
    blockers = [socket.socket()]
    blockers[0].bind(("127.0.0.1", port))
    blockers[0].listen(1)
    if IPV6:
        b6 = socket.socket(socket.AF_INET6)
        b6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        b6.bind(("::1", port))
        b6.listen(1)
        blockers.append(b6)
    ch.agent.set_ports([("web", port)])
    assert poll(lambda: ch.forward("web", port) is not None) is not None
    f = ch.forward("web", port)
    assert f["state"] == "busy" and f["reason"] == f"host port {port} is in use", f
    # Freed by the other program: taken at the next retry (every 2 s), no guest update needed.
    for b in blockers:
        b.close()
    assert poll(lambda: ch.forward("web", port)["state"] == "active") is not None
    if IPV6:
        # Only ::1 free: ACTIVE on that family alone.
        port2 = free_port()
        b4 = socket.socket()
        b4.bind(("127.0.0.1", port2))
        b4.listen(1)
        ch.agent.set_ports([("web", port), ("web", port2)])
        assert poll(lambda: ch.forward("web", port2) is not None) is not None
        f = ch.forward("web", port2)
        assert f["state"] == "active" and f["host_addresses"] == "::1", f
        b4.close()


def test_refused_is_a_reset(ch):
    port = free_port()
    ch.agent.set_ports([("web", port)])  # no target: the guest answers ECONNREFUSED
    assert poll(lambda: connects("127.0.0.1", port)) is not None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with pytest.raises(ConnectionResetError):
            s.recv(10)


def test_manual_forwards(ch):
    t = Target()
    host = free_port()
    ch.agent.targets[("web", 80)] = ("tcp", "127.0.0.1", t.port)
    rtype, body = add_forward(ch.control, "web", 80, host)
    assert error_of(rtype, body) == 0
    assert fetch("127.0.0.1", host) == Target.BODY
    f = ch.forward("web", 80, manual=True)
    assert f["host_port"] == host and f["state"] == "active"
    assert error_of(*add_forward(ch.control, "db", 81, host)) == -17  # EEXIST
    assert error_of(*remove_forward(ch.control, host, udp=True)) == -2  # ENOENT: another protocol
    # Manual forwards do not depend on the guest's list.
    ch.agent.set_ports([])
    time.sleep(0.2)
    assert ch.forward("web", 80, manual=True) is not None
    assert error_of(*remove_forward(ch.control, host)) == 0
    assert not connects("127.0.0.1", host)
    t.close()


def test_udp_echo(ch):
    echo = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    echo.bind(("127.0.0.1", 0))

    def serve():
        while True:
            try:
                d, a = echo.recvfrom(65535)
            except OSError:
                return
            echo.sendto(b"echo:" + d, a)

    threading.Thread(target=serve, daemon=True).start()
    host = free_port()
    ch.agent.targets[("dns", 5353)] = ("udp", "127.0.0.1", echo.getsockname()[1])
    assert error_of(*add_forward(ch.control, "dns", 5353, host, udp=True)) == 0
    fams = [(socket.AF_INET, "127.0.0.1")] + ([(socket.AF_INET6, "::1")] if IPV6 else [])
    for fam, addr in fams:
        with socket.socket(fam, socket.SOCK_DGRAM) as c:
            c.settimeout(10)
            for payload in (b"x", b"", os.urandom(60000)):
                c.sendto(payload, (addr, host))
                d, _ = c.recvfrom(65535)
                assert d == b"echo:" + payload
    echo.close()


def test_50_connections_10mib(ch):
    t = Target("echo")
    port = free_port()
    ch.agent.targets[("web", port)] = ("tcp", "127.0.0.1", t.port)
    ch.agent.set_ports([("web", port)])
    assert poll(lambda: connects("127.0.0.1", port)) is not None
    took, errors = echo_many(port, 120)
    print(f"50 x 10 MiB echoed in {took:.1f} s ({2 * 50 * (10 << 20) / took / (1 << 20):.0f} MiB/s both ways)")
    assert not errors, errors[:5]
    t.close()


def test_control_socket_and_sandbox(ch):
    st = os.stat(ch.control)
    assert st.st_mode & 0o777 == 0o600
    status = Path(f"/proc/{ch.proc.pid}/status").read_text()
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["Seccomp"].strip() == "2", status
    assert fields["NoNewPrivs"].strip() == "1"
    assert int(fields["CapEff"], 16) == 0 and int(fields["CapBnd"], 16) == 0
    # Own mount namespace, the host's network namespace.
    assert os.readlink(f"/proc/{ch.proc.pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert os.readlink(f"/proc/{ch.proc.pid}/ns/net") == os.readlink("/proc/self/ns/net")


def test_exits_when_vsock_gone(ch):
    ch.agent.close()
    try:
        ch.proc.wait(GENEROUS)
    except subprocess.TimeoutExpired:
        pytest.fail("chunneld did not exit after the VM's vsock socket went away\n" + ch.logtext())
    assert ch.proc.returncode == 0


# ---- part 2: end to end (concierge, Termina, busybox container) ----


def port_listener_in_image():
    pl = build_dir() / "src/port-listener/port-listener"
    stamp = build_dir() / "image/termina/termina.stamp"
    return pl.exists() and stamp.exists() and stamp.stat().st_mtime >= pl.stat().st_mtime


@pytest.fixture(scope="module")
def e2e():
    from concierge_helpers import Concierge, image_store

    store = image_store()
    vsh = build_dir() / "src/vsh/vsh"
    if not port_listener_in_image():
        pytest.skip("port-listener is not in the Termina image of this build")
    if not (store / "busybox.tar.zst").exists():
        pytest.skip(f"no busybox image in {store}")
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(store)})
    c.start()
    c.vsh = vsh
    try:
        for name in ("web1", "web2"):
            c.vmc("container", "termina", name, "--image", "busybox", check=True, timeout=900)
        yield c
    finally:
        c.cleanup()


def vsh_bg(cc, name, script):
    """Starts script in the container and leaves it running (vsh returns once the shell exits)."""
    r = subprocess.run([str(cc.vsh), "termina", name, "--", "/bin/sh", "-c", script], env=cc.env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{script}: {r.stdout} {r.stderr}"
    return r.stdout


def kill_httpd(port):
    # The busybox image has no pkill; "busybox httpd" is named busybox, so match the command line.
    return (f"for p in /proc/[0-9]*; do tr '\\0' ' ' < $p/cmdline 2>/dev/null | grep -q '[h]ttpd -p {port} ' && "
            f"kill ${{p#/proc/}}; done; true")


def ports_json(cc, vm=None):
    r = cc.vmc("ports", *([vm] if vm else []), "--json", check=True, timeout=60)
    return json.loads(r.stdout)


def e2e_forward(cc, container, port):
    for f in ports_json(cc):
        if f["vm"] == "termina" and f["container"] == container and f["container_port"] == port:
            return f
    return None


def test_e2e_http_and_release(e2e):
    port = free_port()
    vsh_bg(e2e, "web1", f"mkdir -p /srv && echo bistro-ports-ok > /srv/index.html && "
                         f"busybox httpd -p {port} -h /srv && echo started")
    took = poll(lambda: port_held(port), 120, 0.05)
    assert took is not None, e2e.diagnostics()
    print(f"e2e: host port {port} listening {took:.2f} s after the vsh that started httpd returned")
    import urllib.request
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read()
    assert b"bistro-ports-ok" in body
    if IPV6:
        body = urllib.request.urlopen(f"http://[::1]:{port}/", timeout=30).read()
        assert b"bistro-ports-ok" in body
    f = e2e_forward(e2e, "web1", port)
    assert f and f["state"] == "active" and not f["manual"], f
    # Shadowed: the same port in a second container.
    vsh_bg(e2e, "web2", f"mkdir -p /srv && echo two > /srv/index.html && busybox httpd -p {port} -h /srv")
    assert poll(lambda: (e2e_forward(e2e, "web2", port) or {}).get("state") == "shadowed", 60) is not None
    assert "web1" in e2e_forward(e2e, "web2", port)["reason"]
    vsh_bg(e2e, "web2", kill_httpd(port))
    vsh_bg(e2e, "web1", kill_httpd(port))
    took = poll(lambda: not port_held(port), 60, 0.02)
    assert took is not None
    print(f"e2e: host port released {1000 * took:.0f} ms after the vsh that killed httpd returned")


def test_e2e_busy(e2e):
    port = free_port()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", port))
    blocker.listen(1)
    b6 = None
    if IPV6:
        b6 = socket.socket(socket.AF_INET6)
        b6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        b6.bind(("::1", port))
        b6.listen(1)
    vsh_bg(e2e, "web1", f"busybox httpd -p {port} -h /srv")
    assert poll(lambda: (e2e_forward(e2e, "web1", port) or {}).get("state") == "busy", 60) is not None
    assert f"host port {port} is in use" in e2e_forward(e2e, "web1", port)["reason"]
    vsh_bg(e2e, "web1", kill_httpd(port))
    blocker.close()
    if b6:
        b6.close()


UDPECHO_C = r"""
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
int main(int argc, char **argv) {
        struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[1])) };
        static char buf[65536];
        int fd = socket(AF_INET6, SOCK_DGRAM, 0), zero = 0;
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0)
                return 1;
        for (;;) {
                struct sockaddr_in6 from;
                socklen_t l = sizeof(from);
                ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *) &from, &l);
                if (n >= 0)
                        sendto(fd, buf, n, 0, (struct sockaddr *) &from, l);
        }
}
"""


def test_e2e_udp(e2e, tmp_path):
    put_program(e2e, tmp_path, "udpecho", UDPECHO_C)
    vsh_bg(e2e, "web1", "(/tmp/udpecho 5300 >/dev/null 2>&1 &) ; true")
    host = free_port()
    r = e2e.vmc("port-forward", "termina", "web1", "5300", "--udp", "--host-port", str(host), timeout=60)
    assert r.returncode == 0, r.stderr
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.settimeout(10)
        c.sendto(b"ping-udp\n", ("127.0.0.1", host))
        d, _ = c.recvfrom(65535)
        assert d == b"ping-udp\n"
    f = [f for f in ports_json(e2e, "termina") if f["manual"] and f["protocol"] == "udp"]
    assert f and f[0]["host_port"] == host
    r = e2e.vmc("port-forward", "--remove", "termina", "web1", "5300", "--udp", "--host-port", str(host))
    assert r.returncode == 0, r.stderr


def test_e2e_bad_usage(e2e):
    for args in (["port-forward"], ["port-forward", "termina", "web1"], ["port-forward", "termina", "web1", "x"],
                 ["port-forward", "termina", "web1", "80"], ["port-forward", "termina", "web1", "8080", "--host-port", "80"],
                 ["port-forward", "termina", "bad/name", "8080"]):
        r = e2e.vmc(*args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
    r = e2e.vmc("port-forward", "--remove", "termina", "web1", "65000")
    assert r.returncode == 1 and "no manual" in r.stderr, r.stderr


def put_program(e2e, tmp_path, name, source):
    """A static program from source in web1 as /tmp/NAME; skips without a static C toolchain."""
    if not put_static_program(e2e.vsh, e2e.env, "termina", "web1", tmp_path, name, source):
        pytest.skip("no static C toolchain for the test servers")


def test_e2e_50_connections_10mib(e2e, tmp_path):
    """50 concurrent connections, 10 MiB each way (echo, half-close), checksums matched."""
    put_program(e2e, tmp_path, "tcpserv", TCPSERV_C)
    port = free_port()
    vsh_bg(e2e, "web1", f"(/tmp/tcpserv echo {port} >/dev/null 2>&1 &) ; true")
    assert poll(lambda: port_held(port), 120, 0.05) is not None
    took, errors = echo_many(port, 600)
    print(f"e2e: 50 x 10 MiB echoed in {took:.1f} s ({1000 / took:.1f} MiB/s both ways)")
    assert not errors, errors[:5]

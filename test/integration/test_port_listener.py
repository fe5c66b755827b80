# SPDX-License-Identifier: LGPL-2.1-or-later
"""port-listener in Termina (docs/design/ports.md), spoken to directly over the VM's hybrid vsock
socket as chunneld would: WatchPorts sees a container's loopback/wildcard listeners come and go,
ForwardConnect reaches them (half-close passed on), and errors come back as ErrorReply.

One VM and one busybox container per module; listeners are started with lxc-attach through
maitred. Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (default tcg), BISTRO_IMAGE_STORE (a busybox image is
built into a private store when it has none).
"""

import errno
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from concierge_helpers import require_built, image_store, Concierge, build_dir
from guestproto import (EMPTY, ERROR_REPLY, EVENT, FORWARD_CONNECT, LIST_FORWARDS, PORT_LISTENER_PORT, PORTS_UPDATE,
                        REQUEST, RESPONSE, TCP, WATCH_PORTS, error_of, frame, hybrid_connect, pb_bytes, pb_parse,
                        pb_varint, recv_frame)

LXC = "/mnt/stateful/lxc"
CT = "pl"
WAIT = 120  # seconds: TCG on a busy machine; nothing here is a timing assertion


def ports_of(payload):
    out = {}
    for p in pb_parse(payload).get(1, []):
        m = pb_parse(p)
        out[(m[1][0].decode(), m.get(2, [0])[0])] = (bool(m.get(3, [0])[0]), bool(m.get(4, [0])[0]))
    return out


# -- fixtures

@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = image_store()
    if (s / "busybox.tar.zst").exists():
        return s
    if not Path("/bin/busybox").exists():
        pytest.skip(f"no busybox image in {s} and no /bin/busybox to build one")
    s = tmp_path_factory.mktemp("store")
    subprocess.run([str(Path(__file__).parents[2] / "image/containers/build-busybox.sh"), str(s)], check=True,
                   capture_output=True)
    return s


@pytest.fixture(scope="module")
def cc(store):
    require_built("src/concierge/concierge", "src/vmc/vmc", "src/port-listener/port-listener",
                  "test/tools/maitred-client")
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(store)}).start()
    r = c.vmc("start", "termina")
    assert r.returncode == 0, r.stderr + c.diagnostics()
    r = c.vmc("container", "termina", CT, "--image", "busybox")
    assert r.returncode == 0, f"vmc container: {r.stderr}\n" + c.diagnostics()
    yield c
    c.cleanup()
    assert not c.alive(), "processes left behind"


def attach(cc, script):
    return cc.guest_sh("termina", f"/usr/bin/lxc-attach -n {CT} -P {LXC} -- /bin/sh -c {shlex.quote(script)}")


def start_server(cc, name, cmd):
    """Runs cmd in the container, its pid in /tmp/NAME.pid there. A process left in the background
    by lxc-attach does not survive it, so maitred runs lxc-attach itself, without waiting."""
    script = f"echo $$ > /tmp/{name}.pid; exec {cmd} </dev/null"
    r = subprocess.run([str(build_dir() / "test/tools/maitred-client"), "call", "--vsock",
                        str(cc.runtime("termina") / "vsock.sock"), "--timeout", "100", "launch", "--",
                        "/usr/bin/lxc-attach", "-n", CT, "-P", LXC, "--", "/bin/sh", "-c", script],
                       capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 0, r.stdout + r.stderr
    deadline = time.monotonic() + WAIT
    while attach(cc, f"test -s /tmp/{name}.pid") != 0:
        assert time.monotonic() < deadline, f"{cmd} did not start"
        time.sleep(0.5)


def stop_server(cc, name):
    assert attach(cc, f"kill $(cat /tmp/{name}.pid)") == 0


def dial(cc):
    """A connection to port-listener through the VM's hybrid vsock socket."""
    return hybrid_connect(cc.runtime("termina") / "vsock.sock", PORT_LISTENER_PORT, WAIT)


def forward(cc, port, container=CT, ipv6=False, protocol=TCP):
    s = dial(cc)
    req = pb_bytes(1, container) + pb_varint(2, protocol) + pb_varint(3, port) + pb_varint(4, int(ipv6))
    s.sendall(frame(FORWARD_CONNECT, REQUEST, 7, req))
    mtype, mid, flags, payload = recv_frame(s)
    assert mid == 7 and flags == RESPONSE
    if mtype == ERROR_REPLY:
        s.close()
        return error_of(payload)
    assert mtype == EMPTY
    return s


class Watch:
    def __init__(self, cc):
        self.s = dial(cc)
        self.s.sendall(frame(WATCH_PORTS, REQUEST, 42))
        mtype, mid, flags, _ = recv_frame(self.s)
        assert (mtype, mid, flags) == (EMPTY, 42, RESPONSE)
        self.ports = self.next()  # the first update comes at once

    def next(self):
        mtype, mid, flags, payload = recv_frame(self.s)
        assert (mtype, mid, flags) == (PORTS_UPDATE, 42, EVENT)
        self.ports = ports_of(payload)
        return self.ports

    def wait_for(self, pred, what):
        deadline = time.monotonic() + WAIT
        while not pred(self.ports):
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.ports}"
            self.next()
        return self.ports

    def close(self):
        self.s.close()


def container_ipv4(cc):
    for c in cc.vmc_json("container-list", "termina"):
        if c["name"] == CT:
            return c["ipv4_address"]
    raise AssertionError("container not listed")


# -- tests

def test_watch_sees_listener_come_and_go(cc):
    w = Watch(cc)
    w2 = Watch(cc)  # several watchers at once
    try:
        assert (CT, 8000) not in w.ports
        start_server(cc, "w8000", "nc -l -p 8000 -e cat")
        ports = w.wait_for(lambda p: (CT, 8000) in p, "port 8000 to appear")
        assert ports[(CT, 8000)][0], ports  # reachable over IPv4 (0.0.0.0 or ::)
        w2.wait_for(lambda p: (CT, 8000) in p, "port 8000 in the second watcher")
        stop_server(cc, "w8000")
        w.wait_for(lambda p: (CT, 8000) not in p, "port 8000 to go away")
    finally:
        w.close()
        w2.close()


def test_forward_half_close(cc):
    w = Watch(cc)
    start_server(cc, "f8001", "nc -l -p 8001 -e wc -c")
    w.wait_for(lambda p: (CT, 8001) in p, "port 8001")
    w.close()
    s = forward(cc, 8001)
    assert isinstance(s, socket.socket), s
    s.sendall(b"hello, container")
    # wc answers only after EOF: the half-close must get through, and its answer come back.
    s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        c = s.recv(4096)
        if not c:
            break
        data += c
    s.close()
    assert data.strip() == b"16", data


def test_forward_bulk(cc):
    """Both ways through cat; the rate is printed (not asserted: TCG on a shared machine)."""
    start_server(cc, "f8004", "nc -l -p 8004 -e cat")
    deadline = time.monotonic() + WAIT
    while True:
        s = forward(cc, 8004)
        if isinstance(s, socket.socket):
            break
        assert s[0] == -errno.ECONNREFUSED and time.monotonic() < deadline, s
        time.sleep(0.5)
    size = 8 << 20
    blob = bytes(range(256)) * (size // 256)
    got = bytearray()
    t0 = time.monotonic()

    import threading
    t = threading.Thread(target=lambda: (s.sendall(blob), s.shutdown(socket.SHUT_WR)))
    t.start()
    while True:
        c = s.recv(1 << 16)
        if not c:
            break
        got += c
    t.join()
    dt = time.monotonic() - t0
    s.close()
    assert bytes(got) == blob
    print(f"\nforward echo: {size >> 20} MiB each way in {dt:.2f} s ({size / dt / 1e6:.1f} MB/s)")


def test_forward_refused(cc):
    assert forward(cc, 8009)[0] == -errno.ECONNREFUSED
    assert forward(cc, 8009, ipv6=True)[0] == -errno.ECONNREFUSED


def test_forward_no_container(cc):
    e, msg = forward(cc, 80, container="nosuch")
    assert e == -errno.ENOENT and "nosuch" in msg


def test_bad_first_frame(cc):
    s = dial(cc)
    s.sendall(frame(LIST_FORWARDS, REQUEST, 5))
    mtype, mid, _, payload = recv_frame(s)
    assert (mtype, mid) == (ERROR_REPLY, 5) and error_of(payload)[0] == -errno.EBADMSG
    s.close()
    s = dial(cc)
    s.sendall(b"\0" * 24)  # no frame at all
    mtype, _, _, payload = recv_frame(s)
    assert mtype == ERROR_REPLY and error_of(payload)[0] == -errno.EBADMSG
    s.close()


def test_bridge_address_not_listed(cc):
    ip = container_ipv4(cc)
    start_server(cc, "h8002", f"httpd -f -p {ip}:8002 -h /tmp")
    start_server(cc, "h8003", "httpd -f -p 127.0.0.1:8003 -h /tmp")
    deadline = time.monotonic() + WAIT
    while attach(cc, "netstat -ltn | grep -q ':8002 '") != 0:
        assert time.monotonic() < deadline, "httpd on the bridge address did not start"
        time.sleep(0.5)
    w = Watch(cc)
    try:
        ports = w.wait_for(lambda p: (CT, 8003) in p, "port 8003 (loopback)")
        # 8002 was listening before the watch began, so its first update would have it.
        assert (CT, 8002) not in ports, ports
        assert ports[(CT, 8003)] == (True, False), ports
        # ipv6 asks for ::1 first; nothing there, so the IPv4 loopback is used.
        s = forward(cc, 8003, ipv6=True)
        assert isinstance(s, socket.socket), s
        s.sendall(b"GET / HTTP/1.0\r\n\r\n")
        assert s.recv(64).startswith(b"HTTP/1."), "no answer from httpd"
        s.close()
    finally:
        w.close()
        stop_server(cc, "h8002")
        stop_server(cc, "h8003")

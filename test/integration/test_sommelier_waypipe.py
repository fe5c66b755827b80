# SPDX-License-Identifier: LGPL-2.1-or-later
"""sommelier with a real waypipe, no VM (docs/design/sommelier.md, "The container side"): the host's
Debian waypipe 0.8.4 laid out as a bundle (its loader and binary side by side, the libraries found
through the loader's defaults), weston's headless backend as the host compositor, and the test as
the Wayland gate: it answers sommelier's WaylandConnectRequest with EMPTY and joins the stream to
`waypipe -n client`. A raw Wayland client of $XDG_RUNTIME_DIR/wayland-0 (get_registry + sync) sees
weston's globals through sommelier; killing waypipe gets it restarted within the backoff; killing
sommelier takes waypipe and its held child with it.

Skipped without weston or waypipe (Debian packages weston, waypipe). Env: BISTRO_BUILD_DIR.
"""

import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from concierge_helpers import build_dir, require_built
from guestproto import EMPTY, RESPONSE, frame, pb_fields, recv_frame

TOKEN = "abcdefghijklmnopqrstuvwxyz012345"


def registry(runtime_dir, timeout=20):
    """The global interface names a Wayland client of runtime_dir/wayland-0 sees."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(str(runtime_dir / "wayland-0"))
    s.sendall(struct.pack("<IHHI", 1, 1, 12, 2) + struct.pack("<IHHI", 1, 0, 12, 3))  # get_registry, sync
    buf, names = b"", []
    while True:
        d = s.recv(65536)
        if not d:
            raise EOFError(f"EOF after {names}")
        buf += d
        while len(buf) >= 8:
            obj, op, size = struct.unpack("<IHH", buf[:8])
            if len(buf) < size:
                break
            body, buf = buf[8:size], buf[size:]
            if obj == 2 and op == 0:
                n = struct.unpack("<I", body[4:8])[0]
                names.append(body[8:8 + n - 1].decode())
            if obj == 3:
                s.close()
                return names


class Gate:
    """The host's Wayland gate in miniature: the request, EMPTY, then the stream to waypipe client."""

    def __init__(self, path, waypipe_socket):
        self.tokens = []
        self.waypipe_socket = waypipe_socket
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(str(path))
        self.sock.listen(8)
        threading.Thread(target=self.serve, daemon=True).start()

    @staticmethod
    def pump(a, b):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
            b.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def conn(self, c):
        mtype, mid, flags, payload = recv_frame(c)
        self.tokens.append((mtype, pb_fields(payload).get(1, b"").decode()))
        c.sendall(frame(EMPTY, RESPONSE, mid))
        w = socket.socket(socket.AF_UNIX)
        w.connect(str(self.waypipe_socket))
        threading.Thread(target=self.pump, args=(c, w), daemon=True).start()
        self.pump(w, c)

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()


def children(pid):
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def gone(pid):
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    except OSError:
        return True


@pytest.fixture
def chain():
    require_built("src/sommelier/sommelier")
    weston, waypipe = shutil.which("weston"), shutil.which("waypipe")
    loader = Path("/lib64/ld-linux-x86-64.so.2")
    if not weston or not waypipe or not loader.exists():
        pytest.skip("needs weston and waypipe (Debian packages) and an x86-64 loader")
    root = Path(tempfile.mkdtemp(prefix="somm-wp-"))
    host, rt, bundle = root / "host", root / "rt", root / "bundle"
    for d in (host, rt, bundle):
        d.mkdir(mode=0o700)
    (bundle / "ld-linux-x86-64.so.2").symlink_to(loader)
    (bundle / "waypipe").symlink_to(waypipe)
    (root / "token").write_text(TOKEN + "\n")
    procs = []

    def start(argv, env, log):
        p = subprocess.Popen(argv, env={**os.environ, **env}, stdout=open(root / log, "w"),
                             stderr=subprocess.STDOUT)
        procs.append(p)
        return p

    start([weston, "--backend=headless-backend.so", "--use-pixman", "--width=640", "--height=480",
           "--socket=wayland-host", "--idle-time=0"], {"XDG_RUNTIME_DIR": str(host)}, "weston.log")
    deadline = time.monotonic() + 20
    while not (host / "wayland-host").exists():
        assert time.monotonic() < deadline, (root / "weston.log").read_text()
        time.sleep(0.1)
    start([waypipe, "-n", "-s", str(root / "wpc.sock"), "client"],
          {"XDG_RUNTIME_DIR": str(host), "WAYLAND_DISPLAY": "wayland-host"}, "waypipe-client.log")
    gate = Gate(root / "gate.sock", root / "wpc.sock")
    somm = start([str(build_dir() / "src/sommelier/sommelier"), "--runtime-dir", str(rt), "--verbose"],
                 {"GARCON_TOKEN_FILE": str(root / "token"), "SOMMELIER_HOST_SOCKET": str(root / "gate.sock"),
                  "SOMMELIER_WAYPIPE_DIR": str(bundle)}, "sommelier.log")
    deadline = time.monotonic() + 20
    while not (rt / "wayland-0").exists():
        assert time.monotonic() < deadline, (root / "sommelier.log").read_text()
        time.sleep(0.1)
    yield root, rt, gate, somm
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    gate.sock.close()
    shutil.rmtree(root, ignore_errors=True)


def test_registry_through_sommelier_and_waypipe(chain):
    root, rt, gate, somm = chain
    names = registry(rt)
    assert "wl_compositor" in names and "xdg_wm_base" in names and "wl_shm" in names, names
    # -n: no GPU buffers cross (waypipe hides linux-dmabuf and wl_drm)
    assert "zwp_linux_dmabuf_v1" not in names and "wl_drm" not in names, names
    assert gate.tokens == [(405, TOKEN)]
    assert oct((rt / "bistro-waypipe.sock").stat().st_mode & 0o777) == "0o600"


def test_waypipe_restarted(chain):
    root, rt, gate, somm = chain
    wp = children(somm.pid)
    assert len(wp) == 1, wp
    os.kill(wp[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    names = None
    while time.monotonic() < deadline:
        try:
            names = registry(rt, timeout=5)
            break
        except (OSError, EOFError):
            time.sleep(0.2)
    assert names and "wl_compositor" in names, (root / "sommelier.log").read_text()
    assert "restarting in 1 s" in (root / "sommelier.log").read_text()


def test_sommelier_death_takes_waypipe(chain):
    root, rt, gate, somm = chain
    wp = children(somm.pid)
    hold = children(wp[0]) if wp else []
    assert len(wp) == 1 and len(hold) == 1, (wp, hold)
    somm.kill()
    somm.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not (gone(wp[0]) and gone(hold[0])):
        time.sleep(0.1)
    assert gone(wp[0]) and gone(hold[0])

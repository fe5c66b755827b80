# SPDX-License-Identifier: LGPL-2.1-or-later
"""The headless desktop helper on the host alone (no VM): sway as the test user maps foot and
wl-redraw, screenshots are not blank, the clipboard round-trips text, a PNG and the primary selection,
closing a window closes it, stop() leaves nothing running."""

import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from headless_desktop import HeadlessDesktop, artifacts_dir, missing_tools  # noqa: E402
from procutil import build_dir, pid_alive  # noqa: E402

MISSING = missing_tools(("foot",))
needs_desktop = pytest.mark.skipif(bool(MISSING),
                                   reason=f"needs {', '.join(MISSING)} (tools/bootstrap.sh installs them)")


@pytest.fixture(scope="module")
def desktop():
    if MISSING:
        pytest.skip(f"needs {', '.join(MISSING)} (tools/bootstrap.sh installs them)")
    d = HeadlessDesktop()
    d.start()
    yield d
    d.stop()


def wl_redraw():
    p = build_dir() / "test/tools/wl-redraw"
    if not p.exists():
        pytest.fail(f"{p} missing: build the tree first (ninja -C {build_dir()})")
    return str(p)


def test_socket_is_absolute_and_private(desktop):
    assert os.path.isabs(desktop.socket) and Path(desktop.socket).is_socket()
    st = os.stat(desktop.runtime_dir)
    assert st.st_mode & 0o777 == 0o700
    if os.geteuid() == 0:
        assert st.st_uid != 0, "sway must not run as root"


def test_foot_maps_and_is_not_blank(desktop):
    background = desktop.colours()
    p = desktop.spawn(["foot", "--app-id", "foot", "sh", "-c", "echo bistro-desktop-test; exec sleep 600"])
    node = desktop.wait_for_window(app_id="foot")
    assert node["pid"] == p.pid
    shot = desktop.screenshot("headless-desktop-foot.png")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # foot draws text on its background: more than one colour in its rectangle, and the screen has
    # more colours than the empty desktop had.
    assert desktop.colours(node) > 2
    assert desktop.colours() > background
    desktop.close_window(node["id"])
    desktop.wait_window_gone(node["id"])
    assert p.wait(timeout=10) is not None


def test_clipboard_text_round_trip(desktop):
    text = "Bistro clipboard ✓ " + os.urandom(8).hex()
    desktop.copy(text)
    assert desktop.paste().decode() == text


def test_clipboard_png_round_trip(desktop):
    png = desktop.grab()  # any real PNG: the current screen
    desktop.copy(png, mime="image/png")
    got = desktop.paste(mime="image/png")
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(png).hexdigest()


def test_primary_selection_round_trip(desktop):
    clip, prim = "clipboard " + os.urandom(4).hex(), "primary " + os.urandom(4).hex()
    desktop.copy(clip)
    desktop.copy(prim, primary=True)
    assert desktop.paste(primary=True).decode() == prim
    assert desktop.paste().decode() == clip  # the two selections are separate


@pytest.mark.parametrize("mode", ["--full", "--small"])
def test_wl_redraw(desktop, mode):
    r = desktop.run([wl_redraw(), mode, "--frames", "30"], timeout=60)
    res = json.loads(r.stdout)
    assert res["frames"] == 30 and res["fps"] > 0 and 0 < res["first_frame_s"] < 10
    assert res["mode"] == mode[2:]


def test_wl_redraw_maps_its_window(desktop):
    p = desktop.spawn([wl_redraw(), "--small", "--seconds", "30"], stdout=subprocess.PIPE)
    node = desktop.wait_for_window(app_id="bistro-wl-redraw", title_contains="Bistro redraw test")
    desktop.screenshot("headless-desktop-wl-redraw.png", node)
    assert desktop.colours(node) > 100  # the gradient
    desktop.close_window(node["id"])  # xdg_toplevel.close: it prints its figures and exits 0
    assert p.wait(timeout=10) == 0
    assert json.loads(p.stdout.read())["closed"] is True


def test_wl_redraw_without_compositor_fails_fast(tmp_path):
    r = subprocess.run([wl_redraw()], env={"XDG_RUNTIME_DIR": str(tmp_path), "WAYLAND_DISPLAY": "wayland-9"},
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "cannot connect" in r.stderr


@needs_desktop
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a client as another uid (nobody)")
def test_share_socket_lets_another_uid_connect():
    def as_nobody():
        return subprocess.run([wl_redraw(), "--frames", "1"], env={"WAYLAND_DISPLAY": d.socket}, user=65534,
                              group=65534, extra_groups=[], capture_output=True, text=True, timeout=30)

    with HeadlessDesktop() as d:
        r = as_nobody()
        assert r.returncode == 1 and "Permission denied" in r.stderr
        d.share_socket()
        r = as_nobody()
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["frames"] == 1


@needs_desktop
def test_wl_redraw_exits_when_the_compositor_dies():
    with HeadlessDesktop() as d:
        p = d.spawn([wl_redraw(), "--seconds", "60"], stderr=subprocess.PIPE)
        d.wait_for_window(app_id="bistro-wl-redraw")
        d.proc.kill()
        assert p.wait(timeout=5) == 1
        err = p.stderr.read()  # a read sees the close, a send the reset
        assert b"the compositor closed the connection" in err or b"connection to the compositor lost" in err


@needs_desktop
def test_stop_kills_what_it_started():
    d = HeadlessDesktop().start()
    sway, rt = d.proc.pid, d.runtime_dir
    child = d.spawn(["sleep", "600"])
    d.stop()
    assert not pid_alive(sway) and not pid_alive(child.pid) and not rt.exists()
    assert artifacts_dir().is_dir()


@pytest.mark.skipif(not shutil.which("waypipe") or not shutil.which("socat"),
                    reason="needs Debian's waypipe and socat (the comparison pair, integration.md §A)")
def test_wl_redraw_through_waypipe(desktop):
    """wl-redraw is a correct enough client for waypipe 0.8.4 (the bench's W path): client on sway,
    server with the app, socat between them as integration.md §A does it."""
    d = desktop.runtime_dir / "wp"  # the test user's: pytest's tmp_path is root's 0700
    d.mkdir()
    os.chown(d, desktop.uid, desktop.gid)
    client = desktop.spawn(["waypipe", "-n", "-s", str(d / "client.sock"), "client"])
    desktop.spawn(["socat", f"UNIX-LISTEN:{d / 'relay.sock'},fork", f"UNIX-CONNECT:{d / 'client.sock'}"])
    deadline = time.monotonic() + 10
    while not (d / "relay.sock").exists() or not (d / "client.sock").exists():
        assert client.poll() is None and time.monotonic() < deadline, "waypipe client or socat did not start"
        time.sleep(0.05)
    r = desktop.run(["waypipe", "-n", "-s", str(d / "relay.sock"), "--display", str(d / "wayland-wp"), "server",
                     "--", wl_redraw(), "--small", "--frames", "30"], timeout=60)
    res = json.loads(r.stdout.decode().strip().splitlines()[-1])
    assert res["frames"] == 30 and res["fps"] > 0


def fake_compositor(tmp_path, reply):
    """A unix socket whose one connection gets reply(conn) (bytes, or None for silence) and is kept open
    until the test is done with it; returns (WAYLAND_DISPLAY path, the socket's thread)."""
    path = str(tmp_path / "fake-wayland")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)

    def serve():
        c, _ = srv.accept()
        c.recv(4096)
        data = reply()
        if data is None:
            time.sleep(5)
        elif data:
            c.sendall(data)
        c.close()
        srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return path, t


def run_against(path, *args):
    return subprocess.run([wl_redraw(), *args], env={"WAYLAND_DISPLAY": path}, capture_output=True, text=True,
                          timeout=20)


def test_wl_redraw_reports_protocol_errors(tmp_path):
    msg = b"no such thing\0\0\0"
    err = struct.pack("=IIIII", 1, (8 + 12 + len(msg)) << 16 | 0, 2, 7, 14) + msg
    path, _ = fake_compositor(tmp_path, lambda: err)
    r = run_against(path)
    assert r.returncode == 1 and "protocol error on object 2, code 7: no such thing" in r.stderr


def test_wl_redraw_closed_connection_exits(tmp_path):
    path, _ = fake_compositor(tmp_path, lambda: b"")
    r = run_against(path)
    assert r.returncode == 1 and "closed the connection" in r.stderr


def test_wl_redraw_silent_compositor_times_out(tmp_path):
    path, _ = fake_compositor(tmp_path, lambda: None)
    t = time.monotonic()
    r = run_against(path, "--timeout", "1")
    assert r.returncode == 1 and "timed out" in r.stderr and time.monotonic() - t < 4


def test_wl_redraw_rejects_malformed_messages(tmp_path):
    path, _ = fake_compositor(tmp_path, lambda: struct.pack("=II", 2, 6 << 16))  # size 6 < header
    r = run_against(path)
    assert r.returncode == 1 and "malformed" in r.stderr

# SPDX-License-Identifier: LGPL-2.1-or-later
"""The headless desktop helper on the host alone (no VM): sway as the test user maps foot and
wl-redraw, screenshots are not blank, the clipboard round-trips text, a PNG and the primary selection,
closing a window closes it, stop() leaves nothing running."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from headless_desktop import HeadlessDesktop, artifacts_dir, missing_tools  # noqa: E402
from procutil import build_dir, pid_alive  # noqa: E402

pytestmark = pytest.mark.skipif(bool(missing_tools(("foot",))),
                                reason=f"needs {', '.join(missing_tools(('foot',)))} (tools/bootstrap.sh installs them)")


@pytest.fixture(scope="module")
def desktop():
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


def test_stop_kills_what_it_started():
    d = HeadlessDesktop().start()
    sway, rt = d.proc.pid, d.runtime_dir
    child = d.spawn(["sleep", "600"])
    d.stop()
    assert not pid_alive(sway) and not pid_alive(child.pid) and not rt.exists()
    assert artifacts_dir().is_dir()

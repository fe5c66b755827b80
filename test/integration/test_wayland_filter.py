# SPDX-License-Identifier: LGPL-2.1-or-later
"""The host's Wayland filter against a real compositor, without a VM: headless sway (as a test user
this test creates; sway refuses root), and build/test/tools/wayland-filter-proxy, which relays a
client to sway through the gate's filter. Real clients: foot maps a window whose title (or app_id)
carries the container's mark; grim, which captures the screen when it talks to sway directly,
finds no screencopy through the filter; wl-copy and wl-paste move text, an image and the primary
selection both ways through the filter, by the focus-based data-device flow (data-control, which
wl-clipboard prefers, is hidden), with a virtual keyboard on the seat so that focus exists."""

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import pytest

from procutil import REPO, build_dir

USER = "bistro-wl-test"
CONTAINER = "penguin"

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="creates a test user for sway (which refuses root)"),
    pytest.mark.skipif(not all(shutil.which(p) for p in ("sway", "swaymsg", "foot", "grim", "wl-copy")),
                       reason="needs sway, swaymsg, foot, grim, wl-clipboard"),
]


def proxy_binary():
    return build_dir() / "test/tools/wayland-filter-proxy"


def as_user(argv, env, **kw):
    """Starts argv as the test user, itself (no runuser in between: terminate() reaches it)."""
    u = pwd.getpwnam(USER)
    return subprocess.Popen(argv, env=env, user=u.pw_uid, group=u.pw_gid, extra_groups=[], cwd=u.pw_dir, **kw)


@pytest.fixture(scope="module")
def desktop():
    try:
        pwd.getpwnam(USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--create-home", USER], check=True)
    user = pwd.getpwnam(USER)
    rt = tempfile.mkdtemp(prefix="bistro-wl-")
    os.chown(rt, user.pw_uid, user.pw_gid)
    os.chmod(rt, 0o700)
    cfg = os.path.join(rt, "sway.cfg")
    with open(cfg, "w") as f:
        f.write("output HEADLESS-1 resolution 1024x768\n")
    # The proxy runs as the user too: it is the gate's stand-in, the user's own process.
    proxy = os.path.join(rt, "wayland-filter-proxy")
    shutil.copy(proxy_binary(), proxy)
    os.chmod(proxy, 0o755)
    env = {"PATH": "/usr/bin:/bin", "HOME": user.pw_dir, "XDG_RUNTIME_DIR": rt}
    sway_env = dict(env, WLR_BACKENDS="headless", WLR_RENDERER="pixman", WLR_LIBINPUT_NO_DEVICES="1")
    sway = as_user(["sway", "-c", cfg], sway_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs = [sway]
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(os.path.join(rt, "wayland-1")):
            assert sway.poll() is None, "sway exited"
            assert time.monotonic() < deadline, "sway did not start"
            time.sleep(0.1)
        ipc = next(os.path.join(rt, n) for n in os.listdir(rt) if n.startswith("sway-ipc."))
        for name, mark in (("wayland-title", "title"), ("wayland-appid", "app-id")):
            procs.append(as_user([proxy, os.path.join(rt, name), os.path.join(rt, "wayland-1"), CONTAINER, mark], env))
        vkbd = os.path.join(rt, "wayland_vkbd.py")
        shutil.copy(REPO / "test/integration/wayland_vkbd.py", vkbd)
        os.chmod(vkbd, 0o755)
        keyboard = as_user(["/usr/bin/python3", vkbd], dict(env, WAYLAND_DISPLAY="wayland-1"), stdout=subprocess.PIPE,
                           text=True)
        procs.append(keyboard)
        assert keyboard.stdout.readline().strip() == "ready"
        yield {"rt": rt, "env": env, "ipc": ipc}
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(rt, ignore_errors=True)


def run_as_user(d, display, argv, timeout=20, text=True, **kw):
    p = as_user(argv, dict(d["env"], WAYLAND_DISPLAY=display), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=text, **kw)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        raise
    return subprocess.CompletedProcess(argv, p.returncode, out, err)


def views(d):
    tree = json.loads(run_as_user(d, "wayland-1", ["swaymsg", "-s", d["ipc"], "-t", "get_tree"]).stdout)
    out, stack = [], [tree]
    while stack:
        n = stack.pop()
        if n.get("pid"):
            out.append((n.get("name"), n.get("app_id")))
        stack.extend(n.get("nodes", []) + n.get("floating_nodes", []))
    return out


def window_while(d, display, argv, want):
    """Starts a client and returns the window list once a window matches want (or fails)."""
    p = as_user(argv, dict(d["env"], WAYLAND_DISPLAY=display), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            v = views(d)
            if any(want(name, app_id) for name, app_id in v):
                return v
            assert p.poll() is None, f"the client exited: {p.stderr.read()}"
            time.sleep(0.2)
        pytest.fail(f"no matching window; windows: {views(d)}")
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_title_marked(desktop):
    v = window_while(desktop, "wayland-title", ["foot", "-T", "My Term", "-e", "sleep", "30"],
                     lambda name, app_id: app_id == "foot" and name and "(" in name)
    assert ("My Term (penguin)", "foot") in v


def test_app_id_marked(desktop):
    v = window_while(desktop, "wayland-appid", ["foot", "-T", "My Term", "-e", "sleep", "30"],
                     lambda name, app_id: app_id and app_id.startswith("bistro."))
    assert ("My Term", "bistro.penguin.foot") in v


def test_screencopy_hidden(desktop):
    png = os.path.join(desktop["rt"], "shot.png")
    direct = run_as_user(desktop, "wayland-1", ["grim", png])
    assert direct.returncode == 0, direct.stderr  # sway does offer it...
    filtered = run_as_user(desktop, "wayland-title", ["grim", png + ".2"])
    assert filtered.returncode != 0  # ...but not through the filter
    assert "screencopy" in filtered.stderr


def copy_paste(d, copy_display, paste_display, data, args=()):
    src = os.path.join(d["rt"], "clip.in")
    with open(src, "wb") as f:
        f.write(data)
    os.chmod(src, 0o644)
    # wl-copy leaves a child that serves the selection: no pipes for it to hold open.
    with open(src, "rb") as f:
        p = as_user(["wl-copy", *args], dict(d["env"], WAYLAND_DISPLAY=copy_display), stdin=f,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        assert p.wait(timeout=20) == 0
    deadline = time.monotonic() + 10
    while True:
        r = run_as_user(d, paste_display, ["wl-paste", "-n", *args], text=False)
        if r.returncode == 0 and r.stdout == data or time.monotonic() > deadline:
            return r.stdout
        time.sleep(0.3)


@pytest.mark.parametrize("direction", ["container-to-host", "host-to-container"])
def test_clipboard(desktop, direction):
    displays = ("wayland-title", "wayland-1") if direction == "container-to-host" else ("wayland-1", "wayland-title")
    text = f"hello {direction} \u00e9".encode()
    assert copy_paste(desktop, *displays, text) == text
    image = os.urandom(50000)  # no need for a real PNG: the bytes must arrive unchanged
    got = copy_paste(desktop, *displays, image, ("-t", "image/png"))
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(image).hexdigest()
    primary = f"primary {direction}".encode()
    assert copy_paste(desktop, *displays, primary, ("-p",)) == primary


@pytest.mark.skipif(not shutil.which("waypipe") or not shutil.which("weston-terminal"),
                    reason="needs Debian's waypipe and weston-terminal")
def test_through_waypipe(desktop):
    """The gate's real shape: the app talks to waypipe's server end, waypipe's client end talks
    to sway through the filter."""
    rt = desktop["rt"]
    client = as_user(["waypipe", "-n", "-s", os.path.join(rt, "wp.sock"), "client"],
                     dict(desktop["env"], WAYLAND_DISPLAY="wayland-title"), stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(os.path.join(rt, "wp.sock")):
            assert time.monotonic() < deadline, "waypipe client did not listen"
            time.sleep(0.1)
        v = window_while(desktop, "wayland-wp", ["waypipe", "-n", "-s", os.path.join(rt, "wp.sock"), "--display",
                                                 "wayland-wp", "server", "--", "weston-terminal"],
                         lambda name, app_id: app_id == "org.freedesktop.weston.wayland-terminal" and name and
                         name.endswith(" (penguin)"))
        assert any(app_id == "org.freedesktop.weston.wayland-terminal" for _, app_id in v)
    finally:
        client.terminate()
        client.wait(timeout=10)

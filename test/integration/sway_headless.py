# SPDX-License-Identifier: LGPL-2.1-or-later
"""A headless sway for GUI tests: pixman renderer, no input devices, one 1024x768 output, run as a
non-root user (sway refuses root), with its own 0700 XDG_RUNTIME_DIR.

Usage:
    user = gui_test_user()               # (uid, gid, home); skips when it cannot be had
    with HeadlessSway(tmpdir, user) as sway:
        sway.run(["wl-paste", "-n"])   # a client of sway, as the test user
        sway.find_window(app_id="foot")
        sway.screenshot(path)
"""

import json
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

TEST_USER = "bistro-wltest"
TOOLS = {"sway": "sway", "swaymsg": "sway", "grim": "grim", "wl-copy": "wl-clipboard",
         "wl-paste": "wl-clipboard", "foot": "foot", "socat": "socat"}


def skip_unless_tools(*names):
    """Skips, naming the Debian package, when one of the programs is not installed."""
    for n in names:
        if not shutil.which(n):
            pytest.skip(f"{n} is not installed (Debian package {TOOLS.get(n, n)}; tools/bootstrap.sh installs it)")


def gui_test_user():
    """(uid, gid, home) of the user GUI tests run as: ourselves when we are not root, else the
    system user bistro-wltest, created when missing (sway refuses to run as root)."""
    if os.geteuid() != 0:
        pw = pwd.getpwuid(os.geteuid())
        return pw.pw_uid, pw.pw_gid, None
    try:
        pw = pwd.getpwnam(TEST_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        r = subprocess.run([useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                            "--shell", "/usr/sbin/nologin", TEST_USER], capture_output=True, text=True)
        if r.returncode != 0 and r.returncode != 9:  # 9: created meanwhile
            pytest.skip(f"cannot create the test user {TEST_USER}: {r.stderr.strip()}")
        pw = pwd.getpwnam(TEST_USER)
    return pw.pw_uid, pw.pw_gid, None


def private_dir(path, user):
    """A 0700 directory owned by the test user (an XDG_RUNTIME_DIR, a HOME)."""
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chown(path, user[0], user[1])
    os.chmod(path, 0o700)
    return path


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


class Procs:
    """Processes started by a test, each in its own session so that its children go with it."""

    def __init__(self, user, logdir):
        self.user = user
        self.logdir = Path(logdir)
        self.procs = []

    def start(self, name, argv, env, **kw):
        log = open(self.logdir / f"{name}.log", "wb")
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True, user=self.user[0], group=self.user[1], extra_groups=[],
                             cwd=self.logdir, **kw)
        log.close()
        p.name = name
        self.procs.append(p)
        return p

    def run(self, argv, env, timeout=20, **kw):
        return subprocess.run(argv, env=env, capture_output=True, timeout=timeout, start_new_session=True,
                              user=self.user[0], group=self.user[1], extra_groups=[], cwd=self.logdir, **kw)

    def log(self, name):
        try:
            return (self.logdir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in reversed(self.procs):
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()
        self.procs = []


class HeadlessSway:
    def __init__(self, tmpdir, user):
        self.tmp = Path(tmpdir)
        self.user = user
        self.runtime = private_dir(self.tmp / "sway-runtime", user)
        self.home = private_dir(self.tmp / "sway-home", user)
        self.procs = Procs(user, private_dir(self.tmp / "logs", user))
        self.display = None
        self.ipc = None

    def env(self, **extra):
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.runtime),
               "LANG": "C.UTF-8"}
        if self.display:
            env["WAYLAND_DISPLAY"] = self.display
        env.update(extra)
        return env

    def __enter__(self):
        cfg = self.tmp / "sway.cfg"
        cfg.write_text("output HEADLESS-1 resolution 1024x768\n")
        os.chmod(cfg, 0o644)
        env = self.env(WLR_BACKENDS="headless", WLR_RENDERER="pixman", WLR_LIBINPUT_NO_DEVICES="1")
        self.sway = self.procs.start("sway", ["sway", "-c", str(cfg)], env)

        def ready():
            if self.sway.poll() is not None:
                raise AssertionError(f"sway exited ({self.sway.returncode}): {self.procs.log('sway')[-2000:]}")
            names = os.listdir(self.runtime)
            disp = [n for n in names if n.startswith("wayland-") and not n.endswith(".lock")]
            ipc = [n for n in names if n.startswith("sway-ipc.")]
            return (disp[0], ipc[0]) if disp and ipc else None

        try:
            self.display, ipc = wait_for(ready, 30, "sway's sockets")
        except BaseException:
            self.procs.stop_all()
            raise
        self.ipc = str(self.runtime / ipc)
        return self

    def __exit__(self, *exc):
        self.procs.stop_all()

    def run(self, argv, **kw):
        return self.procs.run(argv, self.env(), **kw)

    def tree(self):
        r = self.run(["swaymsg", "-s", self.ipc, "-t", "get_tree", "-r"])
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def find_window(self, app_id):
        """The first view whose app_id is app_id, or None."""
        stack = [self.tree()]
        while stack:
            n = stack.pop()
            if n.get("app_id") == app_id:
                return n
            stack += n.get("nodes", []) + n.get("floating_nodes", [])
        return None

    def screenshot(self, path, fmt="png"):
        """grim's capture of the whole output, written to path (readable by root and the user)."""
        r = self.run(["grim", "-t", fmt, "-"], timeout=30)
        assert r.returncode == 0, r.stderr
        Path(path).write_bytes(r.stdout)
        return r.stdout


def ppm_pixels(data):
    """(width, height, rgb bytes) of a binary P6 PPM as grim writes it."""
    assert data[:2] == b"P6", "not a P6 PPM"
    fields, pos = [], 2
    while len(fields) < 3:
        while data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(int(data[start:pos]))
    w, h, maxval = fields
    assert maxval == 255
    return w, h, data[pos + 1:pos + 1 + w * h * 3]


def region_colours(data, rect):
    """The number of distinct colours of a PPM screenshot inside rect {x, y, width, height}."""
    w, h, px = ppm_pixels(data)
    colours = set()
    for y in range(max(rect["y"], 0), min(rect["y"] + rect["height"], h)):
        row = px[(y * w + max(rect["x"], 0)) * 3:(y * w + min(rect["x"] + rect["width"], w)) * 3]
        colours.update(row[i:i + 3] for i in range(0, len(row), 3))
    return len(colours)

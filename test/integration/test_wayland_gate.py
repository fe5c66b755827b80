# SPDX-License-Identifier: LGPL-2.1-or-later
"""The whole GUI path without a VM (docs/design/sommelier.md): the real sommelier (pointed at a unix socket
instead of vsock port 7100, SOMMELIER_HOST_SOCKET), the real wayland-gate on that socket (passed as
concierge passes it, LISTEN_FDS), Bistro's waypipe bundle at both ends, and a headless sway desktop. A
Wayland app of the "container" (foot, weston-terminal) maps a window on the desktop with its app_id and a
marked title (or, once the user's gui.conf says so, a marked app_id); the globals a container must not have
are hidden and grim finds no screencopy; sommelier restarts a dead waypipe and takes it along when it dies;
the clipboard (text, an image, the primary selection) goes both ways by the focus-based flow, with a
virtual keyboard on the seat; an unknown token and a missing WAYLAND_DISPLAY are refused with a message
sommelier logs; killing either end frees the other. The VM path is in
test/integration/desktop/test_gui_apps.py."""

import hashlib
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from concierge_helpers import build_dir
from headless_desktop import HeadlessDesktop, missing_tools
from procutil import children, pid_alive, wait_for

VM, CONTAINER = "termina", "penguin"
TOKEN = "0123456789abcdef0123456789abcdef"

pytestmark = pytest.mark.skipif(bool(missing_tools(("foot",))),
                                reason=f"needs {', '.join(missing_tools(('foot',)))} (Debian packages)")


def registry(runtime_dir, timeout=20):
    """The global interface names a raw Wayland client of runtime_dir/wayland-0 sees."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    s.connect(str(runtime_dir / "wayland-0"))
    s.sendall(struct.pack("<IHHI", 1, 1, 12, 2) + struct.pack("<IHHI", 1, 0, 12, 3))  # get_registry, sync
    buf, names = b"", []
    try:
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
                    return names
    finally:
        s.close()


class Chain:
    """sommelier -> wayland-gate -> sway, in a private XDG_RUNTIME_DIR for the gate's side."""

    def __init__(self, desktop, token=TOKEN, display=True):
        self.desktop = desktop
        self.root = Path(tempfile.mkdtemp(prefix="bistro-gate-"))
        self.host_rt, self.cont_rt = self.root / "host", self.root / "cont"
        for d in (self.host_rt, self.cont_rt):
            d.mkdir(mode=0o700)
        tokens = self.host_rt / "bistro/tokens" / VM
        tokens.mkdir(parents=True, mode=0o700)
        os.chmod(self.host_rt / "bistro", 0o700)
        os.chmod(self.host_rt / "bistro/tokens", 0o700)
        (tokens / CONTAINER).write_text(TOKEN)
        (self.root / "token").write_text(token + "\n")
        self.vsock = self.root / "vsock.sock"
        self.vsock.touch()  # the gate stops when the VM's socket is gone
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(self.root / "vsock.sock_7100"))
        self.listener.listen(16)
        self.procs = []
        self.config = self.root / "config"
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "XDG_RUNTIME_DIR": str(self.host_rt),
               "XDG_CONFIG_HOME": str(self.config), "BISTRO_LOG_LEVEL": "debug"}
        if display:
            env["WAYLAND_DISPLAY"] = desktop.socket
        fd = self.listener.fileno()
        self.gate = self.start(
            ["bash", "-c", f'exec 3<&{fd}; LISTEN_FDS=1 LISTEN_PID=$$ exec "$0" "$@"',
             str(build_dir() / "src/wayland-gate/wayland-gate"), "--vm", VM, "--vsock", str(self.vsock)],
            env, "gate.log", pass_fds=(fd,))
        bundle = build_dir() / "image/waypipe/bundle"
        self.somm = self.start(
            [str(build_dir() / "src/sommelier/sommelier"), "--runtime-dir", str(self.cont_rt), "--verbose"],
            {"PATH": "/usr/bin:/bin", "GARCON_TOKEN_FILE": str(self.root / "token"),
             "SOMMELIER_HOST_SOCKET": str(self.root / "vsock.sock_7100"), "SOMMELIER_WAYPIPE_DIR": str(bundle)},
            "sommelier.log")
        deadline = time.monotonic() + 20
        while not (self.cont_rt / "wayland-0").exists():
            assert time.monotonic() < deadline, self.log("sommelier.log")
            time.sleep(0.1)

    def set_mark(self, mark):
        """The user's window-mark setting (gui.conf, which the gate reads for each client)."""
        (self.config / "bistro").mkdir(parents=True, exist_ok=True)
        (self.config / "bistro/gui.conf").write_text(f"window-mark = {mark}\n")

    def start(self, argv, env, log, **kw):
        p = subprocess.Popen(argv, env=env, stdout=open(self.root / log, "w"), stderr=subprocess.STDOUT, **kw)
        self.procs.append(p)
        return p

    def log(self, name):
        return (self.root / name).read_text(errors="replace")

    def app_env(self):
        return {"PATH": "/usr/bin:/bin", "XDG_RUNTIME_DIR": str(self.cont_rt), "WAYLAND_DISPLAY": "wayland-0",
                "HOME": str(self.root), "LANG": "C.UTF-8"}

    def app(self, argv, log="app.log", **kw):
        """A client of the "container": connects to sommelier's wayland-0."""
        return self.start(argv, self.app_env(), log, **kw)

    def run(self, argv, timeout=30):
        """Runs a client of the "container" to its end; the CompletedProcess (bytes)."""
        return subprocess.run(argv, env=self.app_env(), stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)

    def wait_for_window(self, timeout=30, **kw):
        try:
            return self.desktop.wait_for_window(timeout=timeout, **kw)
        except TimeoutError as e:
            logs = "\n".join(f"--- {n}:\n{self.log(n)[-2000:]}" for n in ("gate.log", "sommelier.log", "app.log"))
            raise AssertionError(f"{e}\n{logs}") from None

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.listener.close()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def desktop():
    for f in ("src/wayland-gate/wayland-gate", "src/sommelier/sommelier", "image/waypipe/bundle/waypipe"):
        if not (build_dir() / f).exists():
            pytest.fail(f"{build_dir() / f} missing: build the tree first")
    d = HeadlessDesktop()
    d.start()
    d.add_keyboard()  # the clipboard's focus-based flow needs focus
    yield d
    d.stop()


@pytest.fixture
def chain(desktop):
    c = Chain(desktop)
    yield c
    c.stop()


def session_pids(gate_pid):
    """The gate's per-client sessions and, below them, waypipe and the raw relay."""
    def kids(pid):
        try:
            return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
        except OSError:
            return []
    return {s: kids(s) for s in kids(gate_pid)}


def test_app_maps_marked_window(desktop, chain):
    foot = chain.app(["foot", "--app-id", "bistro-test-foot", "--title", "gate test"])
    node = chain.wait_for_window(app_id="bistro-test-foot")
    assert node["name"] == f"gate test ({CONTAINER})", node["name"]
    shot = desktop.screenshot("wayland-gate-foot.png", node)
    assert desktop.colours(node) > 2, f"blank window, see {shot}"
    # waypipe's host end runs confined: no network, and a root that holds only its bundle and socket dir.
    sessions = session_pids(chain.gate.pid)
    assert len(sessions) == 1, (sessions, chain.log("gate.log"))
    waypipe = [p for p in next(iter(sessions.values())) if "waypipe" in Path(f"/proc/{p}/cmdline").read_text()]
    assert waypipe, sessions
    assert os.readlink(f"/proc/{waypipe[0]}/ns/net") != os.readlink("/proc/self/ns/net")
    assert sorted(os.listdir(f"/proc/{waypipe[0]}/root")) == ["run", "waypipe"]
    # Closing the window ends the app, its stream and its session.
    desktop.close_window(node["id"])
    foot.wait(20)
    deadline = time.monotonic() + 10
    while session_pids(chain.gate.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not session_pids(chain.gate.pid), chain.log("gate.log")


def test_app_id_mark_for_the_next_window(desktop, chain):
    """window-mark = app-id written to the user's gui.conf while the gate runs (as `vmc window-mark`
    does): the next window keeps its title and carries the container in its app_id."""
    chain.app(["foot", "--app-id", "bistro-test-before", "--title", "My Term"], log="before.log")
    assert chain.wait_for_window(app_id="bistro-test-before")["name"] == f"My Term ({CONTAINER})"
    chain.set_mark("app-id")
    chain.app(["foot", "--app-id", "bistro-test-appid", "--title", "My Term"])
    node = chain.wait_for_window(app_id=f"bistro.{CONTAINER}.bistro-test-appid")
    assert node["name"] == "My Term", node["name"]


@pytest.mark.skipif(shutil.which("weston-terminal") is None, reason="needs weston-terminal (Debian package weston)")
def test_weston_terminal_marked(desktop, chain):
    """Another toolkit's client (weston's) through the same chain."""
    chain.app(["weston-terminal"])
    chain.wait_for_window(app_id="org.freedesktop.weston.wayland-terminal", title_contains=f" ({CONTAINER})")


def test_hidden_globals(desktop, chain):
    names = registry(chain.cont_rt)
    assert {"wl_compositor", "wl_shm", "xdg_wm_base", "wl_seat", "wl_data_device_manager"} <= set(names), names
    for hidden in ("zwlr_data_control_manager_v1", "zwlr_screencopy_manager_v1", "zwlr_layer_shell_v1",
                   "zwp_virtual_keyboard_manager_v1", "zwlr_foreign_toplevel_manager_v1"):
        assert hidden not in names, names
    # -n: no GPU buffers cross (waypipe hides linux-dmabuf and wl_drm)
    assert "zwp_linux_dmabuf_v1" not in names and "wl_drm" not in names, names
    assert (chain.cont_rt / "bistro-waypipe.sock").stat().st_mode & 0o777 == 0o600


def test_no_screencopy(desktop, chain):
    """grim captures the screen when it talks to sway directly, not through the gate."""
    assert desktop.grab()[:8] == b"\x89PNG\r\n\x1a\n"
    r = chain.run(["grim", str(chain.root / "shot.png")])
    assert r.returncode != 0 and b"screencopy" in r.stderr, r
    assert not (chain.root / "shot.png").exists()


def copy_in_container(chain, data, *opts):
    """wl-copy in the "container", serving the selection until the test ends (its stdin a file: the
    client holds no pipe of ours)."""
    src = chain.root / f"clip-{len(chain.procs)}"
    src.write_bytes(data)
    with open(src, "rb") as f:
        return chain.app(["wl-copy", "--foreground", *opts], log="wl-copy.log", stdin=f)


def paste_in_container(chain, want, *opts, timeout=20):
    """What wl-paste in the "container" gets, polled until it is want (the copy may still be arriving)."""
    deadline = time.monotonic() + timeout
    while True:
        r = chain.run(["wl-paste", "--no-newline", *opts])
        if r.returncode == 0 and r.stdout == want or time.monotonic() > deadline:
            return r.stdout if r.returncode == 0 else r.stderr
        time.sleep(0.3)


@pytest.mark.parametrize("primary", [False, True], ids=["clipboard", "primary"])
def test_clipboard_both_ways(desktop, chain, primary):
    """Through the gate by the focus-based data-device flow (data-control is hidden): text both ways,
    the primary selection both ways, an image/png both ways by checksum, text/html both ways."""
    p = ("--primary",) if primary else ()
    text = f"from the container {time.time()} \u00e9".encode()
    copy_in_container(chain, text, *p)
    deadline = time.monotonic() + 20
    while "text/plain" not in desktop.paste_types(primary) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert desktop.paste(primary=primary) == text, chain.log("wl-copy.log")
    text = f"from the host {time.time()} \u00e9".encode()
    desktop.copy(text, primary=primary)
    assert paste_in_container(chain, text, *p) == text
    if primary:
        return
    image = os.urandom(50000)  # the bytes must arrive unchanged, not be a real PNG
    copy_in_container(chain, image, "--type", "image/png")
    deadline = time.monotonic() + 20
    while "image/png" not in desktop.paste_types() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert hashlib.sha256(desktop.paste("image/png")).digest() == hashlib.sha256(image).digest()
    image = os.urandom(50000)
    desktop.copy(image, mime="image/png")
    got = paste_in_container(chain, image, "--type", "image/png")
    assert hashlib.sha256(got).digest() == hashlib.sha256(image).digest()
    # Rich text: HTML, both ways.
    html = f"<p>from the container <b>{time.time()}</b></p>".encode()
    copy_in_container(chain, html, "--type", "text/html")
    deadline = time.monotonic() + 20
    while "text/html" not in desktop.paste_types() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert desktop.paste("text/html") == html
    html = f"<p>from the host <i>{time.time()}</i></p>".encode()
    desktop.copy(html, mime="text/html")
    assert paste_in_container(chain, html, "--type", "text/html") == html


def test_waypipe_restarted(desktop, chain):
    """sommelier starts its waypipe again when it dies, and clients get through again."""
    wp = children(chain.somm.pid)
    assert len(wp) == 1, wp
    os.kill(wp[0], signal.SIGKILL)
    deadline = time.monotonic() + 10
    names = None
    while time.monotonic() < deadline:
        try:
            names = registry(chain.cont_rt, timeout=5)
            break
        except (OSError, EOFError):
            time.sleep(0.2)
    assert names and "wl_compositor" in names, chain.log("sommelier.log")
    assert "restarting in 1 s" in chain.log("sommelier.log")


def test_sommelier_death_takes_waypipe(desktop, chain):
    wp = children(chain.somm.pid)
    hold = children(wp[0]) if wp else []
    assert len(wp) == 1 and len(hold) == 1, (wp, hold)
    chain.somm.kill()
    chain.somm.wait()
    wait_for(lambda: not pid_alive(wp[0]) and not pid_alive(hold[0]), 5, "waypipe and its child to go")


def assert_refused(desktop, message, **chain_args):
    """A chain whose gate refuses: the client gets no display and sommelier logs the gate's message."""
    c = Chain(desktop, **chain_args)
    try:
        with pytest.raises((EOFError, OSError)):
            registry(c.cont_rt, timeout=10)
        wait_for(lambda: message in c.log("sommelier.log"), 10, f"'{message}' in sommelier's log")
    finally:
        c.stop()


def test_unknown_token_refused(desktop):
    assert_refused(desktop, "unknown container token", token="f" * 32)


def test_no_display_says_so(desktop):
    assert_refused(desktop, "no Wayland session on the host", display=False)


@pytest.mark.parametrize("victim", ["session", "stream"])
def test_killing_one_end_frees_the_other(desktop, chain, victim):
    """The host's session of one client, or sommelier's stream child of that client, killed: the app
    loses its display (and exits: it does not hang), the window goes, the gate and sway go on."""
    foot = chain.app(["foot", "--app-id", f"bistro-kill-{victim}"])
    chain.wait_for_window(app_id=f"bistro-kill-{victim}")
    sessions = session_pids(chain.gate.pid)
    assert len(sessions) == 1, sessions
    if victim == "session":
        os.kill(next(iter(sessions)), signal.SIGKILL)
    else:
        streams = [int(line.split("stream ")[1].split()[0]) for line in chain.log("sommelier.log").splitlines()
                   if "Wayland client stream" in line and "started" in line]
        assert len(streams) == 1, chain.log("sommelier.log")
        os.kill(streams[0], signal.SIGKILL)
    foot.wait(20)  # the app sees its display go, it does not hang
    deadline = time.monotonic() + 10
    while session_pids(chain.gate.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not session_pids(chain.gate.pid)
    assert desktop.find_window(app_id=f"bistro-kill-{victim}") is None
    assert desktop.proc.poll() is None and chain.gate.poll() is None
    assert desktop.tree()  # the compositor still answers

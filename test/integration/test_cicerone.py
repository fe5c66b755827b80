# SPDX-License-Identifier: LGPL-2.1-or-later
"""cicerone, hermetic (no VM): the real binary with a private XDG_RUNTIME_DIR and XDG_DATA_HOME, a stub
xdg-open first on PATH, the test acting as garcon on R/vms/V/vsock.sock_8889 and as the VM's hybrid
vsock socket (R/vms/V/vsock.sock, "CONNECT <port>" / "OK <n>") for launches."""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from guestproto import (EMPTY, ERROR_REPLY, REQUEST, RESPONSE, error_of, frame, pb_bytes,  # noqa: E402
                        pb_parse, pb_varint, recv_exact, recv_frame)
from procutil import build_dir  # noqa: E402

# proto/common.proto
CONTAINER_READY, CONTAINER_SHUTDOWN, OPEN_URL, APP_LIST, APP_ICONS = 400, 401, 402, 403, 404
LAUNCH_APPLICATION, GARCON_HELLO, GARCON_HELLO_RESPONSE = 420, 421, 450
VM_STARTED, VM_STOPPED, CICERONE_LAUNCH = 700, 701, 702

VM = "termina"
TOKEN = "tok_" + "A1b2C3d4E5f6G7h8" * 2
TOKEN2 = "tok_" + "Z9y8X7w6V5u4T3s2" * 2
EPERM, ENOENT, EBUSY, ETIMEDOUT = 1, 2, 16, 110


def cicerone_binary():
    return build_dir() / "src/cicerone/cicerone"


def vmc_binary():
    return build_dir() / "src/vmc/vmc"


def png(size, declared=None, pad=0):
    """A valid size x size RGBA PNG (IHDR says declared x declared when given; pad: a tEXt chunk of
    that many bytes)."""
    d = declared or size

    def chunk(t, data):
        return struct.pack(">I", len(data)) + t + data + struct.pack(">I", zlib.crc32(t + data) & 0xFFFFFFFF)

    raw = b"".join(b"\0" + b"\x80\x40\x20\xff" * size for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", d, d, 8, 6, 0, 0, 0)) +
            (chunk(b"tEXt", b"pad\0" + b"x" * pad) if pad else b"") +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16"><rect width="16" height="16"/></svg>'


def app(app_id, name, comment="", mimes=(), no_display=False, wm=""):
    b = pb_bytes(1, app_id) + pb_bytes(2, name) + pb_bytes(3, comment)
    for m in mimes:
        b += pb_bytes(4, m)
    if no_display:
        b += pb_varint(5, 1)
    return b + pb_bytes(6, wm)


def app_list(token, apps):
    return pb_bytes(1, token) + b"".join(pb_bytes(2, a) for a in apps)


def icons(token, app_id, items):
    return pb_bytes(1, token) + pb_bytes(2, app_id) + b"".join(
        pb_bytes(3, pb_varint(1, size) + pb_bytes(2, data)) for size, data in items)


def ready(token, port=10042):
    return pb_bytes(1, token) + pb_varint(2, port)


class Cicerone:
    def __init__(self, tmp):
        self.tmp = tmp
        self.run = tmp / "run"
        self.run.mkdir(mode=0o700)
        self.rdir = self.run / "bistro"
        self.rdir.mkdir(mode=0o700)
        self.data = tmp / "data"
        self.data.mkdir()
        self.apps = self.data / "applications"
        stub = tmp / "stub"
        stub.mkdir()
        self.opened = tmp / "opened"
        (stub / "xdg-open").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {self.opened}\n')
        (stub / "xdg-open").chmod(0o755)
        self.env = dict(os.environ, XDG_RUNTIME_DIR=str(self.run), XDG_DATA_HOME=str(self.data),
                        HOME=str(tmp / "home"), PATH=f"{stub}:/usr/bin:/bin", SYSTEMD_LOG_LEVEL="info")
        self.env.pop("BISTRO_BISTRO", None)
        (self.rdir / "vms" / VM).mkdir(parents=True)
        self.put_token("penguin", TOKEN)
        self.log = tmp / "cicerone.log"
        self.proc = None
        self.next_id = 1

    def put_token(self, container, token):
        d = self.rdir / "tokens" / VM
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.rdir / "tokens", 0o700)
        p = d / container
        p.write_text(token)
        p.chmod(0o600)

    @property
    def control_path(self):
        return self.rdir / "cicerone.sock"

    @property
    def guest_path(self):
        return self.rdir / "vms" / VM / "vsock.sock_8889"

    def start(self):
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([str(cicerone_binary())], env=self.env, stdout=logf, stderr=logf)
        logf.close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("cicerone exited: " + self.log.read_text())
            try:
                with self.control() as s:
                    s.settimeout(1)
                    break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("cicerone does not listen: " + self.log.read_text())

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)

    def control(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(str(self.control_path))
        return s

    def call(self, sock, mtype, payload):
        mid = self.next_id
        self.next_id += 1
        sock.sendall(frame(mtype, REQUEST, mid, payload))
        t, rid, flags, body = recv_frame(sock)
        assert rid == mid and flags == RESPONSE
        return t, body

    def control_call(self, mtype, payload, timeout=10):
        with self.control() as s:
            s.settimeout(timeout)
            return self.call(s, mtype, payload)

    def vm_started(self):
        t, body = self.control_call(VM_STARTED, pb_bytes(1, VM))
        assert t == EMPTY, error_of(body)

    def garcon(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(str(self.guest_path))
        return s

    def entry(self, app_id, container="penguin"):
        return self.apps / f"bistro-{VM}-{container}-{app_id}.desktop"

    def icon(self, app_id, size, container="penguin"):
        sub = "scalable" if size == 0 else f"{size}x{size}"
        ext = "svg" if size == 0 else "png"
        return self.data / f"icons/hicolor/{sub}/apps/bistro-{VM}-{container}-{app_id}.{ext}"

    def opens(self):
        return self.opened.read_text().splitlines() if self.opened.exists() else []

    def alive(self):
        return self.proc.poll() is None


@pytest.fixture
def cic(tmp_path):
    if not os.access(cicerone_binary(), os.X_OK):
        pytest.fail(f"{cicerone_binary()} missing: build the tree first")
    c = Cicerone(tmp_path)
    c.start()
    c.vm_started()
    yield c
    c.stop()


def expect_empty(reply):
    t, body = reply
    assert t == EMPTY, error_of(body) if t == ERROR_REPLY else t


def expect_error(reply, errno_):
    t, body = reply
    assert t == ERROR_REPLY, t
    err, msg = error_of(body)
    assert err == -errno_, (err, msg)
    return msg


def expect_closed(sock):
    """The peer closes the connection (an invalid message is a protocol error)."""
    try:
        data = sock.recv(1 << 16)
    except ConnectionResetError:
        return
    assert data == b"", data


def desktop_file_validate(path):
    tool = shutil.which("desktop-file-validate")
    if not tool:
        print("desktop-file-validate not installed: entry not validated by it")
        return
    r = subprocess.run([tool, str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and "error" not in r.stdout, r.stdout + r.stderr


def test_cli():
    b = str(cicerone_binary())
    assert subprocess.run([b, "--help"], capture_output=True).returncode == 0
    r = subprocess.run([b, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and "cicerone" in r.stdout
    assert subprocess.run([b, "--bogus"], capture_output=True).returncode == 2
    assert subprocess.run([b, "extra"], capture_output=True).returncode == 2


def test_control_socket_mode_and_second_instance(cic):
    assert (cic.control_path.stat().st_mode & 0o777) == 0o600
    r = subprocess.run([str(cicerone_binary())], env=cic.env, capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "Another cicerone" in r.stderr
    assert cic.alive()
    # VmStarted is idempotent.
    cic.vm_started()


def test_unknown_and_missing_token_refused(cic):
    forged = "tok_" + "F" * 32
    with cic.garcon() as g:
        msg = expect_error(cic.call(g, CONTAINER_READY, ready(forged)), EPERM)
        assert "unknown token" in msg
        expect_error(cic.call(g, OPEN_URL, pb_bytes(1, forged) + pb_bytes(2, "https://example.org")), EPERM)
    with cic.garcon() as g:
        g.sendall(frame(CONTAINER_READY, REQUEST, 1, pb_varint(2, 10042)))  # no token: invalid
        expect_closed(g)
    assert cic.opens() == []
    log = cic.log.read_text()
    assert "refused" in log and "unknown token" in log
    assert forged not in log and TOKEN not in log


def test_token_bound_to_connection(cic):
    cic.put_token("other", TOKEN2)
    with cic.garcon() as g:
        expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
        # Another container's (valid) token on penguin's connection.
        expect_error(cic.call(g, APP_LIST, app_list(TOKEN2, [app("x", "X")])), EPERM)
    assert not cic.entry("x", "other").exists() and not cic.entry("x").exists()


def test_app_list_entries_icons_and_removal(cic):
    with cic.garcon() as g:
        expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
        apps = [app("org.gnome.gedit", "Text Editor", "Edit text files", ["text/plain", "text/x-c"], wm="gedit"),
                app("xterm", "XTerm", no_display=True)]
        expect_empty(cic.call(g, APP_LIST, app_list(TOKEN, apps)))
        e = cic.entry("org.gnome.gedit")
        text = e.read_text()
        bistro = build_dir() / "src/bistro/bistro"
        assert f"Exec={bistro} --app org.gnome.gedit --vm {VM} --container penguin %U\n" in text
        assert "Name=Text Editor (penguin)\n" in text
        assert "Comment=Edit text files\n" in text
        assert "MimeType=text/plain;text/x-c;\n" in text
        assert "StartupWMClass=gedit\n" in text
        assert "X-Bistro-VM=termina\nX-Bistro-Container=penguin\nX-Bistro-App=org.gnome.gedit\n" in text
        assert "Icon=" not in text and "TryExec" not in text and "DBusActivatable" not in text
        x = cic.entry("xterm").read_text()
        assert "NoDisplay=true\n" in x and "StartupWMClass=xterm\n" in x
        desktop_file_validate(e)
        desktop_file_validate(cic.entry("xterm"))

        expect_empty(cic.call(g, APP_ICONS, icons(TOKEN, "org.gnome.gedit", [(48, png(48)), (0, SVG)])))
        assert cic.icon("org.gnome.gedit", 48).read_bytes() == png(48)
        assert cic.icon("org.gnome.gedit", 0).read_bytes() == SVG
        assert "Icon=bistro-termina-penguin-org.gnome.gedit\n" in e.read_text()
        desktop_file_validate(e)
        # Icons only for an app of the list; bad icons refused.
        expect_error(cic.call(g, APP_ICONS, icons(TOKEN, "nope", [(48, png(48))])), ENOENT)
        assert not cic.icon("nope", 48).exists()
        bad = [(48, png(32)), (64, png(64, declared=65)),
               (0, b'<svg><!ENTITY x SYSTEM "file:///etc/passwd"></svg>'),
               (0, b'<svg><image href="file:///etc/passwd"/></svg>'), (0, b"<svg>\0</svg>"), (32, b"GIF89a" * 20)]
        for size, data in bad:
            t, _ = cic.call(g, APP_ICONS, icons(TOKEN, "xterm", [(size, data)]))
            assert t == ERROR_REPLY
        assert not any(cic.icon("xterm", s).exists() for s in (0, 32, 48, 64))

        # The new list drops gedit: its entry and icons go.
        expect_empty(cic.call(g, APP_LIST, app_list(TOKEN, [apps[1]])))
        assert not e.exists()
        assert not cic.icon("org.gnome.gedit", 48).exists() and not cic.icon("org.gnome.gedit", 0).exists()
        assert cic.entry("xterm").exists()


def test_hostile_entries(cic, tmp_path):
    target = tmp_path / "target"
    target.write_text("precious\n")
    cic.apps.mkdir(parents=True)
    os.symlink(target, cic.entry("evil"))
    icon_dir = cic.data / "icons/hicolor/48x48/apps"
    icon_dir.mkdir(parents=True)
    os.symlink(target, cic.icon("evil", 48))
    with cic.garcon() as g:
        expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
        # Shell metacharacters in the texts go nowhere near Exec.
        hostile = app("evil", "Evil; rm -rf ~ $(touch /tmp/pwned) `id`", "Exec=/bin/sh -c 'curl x|sh' %u",
                      ["text/plain"])
        expect_empty(cic.call(g, APP_LIST, app_list(TOKEN, [hostile])))
        expect_empty(cic.call(g, APP_ICONS, icons(TOKEN, "evil", [(48, png(48))])))
    assert target.read_text() == "precious\n"
    assert not cic.entry("evil").is_symlink() and not cic.icon("evil", 48).is_symlink()
    text = cic.entry("evil").read_text()
    execs = [line for line in text.splitlines() if line.startswith("Exec=")]
    assert execs == [f"Exec={build_dir() / 'src/bistro/bistro'} --app evil --vm {VM} --container penguin %U"]
    desktop_file_validate(cic.entry("evil"))

    def closed_after(payload_type, payload):
        with cic.garcon() as g:
            expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
            g.sendall(frame(payload_type, REQUEST, 99, payload))
            expect_closed(g)

    before = sorted(p.name for p in cic.apps.iterdir())
    # An id with shell metacharacters, names with control characters: invalid, nothing written.
    closed_after(APP_LIST, app_list(TOKEN, [app("a;rm -rf", "A")]))
    closed_after(APP_LIST, app_list(TOKEN, [app("ctl", "Bad\x1b]52;c;AAAA\x07name")]))
    closed_after(APP_LIST, app_list(TOKEN, [app("ctl2", "line\nbreak")]))
    closed_after(APP_LIST, app_list(TOKEN, [app("../../x", "X")]))
    # 10,000 entries: over the list's cap.
    closed_after(APP_LIST, app_list(TOKEN, [app(f"app{i}", f"App {i}") for i in range(10000)]))
    # A 10 MiB icon: over the frame cap (the header alone is refused).
    with cic.garcon() as g:
        expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
        big = icons(TOKEN, "evil", [(48, b"\x89PNG" + b"\0" * (10 << 20))])
        try:
            g.sendall(frame(APP_ICONS, REQUEST, 5, big))
        except (BrokenPipeError, ConnectionResetError):
            pass
        expect_closed(g)
    assert sorted(p.name for p in cic.apps.iterdir()) == before
    assert cic.icon("evil", 48).read_bytes() == png(48)
    assert cic.alive()
    for p in cic.data.rglob("*"):
        if p.is_file():
            assert p.name.startswith("bistro-termina-penguin-") or p.name.endswith(".cache") or \
                p.name == "mimeinfo.cache", p


def test_open_url(cic):
    with cic.garcon() as g:
        expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
        expect_empty(cic.call(g, OPEN_URL, pb_bytes(1, TOKEN) + pb_bytes(2, "https://example.org/a?b=c&d")))
        deadline = time.monotonic() + 10
        while not cic.opens() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert cic.opens() == ["https://example.org/a?b=c&d"]
    for bad in ("file:///etc/passwd", "javascript:alert(1)", "https://x y", "ftp://example.org"):
        with cic.garcon() as g:
            g.sendall(frame(OPEN_URL, REQUEST, 1, pb_bytes(1, TOKEN) + pb_bytes(2, bad)))
            expect_closed(g)
    time.sleep(0.5)
    assert cic.opens() == ["https://example.org/a?b=c&d"]
    assert cic.alive()
    assert "refused an invalid message (bad URL" in cic.log.read_text()


def test_open_url_burst_throttled(cic):
    req = pb_bytes(1, TOKEN) + pb_bytes(2, "https://example.org/")
    ok = busy = 0
    with cic.garcon() as g:
        expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
        g.sendall(b"".join(frame(OPEN_URL, REQUEST, 1000 + i, req) for i in range(1000)))
        for _ in range(1000):
            t, _, _, body = recv_frame(g)
            if t == EMPTY:
                ok += 1
            else:
                assert error_of(body)[0] == -EBUSY
                busy += 1
    assert ok <= 10 and busy >= 990, (ok, busy)
    time.sleep(1.5)
    assert 1 <= len(cic.opens()) <= 10
    assert "rate limit" in cic.log.read_text()


class FakeVm:
    """The VM's hybrid vsock socket with a fake garcon behind guest port `port`."""

    def __init__(self, cic, port, token):
        self.path = cic.rdir / "vms" / VM / "vsock.sock"
        self.port, self.token = port, token
        self.launched = []
        self.scales = []  # LaunchApplicationRequest.scale_percent, 0 when absent
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.path))
        self.sock.listen(4)
        self.sock.settimeout(15)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            line = b""
            while not line.endswith(b"\n"):
                line += recv_exact(conn, 1)
            if line != b"CONNECT %d\n" % self.port:
                conn.sendall(b"ERR nobody\n")
                return
            conn.sendall(b"OK 1234\n")
            t, mid, _, _ = recv_frame(conn)
            assert t == GARCON_HELLO
            conn.sendall(frame(GARCON_HELLO_RESPONSE, RESPONSE, mid, pb_bytes(1, self.token)))
            try:
                t, mid, _, body = recv_frame(conn)
            except EOFError:
                return
            assert t == LAUNCH_APPLICATION
            f = pb_parse(body)
            self.launched.append((f[1][0].decode(), [u.decode() for u in f.get(3, [])]))
            self.scales.append(f.get(4, [0])[-1])
            conn.sendall(frame(EMPTY, RESPONSE, mid))

    def close(self):
        self.sock.close()
        self.thread.join(5)
        self.path.unlink(missing_ok=True)


def launch_req(app_id, uris=(), wait_ms=0, container="penguin"):
    b = pb_bytes(1, VM) + pb_bytes(2, container) + pb_bytes(3, app_id)
    for u in uris:
        b += pb_bytes(4, u)
    return b + pb_varint(5, wait_ms)


def test_launch_application(cic):
    fake = FakeVm(cic, 10042, TOKEN)
    try:
        with cic.garcon() as g:
            expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN, 10042)))
            expect_empty(cic.control_call(CICERONE_LAUNCH, launch_req("xterm", ["https://example.org/"])))
        fake.thread.join(5)
        assert fake.launched == [("xterm", ["https://example.org/"])]
    finally:
        fake.close()


def test_launch_waits_for_ready(cic):
    fake = FakeVm(cic, 10043, TOKEN)
    try:
        with cic.control() as ctl:
            ctl.sendall(frame(CICERONE_LAUNCH, REQUEST, 7, launch_req("xterm", wait_ms=10000)))
            time.sleep(0.5)
            with cic.garcon() as g:
                expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN, 10043)))
                t, mid, _, body = recv_frame(ctl)
                assert mid == 7 and t == EMPTY, error_of(body)
        fake.thread.join(5)
        assert fake.launched == [("xterm", [])]
    finally:
        fake.close()


def test_launch_not_ready_times_out(cic):
    t0 = time.monotonic()
    msg = expect_error(cic.control_call(CICERONE_LAUNCH, launch_req("xterm", wait_ms=700)), ETIMEDOUT)
    assert 0.6 < time.monotonic() - t0 < 5
    assert "container penguin's garcon did not come up within 1 s" in msg


def test_launch_wrong_garcon_refused(cic):
    fake = FakeVm(cic, 10044, "tok_" + "W" * 32)
    try:
        with cic.garcon() as g:
            expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN, 10044)))
            msg = expect_error(cic.control_call(CICERONE_LAUNCH, launch_req("xterm")), EPERM)
        assert "is not the garcon of container penguin" in msg and "10044" in msg
        assert fake.launched == []
    finally:
        fake.close()


def test_vm_stopped_forgets_ready(cic):
    with cic.garcon() as g:
        expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
    expect_empty(cic.control_call(VM_STOPPED, pb_bytes(1, VM)))
    assert not cic.guest_path.exists()
    expect_error(cic.control_call(CICERONE_LAUNCH, launch_req("xterm")), ETIMEDOUT)


def test_restart_keeps_entries_and_vmc_apps(cic):
    with cic.garcon() as g:
        expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
        expect_empty(cic.call(g, APP_LIST, app_list(TOKEN, [app("xterm", "XTerm"), app("vim", "Vi IMproved")])))
    cic.stop(signal.SIGKILL)
    assert cic.entry("xterm").exists() and cic.entry("vim").exists()
    cic.start()  # the stale control socket is replaced
    cic.vm_started()  # concierge re-sends VmStarted; the stale 8889 socket is replaced too
    with cic.garcon() as g:
        expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
    assert cic.entry("xterm").exists() and cic.entry("vim").exists()

    r = subprocess.run([str(vmc_binary()), "apps"], env=cic.env, capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["VM", "CONTAINER", "APP", "NAME"]
    assert lines[1].split()[:3] == [VM, "penguin", "vim"] and "Vi IMproved (penguin)" in lines[1]
    assert lines[2].split()[:3] == [VM, "penguin", "xterm"]
    r = subprocess.run([str(vmc_binary()), "apps", VM, "penguin", "--json"], env=cic.env, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert [(a["vm"], a["container"], a["app"], a["name"]) for a in j] == [
        (VM, "penguin", "vim", "Vi IMproved (penguin)"), (VM, "penguin", "xterm", "XTerm (penguin)")]
    assert j[0]["path"] == str(cic.entry("vim"))
    r = subprocess.run([str(vmc_binary()), "apps", VM, "nosuch", "--json"], env=cic.env, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0 and json.loads(r.stdout) == []
    r = subprocess.run([str(vmc_binary()), "apps", "../x"], env=cic.env, capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 2


def test_icon_budget_per_container(cic):
    """32 MiB of icons per container at most; re-sending an app's icons replaces them, not adds."""
    sizes = (16, 24, 32, 48, 64, 128)
    big = {sz: png(sz, pad=250 * 1024) for sz in sizes}
    with cic.garcon() as g:
        expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
        expect_empty(cic.call(g, APP_LIST, app_list(TOKEN, [app(f"a{i}", f"A{i}") for i in range(30)])))
        for _ in range(2):
            for i in range(30):
                t, body = cic.call(g, APP_ICONS, icons(TOKEN, f"a{i}", [(sz, big[sz]) for sz in sizes]))
                assert t in (EMPTY, ERROR_REPLY)
    total = sum(p.stat().st_size for p in (cic.data / "icons").rglob("*.png"))
    assert 20 << 20 < total <= 32 << 20, total
    assert "over 32 MiB of icons" in cic.log.read_text()
    assert cic.alive()


def test_name_collision_refused(cic):
    """bistro-termina-b-c-d is container b's app c-d or container b-c's app d: the first keeps it."""
    cic.put_token("b", TOKEN2)
    cic.put_token("b-c", TOKEN)
    with cic.garcon() as g:
        expect_empty(cic.call(g, APP_LIST, app_list(TOKEN, [app("d", "Real")])))
        expect_empty(cic.call(g, APP_ICONS, icons(TOKEN, "d", [(48, png(48))])))
    path = cic.entry("d", "b-c")
    with cic.garcon() as g:
        t, _ = cic.call(g, APP_LIST, app_list(TOKEN2, [app("c-d", "Squatter")]))
        assert t == ERROR_REPLY
        t, _ = cic.call(g, APP_ICONS, icons(TOKEN2, "c-d", [(48, png(48, pad=10))]))
        assert t == ERROR_REPLY
        # b's empty list removes nothing of b-c's.
        expect_empty(cic.call(g, APP_LIST, app_list(TOKEN2, [])))
    text = path.read_text()
    assert "Name=Real (b-c)" in text and "X-Bistro-Container=b-c" in text
    assert cic.icon("d", 48, "b-c").read_bytes() == png(48)


def test_launches_bounded(cic):
    with cic.control() as ctl:
        ctl.sendall(b"".join(frame(CICERONE_LAUNCH, REQUEST, 100 + i, launch_req("xterm", wait_ms=60000))
                             for i in range(70)))
        busy = 0
        for _ in range(6):
            t, mid, _, body = recv_frame(ctl)
            assert t == ERROR_REPLY and error_of(body)[0] == -EBUSY
            busy += 1
    assert cic.alive()


def test_connections_bounded_per_container(cic):
    """One container holds at most 8 connections: the VM's 64 stay available to the others."""
    cic.put_token("other", TOKEN2)
    held = []
    try:
        for _ in range(8):
            g = cic.garcon()
            held.append(g)
            expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
        g = cic.garcon()
        held.append(g)
        g.sendall(frame(CONTAINER_READY, REQUEST, 1, ready(TOKEN)))
        try:
            while g.recv(1 << 16):
                pass
        except ConnectionResetError:
            pass
        with cic.garcon() as o:
            expect_empty(cic.call(o, CONTAINER_READY, ready(TOKEN2)))
        held.pop().close()
        held.pop().close()  # one of penguin's: a new one is accepted again (once cicerone saw the close)
        deadline = time.monotonic() + 10
        while True:
            with cic.garcon() as g2:
                try:
                    if cic.call(g2, CONTAINER_READY, ready(TOKEN))[0] == EMPTY:
                        break
                except (EOFError, ConnectionResetError):
                    pass
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        for g in held:
            g.close()
    assert "already has 8" in cic.log.read_text()

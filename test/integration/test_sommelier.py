# SPDX-License-Identifier: LGPL-2.1-or-later
"""sommelier, the container side of Wayland apps (docs/design/sommelier.md, "The container side"),
end to end under TCG in penguin (Debian 12, systemd, garcon as alice's user service), without the
host's Wayland gate: the test itself listens on the VM's hybrid vsock port 7100
(<runtime>/vsock.sock_7100, where vsockd sends the guest's connections to host port 7100).

Checks: garcon starts sommelier as alice, with its socket in /run/user/1000 (0600); a client
connection to that socket (what waypipe's server end makes for each Wayland client) becomes one
vsock stream whose first frame is WaylandConnectRequest with penguin's token (the one on the host
under $XDG_RUNTIME_DIR/bistro/tokens), and after EMPTY the bytes go both ways, half-closes
included; an ErrorReply closes the client; killing sommelier gets it restarted by garcon; alice's
vsh sessions get XDG_RUNTIME_DIR and the GUI variables. With the waypipe bundle in the image,
wayland-info's connection to $XDG_RUNTIME_DIR/wayland-0 reaches the host the same way.

The test bodies take a "penguin" fixture so that they can move into the shared desktop VM module.
Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (default tcg), BISTRO_IMAGE_STORE.
"""

import os
import shlex
import socket
import threading
import time

import pytest

from concierge_helpers import require_built, image_store, Concierge, bistro, bistro_ok
from guestproto import REQUEST, RESPONSE, EMPTY, ERROR_REPLY, frame, recv_frame, pb_fields, pb_varint, pb_bytes

FIRST_TIMEOUT = 1800
USER = "alice"
WAYLAND_CONNECT = 405
RUNTIME = "/run/user/1000"


class FakeGate:
    """The host's Wayland gate as far as sommelier can tell: one stream per client, the request
    first. mode "echo": EMPTY, then everything read is sent back after "pong:" once the client's
    EOF came. mode "refuse": an ErrorReply."""

    def __init__(self, path):
        if os.path.exists(path):
            os.unlink(path)  # no gate in this tree yet; a stale socket from a crashed run
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(16)
        self.mode = "echo"
        self.seen = []  # (type, flags, token, bytes relayed)
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def close(self):
        self.sock.close()
        if os.path.exists(self.path):
            os.unlink(self.path)

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()

    def conn(self, c):
        c.settimeout(60)
        try:
            mtype, mid, flags, payload = recv_frame(c)
            token = pb_fields(payload).get(1, b"").decode()
            if self.mode == "refuse":
                c.sendall(frame(ERROR_REPLY, RESPONSE, mid,
                                pb_varint(1, -19) + pb_bytes(2, "no Wayland session on the host")))
                with self.lock:
                    self.seen.append((mtype, flags, token, None))
                return
            c.sendall(frame(EMPTY, RESPONSE, mid))
            data = b""
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
            c.sendall(b"pong:" + data)
            c.shutdown(socket.SHUT_WR)
            with self.lock:
                self.seen.append((mtype, flags, token, data))
        except (EOFError, OSError):
            pass
        finally:
            c.close()

    def wait(self, n, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.seen) >= n:
                    return list(self.seen)
            time.sleep(0.1)
        with self.lock:
            return list(self.seen)


@pytest.fixture(scope="module")
def cc():
    require_built("src/bistro/bistro", "src/concierge/concierge", "src/vmc/vmc", "src/vsh/vsh",
                  "src/vmm/vmm", "src/garcon/garcon", "src/sommelier/sommelier")
    store = image_store()
    if not ((store / "debian.tar.zst").exists() and (store / "debian.json").exists()):
        pytest.skip(f"no debian image in {store} (sudo image/containers/build-debian.sh)")
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(store)})
    yield c
    c.cleanup()
    assert not c.alive(), "processes left behind"


def sh(cc, script, user=USER, **kw):
    return bistro(cc, "--user", user, "--", "sh", "-c", script, **kw)


def sommelier_pid(cc):
    r = sh(cc, f"pgrep -u {USER} -x sommelier")
    return r.stdout.split()[0] if r.returncode == 0 and r.stdout.split() else None


@pytest.fixture(scope="module")
def penguin(cc):
    bistro_ok(cc, "--user", USER, "--", "true", timeout=FIRST_TIMEOUT)
    deadline = time.monotonic() + 180
    while sommelier_pid(cc) is None:
        assert time.monotonic() < deadline, "sommelier never started\n" + sh(
            cc, "journalctl --user -u bistro-garcon --no-pager | tail -30").stdout + cc.diagnostics()
        time.sleep(1)
    gate = FakeGate(f"{cc.runtime('termina') / 'vsock.sock'}_7100")
    cc.gate = gate
    yield cc
    gate.close()


# A raw client of sommelier's socket, as waypipe's server end is for each Wayland client: sends,
# half-closes, prints what came back. perl-base is in every Debian; the image has no python3.
CLIENT = ("perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => \"" + RUNTIME +
          "/bistro-waypipe.sock\") or die \"connect: $!\"; print $s \"%s\"; shutdown($s, 1); "
          "local $/; my $r = <$s>; print \"GOT:\" . (defined $r ? $r : \"\") . \"\\n\"'")


def test_sommelier_runs_as_the_default_user(penguin):
    r = sh(penguin, f"stat -c '%U %a %F' {RUNTIME} {RUNTIME}/bistro-waypipe.sock; "
                    "ps -o user=,args= -p $(pgrep -u alice -x sommelier)")
    lines = r.stdout.splitlines()
    assert lines[0] == f"{USER} 700 directory", r.stdout
    assert lines[1] == f"{USER} 600 socket", r.stdout
    assert lines[2].split()[0] == USER and "/opt/bistro/bin/sommelier" in lines[2], r.stdout


def test_stream_carries_the_token_then_bytes_both_ways(penguin):
    gate = penguin.gate
    n = len(gate.seen)
    r = sh(penguin, CLIENT % "ping-from-penguin", timeout=120)
    assert "GOT:pong:ping-from-penguin" in r.stdout, r.stdout + r.stderr
    seen = gate.wait(n + 1, 10)
    mtype, flags, token, data = seen[n]
    assert mtype == WAYLAND_CONNECT and flags == REQUEST
    want = (penguin.run_dir / "bistro/tokens/termina/penguin").read_text().strip()
    assert token == want
    assert data == b"ping-from-penguin"


def test_streams_in_parallel(penguin):
    gate = penguin.gate
    n = len(gate.seen)
    script = " ".join(f"({CLIENT % f'client-{i}'} > /tmp/somm-par-{i}) &" for i in range(4))
    r = sh(penguin, script + " wait; cat /tmp/somm-par-*; rm -f /tmp/somm-par-*", timeout=120)
    for i in range(4):
        assert f"GOT:pong:client-{i}" in r.stdout, r.stdout + r.stderr
    assert len(gate.wait(n + 4, 10)) >= n + 4
    # each stream's child is gone once both sides closed: only sommelier itself is left
    deadline = time.monotonic() + 20
    while True:
        left = sh(penguin, f"pgrep -u {USER} -x sommelier").stdout.split()
        if len(left) == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(left) == 1, left


def test_error_reply_closes_the_client(penguin):
    gate = penguin.gate
    gate.mode = "refuse"
    try:
        n = len(gate.seen)
        t0 = time.monotonic()
        r = sh(penguin, CLIENT % "refused", timeout=120)
        took = time.monotonic() - t0
        assert "pong" not in r.stdout, r.stdout
        assert len(gate.wait(n + 1, 10)) == n + 1
        assert took < 60, took
        r = sh(penguin, CLIENT % "refused-again", timeout=120)
        assert "pong" not in r.stdout, r.stdout
        assert len(gate.wait(n + 2, 10)) == n + 2
    finally:
        gate.mode = "echo"
    # the refusal is in garcon's journal once, not once per client
    # (the system journal: penguin's journal is volatile, and alice may not read it unprivileged)
    log = sh(penguin, "journalctl --no-pager -o cat _SYSTEMD_USER_UNIT=bistro-garcon.service", user="root").stdout
    assert "Started /opt/bistro/bin/sommelier" in log, log
    assert log.count("could not reach the host: no Wayland session on the host") == 1, log
    r = sh(penguin, CLIENT % "after-refusal", timeout=120)
    assert "GOT:pong:after-refusal" in r.stdout, r.stdout + r.stderr


def test_garcon_restarts_sommelier(penguin):
    old = sommelier_pid(penguin)
    assert old
    sh(penguin, f"kill -9 {old}")
    deadline = time.monotonic() + 60
    new = None
    while time.monotonic() < deadline:
        new = sommelier_pid(penguin)
        if new and new != old:
            break
        time.sleep(0.5)
    assert new and new != old, "sommelier not restarted"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = sh(penguin, CLIENT % "after-restart", timeout=120)
        if "GOT:pong:after-restart" in r.stdout:
            break
        time.sleep(1)
    assert "GOT:pong:after-restart" in r.stdout, r.stdout + r.stderr


def test_gui_env_in_vsh_sessions(penguin):
    r = bistro_ok(penguin, "--user", USER, "--", "env")
    env = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert env.get("XDG_RUNTIME_DIR") == RUNTIME, r.stdout
    assert env.get("WAYLAND_DISPLAY") == "wayland-0", r.stdout
    assert env.get("GDK_BACKEND") == "wayland,x11", r.stdout
    assert env.get("QT_QPA_PLATFORM") == "wayland;xcb", r.stdout
    # root is not penguin's default user: no GUI list (its sommelier is alice's)
    r = bistro_ok(penguin, "--user", "root", "--", "env")
    assert "WAYLAND_DISPLAY=" not in r.stdout, r.stdout


def test_wayland_client_through_waypipe(penguin):
    if sh(penguin, "test -x /opt/bistro/lib/waypipe/waypipe").returncode != 0:
        pytest.skip("no waypipe bundle in this Termina image (/opt/bistro/lib/waypipe): the bundle is another part")
    gate = penguin.gate
    n = len(gate.seen)
    sh(penguin, f"XDG_RUNTIME_DIR={RUNTIME} timeout 20 wayland-info", timeout=120)
    seen = gate.wait(n + 1, 20)
    assert len(seen) > n and seen[n][0] == WAYLAND_CONNECT, seen

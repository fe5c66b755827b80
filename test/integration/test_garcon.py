# SPDX-License-Identifier: LGPL-2.1-or-later
"""garcon in a real container (docs/design/garcon.md), without cicerone: a fake cicerone listens on
the VM's hybrid vsock port 8889 (<runtime>/vsock.sock_8889, where vsockd sends the guest's
connections to host port 8889), answers EMPTY and records what arrives. The real Termina image
under TCG, a busybox container (any distro: garcon is static), garcon started in it as root (busybox has no default user, and the token file is
root's).

Checks: the static binary runs on busybox; ContainerReady carries the container's real token and
a port in 10000-19999; the list has the container's desktop file; a desktop file added later is
listed within 5 s (about 1 s measured); bistro-open sends OpenUrl and refuses file://; the host (CID 2, through vsockd)
gets the token from GarconHello and LaunchApplication starts the app in the container.

Skipped when cicerone itself owns port 8889 (a real cicerone would answer instead of the fake).

Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (default tcg), BISTRO_IMAGE_STORE.
"""

import shlex
import socket
import threading
import time
from pathlib import Path

import pytest

from concierge_helpers import require_built, image_store, Concierge
from guestproto import (REQUEST, RESPONSE, EMPTY, ERROR_REPLY, frame, recv_frame, pb_bytes, pb_parse,
                        pb_fields, hybrid_connect, error_of)

STORE = image_store()
LXC = "/mnt/stateful/lxc"
CONTAINER_READY, CONTAINER_SHUTDOWN, OPEN_URL, APP_LIST, APP_ICONS = 400, 401, 402, 403, 404
LAUNCH_APPLICATION, GARCON_HELLO, GARCON_HELLO_RESPONSE = 420, 421, 450
CICERONE_VM_STOPPED = 701


class FakeCicerone:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(16)
        self.frames = []  # (type, fields)
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.conn, args=(c,), daemon=True).start()

    def conn(self, c):
        try:
            while True:
                mtype, mid, flags, payload = recv_frame(c)
                with self.lock:
                    self.frames.append((mtype, pb_parse(payload), time.monotonic()))
                c.sendall(frame(EMPTY, RESPONSE, mid))
        except (EOFError, OSError):
            c.close()

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                for f in self.frames:
                    if pred(f):
                        return f
            time.sleep(0.1)
        return None


def app_ids(fields):
    return {pb_parse(a)[1][0].decode() for a in fields.get(2, [])}


@pytest.fixture(scope="module")
def cc():
    require_built("src/concierge/concierge", "src/vmc/vmc", "src/tremplin/tremplin", "src/garcon/garcon",
                  "test/tools/maitred-client")
    if not (STORE / "busybox.tar.zst").exists():
        pytest.skip(f"no busybox image in {STORE}")
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(STORE)}).start()
    r = c.vmc("start", "termina")
    assert r.returncode == 0, r.stderr + c.diagnostics()
    take_port_8889_from_cicerone(c)
    yield c
    c.cleanup()


def take_port_8889_from_cicerone(cc):
    """concierge's cicerone listens on the VM's host port 8889; this module puts a fake one there to
    see garcon's every frame. cicerone's own control call VmStopped makes it let go of the port
    (concierge tells it again only at the VM's next start)."""
    listen = Path(f"{cc.runtime('termina') / 'vsock.sock'}_8889")
    deadline = time.monotonic() + 30
    while not listen.exists():
        assert time.monotonic() < deadline, "cicerone did not listen on port 8889\n" + cc.diagnostics()
        time.sleep(0.1)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(cc.run_dir / "bistro/cicerone.sock"))
    s.sendall(frame(CICERONE_VM_STOPPED, REQUEST, 1, pb_bytes(1, "termina")))
    mtype, mid, flags, payload = recv_frame(s)
    s.close()
    assert mtype == EMPTY and mid == 1, (mtype, payload)
    assert not listen.exists()


def attach(cc, name, script):
    return cc.guest_sh("termina", f"/usr/bin/lxc-attach -n {name} -P {LXC} -- /bin/sh -c {shlex.quote(script)}")


def test_garcon_in_busybox(cc):
    hybrid = cc.runtime("termina") / "vsock.sock"
    fake = FakeCicerone(f"{hybrid}_8889")
    r = cc.vmc("container", "termina", "g1", "--image", "busybox")
    assert r.returncode == 0, r.stderr + cc.diagnostics()

    assert attach(cc, "g1", "/opt/bistro/bin/garcon --version") == 0
    assert attach(cc, "g1", "test -L /opt/bistro/bin/bistro-open") == 0
    assert attach(cc, "g1", "/opt/bistro/bin/bistro-open file:///etc/passwd") == 2
    assert attach(cc, "g1", "/opt/bistro/bin/bistro-open 'javascript:alert(1)'") == 2
    assert attach(cc, "g1", "/opt/bistro/bin/bistro-open https://example.org/a") == 0
    f = fake.wait(lambda f: f[0] == OPEN_URL, 10)
    assert f and f[1][2][0] == b"https://example.org/a"
    token = f[1][1][0].decode()
    assert attach(cc, "g1", f'test "$(cat /dev/.container_token)" = {shlex.quote(token)}') == 0

    assert attach(cc, "g1", "mkdir -p /usr/share/applications && printf '[Desktop Entry]\\nType=Application\\n"
                            "Name=Hello\\nExec=touch /tmp/launched %%F\\n' > /usr/share/applications/hello.desktop") == 0
    # One attach runs garcon and everything in the container; the host side acts meanwhile through
    # the fake cicerone and vsockd. (A garcon left running in the background by one attach while
    # other attaches ran did not start in our tries; this shape works.)
    script = (
        "HOME=/root /opt/bistro/bin/garcon --server >/tmp/g.log 2>&1 & p=$!; sleep 5; "
        "printf '[Desktop Entry]\\nType=Application\\nName=Later\\nExec=true\\n' "
        "> /usr/share/applications/later.desktop; /opt/bistro/bin/bistro-open https://mark/written; "
        "i=0; while ! test -e '/tmp/second file' && test $i -lt 60; do sleep 0.5; i=$((i+1)); done; "
        "test -e /tmp/launched || exit 3; kill $p; wait $p")
    result = {}
    runner = threading.Thread(target=lambda: result.update(rc=attach(cc, "g1", script)), daemon=True)
    runner.start()

    ready = fake.wait(lambda f: f[0] == CONTAINER_READY, 30)
    assert ready, "no ContainerReady"
    assert ready[1][1][0].decode() == token
    port = ready[1][2][0]
    assert 10000 <= port <= 19999
    # (bistro-init --supervise started a garcon of the container's default user too, at the
    # container's start, before hello existed: its first list may be empty.)
    lst = fake.wait(lambda f: f[0] == APP_LIST and "hello" in app_ids(f[1]), 30)
    assert lst and app_ids(lst[1]) == {"hello"}
    mark = fake.wait(lambda f: f[0] == OPEN_URL and f[1][2][0] == b"https://mark/written", 30)
    assert mark, "the script did not write the new desktop file"
    lst = fake.wait(lambda f: f[0] == APP_LIST and "later" in app_ids(f[1]), 5)
    assert lst, "the new desktop file was not listed within 5 s"
    print(f"new desktop file listed {lst[2] - mark[2]:.2f} s after it was written")

    # The host side: GarconHello, then LaunchApplication on the same connection.
    s = hybrid_connect(hybrid, port, timeout=30)
    s.sendall(frame(GARCON_HELLO, REQUEST, 1))
    mtype, mid, flags, payload = recv_frame(s)
    assert mtype == GARCON_HELLO_RESPONSE and mid == 1
    assert pb_fields(payload)[1].decode() == token
    s.sendall(frame(LAUNCH_APPLICATION, REQUEST, 3, pb_bytes(1, "nope")))
    mtype, mid, flags, payload = recv_frame(s)
    assert mtype == ERROR_REPLY and error_of(payload)[0] == -2
    s.sendall(frame(LAUNCH_APPLICATION, REQUEST, 2, pb_bytes(1, "hello") + pb_bytes(2, "/tmp/second file")))
    mtype, mid, flags, payload = recv_frame(s)
    assert mtype == EMPTY, error_of(payload) if mtype == ERROR_REPLY else mtype
    s.close()

    # The script saw the launched files, then stopped garcon: ContainerShutdown, exit 0.
    runner.join(60)
    assert result.get("rc") == 0, result
    assert fake.wait(lambda f: f[0] == CONTAINER_SHUTDOWN, 10), "no ContainerShutdown"
    r = cc.vmc("container-stop", "termina", "g1")
    assert r.returncode == 0, r.stderr

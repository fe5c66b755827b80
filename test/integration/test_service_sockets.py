# SPDX-License-Identifier: LGPL-2.1-or-later
"""No container can impersonate a Termina service (docs/design/maitred.md, "Service sockets").

vsock ignores network namespaces: a process in a container that binds vsock port 9001 while vshd is
down receives the host's vsh sessions (8890: tremplin's image streams and tokens; 9002: port
forwarding). maitred therefore listens on those ports itself from boot to power-off and passes each
socket to its service at every (re)start. Checked here on the real Termina image under TCG, with one
busybox container holding test/tools/vsock-port-probe:

- who holds the listening sockets (only maitred and each service's main process), and that nothing
  maitred's services start (sessions, workers, containers) inherits them or LISTEN_*;
- a bind loop in the container around a SIGKILL and respawn of each service: every bind of 8890,
  9001 and 9002 fails with EADDRINUSE, and the probe counts attempts made while the service was
  gone (no attempts there: the run proves nothing and fails);
- a connection queued while a service is stopped (SIGSTOP) and then killed is served by the
  respawned service;
- services given up by maitred's respawn limit: the ports stay maitred's (EADDRINUSE from the
  container, while a port of garcon's range binds), host connections are closed at once, and a
  LaunchProcess of the service gets the socket back.

Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (default tcg), BISTRO_IMAGE_STORE.
"""

import errno
import gzip
import io
import re
import shlex
import subprocess
import tarfile
import time

import pytest

from concierge_helpers import require_built, image_store, Concierge, build_dir
from guestproto import EMPTY, REQUEST, RESPONSE, frame, hybrid_connect, pb_bytes, pb_fields, recv_frame

STORE = image_store()
LXC = "/mnt/stateful/lxc"
CT = "sockct"
ROOTFS = f"{LXC}/{CT}/rootfs"
GUEST_CID = 3  # src/vmm/vmm.c
SERVICES = {"tremplin": 8890, "vshd": 9001, "port-listener": 9002}
MAITRED_PORT = 8888
FREE_PORT = 10001  # garcon's range (10000-19999): a container may bind it
WAIT = 120  # seconds: TCG on a busy machine; nothing here is a timing assertion

# Message types (proto/common.proto) for the requests queued in test_queued_connection_served.
SETUP_CONNECTION_REQUEST, SETUP_CONNECTION_RESPONSE = 300, 301
TREMPLIN_LIST_CONTAINERS_REQUEST, TREMPLIN_LIST_CONTAINERS_RESPONSE = 505, 551
WATCH_PORTS_REQUEST = 600


def probe_path():
    return build_dir() / "test/tools/vsock-port-probe"


@pytest.fixture(scope="module")
def probe_image(tmp_path_factory):
    """busybox.tar.zst + /probe, as a .tar.gz file."""
    src = STORE / "busybox.tar.zst"
    if not src.exists():
        pytest.skip(f"no busybox image in {STORE} (image/containers/build-busybox.sh makes it)")
    if not probe_path().exists():
        pytest.fail(f"{probe_path()} missing: build the tree first")
    out = tmp_path_factory.mktemp("probe") / "busybox-sockprobe.tar.gz"
    tar_bytes = subprocess.run(["zstd", "-dc", str(src)], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tin, gzip.open(out, "wb") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tout:
        for m in tin.getmembers():
            tout.addfile(m, tin.extractfile(m) if m.isfile() else None)
        info = tarfile.TarInfo("probe")
        info.size = probe_path().stat().st_size
        info.mode = 0o755
        with open(probe_path(), "rb") as f:
            tout.addfile(info, f)
    return out


@pytest.fixture(scope="module")
def cc(probe_image):
    require_built("src/concierge/concierge", "src/vmc/vmc", "src/vsh/vsh", "src/vshd/vshd", "src/tremplin/tremplin",
                  "src/port-listener/port-listener", "test/tools/maitred-client")
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(STORE)}).start()
    r = c.vmc("start", "termina")
    assert r.returncode == 0, r.stderr + c.diagnostics()
    r = c.vmc("container", "termina", CT, "--image", str(probe_image))
    assert r.returncode == 0, f"vmc container: {r.stderr}\n" + c.diagnostics()
    yield c
    c.cleanup()
    assert not c.alive(), "processes left behind"


# -- helpers

def vsh(cc, *args, input=None, timeout=WAIT):
    return subprocess.run([str(build_dir() / "src/vsh/vsh"), *args], env=cc.env, capture_output=True, text=True,
                          input=input, timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)


def attach(cc, script):
    """Exit code of script run by /bin/sh in the container (as its root), through lxc-attach launched by
    maitred: works while vshd is down."""
    return cc.guest_sh("termina", f"/usr/bin/lxc-attach -n {CT} -P {LXC} -- /bin/sh -c {shlex.quote(script)}")


def guest_probe(cc, *args):
    """Exit code of the probe run in the VM (not the container) as root, through maitred."""
    return cc.guest_sh("termina", " ".join([f"{ROOTFS}/probe", *args]))


def maitred_launch(cc, *argv):
    r = subprocess.run([str(build_dir() / "test/tools/maitred-client"), "call", "--vsock",
                        str(cc.runtime("termina") / "vsock.sock"), "--timeout", "100", "launch", *argv],
                       capture_output=True, text=True, timeout=WAIT)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def console(cc):
    try:
        return (cc.runtime("termina") / "console.log").read_text(errors="replace")
    except OSError:
        return ""


def wait_console(cc, pattern, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if re.search(pattern, console(cc)):
            return True
        time.sleep(0.5)
    return False


def holders(cc):
    """({port: {(pid, ppid, comm)}} of listening vsock sockets, [(pid, comm, exe)] with LISTEN_* in
    their environment), seen from the VM."""
    r = vsh(cc, "termina", "--", f"{ROOTFS}/probe", "holders")
    assert r.returncode == 0, r.stderr
    listen, env = {}, []
    for line in r.stdout.splitlines():
        w = line.split()
        if w[0] == "listen":
            listen.setdefault(int(w[4]), set()).add((int(w[1]), int(w[2]), w[3]))
        elif w[0] == "env":
            env.append((int(w[1]), w[3], w[4]))
    return listen, env


def service_mains(listen):
    """{service: pid} of the process named like the service, child of maitred, that listens on its port."""
    return {name: pid for name, port in SERVICES.items() for pid, ppid, comm in listen.get(port, set())
            if ppid == 1 and comm == name}


def check_holders(cc):
    """Each service port: held by maitred (PID 1) and by the main process of its service, nobody
    else. Returns {service: main pid}."""
    listen, env = holders(cc)
    mains = {}
    for name, port in SERVICES.items():
        held = listen.get(port, set())
        assert any(h[0] == 1 for h in held), f"maitred does not hold port {port}: {listen}"
        others = {h for h in held if h[0] != 1}
        assert len(others) == 1, f"port {port} held by {others}, expected only {name}'s main process"
        pid, ppid, comm = others.pop()
        assert ppid == 1 and comm == name, f"port {port} held by {comm} ({pid}, parent {ppid})"
        mains[name] = pid
    assert {h[0] for h in listen.get(MAITRED_PORT, set())} == {1}, listen.get(MAITRED_PORT)
    # LISTEN_* stays in the services' own startup environment block (and so in their forked, not
    # exec'd, workers and sessions): nothing they exec, no container process, has it.
    for pid, comm, exe in env:
        assert exe in {f"/usr/sbin/{n}" for n in SERVICES}, f"{comm} ({pid}, {exe}) has LISTEN_* in its environment"
    return mains


def bind_code(cc, port, cid=None):
    return attach(cc, f"/probe bind {port}" + (f" {cid}" if cid is not None else ""))


def service_answers(cc, name):
    """One request to the service over the VM's hybrid vsock socket: True when it answered."""
    try:
        s = hybrid_connect(cc.runtime("termina") / "vsock.sock", SERVICES[name], 30)
    except OSError:
        return False
    with s:
        try:
            send_request(s, name)
            return check_answer(s, name)
        except (OSError, EOFError):
            return False


def send_request(s, name):
    if name == "vshd":
        # argv sh -c "exit 0" in the VM (Termina has dash and no coreutils: no true(1)).
        argv = pb_bytes(4, "sh") + pb_bytes(4, "-c") + pb_bytes(4, "exit 0")
        s.sendall(frame(SETUP_CONNECTION_REQUEST, REQUEST, 5, argv))
    elif name == "tremplin":
        s.sendall(frame(TREMPLIN_LIST_CONTAINERS_REQUEST, REQUEST, 5))
    else:
        s.sendall(frame(WATCH_PORTS_REQUEST, REQUEST, 5))


def check_answer(s, name):
    mtype, mid, flags, payload = recv_frame(s)
    assert mid == 5 and flags == RESPONSE, (mtype, mid, flags)
    if name == "vshd":
        assert mtype == SETUP_CONNECTION_RESPONSE and pb_fields(payload).get(1) == 1, (mtype, payload)  # READY
    elif name == "tremplin":
        assert mtype == TREMPLIN_LIST_CONTAINERS_RESPONSE, mtype
    else:
        assert mtype == EMPTY, mtype
    return True


def wait_answers(cc, name):
    deadline = time.monotonic() + WAIT
    while not service_answers(cc, name):
        assert time.monotonic() < deadline, f"{name} does not answer\n" + cc.diagnostics()
        time.sleep(1)


# -- tests

def test_sockets_owned_by_maitred_and_passed(cc):
    check_holders(cc)
    for name, port in SERVICES.items():
        assert re.search(rf"{name}(\[\d+\])?: Using the socket for vsock port {port} passed by the service manager\.",
                         console(cc)), name
    # Neither a session in the VM nor one in the container sees the variables.
    for where in (["termina"], ["--user", "root", "termina", CT]):
        r = vsh(cc, *where, "--", "sh", "-c", 'echo "[${LISTEN_FDS-}][${LISTEN_PID-}][${LISTEN_FDNAMES-}]"')
        assert r.returncode == 0 and r.stdout == "[][][]\n", (where, r.stdout, r.stderr)


def test_bind_fails_across_restarts(cc):
    """SIGKILL and respawn of each service while the container tries to bind all three ports."""
    before = service_mains(holders(cc)[0])
    assert set(before) == set(SERVICES), before
    p = subprocess.Popen([str(build_dir() / "src/vsh/vsh"), "--user", "root", "termina", CT, "--", "/probe",
                          "bindloop", "/root/bl.count", str(FREE_PORT), *map(str, SERVICES.values())],
                         env=cc.env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # "ready": the probe bound a free port, so a failing bind below is not the probe's own fault.
        assert p.stdout.readline() == "ready\n", p.communicate(timeout=WAIT)
        codes = {name: guest_probe(cc, "restart", name, f"{ROOTFS}/root/bl.count") for name in SERVICES}
        out, err = p.communicate(timeout=WAIT)  # closes stdin: the loop ends
    finally:
        p.kill()
        p.wait()
    seen = {name: attach_read(cc, f"/root/bl.count.{name}") for name in SERVICES}
    print(seen)  # rounds of the bind loop while each service was down
    assert codes == {name: 0 for name in SERVICES}, (codes, seen, "23: no bind attempt while the service was down")
    assert p.returncode == 0 and "bound=0 other=0" in out, (out, err, seen)
    m = re.search(r"rounds=(\d+) inuse=(\d+)", out)
    assert m and int(m.group(2)) == 3 * int(m.group(1)), out
    # Each service is back, with the same sockets, and serves.
    for name in SERVICES:
        wait_answers(cc, name)
    after = check_holders(cc)
    for name in SERVICES:
        assert after[name] != before[name], (name, before, after)
    r = vsh(cc, "--user", "root", "termina", CT, "--", "echo", "ok")
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr


def attach_read(cc, path):
    """The first line of a file in the container, through vsh (diagnostics only)."""
    r = vsh(cc, "--user", "root", "termina", CT, "--", "cat", path)
    return r.stdout.strip() if r.returncode == 0 else f"({path}: {r.stderr.strip()})"


@pytest.mark.parametrize("name", list(SERVICES))
def test_queued_connection_served(cc, name):
    """A connection made while the service is stopped waits in maitred's socket through the
    service's death and is served by the respawned one (without maitred's socket, the kill closes the
    listener and resets it)."""
    wait_answers(cc, name)
    assert guest_probe(cc, "signal", name, "19") == 0  # SIGSTOP
    try:
        s = hybrid_connect(cc.runtime("termina") / "vsock.sock", SERVICES[name], WAIT)
    except BaseException:
        guest_probe(cc, "signal", name, "18")
        raise
    with s:
        send_request(s, name)
        assert guest_probe(cc, "restart", name, "-") == 0
        assert check_answer(s, name)


def test_given_up_services_keep_their_ports(cc):
    """Each service killed until maitred gives it up: the port stays maitred's for good."""
    for name in SERVICES:
        assert guest_probe(cc, "giveup", name) == 0, name
        assert wait_console(cc, rf"Service '{name}' respawned 10 times in 30 s, giving up\."), name

    # Binding works in the container (a port of garcon's range, on any CID and on the VM's), so the
    # failures below are the ports', not the probe's.
    assert bind_code(cc, FREE_PORT) == 0
    assert bind_code(cc, FREE_PORT + 1, GUEST_CID) == 0
    for port in SERVICES.values():
        assert bind_code(cc, port) == errno.EADDRINUSE, port
        assert bind_code(cc, port, GUEST_CID) == errno.EADDRINUSE, port
    for name, port in SERVICES.items():
        assert wait_console(cc, rf"Service '{name}' is not running: refusing connections to vsock port {port}\.")

    # The host is refused cleanly: the connection ends at once instead of hanging.
    for name, port in SERVICES.items():
        s = hybrid_connect(cc.runtime("termina") / "vsock.sock", port, WAIT)
        with s:
            try:
                send_request(s, name)
                assert s.recv(1) == b"", name
            except (BrokenPipeError, ConnectionResetError):
                pass  # closed before or while the request went out
    t0 = time.monotonic()
    r = vsh(cc, "termina", "--", "true")
    assert r.returncode == 255 and time.monotonic() - t0 < 50, (r.stderr, time.monotonic() - t0)

    # Started again by LaunchProcess, each service gets its socket back.
    for name in SERVICES:
        maitred_launch(cc, "--respawn", "--", f"/usr/sbin/{name}")
        wait_answers(cc, name)
    check_holders(cc)
    r = vsh(cc, "--user", "root", "termina", CT, "--", "echo", "ok")
    assert r.returncode == 0 and r.stdout == "ok\n", r.stderr

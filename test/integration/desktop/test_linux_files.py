# SPDX-License-Identifier: LGPL-2.1-or-later
"""\"Linux files\" (#13 item 2): `bistro files` mounts penguin's home (as alice, uid 1000) on the host
through sshfs -o passive over the sftp stream cicerone gets from garcon. What penguin writes is read
on the host, what the host writes lands owned by alice, sftp-server runs as alice, bad input fails
clearly, a stopped VM leaves no hung mount and `bistro files` brings it back; garcon refuses
GarconOpenSftp on a connection that has not asked for its token (GarconHello)."""

import errno
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest


from concierge_helpers import build_dir
from guestproto import REQUEST, RESPONSE, EMPTY, ERROR_REPLY, frame, recv_frame, hybrid_connect, error_of

from .conftest import USER, in_penguin

GARCON_HELLO, GARCON_OPEN_SFTP, GARCON_HELLO_RESPONSE = 421, 422, 450
RESTART_TIMEOUT = 1200  # the VM boots again under TCG
SSH_FXP_INIT, SSH_FXP_VERSION = 1, 2

pytestmark = pytest.mark.skipif(shutil.which("sshfs") is None or shutil.which("fusermount3") is None,
                                reason="the host has no sshfs or fusermount3 (tools/bootstrap.sh installs them)")


@pytest.fixture(scope="module")
def host(fcc):
    """A host home of its own, so that ~/Bistro is the test's; its mount is removed at the end."""
    home = fcc.root / "hosthome"
    home.mkdir(exist_ok=True)
    env = dict(fcc.env, HOME=str(home))
    fcc.files_env = env
    fcc.mnt = home / "Bistro" / "penguin"
    yield fcc
    if mounted(fcc.mnt):
        subprocess.run(["fusermount3", "-u", "-z", str(fcc.mnt)], check=False)


def files(cc, *args, timeout=900):
    r = subprocess.run([str(build_dir() / "src/bistro/bistro"), "files", *args], env=cc.files_env,
                       capture_output=True, text=True, timeout=timeout)
    cc.track()
    return r


def files_ok(cc, *args, **kw):
    r = files(cc, *args, **kw)
    assert r.returncode == 0, f"bistro files {' '.join(args)} failed ({r.returncode}):\n{r.stderr}\n" + \
        cc.diagnostics()
    return r


def mounted(path):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == str(path) for line in f)


def stat_in_child(path, timeout=10):
    """os.stat of path in a child process, bounded: a hung FUSE mount would block us forever.
    Returns 'ok', or the errno name; fails when the stat does not return in time."""
    code = f"import os,errno\ntry:\n os.stat({str(path)!r}); print('ok')\nexcept OSError as e:\n print(errno.errorcode[e.errno])"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    return r.stdout.strip()


def test_files_reads_penguin_home(host):
    in_penguin(host, "printf 'from penguin\\n' > ~/lf-hello.txt && mkdir -p ~/lf-dir && echo x > ~/lf-dir/a")
    r = files_ok(host)
    assert "Mounted" in r.stderr, r.stderr
    assert mounted(host.mnt)
    assert (host.mnt / "lf-hello.txt").read_text() == "from penguin\n"
    assert "lf-hello.txt" in os.listdir(host.mnt) and "lf-dir" in os.listdir(host.mnt)
    assert (host.mnt / "lf-dir" / "a").read_text() == "x\n"
    # idmap=user: alice's files are ours on the host.
    assert os.stat(host.mnt / "lf-hello.txt").st_uid == os.getuid()
    with open("/proc/self/mountinfo") as f:
        line = next(li for li in f if li.split()[4] == str(host.mnt))
    assert " fuse.sshfs bistro:termina/penguin " in line, line
    assert "allow_other" not in line, line

    # Again: already mounted, exit 0, nothing changes.
    r = files_ok(host)
    assert "already" in r.stderr, r.stderr


def test_files_write_lands_as_alice(host):
    if not mounted(host.mnt):
        files_ok(host)
    (host.mnt / "from-host.txt").write_text("written on the host\n")
    (host.mnt / "lf-sub").mkdir(exist_ok=True)
    (host.mnt / "lf-sub" / "b").write_bytes(b"\0" * 70000)
    r = in_penguin(host, "stat -c '%u %U %s' ~/from-host.txt ~/lf-sub/b && cat ~/from-host.txt")
    lines = r.stdout.splitlines()
    assert lines[0] == f"1000 {USER} 20", r.stdout
    assert lines[1] == f"1000 {USER} 70000", r.stdout
    assert lines[2] == "written on the host", r.stdout
    # A rename and an unlink through the mount are seen in penguin.
    os.rename(host.mnt / "from-host.txt", host.mnt / "renamed.txt")
    os.unlink(host.mnt / "lf-sub" / "b")
    in_penguin(host, "test -f ~/renamed.txt && ! test -e ~/from-host.txt && ! test -e ~/lf-sub/b")


def test_sftp_server_runs_as_alice(host):
    if not mounted(host.mnt):
        files_ok(host)
    os.listdir(host.mnt)
    r = in_penguin(host, "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = sftp-server ] && "
                         "stat -c '%U %u' $p; done; true", user="root")
    owners = r.stdout.split("\n")
    owners = [o for o in owners if o]
    assert owners, "no sftp-server in penguin"
    assert all(o == f"{USER} 1000" for o in owners), owners


def test_files_bad_input(host):
    r = files(host, "--container", "nosuch")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "nosuch" in r.stderr, r.stderr
    r = files(host, "--unmount", "--mountpoint", str(host.root / "not-mounted"))
    assert r.returncode == 1 and "Nothing is mounted" in r.stderr, (r.returncode, r.stderr)
    r = files(host, "--bogus")
    assert r.returncode == 2, (r.returncode, r.stderr)
    r = files(host, "--mountpoint", "relative/dir")
    assert r.returncode == 2 and "absolute" in r.stderr, (r.returncode, r.stderr)
    r = files(host, "--container", "../x")
    assert r.returncode == 2, (r.returncode, r.stderr)


def test_unmount_busy_then_clean(host):
    if not mounted(host.mnt):
        files_ok(host)
    busy = subprocess.Popen(["sleep", "60"], cwd=host.mnt)
    try:
        r = files(host, "--unmount")
        assert r.returncode == 1 and "busy" in r.stderr, (r.returncode, r.stderr)
        assert mounted(host.mnt)
    finally:
        busy.kill()
        busy.wait()
    r = files_ok(host, "--unmount")
    assert "Unmounted" in r.stderr, r.stderr
    assert not mounted(host.mnt)
    r = files(host, "--unmount")
    assert r.returncode == 1, r.stderr


def garcon_conn(cc):
    """A connection to penguin's garcon through the VM's hybrid vsock (the first garcon port)."""
    vsock = cc.runtime("termina") / "vsock.sock"
    for port in range(10000, 10010):
        try:
            s = hybrid_connect(vsock, port, timeout=20)
        except (ConnectionError, OSError):
            continue
        s.sendall(frame(GARCON_HELLO, REQUEST, 1))
        mtype, mid, flags, payload = recv_frame(s)
        s.close()
        if mtype == GARCON_HELLO_RESPONSE:
            return port
    raise AssertionError("no garcon answered on ports 10000-10009")


def test_garcon_refuses_sftp_without_hello(host):
    port = garcon_conn(host)
    vsock = host.runtime("termina") / "vsock.sock"
    s = hybrid_connect(vsock, port, timeout=20)
    s.sendall(frame(GARCON_OPEN_SFTP, REQUEST, 7))
    mtype, mid, flags, payload = recv_frame(s)
    assert (mtype, mid, flags) == (ERROR_REPLY, 7, RESPONSE)
    err, msg = error_of(payload)
    assert err == -errno.EPERM and "GarconHello" in msg, (err, msg)
    s.close()

    # With the hello first: EMPTY, then the stream is sftp (SSH_FXP_INIT -> SSH_FXP_VERSION).
    s = hybrid_connect(vsock, port, timeout=20)
    s.sendall(frame(GARCON_HELLO, REQUEST, 1))
    assert recv_frame(s)[0] == GARCON_HELLO_RESPONSE
    s.sendall(frame(GARCON_OPEN_SFTP, REQUEST, 2))
    assert recv_frame(s)[:3] == (EMPTY, 2, RESPONSE)
    s.sendall((5).to_bytes(4, "big") + bytes([SSH_FXP_INIT]) + (3).to_bytes(4, "big"))
    hdr = s.recv(5, socket.MSG_WAITALL)
    assert len(hdr) == 5 and hdr[4] == SSH_FXP_VERSION, hdr
    s.close()


def wait_unmounted(cc, timeout=30):
    """The mount goes within seconds, and a stat of the mountpoint never hangs meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and mounted(cc.mnt):
        assert stat_in_child(cc.mnt) in ("ok", "ENOTCONN")
        time.sleep(0.2)
    t = time.monotonic()
    res = stat_in_child(cc.mnt)
    assert time.monotonic() - t < 10
    assert not mounted(cc.mnt), f"sshfs did not unmount ({res})"


def test_container_stop_leaves_no_hung_mount(host):
    if not mounted(host.mnt):
        files_ok(host)
    assert (host.mnt / "lf-hello.txt").exists()
    host.vmc("container-stop", "termina", "penguin", check=True, timeout=300)
    wait_unmounted(host)
    # bistro files starts penguin again.
    files_ok(host, timeout=RESTART_TIMEOUT)
    assert (host.mnt / "lf-hello.txt").read_text() == "from penguin\n"


def test_vm_stop_leaves_no_hung_mount(host):
    if not mounted(host.mnt):
        files_ok(host)
    assert (host.mnt / "lf-hello.txt").exists()
    host.vmc("stop", "termina", check=True, timeout=300)
    # No hung FUSE mount: within seconds the mount is gone, or answers ENOTCONN.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and mounted(host.mnt):
        time.sleep(0.2)
    t = time.monotonic()
    res = stat_in_child(host.mnt)
    assert time.monotonic() - t < 10
    assert not mounted(host.mnt) or res == "ENOTCONN", res
    assert not mounted(host.mnt), "sshfs did not unmount after the VM stopped"

    # bistro files starts the VM and penguin again and mounts once more.
    files_ok(host, timeout=RESTART_TIMEOUT)
    assert (host.mnt / "lf-hello.txt").read_text() == "from penguin\n"
    files_ok(host, "--unmount")
    # Leave penguin as we found it.
    in_penguin(host, "rm -rf ~/lf-hello.txt ~/lf-dir ~/lf-sub ~/renamed.txt ~/from-host.txt")

# SPDX-License-Identifier: LGPL-2.1-or-later
"""vsockd's sandbox: the seccomp filter really refuses, and the running daemon has no capabilities,
no_new_privs, a seccomp filter, and a root that is only its socket directory."""

import os
import signal
import socket
import subprocess
import tempfile

import pytest

from conftest import Vm, have_vsockd, vsockd_binary

pytestmark = pytest.mark.skipif(not have_vsockd(), reason="vsockd not built")


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def test_seccomp_selftest_is_killed():
    """--seccomp-selftest installs the real filter, then calls socket(AF_INET): SIGSYS."""
    p = subprocess.run([str(vsockd_binary()), "--seccomp-selftest"], capture_output=True, timeout=60)
    assert p.returncode == -signal.SIGSYS, (p.returncode, p.stderr.decode(errors="replace"))
    assert b"NOT effective" not in p.stderr


def _listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(4)
    return s


def test_sandbox_fails_closed():
    """If the sandbox cannot be set up (here: the socket directory does not exist), vsockd exits
    non-zero before it would serve anything."""
    d = tempfile.mkdtemp(prefix="vsockd-sb-")
    a, b = _listening(os.path.join(d, "vu.sock")), _listening(os.path.join(d, "v.sock"))
    r, w = os.pipe()
    try:
        p = subprocess.run([str(vsockd_binary()), "--vhost-user-fd", str(a.fileno()), "--listen-fd", str(b.fileno()),
                            "--uds-path", "/nonexistent-dir-for-vsockd/v.sock", "--guest-cid", "3",
                            "--ready-fd", str(w)],
                           pass_fds=(a.fileno(), b.fileno(), w), capture_output=True, timeout=60)
        os.close(w)
        assert p.returncode != 0
        assert os.read(r, 16) == b""  # never said READY
        assert b"sandbox" in p.stderr
    finally:
        os.close(r)
        a.close()
        b.close()


def test_running_vsockd_is_confined(test_image):
    v = Vm(test_image)
    v.start()
    try:
        v.wait_ready()
        pid = v.vsockd_pid()
        assert pid
        st = proc_status(pid)
        assert int(st["CapEff"], 16) == 0
        assert int(st["CapPrm"], 16) == 0
        assert int(st["CapBnd"], 16) == 0
        assert st["NoNewPrivs"] == "1"
        assert st["Seccomp"] == "2"
        root = f"/proc/{pid}/root"
        # Its root is an empty tmpfs with the VM's runtime directory at /sock, nothing else (sanitizer
        # builds also get /proc, which LeakSanitizer needs).
        assert not os.path.exists(root + "/etc/passwd")
        assert set(os.listdir(root)) in ({"sock"}, {"sock", "proc"})
        assert os.path.exists(root + "/sock/vsock.sock")
        assert set(os.listdir(root + "/sock")) <= set(os.listdir(v.runtime_dir))
        with pytest.raises(OSError):
            open(root + "/sock/x", "w")  # read-only, even for a process with our uid
        # Own network namespace: no way to the host's network even if a call slipped through.
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")
        # And it still works.
        s = v.connect(5000)
        with s:
            s.sendall(b"hi")
            s.shutdown(socket.SHUT_WR)
            assert s.recv(10) == b"hi"
    finally:
        v.cleanup()


@pytest.mark.parametrize("args", [
    ["--bogus"],
    [],  # --vhost-user-fd, --listen-fd and --uds-path are required
    ["--vhost-user-fd", "2", "--listen-fd", "4", "--uds-path", "/tmp/x"],  # fds below 3
    ["--vhost-user-fd", "3", "--listen-fd", "4", "--uds-path", "relative"],
    ["--vhost-user-fd", "3", "--listen-fd", "4", "--uds-path", "/" + "a" * 90],  # 91 bytes
    ["--vhost-user-fd", "3", "--listen-fd", "4", "--uds-path", "/tmp/x", "--guest-cid", "2"],
    ["--vhost-user-fd", "3", "--listen-fd", "4", "--uds-path", "/tmp/x", "extra"],
])
def test_bad_usage_exits_2(args):
    p = subprocess.run([str(vsockd_binary()), *args], capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip(), "a usage error says what is wrong"


def test_usage_at_the_limits_is_accepted():
    """A 90-byte --uds-path and CID 3 pass the argument checks; fd 3 is then not a listening
    socket, which is a failure (1), not a usage error."""
    p = subprocess.run([str(vsockd_binary()), "--vhost-user-fd", "3", "--listen-fd", "4",
                        "--uds-path", "/" + "a" * 89, "--guest-cid", "3"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p.stderr
    assert "not a listening socket" in p.stderr

# SPDX-License-Identifier: LGPL-2.1-or-later
"""vsh end to end (docs/design/vsh.md): the real vsh on the host, vshd in the real Termina image under
TCG, a private concierge driven through vmc. VM-shell tests use only dash builtins (Termina has no
coreutils); container tests use a busybox container made with `vmc container termina NAME --image
busybox` (skipped when the image store has no busybox image).

Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (default tcg), BISTRO_IMAGE_STORE (default
~/.local/share/bistro/images/containers).
"""

import fcntl
import hashlib
import os
import pty
import re
import select
import signal
import struct
import subprocess
import termios
import threading
import time

import pytest

from concierge_helpers import require_built, image_store, Concierge, build_dir, image_dir

STORE = image_store()
CT = "vshbb"
MIB = 1024 * 1024


def vsh_path():
    return str(build_dir() / "src/vsh/vsh")


@pytest.fixture(scope="module")
def cc():
    require_built("src/concierge/concierge", "src/vmc/vmc", "src/vsh/vsh", "src/vshd/vshd")
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(STORE)}).start()
    r = c.vmc("start", "termina")
    assert r.returncode == 0, r.stderr + c.diagnostics()
    yield c
    c.cleanup()
    assert not c.alive(), "processes left behind"


@pytest.fixture(scope="module")
def bb(cc):
    """A running busybox container."""
    if not (STORE / "busybox.tar.zst").exists():
        pytest.skip(f"no busybox image in {STORE} (image/containers/build-busybox.sh makes it)")
    r = cc.vmc("container", "termina", CT, "--image", "busybox")
    assert r.returncode == 0, f"vmc container: {r.stderr}\n" + cc.diagnostics()
    return CT


def vsh(cc, *args, input=None, timeout=120, text=True):
    return subprocess.run([vsh_path(), *args], env=cc.env, capture_output=True, text=text, input=input,
                          timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)


# --- the VM itself (dash builtins only) ---------------------------------------------------------

@pytest.mark.parametrize("code", [0, 1, 42])
def test_exit_codes(cc, code):
    r = vsh(cc, "termina", "--", "sh", "-c", f"exit {code}")
    assert r.returncode == code, r.stderr


def test_killed_by_signal(cc):
    r = vsh(cc, "termina", "--", "sh", "-c", "kill -9 $$")
    assert r.returncode == 128 + 9, r.stderr


def test_stdout_stderr_separate(cc):
    r = vsh(cc, "termina", "--", "sh", "-c", "echo out; echo err >&2; echo out2")
    assert r.returncode == 0
    assert r.stdout == "out\nout2\n"
    assert r.stderr == "err\n"


def test_stdin_eof_reaches_remote(cc):
    r = vsh(cc, "termina", "--", "sh", "-c", "n=0; while read l; do n=$((n+1)); done; echo lines=$n",
            input="a\nb\nc\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "lines=3\n"


def test_vm_shell(cc):
    """No command: root's login shell (dash) in the VM, reading the script from stdin."""
    r = vsh(cc, "termina", input='echo "user=$USER home=$HOME shell=$SHELL"; echo "$0"; exit 7\n')
    assert r.returncode == 7, r.stderr
    assert "user=root home=/root shell=/bin/sh" in r.stdout
    assert "-sh" in r.stdout


def test_env_and_cwd_in_vm(cc):
    r = vsh(cc, "--env", "FOO=bar baz", "--cwd", "/proc", "termina", "--", "sh", "-c", 'echo "$FOO" "$PWD"')
    assert r.returncode == 0, r.stderr
    assert r.stdout == "bar baz /proc\n"


def test_pipe_mode_forwards_sigterm(cc):
    p = subprocess.Popen([vsh_path(), "termina", "--", "sh", "-c", "echo ready; read x"], env=cc.env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert p.stdout.readline() == b"ready\n"
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 128 + signal.SIGTERM
    finally:
        p.kill()
        p.wait()


def test_errors(cc):
    r = vsh(cc, "nosuchvm", "--", "true")
    assert r.returncode == 255
    assert "VM 'nosuchvm' is not running; start it with: vmc start nosuchvm" in r.stderr
    r = vsh(cc, "termina", "nosuchcontainer", "--", "true")
    assert r.returncode == 255
    assert "no such container 'nosuchcontainer'" in r.stderr
    r = vsh(cc, "termina", "--", "/no/such/program")
    assert r.returncode == 255
    assert "cannot execute /no/such/program" in r.stderr
    r = vsh(cc, "--user", "nobodyhere", "termina", "--", "true")
    assert r.returncode == 255
    assert "no such user 'nobodyhere'" in r.stderr
    r = vsh(cc, "--cwd", "relative", "termina")
    assert r.returncode == 2 and "absolute" in r.stderr
    r = vsh(cc, "termina", "a", "b")
    assert r.returncode == 2 and "after --" in r.stderr
    r = vsh(cc)
    assert r.returncode == 2


def test_help_version(cc):
    r = vsh(cc, "--help")
    assert r.returncode == 0 and "vsh [OPTIONS] VM [CONTAINER] [-- CMD [ARGS...]]" in r.stdout
    r = vsh(cc, "--version")
    assert r.returncode == 0 and r.stdout.startswith("vsh ")


# --- a busybox container ------------------------------------------------------------------------

def test_container_shell(cc, bb):
    r = vsh(cc, "termina", bb, "--", "cat", "/etc/os-release")
    assert r.returncode == 0, r.stderr
    assert "NAME=" in r.stdout
    r = vsh(cc, "termina", bb, input="echo hi from $(hostname); exit 3\n")
    assert r.returncode == 3, r.stderr
    assert r.stdout.startswith("hi from ")


def test_container_exit_status(cc, bb):
    r = vsh(cc, "termina", bb, "--", "sh", "-c", "echo o; echo e >&2; exit 42")
    assert (r.returncode, r.stdout, r.stderr) == (42, "o\n", "e\n")
    r = vsh(cc, "termina", bb, "--", "sh", "-c", "kill -9 $$")
    assert r.returncode == 137


def add_vshuser(cc, bb):
    """vshuser (uid 1001, groups 1001 and vshgrp 1500) in the container, once."""
    r = vsh(cc, "termina", bb, "--", "sh", "-c",
            "grep -q '^vshuser:' /etc/passwd || { echo 'vshuser:x:1001:1001::/home/vshuser:/bin/sh' >> /etc/passwd"
            " && echo 'vshuser:x:1001:' >> /etc/group && echo 'vshgrp:x:1500:root,vshuser' >> /etc/group"
            " && mkdir -p /home/vshuser && chown 1001:1001 /home/vshuser; }")
    assert r.returncode == 0, r.stderr


def test_user_cwd_env(cc, bb):
    r = vsh(cc, "--user", "root", "--cwd", "/tmp", "--env", "FOO=bar", "termina", bb, "--",
            "sh", "-c", 'echo "$(id -u) $(pwd) $FOO $USER $HOME"')
    assert r.returncode == 0, r.stderr
    assert r.stdout == "0 /tmp bar root /root\n"
    # A user made in the container runs with its own uid, groups and home.
    add_vshuser(cc, bb)
    r = vsh(cc, "--user", "vshuser", "termina", bb, "--", "sh", "-c", 'echo "$(id -u) $(id -g) $PWD $USER"; id -G')
    assert r.returncode == 0, r.stderr
    first, groups = r.stdout.splitlines()
    assert first == "1001 1001 /home/vshuser vshuser"
    assert sorted(groups.split()) == ["1001", "1500"]
    r = vsh(cc, "--user", "nobodyhere", "termina", bb, "--", "true")
    assert r.returncode == 255
    assert f"no such user 'nobodyhere' in container '{bb}'" in r.stderr


def test_large_in_and_out(cc, bb):
    """100 MiB in (checksummed in the container) and 100 MiB through cat and back, no loss."""
    data = hashlib.sha256(b"seed").digest() * (4 * MIB // 32)  # 4 MiB pattern, varied below
    chunks = [bytes([i]) + data[1:] for i in range(25)]  # 25 x 4 MiB = 100 MiB
    want = hashlib.sha256(b"".join(chunks)).hexdigest()

    def feed(p):
        for c in chunks:
            p.stdin.write(c)
        p.stdin.close()

    p = subprocess.Popen([vsh_path(), "termina", bb, "--", "sha256sum"], env=cc.env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    t = threading.Thread(target=feed, args=(p,))
    t.start()
    out = p.stdout.read()
    t.join()
    assert p.wait(timeout=120) == 0
    assert out.decode().split()[0] == want

    p = subprocess.Popen([vsh_path(), "termina", bb, "--", "cat"], env=cc.env,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    t = threading.Thread(target=feed, args=(p,))
    t.start()
    h, n = hashlib.sha256(), 0
    while True:
        b = p.stdout.read(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    t.join()
    assert p.wait(timeout=120) == 0
    assert n == 100 * MIB
    assert h.hexdigest() == want


def test_concurrent_sessions(cc, bb):
    procs = [subprocess.Popen([vsh_path(), "termina", bb, "--", "sh", "-c", f"echo $(({i} * 2))"], env=cc.env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for i in range(20)]
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert out == f"{i * 2}\n".encode()


class Tty:
    """vsh on a pty of ours (its controlling terminal), as a terminal emulator runs it."""

    def __init__(self, cc, *args, rows=24, cols=80):
        pid, fd = pty.fork()
        if pid == 0:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.execve(vsh_path(), [vsh_path(), *args], cc.env)
        self.pid, self.fd, self.buf = pid, fd, b""

    def write(self, s):
        os.write(self.fd, s.encode() if isinstance(s, str) else s)

    def expect(self, want, timeout=60):
        """Waits until want appears after what earlier expects consumed; returns True/False."""
        want = want.encode()
        deadline = time.monotonic() + timeout
        while want not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    b = os.read(self.fd, 65536)
                except OSError:
                    return False
                if not b:
                    return False
                self.buf += b
        i = self.buf.index(want)
        self.before, self.buf = self.buf[:i], self.buf[i + len(want):]
        return True

    def resize(self, rows, cols):
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def close(self):
        if self.pid:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)

    def wait(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.buf += os.read(self.fd, 65536)
            except OSError:
                pass
            p, st = os.waitpid(self.pid, os.WNOHANG)
            if p:
                self.pid = None
                return os.waitstatus_to_exitcode(st)
            time.sleep(0.05)
        return None


def test_pty_ctrl_c(cc, bb):
    t = Tty(cc, "termina", bb, "--user", "root")
    try:
        t.write("echo st''arted; sleep 1000\r")
        assert t.expect("started\r\n"), t.buf
        # ^C is byte 0x03 through the pty; the foreground job (sleep) gets SIGINT. It can race
        # with the sleep starting, so it is repeated until the shell answers.
        for _ in range(20):
            t.write(b"\x03")
            t.write("echo al''ive\r")
            if t.expect("alive\r\n", timeout=10):
                break
        else:
            pytest.fail(f"^C did not interrupt sleep: {t.buf!r}")
        t.write("exit 5\r")
        assert t.wait() == 5
    finally:
        t.close()


def test_pty_resize(cc, bb):
    t = Tty(cc, "termina", bb, "--user", "root", rows=31, cols=97)
    try:
        t.write("stty size\r")
        assert t.expect("31 97\r\n"), t.buf
        t.resize(40, 120)  # SIGWINCH to vsh -> WindowResize -> TIOCSWINSZ in the VM
        for _ in range(20):
            t.write("stty size\r")
            if t.expect("40 120\r\n", timeout=10):
                break
        else:
            pytest.fail(f"the resize did not arrive: {t.buf!r}")
        t.write("exit\r")
        assert t.wait() == 0
    finally:
        t.close()


def test_pty_is_the_containers(cc, bb):
    """A container session's pty comes from the container's own devpts (issue #12 item 8): tty and
    /proc/self/fd/0 name /dev/pts/N, the session user owns it (group tty, 0620), the container's
    /dev/pts lists it, the size is set and follows resizes, and neither the master nor the
    connection to the host is open in the container."""
    add_vshuser(cc, bb)
    t = Tty(cc, "termina", bb, "--user", "vshuser", rows=27, cols=91)
    try:
        t.write(r"""t=$(tty); echo "T=$t F=$(readlink /proc/self/fd/0) O=$(stat -c %u:%g:%a "$t")"""
                r""" S=$(stty size) U=$(id -u)"; echo "L=$(ls /dev/pts | tr '\n' ' ')";"""
                r""" echo "X=$(for f in /proc/$$/fd/*; do readlink "$f"; done | grep -c -e ptmx -e socket)";"""
                r""" echo by-n""ame > "$t"; echo e""nd""" + "\r")
        assert t.expect("end\r\n"), t.buf
        out = t.before.decode(errors="replace")
        m = re.search(r"T=(/dev/pts/(\d+)) F=(\S+) O=(\S+) S=(\d+ \d+) U=(\d+)\r\n", out)
        assert m, out
        assert m.group(3) == m.group(1), out  # ttyname() and the fd agree
        assert m.group(4) == "1001:5:620", out  # the user's, group tty
        assert (m.group(5), m.group(6)) == ("27 91", "1001"), out
        names = re.search(r"L=([0-9a-z ]*)\r\n", out).group(1).split()
        assert m.group(2) in names and "ptmx" in names, out
        assert "X=0\r\n" in out, out
        assert "by-name\r\n" in out, out  # opened by its name as the user
        t.resize(40, 120)
        for _ in range(20):
            t.write("stty size\r")
            if t.expect("40 120\r\n", timeout=10):
                break
        else:
            pytest.fail(f"the resize did not arrive: {t.buf!r}")
        t.write("exit 6\r")
        assert t.wait() == 6
    finally:
        t.close()
    # Without a pty: pipes, and no terminal.
    r = vsh(cc, "termina", bb, "--user", "vshuser", "--", "sh", "-c", "tty; echo rc=$?")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "not a tty\nrc=1\n", r.stdout
    # A VM session with a pty still gets one (from the VM's devpts).
    t = Tty(cc, "termina", "--", "sh", "-c", "test -t 0 && test -t 1 && echo v''m-tty; exit 3")
    try:
        assert t.wait() == 3
        assert b"vm-tty\r\n" in t.buf, t.buf
    finally:
        t.close()


def test_pty_terminal_restored(cc):
    """vsh puts its terminal in raw mode and restores it when it ends (here: in the VM, pty)."""
    t = Tty(cc, "termina", "--", "sh", "-c", "test -t 0 && exit 4")
    try:
        assert t.wait() == 4
        lflag = termios.tcgetattr(t.fd)[3]
        assert lflag & termios.ICANON and lflag & termios.ECHO
    finally:
        t.close()


def test_container_not_running(cc, bb):
    r = cc.vmc("container-stop", "termina", bb)
    assert r.returncode == 0, r.stderr
    try:
        r = vsh(cc, "termina", bb, "--", "true")
        assert r.returncode == 255
        assert f"container '{bb}' is not running" in r.stderr
    finally:
        r = cc.vmc("container", "termina", bb)
        assert r.returncode == 0, r.stderr
    assert vsh(cc, "termina", bb, "--", "true").returncode == 0


def test_vmc_logs_escapes_the_guest_console(cc):
    """The console log is written by the guest: an OSC 52 sequence (sets the user's clipboard) and a C1
    CSI (C2 9B) in it must reach the terminal escaped, never raw."""
    log = cc.run_dir / "bistro/vms/termina/console.log"
    assert log.exists(), cc.diagnostics()
    with open(log, "ab") as f:
        f.write(b"\r\nbefore \x1b]52;c;aGVsbG8=\x07 mid \xc2\x9b31m after\r\n")
    r = cc.vmc("logs", "termina")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "\x1b" not in out and "\x07" not in out and "\u009b" not in out, repr(out[-300:])
    assert "before \\x1b]52;c;aGVsbG8=\\x07 mid \\xc2\\x9b31m after\n" in out, repr(out[-300:])
    assert "\r" not in out, "CR LF is shown as a newline"

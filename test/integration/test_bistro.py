# SPDX-License-Identifier: LGPL-2.1-or-later
"""bistro, the Terminal, end to end under TCG with private concierge dirs: from nothing a bash in
penguin (Debian 12) in a pseudo-terminal; one command and its exit code; a second call reuses the
running VM and container; a file written in penguin survives `vmc stop termina`; without a terminal
and a command, bistro sets up, checks and exits; --user creates the user on first use.

The tests of this module share one concierge (a boot and a container create are minutes under TCG)
and run in order. The debian image comes from the real store (BISTRO_IMAGE_STORE, default
~/.local/share/bistro/images/containers); when it is absent and cannot be built (not root, no
debootstrap), the module is skipped with that reason.

Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (default tcg here), BISTRO_TERMINA_IMAGE, BISTRO_IMAGE_STORE.
"""

import os
import pty
import re
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from concierge_helpers import require_built, image_store, Concierge, build_dir, bistro, bistro_ok

FIRST_TIMEOUT = 1800  # boot + container create under TCG (+ debootstrap when the image is missing)
CALL_TIMEOUT = 600


@pytest.fixture(scope="module")
def cc():
    require_built("src/bistro/bistro", "src/concierge/concierge", "src/vmc/vmc", "src/vsh/vsh", "src/vmm/vmm")
    store = image_store()
    if not ((store / "debian.tar.zst").exists() and (store / "debian.json").exists()):
        if os.geteuid() != 0:
            pytest.skip(f"no debian image in {store}, and building it needs root "
                        "(sudo image/containers/build-debian.sh)")
        if not shutil.which("debootstrap", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            pytest.skip(f"no debian image in {store}, and debootstrap is not installed")
    # No concierge is started here: bistro must start it.
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(store)})
    yield c
    c.cleanup()
    assert not c.alive(), "processes left behind"



class PtySession:
    """bistro with a pseudo-terminal as stdin, stdout and stderr."""

    def __init__(self, cc, *args):
        self.master, slave = pty.openpty()
        env = dict(cc.env, TERM="xterm")
        self.proc = subprocess.Popen([str(build_dir() / "src/bistro/bistro"), *args], env=env,
                                     stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
        os.close(slave)
        self.out = b""

    def expect(self, pattern, timeout):
        """Reads until the regex (bytes) matches the output so far; returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(pattern, self.out)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out waiting for {pattern!r}; output:\n" +
                                     self.out.decode(errors="replace")[-4000:])
            r, _, _ = select.select([self.master], [], [], min(left, 1.0))
            if r:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # EIO: the other side is closed
                    data = b""
                if not data:
                    if self.proc.poll() is not None:
                        m = re.search(pattern, self.out)
                        if m:
                            return m
                        raise AssertionError(f"bistro exited ({self.proc.returncode}) before {pattern!r}; "
                                             "output:\n" + self.out.decode(errors="replace")[-4000:])
                    time.sleep(0.05)
                self.out += data

    def send(self, text):
        os.write(self.master, text.encode())

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            r, _, _ = select.select([self.master], [], [], 0.5)
            if r:
                try:
                    self.out += os.read(self.master, 65536)
                except OSError:
                    pass
        return self.proc.poll()

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        os.close(self.master)


def container_identity(cc):
    """(VM boot id, start time of the container's init in clock ticks since boot)."""
    r = bistro_ok(cc, "--", "sh", "-c", "cat /proc/sys/kernel/random/boot_id; cut -d' ' -f22 /proc/1/stat")
    lines = r.stdout.split()
    assert len(lines) == 2, r.stdout
    return lines[0], lines[1]


def test_terminal_from_nothing_is_bash_in_debian_12(cc):
    assert not (cc.run_dir / "bistro/concierge.sock").exists()
    s = PtySession(cc)
    try:
        # The setup steps, then the shell's prompt (Debian's: user@penguin:~#).
        s.expect(rb"Starting concierge", 30)
        s.expect(rb"Starting VM termina", 120)
        s.expect(rb"Creating container penguin from image debian", FIRST_TIMEOUT)
        s.expect(rb"Started container penguin", FIRST_TIMEOUT)
        s.expect(rb"@penguin[^\r\n]*[#$] ", 300)
        s.send("cat /etc/os-release; echo \"zero=$0 bash=$BASH_VERSION\"\n")
        s.expect(rb'VERSION_ID="12"', 120)
        m = s.expect(rb"zero=(-?[\w/]*bash) bash=(\d+\.\d+)", 60)
        assert m.group(2).startswith(b"5."), m.group(0)
        s.send("exit 3\n")
        assert s.wait(60) == 3, "the shell's exit status is bistro's"
    except AssertionError as e:
        raise AssertionError(str(e) + "\n" + cc.diagnostics()) from None
    finally:
        s.close()
    assert (cc.run_dir / "bistro/concierge.sock").exists()


def test_command_and_exit_code(cc):
    r = bistro_ok(cc, "--", "cat", "/etc/os-release")
    assert 'VERSION_ID="12"' in r.stdout
    assert 'ID=debian' in r.stdout
    r = bistro(cc, "--", "sh", "-c", "exit 42")
    assert r.returncode == 42, r.stderr
    # Arguments arrive as they are (no shell in between).
    r = bistro_ok(cc, "--", "printf", "[%s]", "a b", "$HOME", "")
    assert r.stdout == "[a b][$HOME][]"
    # A warm call does nothing but the command: no setup step is announced.
    assert "Start" not in r.stderr and "Creating" not in r.stderr, r.stderr


def test_second_call_reuses_vm_and_container(cc):
    qemu = cc.qemu_pid("termina")
    assert qemu, "no QEMU for termina"
    before = container_identity(cc)
    r = bistro_ok(cc, "--", "true")
    assert "Start" not in r.stderr, r.stderr
    assert cc.qemu_pid("termina") == qemu, "the VM was restarted"
    assert container_identity(cc) == before, "the container (or the VM) was restarted"
    names = cc.vmc("container-list", "termina", check=True).stdout
    assert "penguin" in names


def test_file_survives_vm_stop(cc):
    bistro_ok(cc, "--", "sh", "-c", "echo bistro-persist-7 > /root/bistro-test-file && sync")
    old_qemu = cc.qemu_pid("termina")
    cc.vmc("stop", "termina", check=True)
    r = bistro_ok(cc, "--", "cat", "/root/bistro-test-file")
    assert r.stdout.strip() == "bistro-persist-7"
    assert "Starting VM termina" in r.stderr and "Started container penguin" in r.stderr, r.stderr
    assert "Creating" not in r.stderr, "the container was created again"
    assert cc.qemu_pid("termina") not in (None, old_qemu)


def test_no_terminal_no_command_sets_up_and_exits(cc):
    # stdin is /dev/null: bistro must not wait for input. The timeout is the only bound.
    r = bistro(cc, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert 'VERSION_ID="12"' in r.stdout
    assert "Run 'bistro' in a terminal" in r.stdout
    assert "VM termina: was running" in r.stdout and "Container penguin: was running" in r.stdout


def test_user_is_created_on_first_use(cc):
    script = 'id -u; id -nG; echo "$HOME"; getent passwd "$(id -un)" | cut -d: -f7; sudo -n true && echo sudo-ok'
    r = bistro_ok(cc, "--user", "alice", "--", "sh", "-c", script)
    lines = r.stdout.split("\n")
    assert lines[0] == "1000", r.stdout
    assert "sudo" in lines[1].split(), r.stdout
    assert lines[2] == "/home/alice" and lines[3] == "/bin/bash" and lines[4] == "sudo-ok", r.stdout
    assert "Created user alice" in r.stderr
    # Second time: nothing to create.
    r = bistro_ok(cc, "--user", "alice", "--", "id", "-un")
    assert r.stdout.strip() == "alice" and "Created" not in r.stderr
    # A name that is a system account in Debian is refused rather than logged into.
    r = bistro(cc, "--user", "nobody", "--", "true")
    assert r.returncode == 1 and "system account" in r.stderr, r.stderr


def test_terminal_is_a_pts_of_penguin(cc):
    """In the Terminal, penguin's shell has a terminal of penguin's own devpts (issue #12 item 8):
    tty prints /dev/pts/N, the user owns it, penguin's /dev/pts lists it, and a program that opens it
    by that name works."""
    s = PtySession(cc, "--user", "alice")
    try:
        s.expect(rb"@penguin[^\r\n]*[#$] ", 300)
        s.send(r"""t=$(tty); echo "T=$t F=$(readlink /proc/self/fd/0) O=$(stat -c %U:%G:%a "$t")";"""
               r""" echo "L=$(ls /dev/pts | tr '\n' ' ')"; echo by-n""ame > "$t"; exit 0""" + "\n")
        m = s.expect(rb"T=(/dev/pts/(\d+)) F=(\S+) O=(\S+)\r\n", 120)
        assert m.group(3) == m.group(1), m.group(0)
        assert m.group(4) == b"alice:tty:620", m.group(0)
        names = s.expect(rb"L=([0-9a-z ]*)\r\n", 60).group(1).split()
        assert m.group(2) in names and b"ptmx" in names, names
        s.expect(rb"by-name\r\n", 60)
        assert s.wait(60) == 0
    except AssertionError as e:
        raise AssertionError(str(e) + "\n" + cc.diagnostics()) from None
    finally:
        s.close()


def test_bad_usage(cc):
    assert bistro(cc, "--vm", "-bad").returncode == 2
    assert bistro(cc, "--user", "Bad User", "--", "true").returncode == 2
    assert bistro(cc, "--no-such-option").returncode == 2
    r = bistro(cc, "--help")
    assert r.returncode == 0 and "Usage: bistro" in r.stdout


def test_concurrent_first_calls_start_one_concierge():
    """Six bistro calls at once with nothing running start one concierge (no VM: the Termina image
    path is missing, so every call fails at StartVm with concierge's clear error)."""
    c = Concierge(image=Path("/nonexistent/termina-image"))
    try:
        procs = [subprocess.Popen([str(build_dir() / "src/bistro/bistro"), "--", "true"], env=c.env,
                                  stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(6)]
        outs = [p.communicate(timeout=120) for p in procs]
        errs = "".join(e for _, e in outs)
        assert all(p.returncode == 1 for p in procs), errs
        assert errs.count("Starting concierge") == 1, errs
        assert errs.count("Termina image") == 6, errs
        concierges = []
        for d in os.listdir("/proc"):
            try:
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    if not f.read().split(b"\0")[0].endswith(b"concierge"):
                        continue
                with open(f"/proc/{d}/environ", "rb") as f:
                    if str(c.run_dir).encode() in f.read():
                        concierges.append(int(d))
            except (OSError, ValueError):
                pass
        assert len(concierges) == 1, concierges
    finally:
        c.cleanup()

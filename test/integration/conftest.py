# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fixtures for tests that boot real VMs: the test guest image and a running `vmm`.

Env: BISTRO_BUILD_DIR (default <repo>/build), BISTRO_ACCEL (vmm honours it; CI sets tcg).
"""

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from guestproto import hybrid_connect  # noqa: E402
from procutil import REPO, build_dir, children as _children, comm as _comm, pid_alive  # noqa: E402,F401
READY_LINE = "bistro-guest-test: ready"
BOOT_TIMEOUT = float(os.environ.get("BISTRO_BOOT_TIMEOUT", "90"))
STOP_TIMEOUT = 30.0


def vmm_binary():
    return build_dir() / "src/vmm/vmm"


def vsockd_binary():
    return build_dir() / "src/vsockd/vsockd"


def have_vsockd():
    return os.access(vsockd_binary(), os.X_OK)


def free_tcp_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_test_image():
    """Builds (or reuses) the guest test image; returns (vmlinuz, initramfs.img)."""
    guest = build_dir() / "test/guest/bistro-guest-test"
    if not guest.exists():
        pytest.fail(f"{guest} missing: build the tree first (ninja -C {build_dir()})")
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bistro"
    key = hashlib.sha256(str(build_dir()).encode()).hexdigest()[:12]
    out = cache / f"test-guest-{key}"
    subprocess.run([str(REPO / "image/test-guest/build.sh"), str(out), str(guest)], check=True)
    return out / "vmlinuz", out / "initramfs.img"


@pytest.fixture(scope="session", autouse=True)
def busybox_image():
    """The busybox container image most container tests use, in the image store they read (the
    user's, or $BISTRO_IMAGE_STORE): built once when missing (seconds, offline), so that a fresh
    machine runs those tests instead of skipping them."""
    from concierge_helpers import image_store
    store = image_store()
    if (store / "busybox.tar.zst").exists() or not os.access("/bin/busybox", os.X_OK):
        return store
    r = subprocess.run([str(REPO / "image/containers/build-busybox.sh"), str(store)], capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, "cannot build the busybox image: " + r.stderr
    return store


@pytest.fixture(scope="session")
def test_image():
    if not vmm_binary().exists():
        pytest.fail(f"{vmm_binary()} missing: build the tree first")
    return build_test_image()


class Vm:
    """One vmm process booting the test guest in a fresh runtime dir."""

    def __init__(self, image, *, accel=None, vsock=None, net=True, hostfwd=(), mem="256M", cpus=1,
                 append=None, extra_args=(), env=None):
        self.kernel, self.initrd = image
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="bistro-vm-", dir="/tmp"))
        self.vsock_path = self.runtime_dir / "vsock.sock"
        self.console_log = self.runtime_dir / "console.log"
        self.qmp_path = self.runtime_dir / "qmp.sock"
        self.log_path = self.runtime_dir.parent / (self.runtime_dir.name + ".vmm.log")
        self.vsock = have_vsockd() if vsock is None else vsock
        self.hostfwd = {}
        args = [str(vmm_binary()), "--name", "test", "--kernel", str(self.kernel),
                "--initrd", str(self.initrd), "--runtime-dir", str(self.runtime_dir),
                "--mem", mem, "--cpus", str(cpus)]
        if append:
            args += ["--append", append]
        if not self.vsock:
            args.append("--no-vsock")
        if net:
            args += ["--net", "user"]
            for guest_port in hostfwd:
                host_port = free_tcp_port()
                self.hostfwd[guest_port] = host_port
                args += ["--hostfwd", f"tcp:{host_port}:{guest_port}"]
        if accel:
            args += ["--accel", accel]
        args += list(extra_args)
        self.args = args
        self.env = dict(os.environ if env is None else env)
        self.proc = None
        self._log = None
        self._pids = set()
        self.boot_seconds = None

    # -- lifecycle

    def start(self):
        self._log = open(self.log_path, "wb")
        self.t_start = time.monotonic()
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT, env=self.env)
        return self

    def wait_ready(self, timeout=BOOT_TIMEOUT):
        """Waits for the guest's ready line on the console; fails with the logs on exit or timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._remember_pids()
            if READY_LINE in self.console_text():
                self.boot_seconds = time.monotonic() - self.t_start
                return self.boot_seconds
            if self.proc.poll() is not None:
                raise AssertionError(f"vmm exited with {self.proc.returncode} before the guest was ready\n"
                                     + self.diagnostics())
            time.sleep(0.05)
        raise AssertionError(f"guest not ready after {timeout:.0f} s\n" + self.diagnostics())

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM (graceful), then SIGKILL; never hangs. Returns vmm's exit status."""
        if self.proc is None:
            return None
        self._remember_pids()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reap_leftovers()
        if self._log:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.runtime_dir, ignore_errors=True)
        try:
            self.log_path.unlink()
        except OSError:
            pass

    def _remember_pids(self):
        if self.proc is not None:
            self._pids.update(_children(self.proc.pid))

    def _reap_leftovers(self):
        """Last resort so a broken vmm cannot leave QEMU running after a test."""
        for pid in self._pids:
            c = _comm(pid) or ""
            if pid_alive(pid) and (c == "vsockd" or c.startswith("qemu-system")):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def leftover_pids(self):
        return sorted(p for p in self._pids if pid_alive(p))

    # -- introspection

    def _child_by_comm(self, pred):
        for pid in _children(self.proc.pid):
            c = _comm(pid)
            if c and pred(c):
                self._pids.add(pid)
                return pid
        return None

    def qemu_pid(self):
        return self._child_by_comm(lambda c: c.startswith("qemu-system"))

    def vsockd_pid(self):
        return self._child_by_comm(lambda c: c == "vsockd")

    def console_text(self):
        try:
            return self.console_log.read_text(errors="replace")
        except OSError:
            return ""

    def vmm_log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def qemu_threads(self):
        """State and wait channel of each QEMU thread: tells a spinning guest from a blocked QEMU."""
        pid = self.qemu_pid() if self.proc and self.proc.poll() is None else None
        if not pid:
            return "(no QEMU)"
        out = []
        for tid in sorted(os.listdir(f"/proc/{pid}/task")):
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    stat = f.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    comm = f.read().strip()
                with open(f"/proc/{pid}/task/{tid}/wchan") as f:
                    wchan = f.read().strip()
                out.append(f"{tid} {comm}: state {stat[0]} utime {stat[11]} stime {stat[12]} wchan {wchan}")
            except OSError:
                pass
        return "\n".join(out)

    def diagnostics(self):
        return ("--- vmm log ---\n" + self.vmm_log()[-4000:] +
                "\n--- QEMU threads ---\n" + self.qemu_threads() +
                "\n--- console (tail) ---\n" + self.console_text()[-3000:])

    # -- guest access

    def connect(self, port, timeout=30):
        """A stream to guest vsock port through vsockd's hybrid socket (CONNECT handshake done)."""
        if not self.vsock:
            pytest.skip("no vsockd in this build: vsock tests need src/vsockd/vsockd")
        return hybrid_connect(self.vsock_path, port, timeout)

    def connect_tcp(self, guest_port, timeout=30):
        """A TCP stream to guest port through QEMU's hostfwd (pass hostfwd=(port,) to Vm)."""
        return socket.create_connection(("127.0.0.1", self.hostfwd[guest_port]), timeout=timeout)


@pytest.fixture
def vm_factory(test_image):
    """vm_factory(**kwargs) -> started Vm (not yet ready); all are stopped and cleaned at teardown."""
    vms = []

    def make(**kwargs):
        v = Vm(test_image, **kwargs)
        vms.append(v)
        return v.start()

    yield make
    for v in vms:
        v.cleanup()


@pytest.fixture
def vm(vm_factory):
    """A booted test guest (vsock when the build has vsockd; echo/sink/source on TCP via hostfwd)."""
    v = vm_factory(hostfwd=(5000, 5001, 5002))
    v.wait_ready()
    return v

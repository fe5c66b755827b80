# SPDX-License-Identifier: LGPL-2.1-or-later
"""vmm: boot, jail, stop, and what happens when QEMU or vsockd dies."""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

import guestproto as gp
from conftest import have_vsockd, pid_alive, vmm_binary

EXIT_SETUP, EXIT_QEMU_DIED, EXIT_VSOCKD_DIED = 1, 2, 3
OUR_SOCKETS = ("vsock.sock", "vhost-user.sock", "qmp.sock")


def kvm_unusable_reason():
    """Why vmm's "auto" would not pick KVM here (None: it would)."""
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as e:
        return f"/dev/kvm: {e.strerror}"
    os.close(fd)
    if os.path.exists("/sys/module/kvm_pvm") and not (os.path.exists("/sys/module/kvm_intel") or
                                                      os.path.exists("/sys/module/kvm_amd")):
        return "/dev/kvm is kvm_pvm (needs PVM-aware guest kernels)"
    return None


def proc_status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return [a.decode() for a in f.read().split(b"\0") if a]


def wait_exit(vm, timeout=30):
    try:
        return vm.proc.wait(timeout)
    except Exception:
        raise AssertionError("vmm did not exit\n" + vm.diagnostics())


def wait_for(pred, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return None


def assert_nothing_left(vm):
    gone = wait_for(lambda: not vm.leftover_pids(), timeout=10)
    assert gone, f"processes left behind: {vm.leftover_pids()}"
    left = [n for n in OUR_SOCKETS if (vm.runtime_dir / n).exists()]
    assert not left, f"sockets left behind: {left}"


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(20)
        self.s.connect(str(path))
        self.f = self.s.makefile("rwb")
        self._read()  # greeting
        self.execute("qmp_capabilities")

    def _read(self):
        while True:
            msg = json.loads(self.f.readline())
            if "event" not in msg:
                return msg

    def execute(self, cmd, **args):
        req = {"execute": cmd}
        if args:
            req["arguments"] = args
        self.f.write(json.dumps(req).encode() + b"\n")
        self.f.flush()
        return self._read()

    def close(self):
        self.f.close()
        self.s.close()


def test_boot_reaches_ready(vm):
    assert vm.qemu_pid() is not None
    if vm.vsock:
        assert vm.vsockd_pid() is not None
    print(f"boot to ready: {vm.boot_seconds:.2f} s")


def test_qemu_is_jailed(vm):
    pid = vm.qemu_pid()
    st = proc_status(pid)
    assert int(st["CapEff"], 16) == 0
    assert int(st["CapPrm"], 16) == 0
    assert int(st["CapBnd"], 16) == 0
    assert st["NoNewPrivs"].strip() == "1"
    assert st["Seccomp"].strip() == "2"
    for ns in ("mnt", "pid", "user", "ipc", "uts"):
        assert os.readlink(f"/proc/{pid}/ns/{ns}") != os.readlink(f"/proc/self/ns/{ns}"), ns
    root = f"/proc/{pid}/root"
    assert not os.path.exists(f"{root}/etc/shadow")
    assert not os.path.exists(f"{root}/home")
    assert not os.path.exists(f"{root}/root")
    assert set(os.listdir(root)) <= {"dev", "etc", "lib", "lib64", "proc", "usr", "vm"}, os.listdir(root)
    # /etc holds only the resolver list libslirp forwards the guest's DNS to (user networking).
    assert not os.path.exists(f"{root}/etc") or os.listdir(f"{root}/etc") == ["resolv.conf"]
    assert sorted(os.listdir(f"{root}/dev")) == ["null", "urandom"] or "kvm" in os.listdir(f"{root}/dev")
    # The root and the binaries are read-only; only rw disks are writable (the console is a socket).
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            fields = line.split()
            mountpoint, opts = fields[4], fields[5].split(",")
            if mountpoint == "/proc" or mountpoint.startswith("/dev/kvm"):
                continue
            assert "ro" in opts, line
    # Its own pid namespace: QEMU is pid 1 there and sees no host process.
    assert sorted(p for p in os.listdir(f"{root}/proc") if p.isdigit()) == ["1"]
    args = cmdline(pid)
    assert "-sandbox" in args
    assert args[args.index("-sandbox") + 1] == "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
    for opt in ("-nodefaults", "-no-user-config"):
        assert opt in args
    assert args[args.index("-M") + 1].startswith("microvm,")
    devices = [args[i + 1] for i, a in enumerate(args) if a == "-device"]
    assert devices and all("-device" in d.split(",")[0] for d in devices), devices


def test_graceful_stop(vm):
    qemu = vm.qemu_pid()
    assert vm.stop() == 0, vm.diagnostics()
    assert not pid_alive(qemu)
    assert_nothing_left(vm)
    assert "powered off" in vm.vmm_log()
    assert vm.console_log.exists()


def test_guest_poweroff_exits_zero(vm_factory):
    v = vm_factory(append="bistro.init=poweroff", net=False)
    assert wait_exit(v, 120) == 0, v.diagnostics()
    assert_nothing_left(v)


def test_console_flood_is_capped(vm_factory):
    """A guest writing its serial console in a loop: console.log and the rotated console.log.1
    together stay at or under --console-max, and they hold the newest output, in order."""
    lines = 4000  # ~290 KB of console output against a 64 KiB cap
    v = vm_factory(append=f"bistro.flood={lines}", net=False, vsock=False, extra_args=("--console-max", "64K"))
    assert wait_exit(v, 300) == 0, v.diagnostics()
    log = v.console_log.read_bytes()
    old = (v.runtime_dir / "console.log.1").read_bytes()
    print(f"console.log {len(log)} B, console.log.1 {len(old)} B")
    assert len(log) + len(old) <= 64 * 1024
    assert len(old) == 32 * 1024
    assert f"flood of {lines} lines done".encode() in log
    numbers = [int(n) for n in re.findall(rb"bistro-flood line (\d{9}) ", old + log)]
    assert numbers[-1] == lines
    assert numbers == list(range(numbers[0], lines + 1)), "lines lost or repeated across the rotation"
    assert len(numbers) > 300


def test_kill_qemu(vm):
    qemu = vm.qemu_pid()
    vsockd = vm.vsockd_pid()
    os.kill(qemu, signal.SIGKILL)
    rc = wait_exit(vm)
    assert rc == EXIT_QEMU_DIED, vm.diagnostics()
    log = vm.vmm_log()
    assert "QEMU" in log and "signal KILL" in log, log
    if vsockd:
        assert wait_for(lambda: not pid_alive(vsockd), 10)
    assert_nothing_left(vm)


def test_kill_vsockd(vm):
    if not vm.vsock:
        pytest.skip("no vsockd in this build")
    qemu = vm.qemu_pid()
    os.kill(vm.vsockd_pid(), signal.SIGKILL)
    rc = wait_exit(vm)
    assert rc == EXIT_VSOCKD_DIED, vm.diagnostics()
    log = vm.vmm_log()
    assert "vsockd" in log and "signal KILL" in log, log
    assert wait_for(lambda: not pid_alive(qemu), 10)
    assert_nothing_left(vm)


def test_kill_vmm_takes_children_along(vm):
    qemu, vsockd = vm.qemu_pid(), vm.vsockd_pid()
    vm.proc.kill()
    vm.proc.wait(10)
    assert wait_for(lambda: not pid_alive(qemu), 10), "QEMU survived vmm"
    if vsockd:
        assert wait_for(lambda: not pid_alive(vsockd), 10), "vsockd survived vmm"


def test_vsockd_failing_to_start_fails_closed(vm_factory, tmp_path):
    fake = tmp_path / "vsockd"
    fake.write_text("#!/bin/sh\nexit 7\n")
    fake.chmod(0o755)
    v = vm_factory(vsock=True, extra_args=["--vsockd", str(fake)])
    assert wait_exit(v) == EXIT_SETUP
    assert "status 7" in v.vmm_log(), v.vmm_log()
    assert v.qemu_pid() is None
    assert_nothing_left(v)


def test_bad_kernel_fails(vm_factory, tmp_path):
    bad = vm_factory(extra_args=["--kernel", str(tmp_path / "nope")])
    assert wait_exit(bad) == EXIT_SETUP
    assert "nope" in bad.vmm_log()
    assert_nothing_left(bad)


def test_accel_auto_picks_kvm(vm_factory):
    reason = kvm_unusable_reason()
    env = {k: v for k, v in os.environ.items() if k != "BISTRO_ACCEL"}
    if reason:
        # Then auto must fall back to TCG.
        v = vm_factory(env=env, net=False)
        pid = wait_for(v.qemu_pid)
        assert pid, v.diagnostics()
        args = cmdline(pid)
        assert args[args.index("-accel") + 1].startswith("tcg,")
        pytest.skip(f"KVM not usable here ({reason}): checked that auto picked TCG")
    v = vm_factory(env=env, net=False)
    pid = wait_for(v.qemu_pid)
    assert pid, v.diagnostics()
    args = cmdline(pid)
    assert args[args.index("-accel") + 1] == "kvm"
    assert os.path.exists(f"/proc/{pid}/root/dev/kvm")
    v.wait_ready()


def test_accel_forced_tcg(vm_factory):
    env = dict(os.environ, BISTRO_ACCEL="tcg")
    v = vm_factory(env=env, net=False)
    pid = wait_for(v.qemu_pid)
    assert pid, v.diagnostics()
    args = cmdline(pid)
    assert args[args.index("-accel") + 1].startswith("tcg,tb-size=")
    assert "tsc_early_khz=" in args[args.index("-append") + 1]
    assert not os.path.exists(f"/proc/{pid}/root/dev/kvm")
    v.wait_ready()


def test_qmp_status_and_disk_resize(vm_factory, tmp_path):
    disk = tmp_path / "disk.raw"
    with open(disk, "wb") as f:
        f.truncate(16 << 20)
    ro = tmp_path / "ro.raw"
    with open(ro, "wb") as f:
        f.truncate(1 << 20)
    v = vm_factory(net=False, extra_args=["--disk", f"rw:{disk}", "--disk", f"ro:{ro}"])
    v.wait_ready()
    q = Qmp(v.qmp_path)
    try:
        assert q.execute("query-status")["return"]["status"] == "running"
        r = q.execute("block_resize", device="disk0", size=32 << 20)
        assert "return" in r, r
        assert os.path.getsize(disk) == 32 << 20
        r = q.execute("block_resize", device="disk1", size=2 << 20)
        assert "error" in r, r
    finally:
        q.close()
    assert "virtio_blk" in v.console_text() or "vda" in v.console_text()
    assert v.stop() == 0


def test_tcp_through_hostfwd(vm):
    data = gp.stream(11, 300000)
    with vm.connect_tcp(gp.PORT_SINK) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        assert gp.recv_line(s) == gp.sink_reply(data)


def test_vsock_echo(vm):
    if not vm.vsock:
        pytest.skip("no vsockd in this build")
    data = gp.stream(3, 100000)
    with vm.connect(gp.PORT_SINK) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        assert gp.recv_line(s) == gp.sink_reply(data)


def test_second_vmm_on_same_runtime_dir_refused(vm):
    # The very same command line: same runtime dir.
    p = subprocess.run(vm.args, capture_output=True, text=True, timeout=30, env=vm.env)
    assert p.returncode == EXIT_SETUP
    assert "in use by another vmm" in p.stderr
    # The first VM is untouched.
    assert (vm.runtime_dir / "qmp.sock").exists()
    assert vm.proc.poll() is None


def test_guest_panic_is_reported(vm_factory):
    # No init in the initramfs -> no root fs -> kernel panic; panic=-1 + -no-reboot end QEMU.
    v = vm_factory(append="rdinit=/nonexistent", net=False)
    assert wait_exit(v, 120) == 5, v.diagnostics()
    assert "rebooted or panicked" in v.vmm_log()
    assert_nothing_left(v)


def test_rootless(test_image, tmp_path):
    """As an unprivileged user (nobody): user namespaces make the same jail without root."""
    import shutil
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root to switch to an unprivileged user (setpriv)")
    from conftest import vmm_binary
    d = Path(tempfile.mkdtemp(prefix="bistro-rootless-", dir="/tmp"))
    try:
        for f in test_image:
            shutil.copy(f, d / f.name)
        rt = d / "rt"
        rt.mkdir()
        os.chown(rt, 65534, 65534)
        os.chmod(d, 0o755)
        for f in test_image:
            os.chmod(d / f.name, 0o644)
        args = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(vmm_binary()),
                "--name", "rootless", "--kernel", str(d / "vmlinuz"), "--initrd", str(d / "initramfs.img"),
                "--runtime-dir", str(rt), "--append", "bistro.init=poweroff", "--mem", "256M"]
        p = subprocess.run(args, capture_output=True, text=True, timeout=180,
                           env=dict(os.environ, BISTRO_ACCEL="tcg"))
        assert p.returncode == 0, p.stderr + (rt / "console.log").read_text(errors="replace")[-2000:]
        assert "powered off" in p.stderr
        assert not any((rt / n).exists() for n in OUR_SOCKETS)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.parametrize("args", [
    ["--bogus"],
    [],  # --name, --kernel and --runtime-dir are required
    ["--name", "x", "--kernel", "/k", "--runtime-dir", "/r", "extra"],
    ["--name", "x", "--kernel", "/k", "--runtime-dir", "/r", "--mem", "63M"],
    ["--name", "x", "--kernel", "/k", "--runtime-dir", "/r", "--cpus", "65"],
    ["--name", "x", "--kernel", "/k", "--runtime-dir", "/r", "--disk", "/no/prefix"],
    ["--name", "x", "--kernel", "/k", "--runtime-dir", "/r", "--hostfwd", "tcp:1:2"],  # needs --net user
    ["--name", "bad/name", "--kernel", "/k", "--runtime-dir", "/r"],
])
def test_bad_usage_exits_2(args, tmp_path):
    """Bad usage is 2 like for every program, reported before anything starts."""
    p = subprocess.run([str(vmm_binary()), *args], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert p.returncode == 2, p.stderr
    assert p.stderr.strip(), "a usage error says what is wrong"
    assert not any(tmp_path.iterdir())


def test_limits_are_not_usage_errors(tmp_path):
    """At the limits the arguments are accepted: what fails then is setup (a missing kernel), 1."""
    p = subprocess.run([str(vmm_binary()), "--name", "x", "--kernel", str(tmp_path / "none"),
                        "--runtime-dir", str(tmp_path / "rt"), "--mem", "64M", "--cpus", "64"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == EXIT_SETUP, p.stderr
    assert "Kernel" in p.stderr


def test_help_exits_0():
    p = subprocess.run([str(vmm_binary()), "--help"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0 and "Usage: vmm" in p.stdout

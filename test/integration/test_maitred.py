# SPDX-License-Identifier: LGPL-2.1-or-later
"""maitred as PID 1 in a real VM (TCG in CI), driven by test/tools/maitred-client.

Two guests, each test runs on both:
- "initramfs": a small initramfs with maitred as /init (test/tools/build-maitred-initramfs.sh):
  busybox, maitred and its Debian library closure, the virtio/vsock modules; always built here.
- "termina": the real Termina image (<build>/image/termina: stage 1, dm-verity, read-only
  squashfs root with maitred as /sbin/init), when the build made it (meson option images).
Guest-side checks are POSIX shell with builtins only, because Termina's root has dash and no
coreutils.
"""

import os
import re
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO, Vm, build_dir, have_vsockd, vmm_binary

READY_TIMEOUT = float(os.environ.get("BISTRO_BOOT_TIMEOUT", "90"))
POWEROFF_BOUND = 60.0  # seconds from the Shutdown answer to vmm's exit (SIGTERM wait is 5 s)
POLL_TIMEOUT = 60.0

FRAME_MAGIC = 0x01534942
SET_TIME_REQUEST = 201
SET_TIMEZONE_REQUEST = 202
GET_KERNEL_VERSION_REQUEST = 206
KIND_REQUEST = 1
KIND_RESPONSE = 2

EXIT_PEER_ERROR = 1
EXIT_USAGE = 2
EXIT_TRANSPORT = 3


def client_binary():
    return build_dir() / "test/tools/maitred-client"


def maitred_binary():
    return build_dir() / "src/maitred/maitred"


def check_binaries():
    for b in (vmm_binary(), client_binary(), maitred_binary()):
        if not b.exists():
            pytest.fail(f"{b} missing: build the tree first (ninja -C {build_dir()})")
    if not have_vsockd():
        pytest.skip("no vsockd in this build: maitred is only reachable over vsock")


class Guest:
    """What to boot and what the guest should report."""

    def __init__(self, kind, kernel, initrd, *, image_version, kernel_release, hostname, root_disk=None,
                 append=""):
        self.kind = kind
        self.kernel = kernel
        self.initrd = initrd
        self.image_version = image_version
        self.kernel_release = kernel_release
        self.hostname = hostname
        self.root_disk = root_disk
        self.append = append

    def first_free_disk(self):
        """The device name of the first disk a test adds."""
        return "/dev/vdb" if self.root_disk else "/dev/vda"


def initramfs_guest(out):
    subprocess.run([str(REPO / "test/tools/build-maitred-initramfs.sh"), str(out), str(maitred_binary())],
                   check=True)
    return Guest("initramfs", out / "vmlinuz", out / "initramfs.img", image_version="test-initramfs-1",
                 kernel_release=(out / "kernel-release").read_text().strip(), hostname="bistro-test")


def termina_guest():
    d = build_dir() / "image/termina"
    bimg = build_dir() / "src/bistro-image/bistro-image"
    if not (d / "manifest").exists() or not bimg.exists():
        pytest.skip(f"no Termina image in {d} (meson -Dimages=true builds it)")
    manifest = dict(line.split(" ", 1) for line in (d / "manifest").read_text().splitlines() if " " in line)
    # The verifier checks the signature and digests and prints the arguments stage 1 needs.
    p = subprocess.run([str(bimg), "verify", "--key", str(d / "signing-key.pub"), "--cmdline", str(d)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return Guest("termina", d / "vmlinuz", d / "initramfs.img", image_version=manifest["image_version"],
                 kernel_release=manifest["kernel_release"], hostname="termina", root_disk=d / "rootfs.img",
                 append=p.stdout.strip())


@pytest.fixture(scope="module", params=["initramfs", "termina"])
def guest(request, tmp_path_factory):
    check_binaries()
    if request.param == "initramfs":
        return initramfs_guest(tmp_path_factory.mktemp("maitred-image"))
    return termina_guest()


class MaitredVm:
    """A VM whose PID 1 is maitred; start() listens for VmReady before QEMU starts."""

    def __init__(self, guest, *, disks=(), append=None, **kwargs):
        self.guest = guest
        kwargs.setdefault("net", False)
        extra = []
        if guest.root_disk:
            extra += ["--disk", f"ro:{guest.root_disk}"]
        for d in disks:
            extra += ["--disk", f"rw:{d}"]
        cmdline = " ".join(a for a in (guest.append, append) if a)
        self.vm = Vm((guest.kernel, guest.initrd), append=cmdline or None, extra_args=tuple(extra), **kwargs)
        self.ready_proc = None
        self.ready_line = None

    def start(self):
        self.ready_proc = subprocess.Popen(
            [str(client_binary()), "wait-ready", "--vsock", str(self.vm.vsock_path),
             "--timeout", str(int(READY_TIMEOUT))],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # wait-ready must listen before the guest dials; its socket file says it does.
        ready_sock = Path(str(self.vm.vsock_path) + "_7777")
        deadline = time.monotonic() + 10
        while not ready_sock.exists() and self.ready_proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        self.vm.start()
        return self

    def wait_ready(self):
        try:
            out, err = self.ready_proc.communicate(timeout=READY_TIMEOUT + 10)
        except subprocess.TimeoutExpired:
            self.ready_proc.kill()
            out, err = self.ready_proc.communicate()
        assert self.ready_proc.returncode == 0, f"no VmReady: {err}\n" + self.vm.diagnostics()
        self.ready_line = out.strip()
        return self.ready_line

    def call(self, *args, timeout=60):
        """Runs maitred-client call VERB ARGS; returns the CompletedProcess (never raises on status)."""
        return subprocess.run(
            [str(client_binary()), "call", "--vsock", str(self.vm.vsock_path), "--timeout", str(timeout),
             *args], capture_output=True, text=True, timeout=timeout + 30)

    def ok(self, *args, **kwargs):
        p = self.call(*args, **kwargs)
        assert p.returncode == 0, f"{args}: {p.returncode} {p.stderr}\n" + self.vm.diagnostics()
        return p.stdout

    def sh(self, script, *, env=()):
        """Runs /bin/sh -c script in the guest and waits; returns (status, code)."""
        args = ["launch", "--wait"]
        for e in env:
            args += ["--env", e]
        out = self.ok(*args, "--", "/bin/sh", "-c", script)
        m = re.fullmatch(r"status=(\w+) pid=(\d+) code=(-?\d+)", out.strip())
        assert m, out
        return m.group(1), int(m.group(3))

    def sh_true(self, script, **kwargs):
        return self.sh(script, **kwargs) == ("exited", 0)

    def poll_sh(self, script, timeout=POLL_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sh_true(script):
                return True
            time.sleep(0.2)
        return False

    def console(self):
        return self.vm.console_text()

    def wait_console(self, pattern, timeout=POLL_TIMEOUT):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if re.search(pattern, self.console()):
                return True
            time.sleep(0.1)
        return False

    def raw(self, data, read=True):
        """Sends raw bytes to guest port 8888; returns what came back before EOF (or timeout)."""
        s = self.vm.connect(8888)
        try:
            s.sendall(data)
            if not read:
                return s
            got = b""
            s.settimeout(30)
            while True:
                b = s.recv(4096)
                if not b:
                    return got
                got += b
        finally:
            if read:
                s.close()

    def cleanup(self):
        if self.ready_proc and self.ready_proc.poll() is None:
            self.ready_proc.kill()
            self.ready_proc.wait()
        self.vm.cleanup()


def blank_disk(path, size=32 * 1024 * 1024):
    with open(path, "wb") as f:
        f.truncate(size)
    return path


@pytest.fixture(scope="module")
def mvm(guest, tmp_path_factory):
    """One booted maitred guest shared by the tests that leave it running, with a blank disk."""
    disk = blank_disk(tmp_path_factory.mktemp("maitred-disk") / "blank.img")
    v = MaitredVm(guest, disks=(disk,))
    v.disk = disk
    v.disk_dev = guest.first_free_disk()
    v.start()
    try:
        v.wait_ready()
        yield v
    finally:
        v.cleanup()


@pytest.fixture
def fresh_vm(guest):
    vms = []

    def make(**kwargs):
        v = MaitredVm(guest, **kwargs)
        vms.append(v)
        v.start()
        v.wait_ready()
        return v

    yield make
    for v in vms:
        v.cleanup()


# Guest-side snippets, POSIX sh builtins only.
def sh_mounted(target, fstype, opts_glob="*"):
    return (f"while read -r s t f o rest; do [ \"$t\" = '{target}' ] && [ \"$f\" = '{fstype}' ] && "
            f"case \"$o\" in {opts_glob}) exit 0;; esac; done < /proc/mounts; exit 1")


def sh_btime_between(lo, hi):
    """The boot time the kernel derives from CLOCK_REALTIME - uptime lies in [lo, hi]."""
    return (f"while read -r k v; do [ \"$k\" = btime ] && [ \"$v\" -ge {lo} ] && [ \"$v\" -le {hi} ] && "
            "exit 0; done < /proc/stat; exit 1")


def sh_file_is(path, value):
    return f"read -r x < {path} && [ \"$x\" = '{value}' ]"


SH_NO_ZOMBIES = ("for s in /proc/[0-9]*/status; do while read -r k v; do [ \"$k\" = State: ] && "
                 "case \"$v\" in Z*) exit 1;; esac; done < $s 2>/dev/null; done; exit 0")


def frame(type_, payload, kind=KIND_REQUEST, id_=1, length=None):
    return struct.pack("<IIQII", FRAME_MAGIC, type_, id_, kind, len(payload) if length is None else length) + payload


def varint(n):
    n &= (1 << 64) - 1
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


# -- boot and ready


def test_ready_carries_kernel_and_image_versions(mvm):
    m = re.fullmatch(r"READY kernel=(\S+) image=(\S+) ms=(\d+)", mvm.ready_line)
    assert m, mvm.ready_line
    assert m.group(1) == mvm.guest.kernel_release
    assert m.group(2) == mvm.guest.image_version
    print(f"{mvm.guest.kind}: VmReady {m.group(3)} ms after the listener started (QEMU start + boot)")
    out = mvm.ok("get-kernel-version")
    assert f"release={m.group(1)}" in out


def test_early_boot(mvm):
    """Mounts, hostname and modules as PID 1 set them up."""
    assert mvm.sh_true("[ $$ -gt 1 ] && [ /proc/1/exe -ef /usr/sbin/maitred ]")
    for mnt, fstype in (("/proc", "proc"), ("/sys", "sysfs"), ("/dev", "devtmpfs"), ("/dev/pts", "devpts"),
                        ("/dev/shm", "tmpfs"), ("/run", "tmpfs"), ("/tmp", "tmpfs"), ("/var", "tmpfs"),
                        ("/mnt", "tmpfs"), ("/sys/fs/cgroup", "cgroup2")):
        assert mvm.sh_true(sh_mounted(mnt, fstype)), (mnt, mvm.console()[-3000:])
    assert mvm.sh_true(sh_mounted("/sys/fs/cgroup", "cgroup2", "*nsdelegate*"))
    assert mvm.sh_true(sh_file_is("/proc/sys/kernel/hostname", mvm.guest.hostname))
    assert mvm.sh_true("while read -r m rest; do [ $m = vmw_vsock_virtio_transport ] && exit 0; done "
                       "< /proc/modules; exit 1")
    assert mvm.sh_true("[ -d /run/bistro ] && [ -d /var/lib ] && [ -d /var/log ]")
    assert "maitred[1]: maitred starting as PID 1." in mvm.console()


def sh_child_of_pid1(comm):
    """A dash script: true when a process named comm runs with PID 1 as its parent."""
    return (f"for p in /proc/[0-9]*; do read -r c < $p/comm 2>/dev/null && [ \"$c\" = {comm} ] && "
            "while read -r k v; do [ \"$k\" = PPid: ] && [ $v = 1 ] && exit 0; done < $p/status; "
            "done; exit 1")


def test_service_directory(mvm):
    if mvm.guest.kind != "initramfs":
        # Termina's services are the guest daemons the image builder installs.
        for name in ("vshd", "tremplin"):
            assert mvm.sh_true(f"[ -f /etc/bistro/services/{name}.conf ]"), name
            assert mvm.poll_sh(sh_child_of_pid1(name)), (name, mvm.console()[-2000:])
        return
    assert mvm.wait_console(r"hello-service: started"), mvm.console()[-2000:]
    # The service still runs, supervised by PID 1 (its environment came from the file).
    assert mvm.poll_sh(sh_child_of_pid1("sleep")), mvm.console()[-2000:]
    # The broken service file is reported and skipped; PID 1 carried on.
    assert re.search(r"bad\.conf:1: invalid service file, skipping", mvm.console())


# -- time and timezone


def test_set_time_refuses_near_zero_and_applies_good_time(mvm):
    # The client will not even send it (it validates like maitred).
    p = mvm.call("set-time", "5")
    assert p.returncode == EXIT_USAGE, p.stderr
    # Sent raw anyway: maitred's wire layer refuses the invalid request and drops the connection.
    assert mvm.raw(frame(SET_TIME_REQUEST, b"\x08" + varint(5))) == b""
    assert mvm.sh_true(sh_btime_between(1577836800, 1 << 40)), "a near-zero SetTime changed the clock"

    target = 2000000000  # 2033-05-18
    assert mvm.ok("set-time", str(target)).strip() == "ok"
    # Less than an hour of uptime: the boot time moved with the clock.
    assert mvm.sh_true(sh_btime_between(target - 3600, target))
    assert "Clock set to 2000000000." in mvm.console()


def test_set_timezone(mvm):
    assert mvm.ok("set-timezone", "Europe/Paris").strip() == "ok"
    assert mvm.sh_true("[ -L /run/bistro/localtime ] && [ /run/bistro/localtime -ef /usr/share/zoneinfo/Europe/Paris ]")
    # /etc/localtime points at the link.
    assert mvm.sh_true("[ /etc/localtime -ef /usr/share/zoneinfo/Europe/Paris ]")
    if mvm.guest.kind == "initramfs":
        assert mvm.sh_true("z=$(date +%Z); test $z = CET -o $z = CEST")
    assert mvm.ok("set-timezone", "UTC").strip() == "ok"
    assert mvm.sh_true("[ /etc/localtime -ef /usr/share/zoneinfo/UTC ]")

    p = mvm.call("set-timezone", "Nowhere/City")
    assert p.returncode == EXIT_PEER_ERROR and "No such file" in p.stderr, p.stderr
    p = mvm.call("set-timezone", "../../etc/passwd")
    assert p.returncode == EXIT_USAGE
    name = b"../../etc/passwd"
    assert mvm.raw(frame(SET_TIMEZONE_REQUEST, b"\x0a" + varint(len(name)) + name)) == b""
    assert mvm.sh_true("[ /etc/localtime -ef /usr/share/zoneinfo/UTC ]")


# -- mounts


def test_mount_tmpfs_at_new_target(mvm):
    assert mvm.ok("mount", "tmpfs", "/run/test/deep/dir", "tmpfs", "--flags", "nosuid,nodev,noexec",
                  "--data", "size=1m,mode=0700").strip() == "ok"
    assert mvm.sh_true(sh_mounted("/run/test/deep/dir", "tmpfs", "rw,nosuid,nodev,noexec,*size=1024k*mode=700*"))
    p = mvm.call("mount", "none", "/run/test/bad", "nosuchfs")
    assert p.returncode == EXIT_PEER_ERROR, p.stderr
    p = mvm.call("mount", "tmpfs", "/run/../etc", "tmpfs")
    assert p.returncode == EXIT_USAGE
    if mvm.guest.kind == "termina":
        # The root is read-only: a target outside the tmpfs areas cannot be created.
        p = mvm.call("mount", "tmpfs", "/opt/bistro/new", "tmpfs")
        assert p.returncode == EXIT_PEER_ERROR and "Read-only" in p.stderr, p.stderr


def test_mount_mkfs_if_needed(mvm):
    dev = mvm.disk_dev
    assert mvm.ok("mount", dev, "/mnt/data", "ext2", "--mkfs").strip() == "ok"
    assert f"No filesystem on '{dev}', running mkfs.ext2" in mvm.console()
    with open(mvm.disk, "rb") as f:
        f.seek(1080)
        assert f.read(2) == b"\x53\xef", "no ext2 superblock on the disk"
    assert mvm.sh_true("echo kept > /mnt/data/marker")
    # A formatted disk is mounted as it is, never formatted again.
    assert mvm.ok("mount", dev, "/mnt/again", "ext2", "--mkfs").strip() == "ok"
    assert mvm.sh_true(sh_file_is("/mnt/again/marker", "kept"))
    assert mvm.console().count("running mkfs.ext2") == 1


# -- processes


def test_launch_exit_codes_and_signals(mvm):
    assert mvm.sh("exit 0") == ("exited", 0)
    assert mvm.sh("exit 3") == ("exited", 3)
    assert mvm.sh("kill -9 $$") == ("signaled", 9)
    assert mvm.sh("kill -TERM $$") == ("signaled", 15)
    assert mvm.sh("[ \"$FOO\" = 'b a r' ] && [ -n \"$PATH\" ] && [ \"$HOME\" = /root ]",
                  env=("FOO=b a r",)) == ("exited", 0)
    out = mvm.ok("launch", "--", "/bin/sh", "-c", "exit 0")
    assert re.fullmatch(r"status=launched pid=\d+ code=0", out.strip())
    p = mvm.call("launch", "--wait", "--", "/nonexistent/binary")
    assert p.returncode == EXIT_PEER_ERROR and "No such file" in p.stderr
    p = mvm.call("launch", "--wait", "--", "relative/path")
    assert p.returncode == EXIT_USAGE


def test_launched_process_state_is_clean(mvm):
    """No blocked signals, a session of its own, only stdio open."""
    assert mvm.sh_true("while read -r k v; do [ \"$k\" = SigBlk: ] && [ \"$v\" = 0000000000000000 ] && exit 0; "
                       "done < /proc/self/status; exit 1")
    assert mvm.sh_true("read -r pid comm state ppid pgrp sid rest < /proc/$$/stat && [ \"$sid\" = $$ ]")
    assert mvm.sh_true("n=0; for f in /proc/$$/fd/*; do n=$((n + 1)); done; [ $n -le 4 ]")


def test_orphans_are_reaped(mvm):
    # The shell exits at once; its background child is orphaned, re-parented to PID 1, and spins
    # until told to go (no sleep binary in Termina).
    assert mvm.sh("( while [ ! -e /run/orphan.go ]; do :; done ) & "
                  "echo $! > /run/orphan.pid") == ("exited", 0)
    assert mvm.sh_true("read -r p < /run/orphan.pid && while read -r k v; do [ \"$k\" = PPid: ] && "
                       "[ $v = 1 ] && exit 0; done < /proc/$p/status; exit 1")
    assert mvm.sh_true(": > /run/orphan.go")
    # When it exits PID 1 must collect it: a zombie would keep /proc/PID.
    assert mvm.poll_sh("read -r p < /run/orphan.pid && [ ! -e /proc/$p ]"), mvm.console()[-2000:]
    # Many at once, and nothing anywhere stays a zombie.
    assert mvm.sh("for i in 1 2 3 4 5 6 7 8 9 10; do ( (exit 0) & ) ; done") == ("exited", 0)
    assert mvm.poll_sh(SH_NO_ZOMBIES), mvm.console()[-2000:]


def test_respawn_limit(mvm):
    token = "crashy-%d" % os.getpid()
    out = mvm.ok("launch", "--respawn", "--", "/bin/sh", "-c", f"echo {token}; exit 7")
    assert re.fullmatch(r"status=launched pid=\d+ code=0", out.strip())
    assert mvm.wait_console(r"Service 'sh' respawned 10 times in 30 s, giving up\."), mvm.console()[-3000:]
    # PID 1 survived and still answers; and no further run happened after giving up.
    mvm.ok("get-kernel-version")
    assert mvm.sh_true("exit 0")
    text = mvm.console()
    assert text.count(token) == 11, text[-3000:]  # the first run and 10 respawns
    assert len(re.findall(r"Service 'sh' respawned \(pid \d+, respawn \d+\)", text)) == 10


def test_survives_garbage_and_handler_errors(mvm):
    assert mvm.raw(b"GARBAGE!" * 64) == b""
    # A header announcing a 4 GiB payload is refused before anything is allocated.
    assert mvm.raw(frame(GET_KERNEL_VERSION_REQUEST, b"", length=0xFFFFFFFF)) == b""
    # A response where a request belongs, an unknown type.
    assert mvm.raw(frame(GET_KERNEL_VERSION_REQUEST, b"", kind=KIND_RESPONSE)) == b""
    assert mvm.raw(frame(9999, b"")) == b""
    # A truncated frame left hanging does not block anyone else.
    half = mvm.raw(frame(GET_KERNEL_VERSION_REQUEST, b"")[:10], read=False)
    try:
        # Handler errors answer an ErrorReply.
        p = mvm.call("mount", "/dev/nonexistent", "/mnt/x", "ext4")
        assert p.returncode == EXIT_PEER_ERROR, p.stderr
        p = mvm.call("set-timezone", "Mars/Olympus")
        assert p.returncode == EXIT_PEER_ERROR
        # A well-formed raw request gets its answer.
        s = mvm.raw(frame(GET_KERNEL_VERSION_REQUEST, b"", id_=77), read=False)
        s.settimeout(30)
        hdr = b""
        while len(hdr) < 24:
            b = s.recv(24 - len(hdr))
            assert b
            hdr += b
        s.close()
        magic, type_, id_, flags, length = struct.unpack("<IIQII", hdr)
        assert (magic, type_, id_, flags) == (FRAME_MAGIC, 251, 77, KIND_RESPONSE)
    finally:
        half.close()
    assert "release=" in mvm.ok("get-kernel-version")
    assert "maitred[1]" in mvm.console() and "Kernel panic" not in mvm.console()


# -- shutdown


def test_shutdown_powers_off_within_bound(fresh_vm, tmp_path):
    disk = blank_disk(tmp_path / "data.img")
    v = fresh_vm(disks=(disk,))
    dev = v.guest.first_free_disk()
    assert v.ok("mount", dev, "/mnt/stateful", "ext2", "--mkfs").strip() == "ok"
    # Data written without sync must reach the disk: shutdown syncs and unmounts.
    assert v.sh_true("echo persisted > /mnt/stateful/marker")
    # A process that ignores SIGTERM needs the SIGKILL after 5 s.
    out = v.ok("launch", "--", "/bin/sh", "-c", "trap '' TERM; : > /run/ignores-sigterm; while :; do :; done")
    assert "status=launched" in out
    assert v.poll_sh("[ -e /run/ignores-sigterm ]")  # the trap is set
    assert v.ok("shutdown").strip() == "ok"
    t0 = time.monotonic()
    try:
        rc = v.vm.proc.wait(POWEROFF_BOUND)
    except subprocess.TimeoutExpired:
        pytest.fail(f"vmm still running {POWEROFF_BOUND:.0f} s after Shutdown\n" + v.vm.diagnostics())
    print(f"{v.guest.kind}: powered off {time.monotonic() - t0:.1f} s after the Shutdown answer")
    assert rc == 0, v.vm.diagnostics()
    text = v.console()
    assert "sending SIGKILL" in text
    assert "Unmounted" in text and "Powering off." in text
    assert "reboot: Power down" in text
    assert "Kernel panic" not in text
    if not os.access("/usr/sbin/debugfs", os.X_OK) and not os.access("/sbin/debugfs", os.X_OK):
        pytest.skip("debugfs (e2fsprogs) missing: cannot check the data on the host")
    cat = subprocess.run(["debugfs", "-R", "cat /marker", str(disk)], capture_output=True, text=True)
    assert cat.stdout.strip() == "persisted", cat.stderr
    # Cleanly unmounted: s_state (offset 1024 + 58) has EXT2_VALID_FS.
    with open(disk, "rb") as f:
        f.seek(1024 + 58)
        assert struct.unpack("<H", f.read(2))[0] & 1 == 1


def test_power_button_shuts_down(fresh_vm):
    """vmm's graceful stop (QMP system_powerdown) reaches maitred as the ACPI power button."""
    v = fresh_vm()
    assert "for the power button" in v.console()
    assert v.vm.stop() == 0, v.vm.diagnostics()
    text = v.console()
    assert "Power button pressed." in text and "Powering off." in text
    assert "powered off" in v.vm.vmm_log()


def test_no_services_kernel_flag(fresh_vm):
    v = fresh_vm(append="bistro.no_services")
    assert "bistro.no_services: not starting services." in v.console()
    assert "hello-service: started" not in v.console()
    assert v.sh_true("exit 0")


# The guest programs run on the host by hand too: each answers --help with 0 and exits 2 (the
# README's usage status) on an unknown option or a stray argument, before touching anything.
GUEST_PROGRAMS = [
    "src/maitred/maitred",
    "src/tremplin/tremplin",
    "src/vshd/vshd",
    "src/container-init/bistro-init",
]


@pytest.mark.parametrize("program", GUEST_PROGRAMS)
@pytest.mark.parametrize(
    "args,status",
    [(["--help"], 0), (["--no-such-option"], EXIT_USAGE), (["stray-argument"], EXIT_USAGE)],
)
def test_guest_program_exit_codes(program, args, status):
    path = build_dir() / program
    if not path.exists():
        pytest.skip(f"{program} is not built")
    r = subprocess.run([str(path), *args], capture_output=True, text=True, timeout=10)
    assert r.returncode == status, (args, r.stdout, r.stderr)
    if status == EXIT_USAGE:
        # Said why, on stderr, and nothing on stdout.
        assert r.stderr.strip() and not r.stdout, (r.stdout, r.stderr)
    else:
        assert "sage" in r.stdout or "vshd [--port PORT]" in r.stdout, r.stdout

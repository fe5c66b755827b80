#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vmm benchmark: boot-to-ready against the boot floor, and host memory overhead per VM.

  A = boot to ready: vmm start -> "bistro-guest-test: ready" on the console, and -> the guest's
      "READY <ms>" on vsock port 7777 (when the build has vsockd).
  B = the floor: same kernel, same QEMU options, kernel cmdline bistro.init=poweroff: vmm start ->
      vmm exit after the guest powered off at its first instruction of userspace.
  Runs alternate A B A B ... (the machine is noisy); prints median and min-max, and A/B.
  Memory: 10 s after ready, PSS and RSS of QEMU and vsockd from /proc/PID/smaps, minus their
  mappings of the guest RAM memfd: what the VM costs the host beyond the RAM it was given.
Only the Python standard library and /proc.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
READY_LINE = "bistro-guest-test: ready"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=os.environ.get("BISTRO_BUILD_DIR", str(REPO / "build")))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--mem", default="512M")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--tb-size", type=int, default=None, help="TCG translation cache MiB (default: vmm's)")
    p.add_argument("--settle", type=float, default=10.0, help="seconds after ready before measuring memory")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--skip-boot", action="store_true", help="memory figures only")
    return p.parse_args()


def build_image(build):
    guest = build / "test/guest/bistro-guest-test"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bistro" / "bench-test-guest"
    subprocess.run([str(REPO / "image/test-guest/build.sh"), str(cache), str(guest)], check=True)
    return cache / "vmlinuz", cache / "initramfs.img"


class Run:
    def __init__(self, args, image, append=None):
        self.args = args
        self.dir = Path(tempfile.mkdtemp(prefix="bistro-bench-", dir="/tmp"))
        self.vsock = os.access(Path(args.build_dir) / "src/vsockd/vsockd", os.X_OK)
        cmd = [str(Path(args.build_dir) / "src/vmm/vmm"), "--name", "bench", "--kernel", str(image[0]),
               "--initrd", str(image[1]), "--runtime-dir", str(self.dir), "--mem", args.mem,
               "--cpus", str(args.cpus)]
        if args.tb_size:
            cmd += ["--tb-size", str(args.tb_size)]
        if append:
            cmd += ["--append", append]
        if not self.vsock:
            cmd.append("--no-vsock")
        self.cmd = cmd
        self.listener = None
        if self.vsock:
            # The guest announces itself on host vsock port 7777 = unix socket <vsock.sock>_7777.
            self.listener = socket.socket(socket.AF_UNIX)
            self.listener.bind(str(self.dir / "vsock.sock_7777"))
            self.listener.listen(1)
            self.listener.setblocking(False)
        self.log = open(self.dir.with_suffix(".log"), "wb")

    def start(self):
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self):
        console = self.dir / "console.log"
        t_console = t_vsock = None
        deadline = self.t0 + self.args.timeout
        while time.monotonic() < deadline and (t_console is None or (self.vsock and t_vsock is None)):
            if t_console is None:
                try:
                    if READY_LINE in console.read_text(errors="replace"):
                        t_console = time.monotonic() - self.t0
                except OSError:
                    pass
            if self.vsock and t_vsock is None:
                try:
                    c, _ = self.listener.accept()
                    c.settimeout(5)
                    if c.recv(64).startswith(b"READY"):
                        t_vsock = time.monotonic() - self.t0
                    c.close()
                except BlockingIOError:
                    pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"vmm exited {self.proc.returncode} before ready; see {self.log.name}")
            time.sleep(0.01)
        if t_console is None:
            raise RuntimeError(f"no ready line within {self.args.timeout} s; see {self.log.name}")
        return t_console, t_vsock

    def wait_exit(self):
        """(wall seconds, CPU seconds of vmm and everything it reaped, i.e. QEMU and vsockd)."""
        deadline = self.t0 + self.args.timeout
        while True:
            pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            if pid == self.proc.pid:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"floor run did not end; see {self.log.name}")
            time.sleep(0.01)
        wall = time.monotonic() - self.t0
        self.proc.returncode = rc = os.waitstatus_to_exitcode(status)
        if rc != 0:
            raise RuntimeError(f"floor run: vmm exited {rc}; see {self.log.name}")
        return wall, ru.ru_utime + ru.ru_stime

    def qemu_cpu_seconds(self):
        pid = self.child(lambda c: c.startswith("qemu-system"))
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def child(self, pred):
        try:
            with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
                pids = [int(x) for x in f.read().split()]
        except OSError:
            return None
        for pid in pids:
            with open(f"/proc/{pid}/comm") as f:
                if pred(f.read().strip()):
                    return pid
        return None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.listener:
            self.listener.close()
        self.log.close()
        for p in self.dir.iterdir():
            p.unlink()
        self.dir.rmdir()
        os.unlink(self.log.name)


def memory(pid):
    """(pss, rss, guest_ram_pss, guest_ram_rss, uss, guest_ram_uss) in KiB from /proc/PID/smaps.
    USS (Private_Clean + Private_Dirty) is what one more VM costs; PSS also charges a share of the
    QEMU binary and libraries, which depends on how many other QEMUs run."""
    total = {"Pss": 0, "Rss": 0, "Private_Clean": 0, "Private_Dirty": 0}
    ram = {"Pss": 0, "Rss": 0, "Private_Clean": 0, "Private_Dirty": 0}
    in_ram = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            if not fields[0].endswith(":") or "-" in fields[0]:
                # A mapping header: "start-end perms offset dev inode [path]".
                in_ram = len(fields) >= 6 and fields[5].startswith("/memfd:mem")
                continue
            key = fields[0][:-1]
            if key in total:
                total[key] += int(fields[1])
                if in_ram:
                    ram[key] += int(fields[1])
    uss = total["Private_Clean"] + total["Private_Dirty"]
    ram_uss = ram["Private_Clean"] + ram["Private_Dirty"]
    return total["Pss"], total["Rss"], ram["Pss"], ram["Rss"], uss, ram_uss


def fmt_stats(xs):
    return f"median {statistics.median(xs):.2f} s (min {min(xs):.2f}, max {max(xs):.2f}, n={len(xs)})"


def main():
    args = parse_args()
    build = Path(args.build_dir)
    image = build_image(build)
    accel = os.environ.get("BISTRO_ACCEL") or "auto"
    probe = Run(args, image)
    vsock = probe.vsock
    probe.start()
    try:
        probe.wait_ready()
        qemu = probe.child(lambda c: c.startswith("qemu-system"))
        with open(f"/proc/{qemu}/cmdline", "rb") as f:
            qargs = [a.decode() for a in f.read().split(b"\0") if a]
        accel_arg = qargs[qargs.index("-accel") + 1]
        # Memory: after the guest settled.
        time.sleep(args.settle)
        q = memory(qemu)
        vpid = probe.child(lambda c: c == "vsockd") if vsock else None
        v = memory(vpid) if vpid else (0, 0, 0, 0, 0, 0)
    finally:
        probe.stop()

    print(f"config: accel {accel_arg} (BISTRO_ACCEL={accel}), guest {args.mem} RAM, {args.cpus} vCPU, "
          f"vsock {'on' if vsock else 'off'}, kernel {image[0].parent / 'kernel-version'}")
    mib = lambda k: k / 1024
    print(f"memory: qemu PSS {mib(q[0]):.1f} MiB, of which guest RAM {mib(q[2]):.1f} MiB -> "
          f"qemu overhead PSS {mib(q[0] - q[2]):.1f} MiB (RSS {mib(q[1]):.1f} - guest RAM RSS {mib(q[3]):.1f} "
          f"= {mib(q[1] - q[3]):.1f} MiB)")
    if vsock:
        print(f"memory: vsockd PSS {mib(v[0]):.1f} MiB, of which guest RAM {mib(v[2]):.1f} MiB -> "
              f"vsockd overhead PSS {mib(v[0] - v[2]):.1f} MiB")
    print(f"memory: qemu USS (private) {mib(q[4]):.1f} MiB minus guest RAM {mib(q[5]):.1f} MiB = "
          f"{mib(q[4] - q[5]):.1f} MiB; vsockd USS minus guest RAM {mib(v[4] - v[5]):.1f} MiB "
          f"-> marginal cost of one more VM {mib(q[4] - q[5] + v[4] - v[5]):.1f} MiB")
    overhead = (q[0] - q[2]) + (v[0] - v[2])
    print(f"memory: host overhead per VM (qemu + vsockd PSS minus guest RAM) {mib(overhead):.1f} MiB "
          f"(goal <= 40 MiB: {'met' if mib(overhead) <= 40 else 'NOT met'})")
    if args.skip_boot:
        return 0

    ready, ready_vsock, ready_cpu, floor, floor_cpu = [], [], [], [], []
    for i in range(args.runs):
        a = Run(args, image)
        a.start()
        try:
            tc, tv = a.wait_ready()
            ready_cpu.append(a.qemu_cpu_seconds())
        finally:
            a.stop()
        ready.append(tc)
        if tv is not None:
            ready_vsock.append(tv)
        b = Run(args, image, append="bistro.init=poweroff")
        b.start()
        try:
            wall, cpu = b.wait_exit()
        finally:
            b.stop()
        floor.append(wall)
        floor_cpu.append(cpu)
        print(f"run {i + 1}: ready {tc:.2f} s (QEMU CPU {ready_cpu[-1]:.2f} s)" +
              (f", vsock READY {tv:.2f} s" if tv else "") +
              f", floor {wall:.2f} s (CPU {cpu:.2f} s)", file=sys.stderr)
    print(f"boot: vmm start -> console ready line: {fmt_stats(ready)}")
    if ready_vsock:
        print(f"boot: vmm start -> guest READY on vsock 7777: {fmt_stats(ready_vsock)}")
    print(f"boot: floor (bistro.init=poweroff, vmm start -> exit): {fmt_stats(floor)}")
    print(f"boot: ratio ready/floor (medians): {statistics.median(ready) / statistics.median(floor):.2f}")
    # CPU time is steadier than wall time on a shared machine.
    print(f"boot CPU: QEMU at ready {fmt_stats(ready_cpu)}; floor (vmm+QEMU+vsockd) {fmt_stats(floor_cpu)}; "
          f"ratio {statistics.median(ready_cpu) / statistics.median(floor_cpu):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vsock benchmark: our vhost-user vsock (vsockd) against TCP through QEMU's user network, in one
run on one VM (booted through vmm with --hostfwd to the guest's TCP 5000-5002).

  throughput host->guest: N bytes into the sink (5001), until its "<bytes> <fnv>" reply
  throughput guest->host: N bytes out of the source (5002), until EOF
  connect latency: connect (+ CONNECT handshake for vsock) -> 1 byte echoed by port 5000
  vsockd peak RSS: VmHWM (and RssAnon, RssShmem: the guest RAM pages it touched) at the end
  CPU cost: MB moved per CPU-second of QEMU (guest + its devices, slirp for TCP) plus vsockd, per
  run. Under TCG the guest's CPU is the bottleneck and wall-clock throughput on a shared machine
  swings with the load of other processes; CPU cost does not.

Runs alternate vsock, TCP, vsock, TCP ... (the machine is noisy); prints median and min-max of each,
and the ratio of the medians. Only the Python standard library and /proc.
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
ECHO, SINK, SOURCE = 5000, 5001, 5002


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=os.environ.get("BISTRO_BUILD_DIR", str(REPO / "build")))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--mib", type=int, default=64, help="MiB per throughput run")
    p.add_argument("--latency-runs", type=int, default=50)
    p.add_argument("--mem", default="512M")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--timeout", type=float, default=120.0)
    return p.parse_args()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_image(build):
    guest = build / "test/guest/bistro-guest-test"
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "bistro" / "bench-test-guest"
    subprocess.run([str(REPO / "image/test-guest/build.sh"), str(cache), str(guest)], check=True,
                   stdout=subprocess.DEVNULL)
    return cache / "vmlinuz", cache / "initramfs.img"


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def status(pid):
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


class Vm:
    def __init__(self, args, image):
        build = Path(args.build_dir)
        self.dir = Path(tempfile.mkdtemp(prefix="bistro-vsock-bench-"))
        self.fwd = {port: free_port() for port in (ECHO, SINK, SOURCE)}
        cmd = [str(build / "src/vmm/vmm"), "--name", "vsockbench", "--kernel", str(image[0]),
               "--initrd", str(image[1]), "--runtime-dir", str(self.dir), "--mem", args.mem,
               "--cpus", str(args.cpus), "--net", "user"]
        for guest, host in self.fwd.items():
            cmd += ["--hostfwd", f"tcp:{host}:{guest}"]
        self.log = open(self.dir.parent / (self.dir.name + ".log"), "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + args.timeout
        console = self.dir / "console.log"
        while time.monotonic() < deadline:
            if console.exists() and READY_LINE in console.read_text(errors="replace"):
                break
            if self.proc.poll() is not None:
                raise RuntimeError(f"vmm exited {self.proc.returncode}; see {self.log.name}")
            time.sleep(0.05)
        else:
            raise RuntimeError(f"guest not ready; see {self.log.name}")
        self.vsock_path = str(self.dir / "vsock.sock")
        pids = children(self.proc.pid)
        self.vsockd = next((p for p in pids if comm(p) == "vsockd"), None)
        self.qemu = next((p for p in pids if comm(p).startswith("qemu-system")), None)

    def qemu_accel(self):
        with open(f"/proc/{self.qemu}/cmdline", "rb") as f:
            a = [x.decode() for x in f.read().split(b"\0") if x]
        return a[a.index("-accel") + 1] if "-accel" in a else "?"

    def vsock(self, port):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(120)
        s.connect(self.vsock_path)
        s.sendall(b"CONNECT %d\n" % port)
        line = b""
        while not line.endswith(b"\n"):
            b = s.recv(1)
            if not b:
                raise ConnectionError("vsockd closed")
            line += b
        if not line.startswith(b"OK "):
            raise ConnectionError(line)
        return s

    def tcp(self, port):
        s = socket.create_connection(("127.0.0.1", self.fwd[port]), timeout=120)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


BLOCK = bytes(range(256)) * 1024  # 256 KiB


def to_sink(s, n):
    left = n
    t0 = time.monotonic()
    while left:
        k = min(len(BLOCK), left)
        s.sendall(BLOCK[:k])
        left -= k
    s.shutdown(socket.SHUT_WR)
    reply = b""
    while True:
        b = s.recv(100)
        if not b:
            break
        reply += b
    dt = time.monotonic() - t0
    if int(reply.split()[0]) != n:
        raise RuntimeError(f"sink got {reply!r}")
    return n / dt


def from_source(s, n):
    t0 = time.monotonic()
    s.sendall(b"%d 1\n" % n)
    got = 0
    while True:
        b = s.recv(1 << 18)
        if not b:
            break
        got += len(b)
    dt = time.monotonic() - t0
    if got != n:
        raise RuntimeError(f"source sent {got} of {n}")
    return n / dt


def latency(connect):
    t0 = time.monotonic()
    s = connect(ECHO)
    s.sendall(b"x")
    if s.recv(1) != b"x":
        raise RuntimeError("echo failed")
    dt = time.monotonic() - t0
    s.close()
    return dt


def cpu_seconds(pid):
    if not pid:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def summary(xs, scale, unit):
    m = statistics.median(xs)
    return m, f"median {m * scale:.1f} {unit} (min {min(xs) * scale:.1f}, max {max(xs) * scale:.1f}, n={len(xs)})"


def main():
    args = parse_args()
    image = build_image(Path(args.build_dir))
    vm = Vm(args, image)
    try:
        conf = f"[accel {vm.qemu_accel()}, guest {args.mem} RAM, {args.cpus} vCPU]"
        n = args.mib << 20
        results = {}
        for name, fn, port in (("host->guest", to_sink, SINK), ("guest->host", from_source, SOURCE)):
            v, t, cv, ct = [], [], [], []
            for _ in range(args.runs):
                for conn, rates, costs in ((vm.vsock, v, cv), (vm.tcp, t, ct)):
                    c0 = cpu_seconds(vm.qemu) + cpu_seconds(vm.vsockd)
                    with conn(port) as s:
                        rates.append(fn(s, n))
                    costs.append(n / max(cpu_seconds(vm.qemu) + cpu_seconds(vm.vsockd) - c0, 0.01))
            mv, sv = summary(v, 1e-6, "MB/s")
            mt, st = summary(t, 1e-6, "MB/s")
            print(f"throughput {name} vsock: {sv} {conf}")
            print(f"throughput {name} tcp:   {st} {conf}")
            print(f"throughput {name} ratio vsock/tcp: {mv / mt:.2f}x {conf}")
            mv, sv = summary(cv, 1e-6, "MB per CPU-s")
            mt, st = summary(ct, 1e-6, "MB per CPU-s")
            print(f"cpu cost {name} vsock: {sv} {conf}")
            print(f"cpu cost {name} tcp:   {st} {conf}")
            print(f"cpu cost {name} ratio vsock/tcp: {mv / mt:.2f}x {conf}")
            results[name] = mv / mt
        lv, lt = [], []
        for _ in range(args.latency_runs):
            lv.append(latency(vm.vsock))
            lt.append(latency(vm.tcp))
        mv, sv = summary(lv, 1e3, "ms")
        mt, st = summary(lt, 1e3, "ms")
        print(f"connect latency vsock: {sv} {conf}")
        print(f"connect latency tcp:   {st} {conf}")
        print(f"connect latency ratio tcp/vsock: {mt / mv:.2f}x {conf}")
        if vm.vsockd:
            st_ = status(vm.vsockd)
            print(f"vsockd peak RSS (VmHWM): {st_['VmHWM'].strip()} (RssAnon {st_['RssAnon'].strip()}, "
                  f"RssShmem {st_['RssShmem'].strip()} = guest RAM pages touched) {conf}")
    finally:
        vm.stop()


if __name__ == "__main__":
    sys.exit(main())

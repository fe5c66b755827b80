#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Termina benchmark: boot to maitred's ready call against the boot floor, and the image sizes.

  A = Termina: vmm start (QEMU start) -> maitred's VmReady reaches the host on vsock port 7777
      (test/tools/maitred-client wait-ready), with the verified root on the first disk.
  B = the floor: the same kernel, QEMU options, disk and command line plus bistro.init=poweroff,
      with an initramfs holding only stage 1 (taken from the image's initramfs), which powers off
      as the first thing it does; vmm start -> vmm exit.
  Runs alternate A B A B ... (the machine is noisy); prints median and min-max, and A/B against
  the goal (1.15). The image is verified with bistro-image first, as the host would.
Only the Python standard library.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL = 1.15


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=os.environ.get("BISTRO_BUILD_DIR", str(REPO / "build")))
    p.add_argument("--image", help="Termina image dir (default BUILD/image/termina)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--mem", default="512M")
    p.add_argument("--accel", default=None, help="auto|kvm|tcg (default: env BISTRO_ACCEL, else vmm's auto)")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p.parse_args()


class Boot:
    def __init__(self, args, image, cmdline, floor, floor_initrd=None):
        build = Path(args.build_dir)
        self.dir = Path(tempfile.mkdtemp(prefix="bistro-tbench-", dir="/tmp"))
        self.floor = floor
        self.vmm_cmd = [str(build / "src/vmm/vmm"), "--name", "tbench", "--kernel", str(image / "vmlinuz"),
                        "--initrd", str(floor_initrd if floor else image / "initramfs.img"), "--disk", f"ro:{image / 'rootfs.img'}",
                        "--runtime-dir", str(self.dir), "--mem", args.mem,
                        "--append", cmdline + (" bistro.init=poweroff" if floor else "")]
        if args.accel:
            self.vmm_cmd += ["--accel", args.accel]
        self.client_cmd = [str(build / "test/tools/maitred-client"), "wait-ready", "--vsock",
                           str(self.dir / "vsock.sock"), "--timeout", str(int(args.timeout))]
        self.timeout = args.timeout

    def run(self):
        client = None
        log = open(self.dir.parent / (self.dir.name + ".log"), "wb")
        try:
            if not self.floor:
                client = subprocess.Popen(self.client_cmd, stdout=subprocess.PIPE, stderr=log)
                time.sleep(0.2)  # it listens before QEMU starts
            t0 = time.monotonic()
            vmm = subprocess.Popen(self.vmm_cmd, stdout=log, stderr=subprocess.STDOUT)
            if self.floor:
                vmm.wait(self.timeout)
                t = time.monotonic() - t0
                if vmm.returncode != 0:
                    raise RuntimeError(f"floor boot: vmm exited with {vmm.returncode}")
                return t
            out, _ = client.communicate(timeout=self.timeout)
            t = time.monotonic() - t0
            if client.returncode != 0 or not out.startswith(b"READY"):
                raise RuntimeError(f"no ready call: {out!r}; console:\n{self.console()[-2000:]}\nvmm:\n{self.vmm_log()}")
            subprocess.run([self.client_cmd[0], "call", "--vsock", str(self.dir / "vsock.sock"), "shutdown"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
            try:
                vmm.wait(30)
            except subprocess.TimeoutExpired:
                vmm.terminate()
                vmm.wait(30)
            return t
        finally:
            for p in (client,):
                if p and p.poll() is None:
                    p.kill()
                    p.wait()
            log.close()
            subprocess.run(["rm", "-rf", str(self.dir), str(self.dir) + ".log"])

    def vmm_log(self):
        try:
            return (self.dir.parent / (self.dir.name + ".log")).read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def console(self):
        try:
            return (self.dir / "console.log").read_text(errors="replace")
        except OSError:
            return ""


def make_floor_initrd(image):
    """An initramfs with only /init (stage 1) and /proc, extracted from the image's initramfs."""
    d = Path(tempfile.mkdtemp(prefix="bistro-tbench-floor-", dir="/tmp"))
    with open(image / "initramfs.img", "rb") as f:
        subprocess.run(["cpio", "-idm", "--quiet", "init"], stdin=f, cwd=d, check=True)
    (d / "proc").mkdir()
    out = d.parent / (d.name + ".img")
    with open(out, "wb") as f:
        subprocess.run(["cpio", "--create", "--format=newc", "--owner=0:0", "--quiet"],
                       input=b"init\nproc\n", stdout=f, cwd=d, check=True)
    subprocess.run(["rm", "-rf", str(d)])
    return out


def fmt(xs):
    return f"{statistics.median(xs):6.3f} s (min {min(xs):.3f}, max {max(xs):.3f}, n={len(xs)})"


def main():
    args = parse_args()
    build = Path(args.build_dir).resolve()
    args.build_dir = str(build)
    image = (Path(args.image) if args.image else build / "image/termina").resolve()
    if args.accel is None and os.environ.get("BISTRO_ACCEL"):
        args.accel = os.environ["BISTRO_ACCEL"]
    for f in (build / "src/vmm/vmm", build / "test/tools/maitred-client", build / "src/bistro-image/bistro-image",
              image / "manifest.sig"):
        if not f.exists():
            sys.exit(f"termina-bench: {f} missing: build the tree with -Dimages=true first")
    pub = image / "signing-key.pub"
    v = subprocess.run([str(build / "src/bistro-image/bistro-image"), "verify", "--key", str(pub), "--cmdline",
                        str(image)], capture_output=True, text=True)
    if v.returncode != 0:
        sys.exit(f"termina-bench: the image does not verify: {v.stderr.strip()}")
    cmdline = v.stdout.strip()

    floor_initrd = make_floor_initrd(image)
    termina, floor = [], []
    for i in range(args.runs):
        termina.append(Boot(args, image, cmdline, floor=False).run())
        floor.append(Boot(args, image, cmdline, floor=True, floor_initrd=floor_initrd).run())
        if not args.json:
            print(f"run {i + 1}/{args.runs}: termina ready {termina[-1]:.3f} s, floor {floor[-1]:.3f} s",
                  file=sys.stderr)

    sizes = {}
    try:
        for line in (image / "sizes").read_text().splitlines():
            k, val = line.split()
            sizes[k] = int(val)
    except (OSError, ValueError):
        pass
    os.unlink(floor_initrd)
    ratio = statistics.median(termina) / statistics.median(floor)
    if args.json:
        print(json.dumps({"accel": args.accel or "auto", "termina_ready_s": termina, "floor_s": floor,
                          "ratio": ratio, "goal": GOAL, "sizes": sizes}, indent=2))
        return
    print(f"accel: {args.accel or 'auto'}, image: {image}")
    print(f"A termina (QEMU start -> maitred ready): {fmt(termina)}")
    print(f"B floor   (same kernel, init powers off): {fmt(floor)}")
    print(f"A/B = {ratio:.2f} (goal <= {GOAL}) {'met' if ratio <= GOAL else 'NOT met'}")
    for k, val in sizes.items():
        print(f"size {k:16s} {val / 1048576:6.1f} MiB")


if __name__ == "__main__":
    main()

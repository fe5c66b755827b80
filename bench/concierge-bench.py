#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""concierge benchmark (not a test): what concierge adds on top of a bare Termina boot.

  A = `vmc start` of an existing VM -> returns with the VM running (image verify, boot, ready call,
      SetTime, SetTimezone, btrfs mount, resize); A1 the same for the first start (qemu-img create
      and mkfs.btrfs of a 1 GiB disk).
  R = bare ready: vmm + Termina started directly, -> maitred's VmReady on port 7777 (maitred-client).
  F = boot floor: the same vmm + Termina with bistro.init=poweroff (stage 1 powers off at once).
  S = `vmc stop` of an idle running VM -> returns (maitred Shutdown, vmm exit).
  M = host memory per idle VM, 10 s after start: PSS of vmm + vsockd + QEMU, without the guest RAM
      memfd mappings (and with them, for reference).
Runs alternate A R F; prints median (min-max) and ratios. Env as the tests (BISTRO_ACCEL, default
tcg; BISTRO_TERMINA_IMAGE; BISTRO_BUILD_DIR).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test/integration"))
from concierge_helpers import Concierge, _children, build_dir, image_dir  # noqa: E402


def pss(pid, skip_memfd):
    total = 0
    name = ""
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and "-" in parts[0] and ":" in parts[3]:
                    name = " ".join(parts[5:]) if len(parts) > 5 else ""
                elif parts and parts[0] == "Pss:":
                    if not (skip_memfd and name.startswith("/memfd:")):
                        total += int(parts[1])
    except OSError:
        pass
    return total  # KiB


def cmdline_of_image():
    r = subprocess.run([str(build_dir() / "src/bistro-image/bistro-image"), "verify", "--key",
                        str(image_dir() / "signing-key.pub"), "--cmdline", str(image_dir())],
                       capture_output=True, text=True, check=True)
    return r.stdout.strip()


def bare(append, wait_ready, timeout):
    d = Path(tempfile.mkdtemp(prefix="bcb-", dir="/tmp"))
    img = image_dir()
    cmd = [str(build_dir() / "src/vmm/vmm"), "--name", "bench", "--kernel", str(img / "vmlinuz"),
           "--initrd", str(img / "initramfs.img"), "--runtime-dir", str(d), "--mem", "512M",
           "--disk", f"ro:{img / 'rootfs.img'}", "--append", append, "--stop-timeout", "5"]
    env = dict(os.environ)
    env.setdefault("BISTRO_ACCEL", "tcg")
    ready = None
    if wait_ready:
        ready = subprocess.Popen([str(build_dir() / "test/tools/maitred-client"), "wait-ready", "--vsock",
                                  str(d / "vsock.sock"), "--timeout", str(int(timeout))],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        time.sleep(0.05)
    t0 = time.monotonic()
    vmm = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if ready:
            ready.wait(timeout)
            dt = time.monotonic() - t0
            vmm.terminate()
            vmm.wait(60)
        else:
            vmm.wait(timeout)
            dt = time.monotonic() - t0
    finally:
        if vmm.poll() is None:
            vmm.kill()
            vmm.wait()
        if ready and ready.poll() is None:
            ready.kill()
            ready.wait()
        shutil.rmtree(d, ignore_errors=True)
    return dt


def fmt(v):
    return f"{statistics.median(v):6.2f} s ({min(v):.2f}-{max(v):.2f})"


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--settle", type=float, default=10.0)
    p.add_argument("--timeout", type=float, default=120.0)
    args = p.parse_args()

    append = cmdline_of_image()
    A1, A, R, F, S = [], [], [], [], []
    mem = []
    cc = Concierge().start()
    try:
        for i in range(args.runs):
            name = f"b{i}"
            t0 = time.monotonic()
            cc.vmc("start", name, "--disk-size", "1G", check=True)
            A1.append(time.monotonic() - t0)
            cc.vmc("stop", name, check=True)
            t0 = time.monotonic()
            cc.vmc("start", name, check=True)
            A.append(time.monotonic() - t0)
            if i == 0:
                time.sleep(args.settle)
                pids = [p for p in cc.our_pids()]
                mem.append((sum(pss(p, True) for p in pids), sum(pss(p, False) for p in pids), len(pids)))
            t0 = time.monotonic()
            cc.vmc("stop", name, check=True)
            S.append(time.monotonic() - t0)
            R.append(bare(append, True, args.timeout))
            F.append(bare(append + " bistro.init=poweroff", False, args.timeout))
    finally:
        cc.cleanup()
    accel = os.environ.get("BISTRO_ACCEL", "tcg")
    print(f"concierge bench ({accel}, {args.runs} runs, 512 MiB, 1 vCPU)")
    print(f"  A1 first vmc start (mkfs) {fmt(A1)}")
    print(f"  A vmc start -> running     {fmt(A)}")
    print(f"  R bare vmm -> VmReady      {fmt(R)}")
    print(f"  F boot floor (poweroff)    {fmt(F)}")
    print(f"  S vmc stop                 {fmt(S)}")
    print(f"  A/R = {statistics.median(A) / statistics.median(R):.2f}   A/F = "
          f"{statistics.median(A) / statistics.median(F):.2f}   A-R = "
          f"{statistics.median(A) - statistics.median(R):.2f} s (concierge's share: verify, disk, SetTime, mount)")
    for no_memfd, with_memfd, n in mem:
        print(f"  M idle VM host memory: {no_memfd / 1024:.1f} MiB PSS without guest RAM "
              f"({with_memfd / 1024:.1f} MiB with it), {n} processes")
    return 0


if __name__ == "__main__":
    sys.exit(main())

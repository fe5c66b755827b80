#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""\"Linux files\" benchmark (not a test): penguin's home mounted on the host by `bistro files`
(sshfs -o passive over garcon's sftp-server, through the VM's hybrid vsock) against a raw vsock
stream of the same bytes.

One private concierge (its own XDG dirs and HOME; the debian image from the real store), termina
and penguin with a default user. Then, subject and baseline alternating after one warm-up each:

  W  sequential write: a host file of --mib MiB (random bytes) copied into the mount (1 MiB writes,
     then fsync) -> ~/bench.bin in penguin;
  w  baseline: the same bytes through `vsh termina penguin -- sh -c 'cat > ~/bench-raw.bin'` (the
     vsh stream is a raw hybrid-vsock stream, no file system protocol);
  R  sequential read: the mount's bench.bin read on the host (1 MiB reads; the file was written by
     penguin with dd, so no host cache holds it);
  r  baseline: `vsh termina penguin -- cat ~/bench-raw.bin` read on the host;
  M  metadata: --files small files created (16 bytes), stat()ed, unlinked through the mount;
  m  baseline: the same loop inside penguin on its own disk (one vsh session running a shell loop:
     the local file system, no host round trips; it forks stat and rm per file, which under TCG
     dominates: see bench/README.md).

Env as the tests (BISTRO_ACCEL, default tcg; BISTRO_TERMINA_IMAGE; BISTRO_BUILD_DIR;
BISTRO_IMAGE_STORE). Usage: bench/files-bench.py [--mib 256] [--runs 3] [--files 1000] [--json]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test/integration"))
from concierge_helpers import image_store, Concierge, build_dir  # noqa: E402

USER = "benchu"
CHUNK = 1 << 20


def med(v):
    return statistics.median(v)


class Bench:
    def __init__(self, cc, home):
        self.cc = cc
        self.env = dict(cc.env, HOME=str(home))
        self.bistro = str(build_dir() / "src/bistro/bistro")
        self.vsh = str(build_dir() / "src/vsh/vsh")
        self.mnt = home / "Bistro" / "penguin"

    def run(self, argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, timeout=1800):
        r = subprocess.run(argv, env=self.env, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE,
                           timeout=timeout)
        self.cc.track()
        if r.returncode != 0:
            raise SystemExit(f"{argv} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
        return r

    def sh(self, script, **kw):
        return self.run([self.vsh, "--user", USER, "termina", "penguin", "--", "sh", "-c", script], **kw)

    def write_mount(self, src):
        t = time.monotonic()
        with open(src, "rb") as fin, open(self.mnt / "bench.bin", "wb") as fout:
            while True:
                b = fin.read(CHUNK)
                if not b:
                    break
                fout.write(b)
            fout.flush()
            os.fsync(fout.fileno())
        return time.monotonic() - t

    def write_raw(self, src):
        t = time.monotonic()
        with open(src, "rb") as fin:
            self.sh("cat > ~/bench-raw.bin && sync ~/bench-raw.bin", stdin=fin)
        return time.monotonic() - t

    def read_mount(self, size):
        # Written in penguin, not through the mount: nothing of it is in the host's page cache.
        self.sh(f"dd if=/dev/urandom of=$HOME/bench.bin bs=1M count={size >> 20} status=none && sync")
        t = time.monotonic()
        n = 0
        with open(self.mnt / "bench.bin", "rb") as f:
            while True:
                b = f.read(CHUNK)
                if not b:
                    break
                n += len(b)
        took = time.monotonic() - t
        assert n == size, n
        return took

    def read_raw(self, size):
        t = time.monotonic()
        p = subprocess.Popen([self.vsh, "--user", USER, "termina", "penguin", "--", "sh", "-c", "cat $HOME/bench-raw.bin"],
                             env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE)
        n = 0
        while True:
            b = p.stdout.read(CHUNK)
            if not b:
                break
            n += len(b)
        assert p.wait() == 0 and n == size, (p.returncode, n)
        return time.monotonic() - t

    def meta_mount(self, n):
        d = self.mnt / "bench-meta"
        d.mkdir(exist_ok=True)
        t = time.monotonic()
        for i in range(n):
            with open(d / f"f{i}", "wb") as f:
                f.write(b"0123456789abcdef")
        for i in range(n):
            os.stat(d / f"f{i}")
        for i in range(n):
            os.unlink(d / f"f{i}")
        took = time.monotonic() - t
        d.rmdir()
        return took

    def meta_local(self, n):
        script = (f"mkdir -p ~/bench-meta && cd ~/bench-meta && s=$(date +%s.%N) && i=0; "
                  f"while [ $i -lt {n} ]; do echo 0123456789abcde > f$i; i=$((i+1)); done; "
                  f"i=0; while [ $i -lt {n} ]; do stat -c %s f$i > /dev/null; i=$((i+1)); done; "
                  f"i=0; while [ $i -lt {n} ]; do rm f$i; i=$((i+1)); done; "
                  f"e=$(date +%s.%N); cd && rmdir ~/bench-meta; echo \"$s $e\"")
        r = self.sh(script, stdout=subprocess.PIPE)
        s, e = map(float, r.stdout.split())
        return e - s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    size = a.mib << 20

    cc = Concierge(env={"BISTRO_IMAGE_STORE": str(image_store())})
    home = cc.root / "home"
    home.mkdir()
    b = Bench(cc, home)
    src = cc.root / "src.bin"
    with open(src, "wb") as f:
        for _ in range(a.mib):
            f.write(os.urandom(CHUNK))
    res = {k: [] for k in "WwRrMm"}
    try:
        b.run([b.bistro, "--user", USER, "--", "true"])
        b.run([b.bistro, "files"])
        b.write_mount(src), b.write_raw(src)  # warm-up
        for _ in range(a.runs):
            res["W"].append(b.write_mount(src))
            res["w"].append(b.write_raw(src))
            res["R"].append(b.read_mount(size))
            res["r"].append(b.read_raw(size))
        b.meta_mount(min(a.files, 100)), b.meta_local(min(a.files, 100))
        for _ in range(a.runs):
            res["M"].append(b.meta_mount(a.files))
            res["m"].append(b.meta_local(a.files))
        b.sh("rm -f ~/bench.bin ~/bench-raw.bin")
        subprocess.run([b.bistro, "files", "--unmount"], env=b.env, check=False)
    finally:
        subprocess.run(["fusermount3", "-u", "-z", str(b.mnt)], capture_output=True, check=False)
        cc.cleanup()

    mibs = lambda v: a.mib / med(v)  # noqa: E731
    out = {
        "mib": a.mib, "runs": a.runs, "files": a.files,
        "write_mount_mib_s": mibs(res["W"]), "write_raw_mib_s": mibs(res["w"]),
        "read_mount_mib_s": mibs(res["R"]), "read_raw_mib_s": mibs(res["r"]),
        "meta_mount_s": med(res["M"]), "meta_local_s": med(res["m"]),
        "raw": res,
    }
    out["write_ratio"] = out["write_mount_mib_s"] / out["write_raw_mib_s"]
    out["read_ratio"] = out["read_mount_mib_s"] / out["read_raw_mib_s"]
    out["meta_ratio"] = out["meta_mount_s"] / out["meta_local_s"]
    if a.json:
        print(json.dumps(out, indent=2))
        return
    print(f"sequential write, {a.mib} MiB: Linux files {out['write_mount_mib_s']:.1f} MiB/s, "
          f"raw vsock (vsh cat) {out['write_raw_mib_s']:.1f} MiB/s, ratio {out['write_ratio']:.2f}x")
    print(f"sequential read,  {a.mib} MiB: Linux files {out['read_mount_mib_s']:.1f} MiB/s, "
          f"raw vsock (vsh cat) {out['read_raw_mib_s']:.1f} MiB/s, ratio {out['read_ratio']:.2f}x")
    print(f"metadata, {a.files} files create+stat+unlink: Linux files {out['meta_mount_s']:.2f} s "
          f"({a.files / out['meta_mount_s']:.0f} files/s), in penguin on its disk {out['meta_local_s']:.2f} s, "
          f"ratio {out['meta_ratio']:.1f}x slower")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""GUI benchmark (not a test): Wayland redraw rate and first-frame time, directly on a headless host
compositor and through waypipe, with the bytes waypipe sends per frame.

A headless sway (test/integration/headless_desktop.py, 1024x768, pixman) and test/tools/wl-redraw, a
static client that redraws on every frame callback, in two modes: full (the whole 1024x768 XRGB buffer
changes and is damaged every frame) and small (a 64x64 square). For each mode:

  D  direct: wl-redraw on sway (the baseline);
  W  host-only waypipe pair: `waypipe -n client` on sway <- a relay in this script <- `waypipe -n server
     -- wl-redraw`, all on the host: waypipe's own cost (shadow copies, diffs, the stream), no VM.
     The waypipe is Bistro's bundle (<build>/image/waypipe/bundle, run through its own ld-linux) when
     it was built, else Debian's /usr/bin/waypipe (the same 0.8.4).
  V  the VM path (an app in penguin through sommelier and wayland-gate): see measure_vm(); not wired
     yet, reported as such.

Alternating D W D W ... after one warm-up of each; figures: fps (median, min-max), first frame (connect ->
first frame callback done), bytes per frame (both directions, counted by the relay with os.splice
between wl-redraw's first and last frame: it prints CLOCK_MONOTONIC times), and the ratio W/D of fps.

Usage: bench/gui-bench.py [--runs 5] [--seconds 10] [--compress none|lz4|zstd] [--json] [--build-dir DIR]
(default $BISTRO_BUILD_DIR, else <repo>/build). Runs as root (the desktop's test user is created) or as
a plain user.
"""

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test/integration"))
from headless_desktop import HeadlessDesktop, missing_tools  # noqa: E402
from procutil import build_dir  # noqa: E402

MODES = ("full", "small")


def waypipe_argv():
    """(argv prefix, description): Bistro's bundle when built, else Debian's waypipe."""
    bundle = build_dir() / "image/waypipe/bundle"
    ld = bundle / "ld-linux-x86-64.so.2"
    if ld.exists() and (bundle / "waypipe").exists():
        return [str(ld), "--library-path", str(bundle), str(bundle / "waypipe")], f"bundle {bundle}"
    return ["/usr/bin/waypipe"], "Debian /usr/bin/waypipe (no bundle built)"


class CountingRelay:
    """Listens on a unix socket; each connection is spliced to target (waypipe client's socket) in both
    directions. Every splice is logged as (CLOCK_MONOTONIC time, bytes) so bytes can be summed over a
    time window; no copy through Python."""

    def __init__(self, path, target):
        self.target = target
        self.log = []
        self.lock = threading.Lock()
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(16)
        self.threads = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.srv.accept()
            except OSError:
                return
            b = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            b.connect(self.target)
            for src, dst in ((a, b), (b, a)):
                t = threading.Thread(target=self._pump, args=(src, dst), daemon=True)
                t.start()
                self.threads.append(t)

    def _pump(self, src, dst):
        r, w = os.pipe()
        try:
            while True:
                n = os.splice(src.fileno(), w, 1 << 20)
                if n == 0:
                    break
                t = time.monotonic()
                left = n
                while left:
                    left -= os.splice(r, dst.fileno(), left)
                with self.lock:
                    self.log.append((t, n))
        except OSError:
            pass
        finally:
            os.close(r)
            os.close(w)
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def bytes_between(self, t0, t1):
        with self.lock:
            return sum(n for t, n in self.log if t0 < t <= t1)

    def close(self):
        self.srv.close()


def redraw_argv(mode, seconds):
    return [str(build_dir() / "test/tools/wl-redraw"), f"--{mode}", "--seconds", str(seconds), "--frames",
            "1000000", "--timeout", "30"]


def measure_direct(desk, mode, seconds):
    r = desk.run(redraw_argv(mode, seconds), timeout=seconds + 60)
    return json.loads(r.stdout)


class WaypipePair:
    """`waypipe client` on the desktop (as its user) and a counting relay in front of it; server() runs
    one app through `waypipe server`, as the container side would."""

    def __init__(self, desk, compress):
        self.desk, self.compress = desk, compress
        self.wp, self.desc = waypipe_argv()
        self.dir = Path(tempfile.mkdtemp(prefix="bistro-gui-bench-", dir=desk.runtime_dir))
        os.chown(self.dir, desk.uid, desk.gid)
        self.client_sock = str(self.dir / "client.sock")
        self.client = desk.spawn([*self.wp, "-n", "-c", compress, "-s", self.client_sock, "client"],
                                 stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(self.client_sock):
            if self.client.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("waypipe client did not create its socket")
            time.sleep(0.02)
        self.relay_sock = str(self.dir / "relay.sock")
        self.relay = CountingRelay(self.relay_sock, self.client_sock)
        os.chown(self.relay_sock, desk.uid, desk.gid)

    def run(self, mode, seconds):
        argv = [*self.wp, "-n", "-c", self.compress, "-s", self.relay_sock, "--display",
                str(self.dir / "wayland-wp"), "server", "--", *redraw_argv(mode, seconds)]
        r = self.desk.run(argv, timeout=seconds + 60)
        res = json.loads(r.stdout.decode().strip().splitlines()[-1])
        nbytes = self.relay.bytes_between(res["first_frame_at"], res["end_at"])
        res["bytes_per_frame"] = nbytes / res["frames"] if res["frames"] else 0.0
        return res

    def close(self):
        self.relay.close()


def measure_vm(desk, mode, seconds):
    """THE VM PATH (to wire once wayland-gate and sommelier are merged): wl-redraw run in penguin through
    Bistro, shown on desk. Expected shape, returning the same dict as measure_direct() plus
    "bytes_per_frame" and "launch_to_first_frame_s":

      1. a private concierge (bench/apps-bench.py's Concierge) with WAYLAND_DISPLAY=desk.socket in its
         environment, termina + penguin started, a default user (garcon starts sommelier for it);
      2. wl-redraw copied into penguin (it is static: `vsh termina penguin -- sh -c 'cat > /tmp/x'`);
      3. t0 = time.monotonic(); launch it in penguin as the default user (`bistro --user U -- env
         XDG_RUNTIME_DIR=/run/user/UID WAYLAND_DISPLAY=wayland-0 /tmp/wl-redraw --MODE --seconds S`,
         and through a host launcher entry for the launch figure); parse its JSON from stdout for fps
         and first_frame_s (connect -> first frame, inside the container). Launch to first frame must
         be timed on the host: t(desk.wait_for_window(app_id="bistro-wl-redraw") returns) - t0, with
         a finer interval= than its 0.1 s default, since wl-redraw's first_frame_at / end_at are the *guest's*
         CLOCK_MONOTONIC, not comparable with the host's;
      4. bytes per frame: the gate's relay counters if it exposes them, else /proc/<gate pid>/io
         (rchar/wchar) sampled right before and after the run, divided by the frames (it then includes
         the setup bytes: run long enough, or subtract a --frames 1 run).
    Until then: None (reported as "not wired")."""
    return None


def fmt(v, unit="", prec=1):
    return f"{statistics.median(v):.{prec}f}{unit} ({min(v):.{prec}f}-{max(v):.{prec}f}, n={len(v)})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--compress", default="none", help="waypipe -c (0.8.4's default is none)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--build-dir", default=str(build_dir()))
    args = ap.parse_args()
    os.environ["BISTRO_BUILD_DIR"] = str(Path(args.build_dir).resolve())  # build_dir() reads it
    miss = missing_tools()
    if miss:
        sys.exit(f"gui-bench: needs {', '.join(miss)} (tools/bootstrap.sh installs them)")
    if not (build_dir() / "test/tools/wl-redraw").exists():
        sys.exit(f"gui-bench: build the tree first (ninja -C {build_dir()})")

    res = {"cpus": os.cpu_count(), "seconds": args.seconds, "compress": args.compress}
    with HeadlessDesktop() as desk:
        pair = WaypipePair(desk, args.compress)
        res["waypipe"] = pair.desc
        try:
            for mode in MODES:
                measure_direct(desk, mode, 1)  # warm-up
                pair.run(mode, 1)
                d, w = [], []
                for _ in range(args.runs):
                    d.append(measure_direct(desk, mode, args.seconds))
                    w.append(pair.run(mode, args.seconds))
                vm = measure_vm(desk, mode, args.seconds)
                res[mode] = {
                    "direct_fps": [x["fps"] for x in d],
                    "direct_first_frame_s": [x["first_frame_s"] for x in d],
                    "waypipe_fps": [x["fps"] for x in w],
                    "waypipe_first_frame_s": [x["first_frame_s"] for x in w],
                    "waypipe_bytes_per_frame": [x["bytes_per_frame"] for x in w],
                    "fps_ratio": statistics.median(x["fps"] for x in w) / statistics.median(x["fps"] for x in d),
                    "vm": vm if vm is not None else "not wired",
                }
        finally:
            pair.close()
    if args.json:
        print(json.dumps(res))
        return
    print(f"headless sway 1024x768 pixman, {res['cpus']} CPUs, {args.seconds:g} s per run, waypipe "
          f"-c {args.compress}: {res['waypipe']}")
    for mode in MODES:
        m = res[mode]
        print(f"{mode:5} D direct fps                {fmt(m['direct_fps'])}")
        print(f"{mode:5} W waypipe fps               {fmt(m['waypipe_fps'])}")
        print(f"{mode:5}   W/D fps                   {m['fps_ratio']:.2f}")
        print(f"{mode:5} D first frame               {fmt([x * 1000 for x in m['direct_first_frame_s']], ' ms')}")
        print(f"{mode:5} W first frame               {fmt([x * 1000 for x in m['waypipe_first_frame_s']], ' ms')}")
        print(f"{mode:5} W bytes/frame               {fmt([x / 1024 for x in m['waypipe_bytes_per_frame']], ' KiB')}")
        print(f"{mode:5} V VM path (penguin)         {m['vm']}")


if __name__ == "__main__":
    main()

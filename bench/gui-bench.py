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
  V  the VM path: wl-redraw in penguin (a private concierge, termina under BISTRO_ACCEL, penguin = the
     store's debian) through sommelier, vsock port 7100, wayland-gate, its sandboxed waypipe client and
     the filter, onto the same sway (VmPath); also launch -> window mapped, on the host's clock.

Alternating D W V D W V ... after one warm-up of each; figures: fps (median, min-max), first frame (connect ->
first frame callback done), bytes per frame (both directions, counted by the relay with os.splice
between wl-redraw's first and last frame: it prints CLOCK_MONOTONIC times), and the ratios W/D and V/D of fps.

Usage: bench/gui-bench.py [--runs 5] [--seconds 10] [--compress none|lz4|zstd] [--server-compress C] [--no-vm]
[--json] [--build-dir DIR] (default $BISTRO_BUILD_DIR, else <repo>/build). --compress applies to W only (the
VM path runs as sommelier and the gate configure waypipe); --server-compress gives W's server another
setting than its client (an interop check: waypipe 0.8.4 refuses a mismatch). Runs as root (the desktop's
test user is created; the VM path was run so) or, with --no-vm, as a plain user.
"""

import argparse
import json
import os
import socket
import statistics
import struct
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
WAYLAND_PORT = 7100  # src/basic/bistro-ports.h


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

    def last_before(self, t):
        """The time of the last chunk moved before t."""
        with self.lock:
            return max((x for x, _ in self.log if x <= t), default=t)

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

    def __init__(self, desk, compress, server_compress=None):
        self.desk, self.compress, self.server_compress = desk, compress, server_compress or compress
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
        argv = [*self.wp, "-n", "-c", self.server_compress, "-s", self.relay_sock, "--display",
                str(self.dir / "wayland-wp"), "server", "--", *redraw_argv(mode, seconds)]
        r = self.desk.run(argv, timeout=seconds + 60)
        res = json.loads(r.stdout.decode().strip().splitlines()[-1])
        nbytes = self.relay.bytes_between(res["first_frame_at"], res["end_at"])
        res["bytes_per_frame"] = nbytes / res["frames"] if res["frames"] else 0.0
        return res

    def close(self):
        self.relay.close()


class WindowEvents:
    """sway's IPC window events on a socket of our own (no swaymsg process per poll): new_window()
    returns the host time (time.monotonic()) at which sway reported a window with that title mapped.
    sway sends "new" from view_map(), i.e. on the surface's first commit with a buffer."""

    MAGIC = b"i3-ipc"

    def __init__(self, ipc_socket):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(ipc_socket)
        payload = b'["window"]'
        self.sock.sendall(self.MAGIC + struct.pack("=II", len(payload), 2) + payload)  # SUBSCRIBE
        self.cond = threading.Condition()
        self.mapped = {}  # title -> first "new" time
        self.subscribed = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.subscribed.wait(10):
            raise RuntimeError("sway did not answer the IPC subscribe")

    def _recv(self, n):
        b = b""
        while len(b) < n:
            c = self.sock.recv(n - len(b))
            if not c:
                raise OSError("sway IPC closed")
            b += c
        return b

    def _read(self):
        try:
            while True:
                hdr = self._recv(len(self.MAGIC) + 8)
                n, kind = struct.unpack("=II", hdr[len(self.MAGIC):])
                body = json.loads(self._recv(n))
                t = time.monotonic()
                if kind == 2:
                    self.subscribed.set()
                elif kind == 0x80000003 and body.get("change") in ("new", "title"):
                    title = body.get("container", {}).get("name") or ""
                    with self.cond:
                        self.mapped.setdefault(title, t)
                        self.cond.notify_all()
        except (OSError, ValueError):
            pass

    def new_window(self, title_prefix, timeout):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for title, t in self.mapped.items():
                    if title.startswith(title_prefix):
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no window titled {title_prefix!r}... in {timeout} s")
                self.cond.wait(left)

    def close(self):
        self.sock.close()


class VmPath:
    """THE VM PATH: wl-redraw run in penguin through Bistro (sommelier -> vsock port 7100 -> wayland-gate
    -> its sandboxed waypipe client -> the filter) and shown on desk.

    A private concierge (test/integration/concierge_helpers.Concierge, as the desktop tests' conftest
    does) with WAYLAND_DISPLAY=desk.socket; penguin created and started for its default user (garcon starts
    sommelier for it) by a first `bistro --user U -- true`; wl-redraw (static) copied into the user's home
    in penguin through `bistro -- sh -c 'cat > ...'` (not /tmp: a file written there by one session was
    gone in the next).

    Bytes on the VM stream: the stream-relay child of the gate splices, and splice() is not counted in
    /proc/PID/io (rchar/wchar stay 0), so instead the hybrid-vsock listener concierge binds for port 7100
    (<vsock.sock>_7100, where vsockd connects for each guest connection) is renamed and a CountingRelay
    (the same splice relay as the host-only pair's) is bound at its name: every byte between the VM and
    the gate, both ways, with host timestamps. wl-redraw's first_frame_at / end_at are the guest's clock,
    so the measured window on the host is [last byte - seconds, last byte] of that run's stream. The relay
    is one more hop on the path, the same one the host-only pair W has.

    Launch -> window mapped: t0 = time.monotonic() right before `bistro` starts, t1 = sway's IPC "new"
    window event for this run's title (WindowEvents), on the host's clock."""

    USER = "alice"  # as the desktop tests' penguin
    TITLE = "gui-bench vm"

    def __init__(self, desk, build):
        from concierge_helpers import Concierge, image_store, bistro  # noqa: E402 (needs the Termina image)

        self.bistro = bistro
        store = image_store()
        if not (store / "debian.tar.zst").exists():
            raise RuntimeError(f"no debian image in {store} (image/containers/build-debian.sh)")
        self.desk = desk
        self.relay = None
        self.events = WindowEvents(desk.ipc_socket)
        self.cc = Concierge(env={"BISTRO_IMAGE_STORE": str(store), "WAYLAND_DISPLAY": str(desk.socket)})
        self.n = 0
        try:
            self._ok("--", "true", timeout=1800)  # boots termina, creates and starts penguin
            with open(build / "test/tools/wl-redraw", "rb") as f:
                self._ok("--", "sh", "-c", "cat > $HOME/wl-redraw && chmod 755 $HOME/wl-redraw", stdin=f)
            listen = self.cc.runtime("termina") / f"vsock.sock_{WAYLAND_PORT}"
            self.real = listen.with_name(listen.name + ".bench")
            os.rename(listen, self.real)
            self.listen = listen
            self.relay = CountingRelay(str(listen), str(self.real))
        except BaseException:
            self.close()
            raise

    def _ok(self, *args, timeout=600, stdin=subprocess.DEVNULL):
        r = self.bistro(self.cc, "--user", self.USER, *args, timeout=timeout, stdin=stdin)
        if r.returncode != 0:
            raise RuntimeError(f"bistro {' '.join(args)} failed ({r.returncode}): {r.stderr}\n"
                               + self.cc.diagnostics())
        return r

    def run(self, mode, seconds, warm_up=False):
        self.n += 1
        title = f"{self.TITLE} {self.n}"
        script = ('exec env XDG_RUNTIME_DIR=/run/user/$(id -u) WAYLAND_DISPLAY=wayland-0 '
                  '$HOME/wl-redraw "$@"')
        argv = ["--", "sh", "-c", script, "sh", f"--{mode}", "--seconds", str(seconds), "--frames",
                "1000000", "--timeout", "60", "--title", title]
        # The first app after boot can race sommelier's start by garcon: the warm-up retries.
        deadline = time.monotonic() + (300 if warm_up else 0)
        while True:
            t0 = time.monotonic()
            r = self.bistro(self.cc, "--user", self.USER, *argv, timeout=seconds + 300)
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        if r.returncode != 0:
            raise RuntimeError(f"wl-redraw in penguin failed ({r.returncode}): {r.stdout}{r.stderr}")
        res = json.loads(r.stdout.strip().splitlines()[-1])
        res["launch_to_mapped_s"] = self.events.new_window(title + " (", 30) - t0  # the gate's mark
        end = self.relay.last_before(time.monotonic())
        nbytes = self.relay.bytes_between(end - res["seconds"], end)
        res["bytes_per_frame"] = nbytes / res["frames"] if res["frames"] else 0.0
        return res

    def close(self):
        if self.relay:
            self.relay.close()
            os.unlink(self.listen)
            os.rename(self.real, self.listen)
        self.events.close()
        self.cc.cleanup()


def fmt(v, unit="", prec=1):
    return f"{statistics.median(v):.{prec}f}{unit} ({min(v):.{prec}f}-{max(v):.{prec}f}, n={len(v)})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--compress", default="none", help="waypipe -c (0.8.4's default is none)")
    ap.add_argument("--server-compress", help="waypipe -c of the host-only pair's server only (default: "
                    "--compress; an interop check, the VM path is as sommelier and the gate run it)")
    ap.add_argument("--no-vm", action="store_true", help="host only: D and W, no VM")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--build-dir", default=str(build_dir()))
    args = ap.parse_args()
    os.environ["BISTRO_BUILD_DIR"] = str(Path(args.build_dir).resolve())  # build_dir() reads it
    miss = missing_tools()
    if miss:
        sys.exit(f"gui-bench: needs {', '.join(miss)} (tools/bootstrap.sh installs them)")
    if not (build_dir() / "test/tools/wl-redraw").exists():
        sys.exit(f"gui-bench: build the tree first (ninja -C {build_dir()})")

    res = {"cpus": os.cpu_count(), "seconds": args.seconds, "compress": args.compress,
           "server_compress": args.server_compress or args.compress, "load_start": os.getloadavg()}
    with HeadlessDesktop() as desk:
        pair = WaypipePair(desk, args.compress, args.server_compress)
        res["waypipe"] = pair.desc
        vm = None
        try:
            if not args.no_vm:
                t = time.monotonic()
                vm = VmPath(desk, build_dir())
                res["vm_setup_s"] = time.monotonic() - t
            for mode in MODES:
                measure_direct(desk, mode, 1)  # warm-up
                pair.run(mode, 1)
                if vm:
                    vm.run(mode, 1, warm_up=True)
                d, w, v = [], [], []
                for _ in range(args.runs):
                    d.append(measure_direct(desk, mode, args.seconds))
                    w.append(pair.run(mode, args.seconds))
                    if vm:
                        v.append(vm.run(mode, args.seconds))
                dfps = statistics.median(x["fps"] for x in d)
                res[mode] = {
                    "direct_fps": [x["fps"] for x in d],
                    "direct_first_frame_s": [x["first_frame_s"] for x in d],
                    "waypipe_fps": [x["fps"] for x in w],
                    "waypipe_first_frame_s": [x["first_frame_s"] for x in w],
                    "waypipe_bytes_per_frame": [x["bytes_per_frame"] for x in w],
                    "fps_ratio": statistics.median(x["fps"] for x in w) / dfps,
                }
                if v:
                    res[mode].update({
                        "vm_fps": [x["fps"] for x in v],
                        "vm_first_frame_s": [x["first_frame_s"] for x in v],
                        "vm_launch_to_mapped_s": [x["launch_to_mapped_s"] for x in v],
                        "vm_bytes_per_frame": [x["bytes_per_frame"] for x in v],
                        "vm_fps_ratio": statistics.median(x["fps"] for x in v) / dfps,
                    })
        finally:
            pair.close()
            if vm:
                vm.close()
    res["load_end"] = os.getloadavg()
    if args.json:
        print(json.dumps(res))
        return
    comp = args.compress if res["server_compress"] == args.compress else \
        f"{args.compress} (client) / {res['server_compress']} (server)"
    print(f"headless sway 1024x768 pixman, {res['cpus']} CPUs, {args.seconds:g} s per run, waypipe "
          f"-c {comp}: {res['waypipe']}; load {res['load_start'][0]:.1f} -> {res['load_end'][0]:.1f}")
    for mode in MODES:
        m = res[mode]
        print(f"{mode:5} D direct fps                {fmt(m['direct_fps'])}")
        print(f"{mode:5} W waypipe fps               {fmt(m['waypipe_fps'])}")
        print(f"{mode:5}   W/D fps                   {m['fps_ratio']:.2f}")
        if "vm_fps" in m:
            print(f"{mode:5} V VM path fps               {fmt(m['vm_fps'])}")
            print(f"{mode:5}   V/D fps                   {m['vm_fps_ratio']:.2f}")
        print(f"{mode:5} D first frame               {fmt([x * 1000 for x in m['direct_first_frame_s']], ' ms')}")
        print(f"{mode:5} W first frame               {fmt([x * 1000 for x in m['waypipe_first_frame_s']], ' ms')}")
        if "vm_fps" in m:
            print(f"{mode:5} V first frame (guest clock) {fmt([x * 1000 for x in m['vm_first_frame_s']], ' ms')}")
            print(f"{mode:5} V launch -> window mapped   "
                  f"{fmt([x * 1000 for x in m['vm_launch_to_mapped_s']], ' ms', 0)}")
        print(f"{mode:5} W bytes/frame               {fmt([x / 1024 for x in m['waypipe_bytes_per_frame']], ' KiB')}")
        if "vm_fps" in m:
            print(f"{mode:5} V bytes/frame (VM stream)   {fmt([x / 1024 for x in m['vm_bytes_per_frame']], ' KiB')}")
    if "vm_setup_s" in res:
        print(f"VM path set-up (termina boot, penguin created and started, wl-redraw copied): "
              f"{res['vm_setup_s']:.0f} s")


if __name__ == "__main__":
    main()

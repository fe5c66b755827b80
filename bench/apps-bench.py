#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Container apps benchmark (not a test): app launch from the host, and how fast a new desktop entry
reaches the host's launcher.

One private concierge (its own XDG dirs; the debian image comes from the real store), termina and
penguin with a default user (garcon runs as that user). A tiny app is installed in penguin
(/usr/local/bin/bench-app, which appends a line to a file) with its desktop entry. Then:

  A  warm launch: the host entry's Exec line (`bistro --app bench-app --vm termina --container
     penguin`) starts -> it exits 0, which it does once garcon has exec()ed the app in penguin (VM,
     container and garcon running);
  V  baseline: `vsh termina penguin -- /usr/local/bin/bench-app`, the same program through a vsh
     session (the Terminal's path);
     alternating A V A V ... after one warm-up of each; ratio A/V.
  C  cold launch: everything stopped (VM stopped, concierge exited) -> the Exec line exits 0 (it
     starts concierge, boots termina, starts penguin and garcon, then launches);
  T  baseline: cold `bistro -- true` (concierge, termina, penguin, a shell command), alternating
     C T C T ...; ratio C/T.
  E  entry latency: a .desktop file renamed into penguin's /usr/share/applications -> the host's
     entry file exists (polled every 20 ms): median and max (the issue's aim: 5 s).

Env as the tests (BISTRO_ACCEL, default tcg; BISTRO_TERMINA_IMAGE; BISTRO_BUILD_DIR;
BISTRO_IMAGE_STORE). Usage: bench/apps-bench.py [--runs 10] [--cold-runs 3] [--json]
"""

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test/integration"))
from concierge_helpers import image_store, Concierge, build_dir  # noqa: E402

USER = "benchu"
APP = """#!/bin/sh
echo "$(date +%s.%N) $*" >> /var/tmp/bench-app.log
"""
DESKTOP = "[Desktop Entry]\nType=Application\nName=Bench App\nExec=/usr/local/bin/bench-app %U\n"


def fmt(v):
    return f"{statistics.median(v):7.3f} s ({min(v):.3f}-{max(v):.3f}, n={len(v)})"


class Bench:
    def __init__(self, cc):
        self.cc = cc
        self.bistro = str(build_dir() / "src/bistro/bistro")
        self.vsh = str(build_dir() / "src/vsh/vsh")

    def run(self, argv, timeout=1800):
        t = time.monotonic()
        r = subprocess.run(argv, env=self.cc.env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=timeout)
        took = time.monotonic() - t
        self.cc.track()
        if r.returncode != 0:
            raise SystemExit(f"failed ({r.returncode}): {' '.join(argv)}\n{r.stdout}{r.stderr}\n" +
                             self.cc.diagnostics())
        return took

    def sh(self, script, user="root"):
        return self.run([self.bistro, "--user", user, "--", "sh", "-c", script])

    def entry(self, app_id):
        return self.cc.data_dir / f"applications/bistro-termina-penguin-{app_id}.desktop"

    def wait_entry(self, app_id, present=True, timeout=60):
        t = time.monotonic()
        while time.monotonic() - t < timeout:
            if self.entry(app_id).exists() == present:
                return time.monotonic() - t
            time.sleep(0.02)
        raise SystemExit(f"entry {app_id} {'did not appear' if present else 'stayed'} within {timeout} s\n" +
                         self.cc.diagnostics())

    def cold(self):
        self.cc.vmc("stop", "termina")
        self.cc.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--cold-runs", type=int, default=3)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    cc = Concierge(env={"BISTRO_IMAGE_STORE": str(image_store())})
    b = Bench(cc)
    try:
        setup = b.run([b.bistro, "--user", USER, "--", "true"])
        print(f"setup (boot, penguin, user): {setup:.1f} s", file=sys.stderr)
        b.sh(f"cat > /usr/local/bin/bench-app <<'EOF'\n{APP}EOF\nchmod 755 /usr/local/bin/bench-app; mkdir -p /usr/share/applications; "
             f"cat > /usr/share/applications/bench-app.desktop <<'EOF'\n{DESKTOP}EOF\n")
        b.wait_entry("bench-app", timeout=300)
        exec_line = [a for a in shlex.split(
            next(line for line in b.entry("bench-app").read_text().splitlines() if line.startswith("Exec="))[5:])
            if a != "%U"]

        # E: entry latency (rename, so garcon sees a whole file).
        lat = []
        for i in range(args.runs):
            b.sh(f"cat > /usr/share/applications/.e{i}.tmp <<'EOF'\n{DESKTOP}EOF\n")
            t = time.monotonic()
            subprocess.run([b.vsh, "--user", "root", "termina", "penguin", "--", "mv", f"/usr/share/applications/.e{i}.tmp",
                            f"/usr/share/applications/bench-e{i}.desktop"], env=cc.env, check=True,
                           capture_output=True, timeout=120)
            while not b.entry(f"bench-e{i}").exists():
                if time.monotonic() - t > 60:
                    raise SystemExit("entry did not appear within 60 s")
                time.sleep(0.02)
            lat.append(time.monotonic() - t)
        b.sh("rm -f /usr/share/applications/bench-e*.desktop")

        # A / V: warm launch.
        warm, base = [], []
        b.run(exec_line)
        b.run([b.vsh, "--user", USER, "termina", "penguin", "--", "/usr/local/bin/bench-app"])
        for _ in range(args.runs):
            warm.append(b.run(exec_line))
            base.append(b.run([b.vsh, "--user", USER, "termina", "penguin", "--", "/usr/local/bin/bench-app"]))

        # C / T: cold.
        cold, cold_base = [], []
        for _ in range(args.cold_runs):
            b.cold()
            cold.append(b.run(exec_line))
            b.cold()
            cold_base.append(b.run([b.bistro, "--user", USER, "--", "true"]))
    finally:
        cc.cleanup()

    res = {
        "entry_latency_s": {"median": statistics.median(lat), "max": max(lat), "n": len(lat)},
        "warm_launch_s": statistics.median(warm), "warm_vsh_s": statistics.median(base),
        "warm_ratio": statistics.median(warm) / statistics.median(base),
        "cold_launch_s": statistics.median(cold), "cold_bistro_true_s": statistics.median(cold_base),
        "cold_ratio": statistics.median(cold) / statistics.median(cold_base),
    }
    if args.json:
        print(json.dumps(res))
        return
    print(f"E entry latency (penguin .desktop -> host entry): median {statistics.median(lat):.3f} s, "
          f"max {max(lat):.3f} s, n={len(lat)} (aim <= 5 s)")
    print(f"A warm launch (bistro --app)          {fmt(warm)}")
    print(f"V vsh termina penguin -- app          {fmt(base)}")
    print(f"  A/V {res['warm_ratio']:.2f}")
    print(f"C cold launch (bistro --app)          {fmt(cold)}")
    print(f"T cold bistro -- true                 {fmt(cold_base)}")
    print(f"  C/T {res['cold_ratio']:.2f}")


if __name__ == "__main__":
    main()

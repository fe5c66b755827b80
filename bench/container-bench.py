#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""container benchmark (not a test): container start -> shell ready, against plain LXC in the VM.

One private concierge (its own XDG dirs; the images come from the real store), the VM termina, and
one container per image (bench-busybox, bench-debian), created once before timing. Then, per image,
alternating S B S B ... after one warm-up of each:

  S = subject, host wall time: `vmc container termina X` starts (X stopped) -> the first
      `vsh termina X -- true` that exits 0 (retried at once while it fails). Includes: starting vmc,
      concierge -> tremplin StartContainer (config, token, resolv.conf, network, lxc start) and one or
      more vsh sessions into the container.
  B = baseline, host wall time of ONE `vsh termina -- sh -c '...'` session in the VM that runs
      `lxc-start -n X -P /mnt/stateful/lxc` and then `lxc-attach -n X -P /mnt/stateful/lxc -- true`
      (retried until it exits 0) on the same container. Includes one vsh session into the VM
      (no container attach) plus lxc-start plus lxc-attach.
  Bvm = the same baseline measured inside the VM from /proc/uptime (10 ms resolution): lxc-start +
      lxc-attach only, without the vsh session.
The container is stopped after every run (not timed): `vmc container-stop` after S, `lxc-stop -k` after B.

Also: W = `bistro -- true` with termina and penguin running (warm), against V = `vsh termina penguin
-- true` (what bistro ends in), alternating.

Prints median (min-max) and the ratios S/B and S/Bvm, W/V.

--init-vs-systemd FILE: instead, penguin with systemd against the same Debian with bistro-init:
one container from the store's `debian` image (systemd as PID 1) and one from FILE (a debian image
without an init, e.g. one built by build-debian.sh before systemd came in), alternating, after a
warm-up of each:
  S = as above (`vmc container` -> first `vsh ... -- true` that exits 0): shell ready;
  R = (systemd only) `vmc container` -> `systemctl is-system-running --wait` returns in the
      container: the boot finished (the shell works before that).
Prints both S, R and the ratio S(systemd)/S(bistro-init).

Env as the tests (BISTRO_ACCEL, default
tcg; BISTRO_TERMINA_IMAGE; BISTRO_BUILD_DIR; BISTRO_IMAGE_STORE, default the real store).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test/integration"))
from concierge_helpers import image_store, Concierge, build_dir  # noqa: E402

LXCPATH = "/mnt/stateful/lxc"


def fmt(v):
    return f"{statistics.median(v):7.3f} s ({min(v):.3f}-{max(v):.3f}, n={len(v)})"


class Bench:
    def __init__(self, cc, timeout):
        self.cc = cc
        self.timeout = timeout
        self.vsh = str(build_dir() / "src/vsh/vsh")

    def run(self, argv, check=True, timeout=None):
        r = subprocess.run(argv, env=self.cc.env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           timeout=timeout or self.timeout)
        if check and r.returncode != 0:
            raise SystemExit(f"failed ({r.returncode}): {' '.join(argv)}\n{r.stdout}{r.stderr}\n" +
                             self.cc.diagnostics())
        return r

    def vmc(self, *args, check=True):
        return self.run([str(self.cc.vmc_path), *args], check=check)

    def vm_sh(self, script, check=True):
        return self.run([self.vsh, "termina", "--", "sh", "-c", script], check=check)

    def subject(self, name, ready=("true",)):
        t0 = time.monotonic()
        self.vmc("container", "termina", name)
        deadline = t0 + self.timeout
        while True:
            r = self.run([self.vsh, "termina", name, "--", *ready], check=False)
            if r.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"vsh into {name} never succeeded: {r.stderr}")
        dt = time.monotonic() - t0
        self.vmc("container-stop", "termina", name)
        return dt

    def baseline(self, name):
        p = f"-n {name} -P {LXCPATH}"
        # dash, no coreutils in Termina: /proc/uptime for the in-VM time.
        script = (f"read a _ < /proc/uptime; lxc-start {p} || exit 1; i=0; "
                  f"until lxc-attach {p} -- true; do i=$((i+1)); [ $i -lt 2000 ] || exit 2; done; "
                  f"read b _ < /proc/uptime; echo \"$a $b\"")
        t0 = time.monotonic()
        r = self.vm_sh(script)
        dt = time.monotonic() - t0
        a, b = (float(x) for x in r.stdout.split()[-2:])
        self.vm_sh(f"lxc-stop {p} -k")
        return dt, b - a

    def stopped(self, name):
        self.vmc("container-stop", "termina", name, check=False)


def init_vs_systemd(b, runs, init_file, accel):
    """penguin with systemd (the store's debian) against bistro-init (init_file), S and R."""
    # Right after the start systemd may not answer yet: ask until it says running or degraded.
    booted = ("sh", "-c", 'until s=$(systemctl is-system-running --wait 2>/dev/null); '
              '[ "$s" = running ] || [ "$s" = degraded ]; do sleep 0.1; done')
    names = {"systemd": "bench-sd", "bistro-init": "bench-init"}
    t0 = time.monotonic()
    b.vmc("container", "termina", names["systemd"], "--image", "debian")
    print(f"created {names['systemd']} in {time.monotonic() - t0:.1f} s", flush=True)
    t0 = time.monotonic()
    b.vmc("container", "termina", names["bistro-init"], "--image", str(init_file))
    print(f"created {names['bistro-init']} in {time.monotonic() - t0:.1f} s", flush=True)
    pid1 = b.run([b.vsh, "termina", names["systemd"], "--", "cat", "/proc/1/comm"]).stdout.strip()
    pid1_init = b.run([b.vsh, "termina", names["bistro-init"], "--", "cat", "/proc/1/comm"]).stdout.strip()
    if pid1 != "systemd" or pid1_init != "bistro-init":
        raise SystemExit(f"PID 1 is {pid1!r} / {pid1_init!r}, not systemd / bistro-init")
    for n in names.values():
        b.stopped(n)
    b.subject(names["systemd"])  # warm-up
    b.subject(names["bistro-init"])
    S_sd, R_sd, S_init = [], [], []
    for _ in range(runs):
        S_sd.append(b.subject(names["systemd"]))
        S_init.append(b.subject(names["bistro-init"]))
        R_sd.append(b.subject(names["systemd"], booted))
    print(f"container bench, penguin init ({accel}, {runs} runs)")
    print(f"  S systemd:     vmc container -> vsh true ok                 {fmt(S_sd)}")
    print(f"  S bistro-init: vmc container -> vsh true ok                 {fmt(S_init)}")
    print(f"  R systemd:     vmc container -> is-system-running --wait    {fmt(R_sd)}")
    print(f"  S(systemd)/S(bistro-init) = {statistics.median(S_sd) / statistics.median(S_init):.2f}   "
          f"R(systemd)/S(bistro-init) = {statistics.median(R_sd) / statistics.median(S_init):.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--init-vs-systemd", metavar="FILE",
                    help="compare penguin with systemd (store image debian) against FILE with bistro-init")
    ap.add_argument("--images", default="busybox,debian")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--build-dir")
    args = ap.parse_args()
    if args.build_dir:
        os.environ["BISTRO_BUILD_DIR"] = str(Path(args.build_dir).resolve())
    store = image_store()
    if args.init_vs_systemd:
        init_file = Path(args.init_vs_systemd).resolve()
        if not init_file.exists() or not (store / "debian.tar.zst").exists():
            raise SystemExit(f"need {init_file} and {store}/debian.tar.zst")
        cc = Concierge(env={"BISTRO_IMAGE_STORE": str(store)}).start()
        b = Bench(cc, args.timeout)
        try:
            b.vmc("start", "termina")
            init_vs_systemd(b, args.runs, init_file, cc.env.get("BISTRO_ACCEL", "tcg"))
        finally:
            cc.cleanup()
        return
    images = [i for i in args.images.split(",") if i]
    for i in images:
        if not (store / f"{i}.tar.zst").exists():
            raise SystemExit(f"no {i} image in {store} (image/containers/build-{i}.sh)")

    cc = Concierge(env={"BISTRO_IMAGE_STORE": str(store)}).start()
    b = Bench(cc, args.timeout)
    accel = cc.env.get("BISTRO_ACCEL", "tcg")
    try:
        b.vmc("start", "termina")
        results = {}
        for img in images:
            name = f"bench-{img}"
            t0 = time.monotonic()
            b.vmc("container", "termina", name, "--image", img)
            print(f"created {name} from {img} in {time.monotonic() - t0:.1f} s (first start included)",
                  flush=True)
            b.stopped(name)
            b.subject(name)  # warm-up
            b.baseline(name)
            S, B, Bvm = [], [], []
            for _ in range(args.runs):
                S.append(b.subject(name))
                dt, inner = b.baseline(name)
                B.append(dt)
                Bvm.append(inner)
            results[img] = (S, B, Bvm)

        # Warm bistro: penguin created by bistro itself (not timed), then W V W V ...
        bistro = str(build_dir() / "src/bistro/bistro")
        t0 = time.monotonic()
        b.run([bistro, "--", "true"])
        cold = time.monotonic() - t0
        W, V = [], []
        b.run([bistro, "--", "true"])
        b.run([b.vsh, "termina", "penguin", "--", "true"])
        for _ in range(args.runs):
            t0 = time.monotonic()
            b.run([bistro, "--", "true"])
            W.append(time.monotonic() - t0)
            t0 = time.monotonic()
            b.run([b.vsh, "termina", "penguin", "--", "true"])
            V.append(time.monotonic() - t0)

        print(f"container bench ({accel}, {args.runs} runs, termina with concierge's default memory and vCPUs)")
        for img, (S, B, Bvm) in results.items():
            print(f"  {img}:")
            print(f"    S vmc container -> vsh true ok     {fmt(S)}")
            print(f"    B vsh(VM): lxc-start + lxc-attach  {fmt(B)}")
            print(f"    Bvm lxc-start + lxc-attach in VM   {fmt(Bvm)}")
            print(f"    S/B = {statistics.median(S) / statistics.median(B):.2f}   "
                  f"S/Bvm = {statistics.median(S) / statistics.median(Bvm):.2f}   (aim S/B <= 1.2)")
        print(f"  bistro -- true, first call (create + start penguin from debian): {cold:.1f} s")
        print(f"  W bistro -- true (warm)              {fmt(W)}")
        print(f"  V vsh termina penguin -- true        {fmt(V)}")
        print(f"  W/V = {statistics.median(W) / statistics.median(V):.2f}")
    finally:
        cc.cleanup()


if __name__ == "__main__":
    main()

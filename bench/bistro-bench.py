#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Warm Terminal benchmark, as a plain (non-root) user, everything already running:

  W  `bistro -- true`                      (termina running, penguin running)
  V  `vsh termina penguin -- true`         (what bistro ends in; same user, same container)
  D  `distrobox enter NAME -- true`        (Debian's distrobox + rootless podman, the same Debian
                                            rootfs: the image store's debian.tar.zst imported into
                                            podman), where distrobox and podman are installed

A private concierge (temporary XDG_RUNTIME_DIR and XDG_DATA_HOME, the build's Termina image) is
started; the first `bistro -- true` boots termina and creates penguin from the image store's
`debian` image (untimed, reported). Then one warm-up of each, and N counted runs alternating
W V D W V D ... Prints median and min-max of each and the ratios of the medians (aim: W/V <= 1.1).
When distrobox or podman is missing, or the image cannot be imported, the D baseline is skipped
and the reason printed.

Run as the plain user (it refuses root: the figure is about a normal user), or as root with
`--user NAME`, which re-runs it as NAME with XDG_RUNTIME_DIR=/run/user/UID (created 0700 when
missing, since there may be no logind to make it):

  /usr/bin/python3 bench/bistro-bench.py [--runs 10] [--build-dir build] [--user NAME]

On a host whose cgroups are in hybrid mode (v1 controllers plus a v2 mount), Debian 12's crun
cannot start rootless containers ("cgroups in hybrid mode not supported"): install runc and give
the user `[engine] runtime = "runc"` in ~/.config/containers/containers.conf.

The image store is $BISTRO_IMAGE_STORE (else NAME's ~/.local/share/bistro/images/containers); it
must hold debian.tar.zst (image/containers/build-debian.sh STORE, as root). The distrobox
container (default `bistro-bench`) and podman image (`localhost/bistro-bench-debian`) are kept
for the next run; `--fresh-distrobox` recreates them.
"""

import argparse
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PODMAN_IMAGE = "localhost/bistro-bench-debian"


def stats(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt(xs):
    m, lo, hi = stats(xs)
    return f"{m:.3f} s median ({lo:.3f}-{hi:.3f}, n={len(xs)})"


def as_user(args):
    """Root: re-executes this script as args.user with a runtime dir of its own."""
    try:
        pw = pwd.getpwnam(args.user)
    except KeyError:
        sys.exit(f"bistro-bench: no user {args.user!r} (useradd -m {args.user})")
    if pw.pw_uid == 0:
        sys.exit("bistro-bench: --user must name a non-root user")
    run = Path(f"/run/user/{pw.pw_uid}")
    if not run.exists():
        run.mkdir(mode=0o700, parents=True)
        os.chown(run, pw.pw_uid, pw.pw_gid)
    argv = [a for a in sys.argv[1:]]
    i = argv.index("--user")
    del argv[i:i + 2]
    env = {"HOME": pw.pw_dir, "USER": pw.pw_name, "LOGNAME": pw.pw_name, "XDG_RUNTIME_DIR": str(run),
           "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "LANG": "C.UTF-8"}
    for k in ("BISTRO_IMAGE_STORE", "BISTRO_ACCEL", "BISTRO_BUILD_DIR"):
        if k in os.environ:
            env[k] = os.environ[k]
    cmd = ["runuser", "-u", pw.pw_name, "--", "env", "-i", *[f"{k}={v}" for k, v in env.items()],
           sys.executable, str(Path(__file__).resolve()), *argv]
    os.execvp(cmd[0], cmd)


def timed(argv, env=None, timeout=600):
    t0 = time.monotonic()
    r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    dt = time.monotonic() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {r.returncode}: "
                           f"{(r.stdout + r.stderr).decode(errors='replace')[-2000:]}")
    return dt


def distrobox_setup(args, store):
    """Returns None when the D baseline can run, else why it cannot."""
    missing = [p for p in ("distrobox", "podman") if not shutil.which(p)]
    if missing:
        return f"{' and '.join(missing)} not installed (Debian packages distrobox, podman)"
    tar = store / "debian.tar.zst"
    if not tar.exists():
        return f"no {tar} to import into podman (image/containers/build-debian.sh {store})"

    def run(*argv, timeout=900):
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)

    if args.fresh_distrobox:
        run("distrobox", "rm", "--force", args.distrobox)
        run("podman", "rmi", "--force", PODMAN_IMAGE)
    if run("podman", "image", "exists", PODMAN_IMAGE).returncode != 0:
        t0 = time.monotonic()
        r = run("podman", "import", "--change", "CMD=/bin/bash", str(tar), PODMAN_IMAGE)
        if r.returncode != 0:
            return f"podman import {tar} failed: {(r.stdout + r.stderr).strip()[-500:]}"
        print(f"imported {tar.name} into podman as {PODMAN_IMAGE} in {time.monotonic() - t0:.1f} s", flush=True)
    if run("podman", "container", "exists", args.distrobox).returncode != 0:
        r = run("distrobox", "create", "--yes", "--name", args.distrobox, "--image", PODMAN_IMAGE)
        if r.returncode != 0:
            return f"distrobox create failed: {(r.stdout + r.stderr).strip()[-500:]}"
    # The first enter starts the container and runs distrobox-init (it installs what distrobox
    # needs into the container, from the network): untimed.
    t0 = time.monotonic()
    r = run("distrobox", "enter", args.distrobox, "--", "true", timeout=1800)
    if r.returncode != 0:
        out = (r.stdout + r.stderr).strip()
        hint = ""
        if "hybrid mode not supported" in out:
            # Debian 12's crun refuses a host with cgroups v1 and v2 mounted side by side.
            hint = (' (crun refuses hybrid cgroups: install runc and put [engine] runtime = "runc" in '
                    '~/.config/containers/containers.conf)')
        return f"first distrobox enter failed{hint}: {out[-800:]}"
    print(f"distrobox {args.distrobox}: first enter (start + init) {time.monotonic() - t0:.1f} s", flush=True)
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--build-dir")
    ap.add_argument("--user", help="as root: run the benchmark as this (non-root) user")
    ap.add_argument("--distrobox", default="bistro-bench", help="distrobox container name")
    ap.add_argument("--fresh-distrobox", action="store_true")
    args = ap.parse_args()
    if args.build_dir:
        os.environ["BISTRO_BUILD_DIR"] = str(Path(args.build_dir).resolve())
    if os.geteuid() == 0:
        if not args.user:
            print("bistro-bench: the figure is for a plain user: run as one, or as root with --user NAME",
                  file=sys.stderr)
            return 2
        as_user(args)
    if args.runs < 1:
        print("bistro-bench: --runs must be at least 1", file=sys.stderr)
        return 2

    sys.path.insert(0, str(REPO / "test/integration"))
    from concierge_helpers import Concierge, build_dir, image_store  # noqa: E402

    store = image_store()
    if not (store / "debian.tar.zst").exists():
        print(f"bistro-bench: no debian image in {store} (set BISTRO_IMAGE_STORE, or run "
              f"image/containers/build-debian.sh {store} as root)", file=sys.stderr)
        return 1
    accel = os.environ.get("BISTRO_ACCEL", "tcg")
    bistro = str(build_dir() / "src/bistro/bistro")
    vsh = str(build_dir() / "src/vsh/vsh")

    skipped = distrobox_setup(args, store)
    cc = Concierge(env={"BISTRO_IMAGE_STORE": str(store), "BISTRO_ACCEL": accel}).start()
    try:
        t0 = time.monotonic()
        timed([bistro, "--", "true"], cc.env, timeout=1800)
        cold = time.monotonic() - t0
        print(f"first bistro -- true (boot termina, create + start penguin from debian): {cold:.1f} s",
              flush=True)
        subjects = [("W", "bistro -- true", [bistro, "--", "true"], cc.env),
                    ("V", "vsh termina penguin -- true", [vsh, "termina", "penguin", "--", "true"], cc.env)]
        if skipped is None:
            subjects.append(("D", f"distrobox enter {args.distrobox} -- true",
                             ["distrobox", "enter", args.distrobox, "--", "true"], None))
        for _, _, argv, env in subjects:  # warm-up
            timed(argv, env)
        res = {k: [] for k, _, _, _ in subjects}
        for _ in range(args.runs):
            for k, _, argv, env in subjects:
                res[k].append(timed(argv, env))
        load = os.getloadavg()[0]
    finally:
        cc.cleanup()

    user = pwd.getpwuid(os.geteuid()).pw_name
    print(f"bistro bench ({accel}, user {user}, {args.runs} runs alternating, load {load:.1f}, "
          f"{os.cpu_count()} cores; termina with concierge's default memory and vCPUs)")
    for k, label, _, _ in subjects:
        print(f"  {k} {label:<36} {fmt(res[k])}")
    if skipped is not None:
        print(f"  D distrobox enter -- true: baseline skipped: {skipped}")
    med = {k: statistics.median(v) for k, v in res.items()}
    print(f"  W/V = {med['W'] / med['V']:.2f}   (aim <= 1.1)")
    if "D" in med:
        print(f"  W/D = {med['W'] / med['D']:.2f}   V/D = {med['V'] / med['D']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

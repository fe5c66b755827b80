#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shared folders benchmark (not a test): a host folder shared into penguin (`vmc share`:
virtio-fs, virtiofsd under seneschal, /mnt/shared/<name>) against penguin's own disk (its home,
on Termina's btrfs stateful disk), the same workloads in the same container (issue #13).

One private concierge (its own XDG dirs and HOME under its private root; the debian image from the
real store), termina and penguin with a default user (uid 1000); the share's host folder is
<root>/home/benchshare. Each workload runs inside penguin in ONE perl process (penguin's Debian
minbase has perl-base, not python; one process because every exec costs ~80 ms under TCG), timed
inside that process, subject (S, the share) and baseline (L, penguin's home) alternating after one
warm-up each:

  write  sequential write of --size MiB (1 MiB writes of random bytes), open -> fsync -> close;
  read   sequential read of that file (1 MiB reads), open -> close. Cold: before each read the
         guest's page cache is dropped (Termina's root, /proc/sys/vm/drop_caches) and the host's
         pages of the file are dropped too (posix_fadvise DONTNEED on the share's host file, and on
         the VM's disk images for the local file: QEMU uses the host page cache);
  meta   --files small files (16 bytes) created, then all stat()ed, then all unlinked;
  git    `git status` in a clone of this repository kept in the share vs a copy of the same clone
         in penguin's home (timed around perl's system(), one fork+exec included in both). penguin
         has no git: it is installed once with apt-get as root; if that fails (no network), the
         figure is reported as skipped with the reason.

Env as the tests (BISTRO_ACCEL, default tcg; BISTRO_TERMINA_IMAGE; BISTRO_BUILD_DIR;
BISTRO_IMAGE_STORE). Usage:
  bench/shares-bench.py [--size 1024] [--runs 3] [--files 10000] [--git-runs 3] [--no-git] [--json]
"""

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test/integration"))
from concierge_helpers import image_store, Concierge, build_dir  # noqa: E402

USER = "benchu"
VM = "termina"
SHARE = "benchshare"
REPO = Path(__file__).resolve().parents[1]

# One perl program for every workload; argv: MODE PATH [N]. Prints the elapsed seconds.
PERL = r'''
use strict; use warnings; use Fcntl; use IO::Handle;
my $hr = eval { require Time::HiRes; 1 };
sub now { return Time::HiRes::time() if $hr; open(my $u, "<", "/proc/uptime") or die; my $l = <$u>; close $u; return (split / /, $l)[0]; }
my ($mode, $path, $n) = @ARGV;
my $t0; my $t1;
if ($mode eq "write") {
    open(my $r, "<", "/dev/urandom") or die; my $buf; sysread($r, $buf, 1 << 20) == (1 << 20) or die; close $r;
    $t0 = now();
    sysopen(my $f, $path, O_WRONLY | O_CREAT | O_TRUNC) or die "$path: $!";
    for (1 .. $n) { my $w = syswrite($f, $buf); die "write: $!" unless defined $w && $w == (1 << 20); }
    $f->sync or die "fsync: $!"; close $f or die;
    $t1 = now();
} elsif ($mode eq "read") {
    $t0 = now();
    sysopen(my $f, $path, O_RDONLY) or die "$path: $!";
    my ($buf, $tot, $k) = ("", 0, 0);
    while (($k = sysread($f, $buf, 1 << 20))) { $tot += $k; }
    die "read: $!" unless defined $k; close $f;
    $t1 = now();
    die "short read $tot" unless $tot == $n * (1 << 20);
} elsif ($mode eq "meta") {
    mkdir $path; chdir $path or die "$path: $!";
    $t0 = now();
    for my $i (0 .. $n - 1) { open(my $f, ">", "f$i") or die "f$i: $!"; print $f "0123456789abcdef"; close $f or die; }
    for my $i (0 .. $n - 1) { my @s = stat("f$i") or die "stat f$i: $!"; }
    for my $i (0 .. $n - 1) { unlink("f$i") or die "unlink f$i: $!"; }
    $t1 = now();
    chdir "/"; rmdir $path;
} elsif ($mode eq "cmd") {
    chdir $path or die "$path: $!";
    shift @ARGV; shift @ARGV;
    $t0 = now();
    open(STDOUT, ">", "/dev/null");
    system(@ARGV) == 0 or die "@ARGV: $?";
    $t1 = now();
} else { die "mode $mode"; }
printf STDERR "ELAPSED %.6f %s\n", $t1 - $t0, ($hr ? "hires" : "uptime");
'''


def med(v):
    return statistics.median(v)


class Bench:
    def __init__(self, cc, home):
        self.cc = cc
        self.env = dict(cc.env, HOME=str(home))
        self.bistro = str(build_dir() / "src/bistro/bistro")
        self.clocks = set()

    def run(self, argv, timeout=1800, check=True, **kw):
        r = subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, **kw)
        self.cc.track()
        if check and r.returncode != 0:
            raise SystemExit(f"{argv[:6]} failed ({r.returncode}): {r.stderr}{r.stdout}")
        return r

    def penguin(self, *argv, user=USER, **kw):
        return self.run([self.bistro, "--user", user, "--", *argv], **kw)

    def perl(self, mode, path, *rest):
        r = self.penguin("perl", "-e", PERL, mode, path, *map(str, rest))
        for line in r.stderr.splitlines():
            if line.startswith("ELAPSED "):
                _, s, clock = line.split()
                self.clocks.add(f"{mode}:{clock}")
                return float(s)
        raise SystemExit(f"perl {mode} {path}: no time: {r.stderr}")

    def drop_guest_cache(self):
        code = self.cc.guest_sh(VM, "sync; echo 3 > /proc/sys/vm/drop_caches")
        if code != 0:
            raise SystemExit(f"drop_caches in Termina failed ({code})")

    def drop_host_cache(self, paths):
        for p in paths:
            try:
                fd = os.open(p, os.O_RDONLY)
            except OSError:
                continue
            try:
                os.fdatasync(fd)
            except OSError:
                pass
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            os.close(fd)


def vm_disks(cc):
    """The VM's disk images on the host (QEMU opens them with the host page cache)."""
    out = []
    for p in (cc.data_dir / "bistro").rglob("*"):
        try:
            if p.is_file() and not p.is_symlink() and p.stat().st_size > (64 << 20) and "images" not in p.parts:
                out.append(p)
        except OSError:
            pass
    return out


def install_git(b):
    """git in penguin (apt-get, as root, once). Returns None or the reason it is not there."""
    if b.penguin("sh", "-c", "command -v git", check=False).returncode == 0:
        return None
    try:
        r = b.penguin("sh", "-c", "export DEBIAN_FRONTEND=noninteractive; "
                      "apt-get -o Acquire::Retries=0 -o Acquire::http::Timeout=20 update -q && "
                      "apt-get install -y -q --no-install-recommends git", user="root", check=False,
                      timeout=420)
    except subprocess.TimeoutExpired:
        return "apt-get install git in penguin did not finish within 7 minutes"
    if r.returncode != 0:
        tail = " | ".join((r.stdout + r.stderr).strip().splitlines()[-3:])
        return f"apt-get install git in penguin failed ({r.returncode}): {tail}"
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=1024, help="MiB for the sequential file (default 1024)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--git-runs", type=int, default=3)
    ap.add_argument("--no-git", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()

    cc = Concierge(env={"BISTRO_IMAGE_STORE": str(image_store())})
    home = cc.root / "home"
    home.mkdir(mode=0o755)
    hostdir = home / SHARE
    hostdir.mkdir(mode=0o755)
    b = Bench(cc, home)
    S, L = f"/mnt/shared/{SHARE}", f"/home/{USER}"
    res = {k: [] for k in ("write_share", "write_local", "read_share", "read_local",
                           "meta_share", "meta_local", "git_share", "git_local")}
    git_skip = None
    t_start = time.monotonic()

    def log(msg):
        print(f"[{time.monotonic() - t_start:6.0f} s] {msg}", file=sys.stderr, flush=True)

    try:
        b.penguin("true")
        log("penguin up")
        r = cc.vmc("share", VM, str(hostdir))
        if r.returncode != 0:
            raise SystemExit(f"vmc share failed: {r.stderr}")
        deadline = time.monotonic() + 60
        while b.penguin("test", "-w", S, check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"{S} not writable in penguin")
            time.sleep(1)
        disks = vm_disks(cc)
        log(f"share up; VM disks: {[str(d) for d in disks]}")

        def cold(which):
            b.drop_guest_cache()
            b.drop_host_cache([hostdir / "seq.bin"] if which == "share" else disks)

        # Sequential: warm-up with a small file each, then S L alternating.
        b.perl("write", f"{S}/warm.bin", 16), b.perl("write", f"{L}/warm.bin", 16)
        for _ in range(a.runs):
            res["write_share"].append(b.perl("write", f"{S}/seq.bin", a.size))
            res["write_local"].append(b.perl("write", f"{L}/seq.bin", a.size))
            cold("share")
            res["read_share"].append(b.perl("read", f"{S}/seq.bin", a.size))
            cold("local")
            res["read_local"].append(b.perl("read", f"{L}/seq.bin", a.size))
            log(f"seq run: W {res['write_share'][-1]:.1f}/{res['write_local'][-1]:.1f} s, "
                f"R {res['read_share'][-1]:.1f}/{res['read_local'][-1]:.1f} s")
        b.penguin("rm", "-f", f"{S}/seq.bin", f"{L}/seq.bin", f"{S}/warm.bin", f"{L}/warm.bin")

        # Metadata.
        b.perl("meta", f"{S}/meta", min(a.files, 200)), b.perl("meta", f"{L}/meta", min(a.files, 200))
        for _ in range(a.runs):
            res["meta_share"].append(b.perl("meta", f"{S}/meta", a.files))
            res["meta_local"].append(b.perl("meta", f"{L}/meta", a.files))
            log(f"meta run: {res['meta_share'][-1]:.1f}/{res['meta_local'][-1]:.1f} s")

        # git status on a clone of this repository, in the share and in penguin's home.
        if a.no_git:
            git_skip = "--no-git"
        else:
            git_skip = install_git(b)
            log(f"git: {git_skip or 'installed'}")
        if git_skip is None:
            subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(REPO), str(hostdir / "bistro")],
                           check=True)
            b.penguin("cp", "-a", f"{S}/bistro", f"{L}/bistro")
            # Warm-up: the first status on each side rewrites the index (other inode numbers).
            b.perl("cmd", f"{S}/bistro", "git", "status"), b.perl("cmd", f"{L}/bistro", "git", "status")
            for _ in range(a.git_runs):
                res["git_share"].append(b.perl("cmd", f"{S}/bistro", "git", "status"))
                res["git_local"].append(b.perl("cmd", f"{L}/bistro", "git", "status"))
            log(f"git runs: {res['git_share']} / {res['git_local']}")
            b.penguin("rm", "-rf", f"{L}/bistro")
        cc.vmc("unshare", VM, SHARE)
    finally:
        cc.cleanup()

    mibs = lambda v: a.size / med(v)  # noqa: E731
    out = {"size_mib": a.size, "runs": a.runs, "files": a.files, "git_runs": a.git_runs,
           "clocks": sorted(b.clocks), "accel": cc.env.get("BISTRO_ACCEL"),
           "write_share_mib_s": mibs(res["write_share"]), "write_local_mib_s": mibs(res["write_local"]),
           "read_share_mib_s": mibs(res["read_share"]), "read_local_mib_s": mibs(res["read_local"]),
           "meta_share_s": med(res["meta_share"]), "meta_local_s": med(res["meta_local"]),
           "git_share_s": med(res["git_share"]) if res["git_share"] else None,
           "git_local_s": med(res["git_local"]) if res["git_local"] else None,
           "git_skipped": git_skip, "raw": res}
    out["write_ratio"] = out["write_share_mib_s"] / out["write_local_mib_s"]
    out["read_ratio"] = out["read_share_mib_s"] / out["read_local_mib_s"]
    out["meta_ratio"] = out["meta_share_s"] / out["meta_local_s"]
    out["git_ratio"] = out["git_share_s"] / out["git_local_s"] if res["git_share"] else None

    rng = lambda v: f"{min(v):.2f}-{max(v):.2f} s"  # noqa: E731
    aim = lambda r: "met" if r >= 0.5 else "NOT met"  # noqa: E731
    print(f"sequential write, {a.size} MiB, fsync: share {out['write_share_mib_s']:.1f} MiB/s "
          f"({med(res['write_share']):.2f} s; {rng(res['write_share'])}), penguin's disk "
          f"{out['write_local_mib_s']:.1f} MiB/s ({med(res['write_local']):.2f} s; {rng(res['write_local'])}), "
          f"ratio {out['write_ratio']:.2f}x (aim >= 0.5x: {aim(out['write_ratio'])})")
    print(f"sequential read,  {a.size} MiB, cold: share {out['read_share_mib_s']:.1f} MiB/s "
          f"({med(res['read_share']):.2f} s; {rng(res['read_share'])}), penguin's disk "
          f"{out['read_local_mib_s']:.1f} MiB/s ({med(res['read_local']):.2f} s; {rng(res['read_local'])}), "
          f"ratio {out['read_ratio']:.2f}x (aim >= 0.5x: {aim(out['read_ratio'])})")
    print(f"metadata, {a.files} files create+stat+unlink: share {out['meta_share_s']:.2f} s "
          f"({rng(res['meta_share'])}; {a.files / out['meta_share_s']:.0f} files/s), penguin's disk "
          f"{out['meta_local_s']:.2f} s ({rng(res['meta_local'])}), share/local time {out['meta_ratio']:.2f}x")
    if res["git_share"]:
        print(f"git status, this repository: share {out['git_share_s']:.2f} s ({rng(res['git_share'])}), "
              f"penguin's disk {out['git_local_s']:.2f} s ({rng(res['git_local'])}), "
              f"share/local time {out['git_ratio']:.2f}x")
    else:
        print(f"git status: skipped ({git_skip})")
    print("JSON " + json.dumps(out) if not a.json else json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

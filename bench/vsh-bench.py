#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""vsh benchmark, one run, one Termina VM (private concierge, real vmc and vsh):

  round trip: `vsh termina -- sh -c true` (start to exit) against `ssh` (OpenSSH client, ed25519
    key auth, same command) to a dropbear sshd running in the same VM. Termina has no `true`
    binary (dash only): both sides run `sh -c true` (dropbear runs `$SHELL -c true`).
  stream: N MiB of zeros to the host's stdout (counted, then dropped) through
    - vsh from a busybox container's `head -c N /dev/zero` (what a user does), next to what that
      head produces in the container to its own /dev/null (the producer's own limit),
    - vsh from the VM itself, written by a small static writer (same program as the baseline),
    - the baseline: that writer sending the same bytes over a plain vsock stream (guest listens,
      the host connects through the VM's hybrid vsock socket: the transport vsh uses, without
      vsh's framing, pty/pipe and relay),
    - ssh (dropbear) running the same static writer in the VM, for context.

How the sshd gets into a Termina VM whose root is a read-only squashfs with only dash: the host's
dropbear, its libraries and glibc's loader are copied (with `vsh termina BENCH -- sh -c 'cat > F'`)
into a busybox container's rootfs, which the VM sees at /mnt/stateful/lxc/BENCH/rootfs. A static
helper, run in the VM as root through vsh, makes a private mount namespace, mounts a tmpfs on
/root (root's home) with .ssh/authorized_keys, and execs dropbear through that loader
(`ld-linux-x86-64.so.2 --library-path DIR DIR/dropbear -F -E -s -p 2222`, and LD_LIBRARY_PATH=DIR
for dropbear's re-exec of itself per connection; Termina's glibc is the host's version). The host reaches TCP
2222 through a QEMU user-network forward added at run time over the VM's QMP socket
(`human-monitor-command` `hostfwd_add net0 tcp:127.0.0.1:PORT-:2222`).

Runs alternate subject and baseline (A B A B ...) after a warm-up; prints median and min-max of
each and the ratio of the medians. Needs gcc (static), dropbear-bin and openssh-client on the host
(tools/bootstrap.sh) and the busybox container image.
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test/integration"))
from concierge_helpers import image_store, Concierge, build_dir  # noqa: E402

BENCH = "vshbench"
LXC = "/mnt/stateful/lxc"
DIR_IN_CT = "/bench"
DIR_IN_VM = f"{LXC}/{BENCH}/rootfs{DIR_IN_CT}"
SSHD_PORT = 2222
VSOCK_PORT = 5599
MIB = 1024 * 1024

HELPER_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char zeros[65536];

static int write_n(int fd, unsigned long long n) {
        while (n > 0) {
                ssize_t k = write(fd, zeros, n < sizeof(zeros) ? n : sizeof(zeros));
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return 1;
                }
                n -= (unsigned long long) k;
        }
        return 0;
}

static int copy(const char *from, const char *to, mode_t mode) {
        char buf[65536];
        int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, mode);
        ssize_t k;

        if (in < 0 || out < 0)
                return -1;
        while ((k = read(in, buf, sizeof(buf))) > 0)
                if (write(out, buf, k) != k)
                        return -1;
        close(in);
        return close(out);
}

/* source-stdout N | source-vsock PORT N | sshd DIR PORT */
int main(int argc, char **argv) {
        if (argc == 3 && strcmp(argv[1], "source-stdout") == 0)
                return write_n(1, strtoull(argv[2], NULL, 10));
        if (argc == 4 && strcmp(argv[1], "source-vsock") == 0) {
                struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
                                          .svm_port = atoi(argv[2]) };
                int one = 1, l = socket(AF_VSOCK, SOCK_STREAM, 0), c;

                (void) one;
                if (l < 0 || bind(l, (struct sockaddr *) &sa, sizeof(sa)) < 0 || listen(l, 1) < 0) {
                        perror("vsock listen");
                        return 2;
                }
                printf("listening\n");
                fflush(stdout);
                c = accept(l, NULL, NULL);
                if (c < 0)
                        return 3;
                return write_n(c, strtoull(argv[3], NULL, 10)) || close(c) < 0;
        }
        if (argc == 4 && strcmp(argv[1], "sshd") == 0) {
                char p[4096], lib[4096], ld[4096], db[4096], key[4096];

                if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
                    mount("tmpfs", "/root", "tmpfs", 0, "mode=0700") < 0 || mkdir("/root/.ssh", 0700) < 0) {
                        perror("namespace");
                        return 4;
                }
                snprintf(p, sizeof(p), "%s/authorized_keys", argv[2]);
                if (copy(p, "/root/.ssh/authorized_keys", 0600) < 0) {
                        perror("authorized_keys");
                        return 5;
                }
                snprintf(lib, sizeof(lib), "%s/lib", argv[2]);
                snprintf(ld, sizeof(ld), "%s/lib/ld-linux-x86-64.so.2", argv[2]);
                snprintf(db, sizeof(db), "%s/dropbear", argv[2]);
                snprintf(key, sizeof(key), "%s/hostkey", argv[2]);
                /* dropbear re-executes itself for each connection: the libraries must be found
                 * then too. */
                setenv("LD_LIBRARY_PATH", lib, 1);
                execl(ld, ld, "--library-path", lib, db, "-F", "-E", "-s", "-p", argv[3], "-r", key,
                      "-P", "/root/dropbear.pid", (char *) NULL);
                perror("exec");
                return 6;
        }
        fprintf(stderr, "usage\n");
        return 1;
}
"""


def stats(xs):
    return statistics.median(xs), min(xs), max(xs)


class Bench:
    def __init__(self, cc, work):
        self.cc, self.work = cc, work
        self.vsh = str(build_dir() / "src/vsh/vsh")
        self.ssh_port = None
        self.sshd = None

    def run(self, argv, check=True, timeout=600, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        r = subprocess.run(argv, env=self.cc.env, capture_output=True, timeout=timeout, **kw)
        if check and r.returncode != 0:
            raise SystemExit(f"failed ({r.returncode}): {' '.join(map(str, argv))}\n"
                             f"{r.stdout.decode(errors='replace')}{r.stderr.decode(errors='replace')}\n" +
                             self.cc.diagnostics())
        return r

    def put(self, src, name, mode="0755"):
        """Copies a host file into the bench container's /bench (seen in the VM as DIR_IN_VM)."""
        with open(src, "rb") as f:
            self.run([self.vsh, "termina", BENCH, "--", "sh", "-c",
                      f"mkdir -p {DIR_IN_CT}/lib && cat > {DIR_IN_CT}/{name} && chmod {mode} {DIR_IN_CT}/{name}"],
                     stdin=f)

    def setup(self):
        w = self.work
        subprocess.run(["gcc", "-O2", "-static", "-o", str(w / "benchhelp"), "-x", "c", "-"],
                       input=HELPER_C.encode(), check=True)
        subprocess.run(["dropbearkey", "-t", "ed25519", "-f", str(w / "hostkey")], check=True,
                       capture_output=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(w / "id")], check=True)
        self.put(w / "benchhelp", "benchhelp")
        self.put(w / "hostkey", "hostkey", "0600")
        self.put(w / "id.pub", "authorized_keys", "0600")
        dropbear = shutil.which("dropbear") or "/usr/sbin/dropbear"
        self.put(dropbear, "dropbear")
        libs = subprocess.run(["ldd", dropbear], capture_output=True, text=True, check=True).stdout
        for line in libs.splitlines():
            parts = line.split()
            path = parts[2] if "=>" in parts and len(parts) > 2 else parts[0]
            if path.startswith("/"):
                self.put(os.path.realpath(path), "lib/" + os.path.basename(path))

        # dropbear in the VM (not in the container), kept running by a vsh session.
        self.sshd = subprocess.Popen([self.vsh, "termina", "--", f"{DIR_IN_VM}/benchhelp", "sshd", DIR_IN_VM,
                                      str(SSHD_PORT)], env=self.cc.env, stdin=subprocess.PIPE,
                                     stdout=subprocess.DEVNULL, stderr=open(w / "sshd.log", "wb"))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.ssh_port = s.getsockname()[1]
        self.qmp(f"hostfwd_add net0 tcp:127.0.0.1:{self.ssh_port}-:{SSHD_PORT}")
        deadline = time.monotonic() + 120
        while self.ssh(["sh", "-c", "true"], check=False).returncode != 0:
            if time.monotonic() > deadline or self.sshd.poll() is not None:
                raise SystemExit("dropbear did not come up: " + (w / "sshd.log").read_text(errors="replace"))
            time.sleep(0.5)

    def qmp(self, hmp):
        path = self.cc.runtime("termina") / "qmp.sock"
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(10)
            s.connect(str(path))
            f = s.makefile("rwb")
            f.readline()  # greeting
            for cmd in ({"execute": "qmp_capabilities"},
                        {"execute": "human-monitor-command", "arguments": {"command-line": hmp}}):
                f.write(json.dumps(cmd).encode() + b"\n")
                f.flush()
                while True:
                    r = json.loads(f.readline())
                    if "return" in r or "error" in r:
                        break
                if "error" in r or r.get("return"):  # HMP errors come back as text
                    raise SystemExit(f"QMP {cmd}: {r}")

    def ssh_argv(self, cmd):
        return ["ssh", "-q", "-i", str(self.work / "id"), "-p", str(self.ssh_port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", "root@127.0.0.1", *cmd]

    def ssh(self, cmd, check=True):
        return self.run(self.ssh_argv(cmd), check=check)

    def timed(self, argv, check=True):
        t0 = time.monotonic()
        self.run(argv, check=check)
        return time.monotonic() - t0

    def stream(self, argv, nbytes):
        """Seconds to read nbytes from argv's stdout (counted, checked, dropped)."""
        t0 = time.monotonic()
        p = subprocess.Popen(argv, env=self.cc.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        n = 0
        while True:
            b = p.stdout.read1(1 << 20)
            if not b:
                break
            n += len(b)
        rc = p.wait()
        dt = time.monotonic() - t0
        if rc != 0 or n != nbytes:
            raise SystemExit(f"{argv}: exit {rc}, {n} of {nbytes} bytes: {p.stderr.read()!r}")
        return dt

    def stream_vsock(self, nbytes):
        """The same writer over a plain vsock stream: the host connects through vsock.sock."""
        src = subprocess.Popen([self.vsh, "termina", "--", f"{DIR_IN_VM}/benchhelp", "source-vsock",
                                str(VSOCK_PORT), str(nbytes)], env=self.cc.env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        if src.stdout.readline() != b"listening\n":
            raise SystemExit("vsock source did not start: " + src.stderr.read().decode(errors="replace"))
        t0 = time.monotonic()
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.cc.runtime("termina") / "vsock.sock"))
            s.sendall(f"CONNECT {VSOCK_PORT}\n".encode())
            line = b""
            while not line.endswith(b"\n"):
                c = s.recv(1)
                if not c:
                    raise SystemExit("vsock CONNECT refused")
                line += c
            if not line.startswith(b"OK "):
                raise SystemExit(f"vsock CONNECT: {line!r}")
            n = 0
            while True:
                b = s.recv(1 << 20)
                if not b:
                    break
                n += len(b)
        dt = time.monotonic() - t0
        if src.wait(timeout=60) != 0 or n != nbytes:
            raise SystemExit(f"vsock stream: {n} of {nbytes} bytes")
        return dt

    def stop(self):
        if self.sshd and self.sshd.poll() is None:
            self.sshd.terminate()  # forwarded as SIGTERM to the helper's process group
            try:
                self.sshd.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.sshd.kill()


def line(name, xs, unit, base=None, base_name=None):
    med, lo, hi = stats(xs)
    s = f"{name:<44} median {med:8.3f} {unit}  (min {lo:.3f}, max {hi:.3f}, n={len(xs)})"
    if base is not None:
        s += f"  = {med / statistics.median(base):.2f}x {base_name}"
    print(s, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--rtt-runs", type=int, default=10)
    ap.add_argument("--mib", type=int, default=256, help="MiB per stream run")
    ap.add_argument("--build-dir")
    args = ap.parse_args()
    if args.build_dir:
        os.environ["BISTRO_BUILD_DIR"] = str(Path(args.build_dir).resolve())
    store = image_store()
    if not (store / "busybox.tar.zst").exists():
        raise SystemExit(f"no busybox image in {store} (image/containers/build-busybox.sh)")
    for tool in ("gcc", "dropbearkey", "ssh", "ssh-keygen"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed (tools/bootstrap.sh)")

    cc = Concierge(env={"BISTRO_IMAGE_STORE": str(store)}).start()
    work = Path(tempfile.mkdtemp(prefix="vshb-"))
    b = Bench(cc, work)
    accel = cc.env.get("BISTRO_ACCEL", "tcg")
    try:
        b.run([str(cc.vmc_path), "start", "termina"])
        b.run([str(cc.vmc_path), "container", "termina", BENCH, "--image", "busybox"])
        b.setup()
        print(f"vsh-bench: accel {accel}, Termina 512 MiB / 1 vCPU (concierge defaults), "
              f"{os.cpu_count()} host cores, load {os.getloadavg()[0]:.1f}", flush=True)

        vsh_true = [b.vsh, "termina", "--", "sh", "-c", "true"]
        ssh_true = b.ssh_argv(["sh", "-c", "true"])
        b.timed(vsh_true), b.timed(ssh_true)  # warm-up
        V, S = [], []
        for _ in range(args.rtt_runs):
            V.append(b.timed(vsh_true))
            S.append(b.timed(ssh_true))
        line("round trip: vsh termina -- sh -c true", V, "s", S, "ssh")
        line("round trip: ssh (dropbear in the VM)", S, "s")

        n = args.mib * MIB
        vsh_ct = [b.vsh, "termina", BENCH, "--", "head", "-c", str(n), "/dev/zero"]
        vsh_vm = [b.vsh, "termina", "--", f"{DIR_IN_VM}/benchhelp", "source-stdout", str(n)]
        ssh_vm = b.ssh_argv([f"{DIR_IN_VM}/benchhelp", "source-stdout", str(n)])
        b.stream(vsh_ct, n), b.stream_vsock(n)  # warm-up
        # What busybox's head can produce in the container at all (to its /dev/null, no transport).
        floor_ct = [b.vsh, "termina", BENCH, "--", "sh", "-c", f"head -c {n} /dev/zero > /dev/null"]
        C, M, R, H, P = [], [], [], [], []
        for _ in range(args.runs):
            P.append(b.timed(floor_ct))
            C.append(b.stream(vsh_ct, n))
            R.append(b.stream_vsock(n))
            M.append(b.stream(vsh_vm, n))
            H.append(b.stream(ssh_vm, n))
        mb = n / 1e6
        print(f"stream: {args.mib} MiB of zeros to the host; ratios are throughput, subject / baseline")
        rate = lambda xs: [mb / x for x in xs]  # noqa: E731
        for name, xs in (("container head -c > /dev/null (producer only)", P), ("vsh, container head -c", C),
                         ("vsh, VM writer", M), ("ssh (dropbear), VM writer", H),
                         ("plain vsock stream, VM writer (baseline)", R)):
            med = statistics.median(rate(xs))
            base = statistics.median(rate(R))
            print(f"  {name:<46} median {med:7.1f} MB/s ({min(rate(xs)):.1f}-{max(rate(xs)):.1f}, "
                  f"n={len(xs)})  = {med / base:.2f}x vsock", flush=True)
    finally:
        b.stop()
        cc.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""network benchmark (not a test): container -> host-side server TCP throughput through slirpd (what
concierge's VMs use: libslirp in its own sandboxed process, QEMU without a network) against QEMU's
old in-process user network (the same libslirp inside QEMU), in one run.

The server is "host-side but not loopback": a network namespace this script creates behind a veth
pair (203.0.113.1 on the host, 203.0.113.2 in the namespace; documentation addresses that exist only
there). It counts the bytes of each connection and reports them with the time from accept to EOF.

One private concierge per backend (its own XDG dirs; images from the real store), VM termina, one
busybox container; the baseline runs the same vmm through a wrapper that swaps `--net slirpd` for
`--net user` (QEMU then also stays in the host's network namespace, as it used to). Per backend:
one warm-up, then --runs transfers of --mib MiB (`dd if=/dev/zero | nc`) from the container.
Prints the median (min-max) MB/s of each and the ratio slirpd/user. Env as the tests
(BISTRO_ACCEL, default tcg; BISTRO_TERMINA_IMAGE; BISTRO_BUILD_DIR; BISTRO_IMAGE_STORE). Needs root
(the namespace).
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "test/integration"))
from concierge_helpers import image_store, Concierge, build_dir  # noqa: E402

HOST, PEER, PORT = "203.0.113.1", "203.0.113.2", 9000
SINK = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(4)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    t0, n = time.monotonic(), 0
    while True:
        b = c.recv(1 << 20)
        if not b:
            break
        n += len(b)
    print(n, time.monotonic() - t0, flush=True)
    c.close()
"""


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check)


class Peer:
    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.ns, self.veth = f"bistro-nb-{tag}", f"bnb{tag}"
        self.proc = None
        sh("ip", "netns", "add", self.ns)
        try:
            sh("ip", "link", "add", self.veth, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
            sh("ip", "addr", "add", f"{HOST}/30", "dev", self.veth)
            sh("ip", "link", "set", self.veth, "up")
            sh("ip", "netns", "exec", self.ns, "ip", "addr", "add", f"{PEER}/30", "dev", "eth0")
            sh("ip", "netns", "exec", self.ns, "ip", "link", "set", "eth0", "up")
            self.proc = subprocess.Popen(["ip", "netns", "exec", self.ns, "/usr/bin/python3", "-c", SINK, str(PORT)],
                                         stdout=subprocess.PIPE, text=True)
            assert self.proc.stdout.readline().strip() == "ready"
        except BaseException:
            self.cleanup()
            raise

    def result(self):
        n, secs = self.proc.stdout.readline().split()
        return int(n), float(secs)

    def cleanup(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait()
        sh("ip", "link", "del", self.veth, check=False)
        sh("ip", "netns", "del", self.ns, check=False)


def measure(label, env, peer, args):
    cc = Concierge(env=env)
    cc.start()
    try:
        cc.vmc("start", "termina", "--disk-size", "2G", check=True, timeout=900)
        cc.vmc("container", "termina", "nb", "--image", "busybox", check=True, timeout=900)
        vsh = str(build_dir() / "src/vsh/vsh")
        count = args.mib * 16  # 64 KiB blocks
        rates = []
        for i in range(args.runs + 1):
            r = subprocess.run([vsh, "termina", "nb", "--", "/bin/sh", "-c",
                                f"dd if=/dev/zero bs=65536 count={count} 2>/dev/null | nc {PEER} {PORT}"],
                               env=cc.env, capture_output=True, text=True, timeout=args.timeout,
                               stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                raise SystemExit(f"{label}: transfer failed: {r.stdout}{r.stderr}\n" + cc.diagnostics())
            n, secs = peer.result()
            if n != count * 65536:
                raise SystemExit(f"{label}: the server got {n} bytes, not {count * 65536}")
            if i > 0:  # the first is a warm-up
                rates.append(n / secs / 1e6)
            print(f"  {label} run {i}{' (warm-up)' if i == 0 else ''}: {n / secs / 1e6:.1f} MB/s", flush=True)
        return rates
    finally:
        cc.cleanup()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--mib", type=int, default=32, help="MiB per transfer")
    p.add_argument("--timeout", type=float, default=600)
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("network-bench needs root (it makes a network namespace)")
    store = image_store()
    if not (store / "busybox.tar.zst").exists():
        raise SystemExit(f"no busybox image in {store} (image/containers/build-busybox.sh)")
    base = {"BISTRO_IMAGE_STORE": str(store)}
    with tempfile.TemporaryDirectory(prefix="bistro-nb-") as tmp:
        # The baseline: the same vmm, with QEMU's user network instead of slirpd.
        wrapper = Path(tmp) / "vmm-user-net"
        wrapper.write_text("#!/bin/sh\nfor a in \"$@\"; do shift; [ \"$a\" = slirpd ] && a=user; "
                           f"set -- \"$@\" \"$a\"; done\nexec {build_dir() / 'src/vmm/vmm'} \"$@\"\n")
        wrapper.chmod(0o755)
        peer = Peer()
        try:
            print(f"container -> {PEER}:{PORT} (a host-side veth, not loopback), {args.mib} MiB per run")
            slirpd = measure("slirpd", base, peer, args)
            user = measure("user", dict(base, BISTRO_VMM=str(wrapper)), peer, args)
        finally:
            peer.cleanup()

    def fmt(v):
        return f"{statistics.median(v):7.1f} MB/s ({min(v):.1f}-{max(v):.1f}, n={len(v)})"

    print(f"slirpd (concierge's VMs):  {fmt(slirpd)}")
    print(f"QEMU user network (slirp): {fmt(user)}")
    print(f"ratio slirpd/user: {statistics.median(slirpd) / statistics.median(user):.2f}x (aim >= 1x)")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Port forwarding benchmark (docs/design/ports.md): chunneld's forward against a raw hybrid-vsock
stream to port-listener, to the same program in a busybox container of a Termina VM (concierge,
`vmc container termina pbench --image busybox`).

  forwarded TCP host->container: N MiB into a sink in the container, until its EOF
  forwarded TCP container->host: N MiB from a source in the container, until EOF, byte count checked
    (the servers: a static C program built here and copied into the container through vsh)
    baseline for both: the same, over vsock.sock + "CONNECT 9002" + ForwardConnect (no chunneld)
  connect latency: connect -> one request -> first byte echoed, forward vs raw ForwardConnect
  detection latency: `nc -l` started in the container (its "listening" line reaches the host
    through vsh) -> the host's 127.0.0.1 port accepts; median and max over --detect-runs

--fake: no VM; chunneld against the Python stand-in for port-listener (test/integration/
ports_fake_agent.py) and a host server: measures chunneld's own overhead only.

Runs alternate subject and baseline after a warm-up; prints median, min-max and the ratio.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "test/integration"))

from guestproto import (EMPTY, FORWARD_CONNECT, PORT_LISTENER_PORT, REQUEST, TCP, frame, hybrid_connect,  # noqa: E402
                        pb_bytes, pb_varint, recv_frame)
from ports_fake_agent import TCPSERV_C, FakeAgent, port_held, put_static_program, serve_in_threads  # noqa: E402

CHUNK = b"\0" * (1 << 20)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build-dir", default=os.environ.get("BISTRO_BUILD_DIR", str(REPO / "build")))
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--mib", type=int, default=32)
    p.add_argument("--latency-runs", type=int, default=20)
    p.add_argument("--detect-runs", type=int, default=20)
    p.add_argument("--fake", action="store_true", help="no VM: chunneld and a stand-in guest")
    return p.parse_args()


def raw_connect(vsock, container, port):
    """The baseline: what chunneld does for each connection, done directly."""
    s = hybrid_connect(vsock, PORT_LISTENER_PORT)
    req = pb_bytes(1, container) + pb_varint(2, TCP) + pb_varint(3, port)
    s.sendall(frame(FORWARD_CONNECT, REQUEST, 1, req))
    mtype, _, _, _ = recv_frame(s)
    assert mtype == EMPTY, mtype
    return s


def fwd_connect(port):
    return socket.create_connection(("127.0.0.1", port), timeout=60)


def upload(s, mib):
    t0 = time.monotonic()
    for _ in range(mib):
        s.sendall(CHUNK)
    s.shutdown(socket.SHUT_WR)
    while s.recv(1 << 16):
        pass
    s.close()
    return mib / (time.monotonic() - t0)


def download(s, mib, request=b""):
    t0 = time.monotonic()
    if request:
        s.sendall(request)
    n = 0
    while True:
        d = s.recv(1 << 18)
        if not d:
            break
        n += len(d)
    s.close()
    assert n >= mib << 20, f"got {n} bytes"
    return mib / (time.monotonic() - t0)


def first_byte(s):
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    assert s.recv(1)
    s.close()


def summary(name, subj, base, unit, higher_better=True):
    ms, mb = statistics.median(subj), statistics.median(base)
    ratio = ms / mb
    print(f"{name}: {ms:.2f} {unit} (min {min(subj):.2f}, max {max(subj):.2f}); baseline {mb:.2f} {unit} "
          f"(min {min(base):.2f}, max {max(base):.2f}); ratio {ratio:.2f}x")


class Fake:
    """chunneld + stand-in guest; the 'container' programs are host threads."""

    def __init__(self, build, mib):
        self.dir = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
        self.vsock = self.dir / "vsock.sock"
        self.agent = FakeAgent(str(self.vsock))
        self.proc = subprocess.Popen([f"{build}/src/chunneld/chunneld", "--vm", "bench", "--vsock", str(self.vsock),
                                      "--control", str(self.dir / "chunneld.sock")], stderr=subprocess.DEVNULL)
        self.mib = mib
        self.sink = self._server(self._sink)
        self.source = self._server(self._source)
        self.http = self._server(self._http)
        self.ports = {}
        for name, srv in (("sink", self.sink), ("source", self.source), ("http", self.http)):
            port = self._free()
            self.ports[name] = port
            self.agent.targets[("pbench", port)] = ("tcp", "127.0.0.1", srv)
        self.agent.set_ports([("pbench", p) for p in self.ports.values()])
        deadline = time.monotonic() + 10
        while not self._accepts(self.ports["http"]) and time.monotonic() < deadline:
            time.sleep(0.02)

    @staticmethod
    def _free():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    @staticmethod
    def _accepts(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def _server(self, fn):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        serve_in_threads(s, fn)
        return s.getsockname()[1]

    def _sink(self, c):
        while c.recv(1 << 18):
            pass
        c.close()

    def _source(self, c):
        for _ in range(self.mib):
            c.sendall(CHUNK)
        c.close()

    def _http(self, c):
        c.recv(100)
        c.sendall(b"HTTP/1.0 200 OK\r\n\r\nx")
        c.close()

    def detect_once(self, port):
        t0 = time.monotonic()
        self.agent.set_ports([("pbench", p) for p in self.ports.values()] + [("pbench", port)])
        while not self._accepts(port):
            time.sleep(0.002)
        took = time.monotonic() - t0
        self.agent.set_ports([("pbench", p) for p in self.ports.values()])
        return took

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        self.agent.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Real:
    """concierge + Termina + a busybox container running a static sink/source/echo server."""

    def __init__(self, build, mib):
        os.environ["BISTRO_BUILD_DIR"] = build
        from concierge_helpers import Concierge, image_store

        self.cc = Concierge(env={"BISTRO_IMAGE_STORE": str(image_store())}).start()
        try:
            self._setup(build, mib)
        except BaseException:
            self.cc.cleanup()  # no VM left behind by a failed set-up
            raise

    def _setup(self, build, mib):
        self.cc.vmc("container", "termina", "pbench", "--image", "busybox", check=True, timeout=900)
        self.vsock = self.cc.runtime("termina") / "vsock.sock"
        self.vsh = Path(build) / "src/vsh/vsh"
        self.ports = {"sink": 23001, "source": 23002, "http": 23003}
        tmp = Path(tempfile.mkdtemp(prefix="pb-", dir="/tmp"))
        ok = put_static_program(self.vsh, self.cc.env, "termina", "pbench", tmp, "tcpserv", TCPSERV_C)
        shutil.rmtree(tmp, ignore_errors=True)
        assert ok, "no static C toolchain for the container's server"
        # Their output away from vsh's: vsh waits for every holder of its pipes.
        q = ">/dev/null 2>&1 </dev/null"
        self.sh(f"(/tmp/tcpserv sink {self.ports['sink']} {q} &) ; (/tmp/tcpserv source {self.ports['source']} "
                f"{mib << 20} {q} &) ; (/tmp/tcpserv echo {self.ports['http']} {q} &) ; true")
        deadline = time.monotonic() + 120
        while not all(port_held(p) for p in self.ports.values()) and time.monotonic() < deadline:
            time.sleep(0.1)

    def sh(self, script):
        return subprocess.run([str(self.vsh), "termina", "pbench", "--", "/bin/sh", "-c", script], env=self.cc.env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=300, check=True)

    def detect_once(self, port):
        p = subprocess.Popen([str(self.vsh), "termina", "pbench", "--", "/bin/sh", "-c",
                              f"(busybox nc -l -p {port} > /dev/null 2>&1 &); echo listening"], env=self.cc.env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "listening"
        t0 = time.monotonic()
        while not port_held(port):
            time.sleep(0.002)
        took = time.monotonic() - t0
        p.wait()
        Fake._accepts(port)  # lets nc finish
        return took

    def close(self):
        self.cc.cleanup()


def main():
    a = parse_args()
    env = Fake(a.build_dir, a.mib) if a.fake else Real(a.build_dir, a.mib)
    c = "pbench"
    try:
        get_big = b""
        up_f, up_r, down_f, down_r, lat_f, lat_r = [], [], [], [], [], []
        for i in range(a.runs + 1):  # the first is the warm-up
            runs = [
                (up_f, lambda: upload(fwd_connect(env.ports["sink"]), a.mib)),
                (up_r, lambda: upload(raw_connect(env.vsock, c, env.ports["sink"]), a.mib)),
                (down_f, lambda: download(fwd_connect(env.ports["source"]), a.mib, get_big)),
                (down_r, lambda: download(raw_connect(env.vsock, c, env.ports["source"]), a.mib, get_big)),
            ]
            for lst, fn in runs:
                v = fn()
                if i:
                    lst.append(v)
        for i in range(a.latency_runs + 1):
            for lst, fn in ((lat_f, lambda: fwd_connect(env.ports["http"])),
                            (lat_r, lambda: raw_connect(env.vsock, c, env.ports["http"]))):
                t0 = time.monotonic()
                first_byte(fn())
                if i:
                    lst.append(1000 * (time.monotonic() - t0))
        summary(f"forwarded TCP host->container ({a.mib} MiB)", up_f, up_r, "MiB/s")
        summary(f"forwarded TCP container->host ({a.mib} MiB)", down_f, down_r, "MiB/s")
        summary("connect -> first response byte", lat_f, lat_r, "ms")
        det = [1000 * env.detect_once(24000 + i) for i in range(a.detect_runs)]
        print(f"detection (listen -> host port accepts, {a.detect_runs} tries): median {statistics.median(det):.0f} ms, "
              f"max {max(det):.0f} ms (aim <= 1000 ms)")
    finally:
        env.close()


if __name__ == "__main__":
    main()

# SPDX-License-Identifier: LGPL-2.1-or-later
"""A stand-in for port-listener (docs/design/ports.md) behind a fake hybrid vsock socket: answers
"CONNECT 9002" with "OK", WatchPorts with EMPTY and PORTS_UPDATE events, and ForwardConnect by
connecting to a local target (TCP raw bytes, UDP datagrams framed with a 2-byte LE length). Also the
static TCP server that tests and benches put into a container."""

import os
import socket
import struct
import subprocess
import threading
from pathlib import Path

import guestproto
from guestproto import (ADD_FORWARD, EMPTY, ERROR_REPLY, EVENT, FORWARD_CONNECT, LIST_FORWARDS, LIST_FORWARDS_RESPONSE,
                        PORTS_UPDATE, REMOVE_FORWARD, REQUEST, RESPONSE, TCP, UDP, WATCH_PORTS, error_reply, frame,
                        pb_bytes, pb_fields, pb_parse, pb_varint, recv_exact, recv_frame)


def serve_in_threads(sock, handler, stopped=lambda: False):
    """Accepts on the listening sock in a daemon thread, each connection to handler in its own,
    until sock is closed (or stopped())."""
    def loop():
        while not stopped():
            try:
                c, _ = sock.accept()
            except OSError:
                return
            threading.Thread(target=handler, args=(c,), daemon=True).start()

    threading.Thread(target=loop, daemon=True).start()


def port_held(port):
    """Someone listens on 127.0.0.1:port. A bind probe, not a connect: a connect through a forward
    costs the guest a connection (and a TCG guest polled every few ms falls behind)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return False
        except OSError:
            return True


class FakeAgent:
    """targets: {(container, port): ("tcp"|"udp", host, target_port)}; ports: [(container, port)]."""

    def __init__(self, path):
        self.path = path
        self.ports = []
        self.targets = {}
        self.watchers = []
        self.lock = threading.Lock()
        self.forward_requests = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(256)
        self.closed = False
        serve_in_threads(self.sock, self._serve, lambda: self.closed)

    def close(self):
        self.closed = True
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
        self.sock.close()
        with self.lock:
            for w, _ in self.watchers:
                try:
                    w.close()
                except OSError:
                    pass

    def _update_payload(self):
        body = b""
        for container, port in self.ports:
            lp = pb_bytes(1, container) + pb_varint(2, port) + pb_varint(3, 1) + pb_varint(4, 1)
            body += pb_bytes(1, lp)
        return body

    def set_ports(self, ports):
        with self.lock:
            self.ports = list(ports)
            for w, wid in list(self.watchers):
                try:
                    w.sendall(frame(PORTS_UPDATE, EVENT, wid, self._update_payload()))
                except OSError:
                    self.watchers.remove((w, wid))

    def _serve(self, c):
        try:
            line = b""
            while not line.endswith(b"\n"):
                line += recv_exact(c, 1)
            if line != b"CONNECT 9002\n":
                c.sendall(b"ERR nothing listens\n")
                c.close()
                return
            c.sendall(b"OK 1024\n")
            mtype, mid, flags, payload = recv_frame(c)
            if mtype == WATCH_PORTS:
                with self.lock:
                    c.sendall(frame(EMPTY, RESPONSE, mid))
                    c.sendall(frame(PORTS_UPDATE, EVENT, mid, self._update_payload()))
                    self.watchers.append((c, mid))
                return
            if mtype != FORWARD_CONNECT:
                c.close()
                return
            f = pb_fields(payload)
            container, proto, port, ipv6 = f.get(1, b"").decode(), f.get(2, 0), f.get(3, 0), bool(f.get(4, 0))
            self.forward_requests.append((container, proto, port, ipv6))
            target = self.targets.get((container, port))
            if not target or target[0] != ("udp" if proto == UDP else "tcp"):
                c.sendall(frame(ERROR_REPLY, RESPONSE, mid, error_reply(111, "connection refused")))
                c.close()
                return
            if proto == TCP:
                t = socket.create_connection((target[1], target[2]))
                c.sendall(frame(EMPTY, RESPONSE, mid))
                self._splice(c, t)
            else:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                u.connect((target[1], target[2]))
                c.sendall(frame(EMPTY, RESPONSE, mid))
                self._udp(c, u)
        except (EOFError, OSError):
            c.close()

    @staticmethod
    def _splice(a, b):
        def pump(src, dst):
            try:
                while True:
                    d = src.recv(1 << 16)
                    if not d:
                        dst.shutdown(socket.SHUT_WR)
                        return
                    dst.sendall(d)
            except OSError:
                for s in (src, dst):
                    try:
                        s.close()
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(a, b), daemon=True).start()
        threading.Thread(target=pump, args=(b, a), daemon=True).start()

    @staticmethod
    def _udp(c, u):
        def up():
            try:
                while True:
                    (n,) = struct.unpack("<H", recv_exact(c, 2))
                    u.send(recv_exact(c, n))
            except (EOFError, OSError):
                u.close()

        def down():
            try:
                while True:
                    d = u.recv(65535)
                    c.sendall(struct.pack("<H", len(d)) + d)
            except OSError:
                c.close()

        threading.Thread(target=up, daemon=True).start()
        threading.Thread(target=down, daemon=True).start()


STATES = {1: "active", 2: "busy", 3: "shadowed", 4: "failed"}


def control_call(path, mtype, payload=b""):
    """One request to chunneld's control socket: (type, payload) of the answer."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(10)
        s.connect(str(path))
        s.sendall(frame(mtype, REQUEST, 7, payload))
        rtype, mid, flags, body = recv_frame(s)
        assert mid == 7 and flags == RESPONSE
        return rtype, body


def list_forwards(path):
    rtype, body = control_call(path, LIST_FORWARDS)
    assert rtype == LIST_FORWARDS_RESPONSE, rtype
    out = []
    for fw in pb_parse(body).get(1, []):
        f = pb_fields(fw)
        out.append({"container": f.get(1, b"").decode(), "protocol": "udp" if f.get(2) == UDP else "tcp",
                    "container_port": f.get(3, 0), "host_port": f.get(4, 0), "manual": bool(f.get(5, 0)),
                    "state": STATES.get(f.get(6, 0), "?"), "reason": f.get(7, b"").decode(),
                    "host_addresses": f.get(8, b"").decode()})
    return out


def add_forward(path, container, port, host_port=0, udp=False):
    body = pb_bytes(1, container) + pb_varint(2, UDP if udp else TCP) + pb_varint(3, port)
    if host_port:
        body += pb_varint(4, host_port)
    return control_call(path, ADD_FORWARD, body)


def remove_forward(path, host_port, udp=False):
    return control_call(path, REMOVE_FORWARD, pb_varint(1, UDP if udp else TCP) + pb_varint(2, host_port))


def error_of(rtype, body):
    """The negative errno of an ErrorReply, else 0."""
    return guestproto.error_of(body)[0] if rtype == ERROR_REPLY else 0


TCPSERV_C = r"""
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
/* tcpserv sink|source|echo PORT [BYTES]: one process per connection, backlog 256. */
int main(int argc, char **argv) {
        struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_port = htons(atoi(argv[2])) };
        long long bytes = argc > 3 ? atoll(argv[3]) : 0;
        int fd = socket(AF_INET6, SOCK_STREAM, 0), zero = 0, one = 1;
        static char buf[1 << 16];
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, (struct sockaddr *) &a, sizeof(a)) < 0 || listen(fd, 256) < 0)
                return 1;
        signal(SIGCHLD, SIG_IGN);
        for (;;) {
                int c = accept(fd, NULL, NULL);
                if (c < 0)
                        continue;
                if (fork() == 0) {
                        ssize_t n;
                        if (argv[1][1] == 'o')
                                for (long long left = bytes; left > 0; left -= n)
                                        if ((n = write(c, buf, left < (long long) sizeof(buf) ? left : sizeof(buf))) <= 0)
                                                _exit(1);
                        while (argv[1][1] != 'o' && (n = read(c, buf, sizeof(buf))) > 0)
                                if (argv[1][0] == 'e' && write(c, buf, n) != n)
                                        _exit(1);
                        _exit(0);
                }
                close(c);
        }
}
"""


def put_static_program(vsh, env, vm, container, tmp, name, source):
    """Builds C source as a static program in directory tmp and copies it into container as
    /tmp/NAME (busybox has no UDP server and no echo server with a large backlog). False without a
    static C toolchain."""
    src, exe = Path(tmp) / f"{name}.c", Path(tmp) / name
    src.write_text(source)
    if subprocess.run(["cc", "-static", "-O2", "-o", str(exe), str(src)], capture_output=True).returncode != 0:
        return False
    with open(exe, "rb") as f:
        r = subprocess.run([str(vsh), vm, container, "--", "/bin/sh", "-c", f"cat > /tmp/{name} && chmod +x /tmp/{name}"],
                           env=env, stdin=f, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return True

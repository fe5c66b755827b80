#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""What `make run` shows until the Terminal exists: boots the test guest through vmm (jailed QEMU +
vsockd), echoes a message over vsock, has the guest dial back to the host, and powers it off."""
import os
import socket
import sys
import time
from pathlib import Path

top = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(top / "test/integration"))
os.environ.setdefault("BISTRO_BUILD_DIR", sys.argv[1] if len(sys.argv) > 1 else str(top / "build"))

import conftest  # noqa: E402  (the VM harness the integration tests use)


def main():
    print("  building the test guest image (cached after the first run)...", flush=True)
    image = conftest.build_test_image()
    vm = conftest.Vm(image)
    try:
        t0 = time.monotonic()
        vm.start()
        boot = vm.wait_ready()
        print(f"  guest ready after {boot:.2f} s (QEMU pid {vm.qemu_pid()}, vsockd pid {vm.vsockd_pid()})")
        s = vm.connect(5000)
        t1 = time.monotonic()
        s.sendall(b"hello from the host\n")
        s.shutdown(socket.SHUT_WR)
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
        print(f"  vsock echo: {reply.decode().strip()!r} in {1000 * (time.monotonic() - t1):.1f} ms")
        s.close()

        listener_path = f"{vm.vsock_path}_6000"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as lst:
            lst.bind(listener_path)
            lst.listen(1)
            ctl = vm.connect(5003)
            ctl.sendall(b"DIAL 6000 1024 7\n")
            conn, _ = lst.accept()
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
            conn.sendall(b"thanks")
            conn.close()
            answer = ctl.recv(256).decode().strip()
            ctl.close()
            print(f"  guest dialled host port 6000 and sent {len(data)} bytes; guest says: {answer}")
        status = vm.stop()
        print(f"  powered off gracefully, vmm exit status {status}, total {time.monotonic() - t0:.2f} s")
        return 0 if status == 0 else 1
    finally:
        vm.cleanup()


if __name__ == "__main__":
    sys.exit(main())

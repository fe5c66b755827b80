#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Soak: N cycles (default 20) of start -> write + fsync a counter on the stateful disk -> kill -9
QEMU -> start again and check the counter survived and the disk mounted. Then stop, and check no
process is left. Exit 0 on success, 1 on the first failure (with logs).

  BISTRO_BUILD_DIR=build BISTRO_TERMINA_IMAGE=... test/soak/concierge-soak.py [N]
"""

import os
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from concierge_helpers import Concierge  # noqa: E402


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    cc = Concierge().start()
    ok = False
    try:
        for i in range(n):
            t0 = time.monotonic()
            r = cc.vmc("start", "soak", "--disk-size", "1G")
            if r.returncode != 0:
                raise AssertionError(f"cycle {i}: start failed: {r.stderr}")
            if i > 0:
                if not cc.stateful_mounted("soak"):
                    raise AssertionError(f"cycle {i}: stateful disk not mounted")
                if not cc.read_equals("soak", "/mnt/stateful/counter", str(i - 1)):
                    raise AssertionError(f"cycle {i}: counter is not {i - 1}")
            cc.write_synced("soak", "/mnt/stateful/counter", str(i))
            qemu = cc.qemu_pid("soak")
            if not qemu:
                raise AssertionError(f"cycle {i}: no QEMU")
            os.kill(qemu, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while cc.vm_info("soak")["state"] != "stopped":
                if time.monotonic() > deadline:
                    raise AssertionError(f"cycle {i}: VM not stopped after kill -9 of QEMU")
                time.sleep(0.2)
            print(f"cycle {i + 1}/{n} ok ({time.monotonic() - t0:.1f} s)", flush=True)
        r = cc.vmc("start", "soak")
        if r.returncode != 0 or not cc.read_equals("soak", "/mnt/stateful/counter", str(n - 1)):
            raise AssertionError("final check failed")
        cc.vmc("stop", "soak", check=True)
        ok = True
    except Exception as e:  # report and fail
        print(f"FAIL: {e}\n{cc.diagnostics()}", file=sys.stderr)
    finally:
        cc.cleanup()
    if ok and cc.alive():
        print(f"FAIL: processes left behind: {cc.alive()}", file=sys.stderr)
        ok = False
    print(f"{n} cycles: {'passed' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Soak: N consecutive boots (default 30) of the small test guest under TCG, each to its ready
line, then a clean vmm stop. Exit 0 when all N booted, 1 on the first hang or failure (with the
VM's diagnostics), 2 on bad usage.

Guards the microvm/TCG boot hang (docs/design/vmm.md, "TCG boot hang"): without tsc_early_khz
the guest hung in 1 boot of 3 to 2 of 5 here. CI runs the same kind of loop on the Termina image
(test/integration/test_termina_boot.py, test_many_boots_without_hang), which boots the image
users run and goes up to maitred's ready call; this one isolates the kernel and vmm from Termina.

  BISTRO_BUILD_DIR=$PWD/build test/soak/boot-loop-soak.py [N]
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from conftest import Vm, build_test_image, vmm_binary  # noqa: E402

# Generous: a normal boot takes 3-10 s under TCG on a loaded 2-core machine; a hang never ends.
READY_TIMEOUT = 90


def main():
    try:
        boots = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    except ValueError:
        print(f"usage: {sys.argv[0]} [BOOTS]", file=sys.stderr)
        return 2
    if not vmm_binary().exists():
        print(f"{vmm_binary()} missing: build the tree first", file=sys.stderr)
        return 1
    image = build_test_image()
    env = dict(os.environ, BISTRO_ACCEL="tcg")
    times = []
    try:
        for i in range(boots):
            vm = Vm(image, env=env, net=False)
            try:
                vm.start()
                try:
                    t = vm.wait_ready(READY_TIMEOUT)
                except AssertionError as e:
                    print(f"FAIL boot {i + 1}/{boots} did not reach the ready line\n{e}", file=sys.stderr)
                    return 1
                times.append(round(t, 2))
                rc = vm.stop()
                if rc != 0:
                    print(f"FAIL boot {i + 1}: vmm exited {rc} on stop\n{vm.diagnostics()}", file=sys.stderr)
                    return 1
            finally:
                vm.cleanup()
            print(f"boot {i + 1}/{boots} ready in {times[-1]:.2f} s", flush=True)
    finally:
        if times:
            s = sorted(times)
            print(f"{len(times)}/{boots} boots; seconds to ready: min {s[0]:.2f} median {s[len(s) // 2]:.2f} "
                  f"max {s[-1]:.2f}")
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())

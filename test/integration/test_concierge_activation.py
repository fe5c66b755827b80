# SPDX-License-Identifier: LGPL-2.1-or-later
"""Socket activation as systemd does it (units/concierge.socket): the socket exists before concierge
runs; the first client starts concierge, which takes the listening fd over (LISTEN_FDS)."""

import configparser
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from concierge_helpers import Concierge, build_dir

REPO = Path(__file__).resolve().parents[2]
ACTIVATE = shutil.which("systemd-socket-activate")


def unit_listen_path():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(REPO / "units/concierge.socket")
    return unit["Socket"]["ListenStream"]


def test_socket_unit_matches_the_path_vmc_uses():
    assert unit_listen_path() == "%t/bistro/concierge.sock"  # %t is $XDG_RUNTIME_DIR for user units


@pytest.mark.skipif(not ACTIVATE, reason="systemd-socket-activate (package systemd) is not installed")
def test_first_client_activates_concierge():
    cc = Concierge()
    sock = cc.run_dir / "bistro/concierge.sock"
    sock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    cc._log = open(cc.log_path, "ab")
    # The activator passes on only the variables named with -E (systemd's user manager sets these).
    keep = [k for k in cc.env if k.startswith(("XDG_", "BISTRO_")) or k in ("HOME", "PATH")]
    argv = [ACTIVATE, "-l", str(sock)] + [f"-E{k}" for k in keep]
    cc.proc = subprocess.Popen(argv + [str(build_dir() / "src/concierge/concierge")],
                               env=cc.env, stdout=cc._log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists():
            assert cc.proc.poll() is None and time.monotonic() < deadline, "no socket\n" + cc.log()
            time.sleep(0.02)
        # Nothing runs concierge yet: the activator waits for the first connection.
        assert Path(f"/proc/{cc.proc.pid}/exe").resolve().name != "concierge"

        r = cc.vmc("list", "--json")
        assert r.returncode == 0, r.stderr + cc.log()
        assert json.loads(r.stdout) == [], r.stdout  # a fresh state dir: no VMs, none started
        # The activator exec'd concierge on the inherited socket; vmc did not start its own.
        assert Path(f"/proc/{cc.proc.pid}/exe").resolve().name == "concierge"
        assert not (cc.run_dir / "bistro/concierge.log").exists(), "vmc started a second concierge"
        assert cc.vmc("list").returncode == 0
    finally:
        rc = cc.stop()
        cc.cleanup()
    assert rc == 0, f"concierge exited {rc} on SIGTERM\n" + cc.log()

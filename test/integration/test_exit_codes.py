# SPDX-License-Identifier: LGPL-2.1-or-later
"""Every program of the tree exits 2 on a bad option and says so as "prog: message" (README "Exit
status"; issue 10 item 5). No VM is needed: the option is refused before anything starts.

bistro-init is a PID 1 that, on SIGTERM, signals every process it can see (kill(-1)): it runs here
only inside a private PID namespace (unshare --pid --fork), never with the host's processes in reach,
and every program runs with a timeout that ends it with SIGKILL (which bistro-init cannot act on).

Env: BISTRO_BUILD_DIR.
"""

import os
import re
import shutil
import subprocess
import tempfile

import pytest

from procutil import build_dir

PROGRAMS = [
    ("vmc", "src/vmc/vmc"),
    ("bistro", "src/bistro/bistro"),
    ("vsh", "src/vsh/vsh"),
    ("concierge", "src/concierge/concierge"),
    ("vmm", "src/vmm/vmm"),
    ("vsockd", "src/vsockd/vsockd"),
    ("bistro-image", "src/bistro-image/bistro-image"),
    ("tremplin", "src/tremplin/tremplin"),
    ("vshd", "src/vshd/vshd"),
    ("maitred", "src/maitred/maitred"),
    ("bistro-init", "src/container-init/bistro-init"),
    ("chunneld", "src/chunneld/chunneld"),
    ("port-listener", "src/port-listener/port-listener"),
    ("slirpd", "src/slirpd/slirpd"),
]


def pid_namespace_prefix():
    """A command prefix that runs the program in a fresh PID namespace, or None."""
    unshare = shutil.which("unshare")
    if not unshare:
        return None
    prefix = [unshare, "--pid", "--fork", "--kill-child"]
    if os.geteuid() != 0:
        prefix[1:1] = ["--user", "--map-root-user"]
    try:
        r = subprocess.run(prefix + ["true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return prefix if r.returncode == 0 else None


@pytest.mark.parametrize("name,path", PROGRAMS, ids=[p[0] for p in PROGRAMS])
def test_bad_option_exits_2(name, path):
    binary = build_dir() / path
    if not binary.exists():
        pytest.skip(f"{path} is not built")
    cmd = [str(binary), "--no-such-option"]
    if name == "bistro-init":
        prefix = pid_namespace_prefix()
        if prefix is None:
            pytest.skip("no private PID namespace (unshare) to run bistro-init in safely")
        cmd = prefix + cmd
    with tempfile.TemporaryDirectory() as d:
        run = os.path.join(d, "run")
        os.mkdir(run, 0o700)
        # Private dirs: a program that wrongly went ahead must not touch the user's.
        env = dict(os.environ, XDG_RUNTIME_DIR=run, XDG_DATA_HOME=os.path.join(d, "data"),
                   HOME=d, BISTRO_LOG_LEVEL="info")
        try:
            r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               timeout=20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{name} --no-such-option did not exit within 20 s (it should refuse the option)")
    assert r.returncode == 2, f"{name}: exit status {r.returncode}, stderr:\n{r.stderr}"
    # CLIs print "prog: ", daemons "prog[pid]: ".
    assert re.match(rf"{re.escape(name)}(\[\d+\])?: ", r.stderr), f"{name}: stderr does not start with '{name}: ':\n{r.stderr}"
    assert "no-such-option" in r.stderr, r.stderr

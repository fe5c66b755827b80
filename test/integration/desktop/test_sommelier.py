# SPDX-License-Identifier: LGPL-2.1-or-later
"""sommelier, the container side of Wayland apps (docs/design/sommelier.md, "The container side"), in
penguin of the package's VM, against the real host side (concierge's listener on vsock port 7100, the
Wayland gate, the headless desktop): garcon starts it as alice with a private runtime dir and socket;
alice's vsh sessions get the GUI environment, root's do not; several Wayland clients at once each get
their own stream through the gate, and the streams' children go when the clients end; garcon restarts a
killed sommelier, and clients work again. The windows, the clipboard and the scale are in
test_gui_apps.py; the gate's refusals in test_wayland_gate.py (no VM)."""

import time

import pytest

from .conftest import USER, in_penguin, in_penguin_rc

RUNTIME = "/run/user/1000"
CLIENT_TIMEOUT = 180  # wayland-info through waypipe at both ends under TCG
MARK = "@@bistro-rc="


@pytest.fixture(scope="module")
def gui(fcc):
    if fcc.desktop is None:
        pytest.skip(f"no headless desktop: {', '.join(fcc.desktop_missing)} not installed")
    wait_sommelier(fcc)
    return fcc


def sommelier_pids(fcc):
    """sommelier and its stream children (forks, same command line); not waypipe's held child (--hold)."""
    r = in_penguin_rc(fcc, f"pgrep -u {USER} -xf /opt/bistro/bin/sommelier")
    return r.stdout.split() if r.returncode == 0 else []


def wait_sommelier(fcc, other_than=None, timeout=180):
    """The pid of alice's sommelier once its socket is there (and it is not other_than)."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [p for p in sommelier_pids(fcc) if p != other_than]
        if pids and in_penguin_rc(fcc, f"test -S {RUNTIME}/bistro-waypipe.sock").returncode == 0:
            return min(pids, key=int)
        if time.monotonic() > deadline:
            log = in_penguin_rc(fcc, "journalctl --no-pager -o cat _SYSTEMD_USER_UNIT=bistro-garcon.service | "
                                     "tail -n 30", user="root")
            raise AssertionError(f"no sommelier in penguin:\n{log.stdout}\n{fcc.diagnostics()}")
        time.sleep(1)


def wayland_info(fcc, n=1):
    """Runs n wayland-info clients at once as alice; their outputs and exit codes."""
    script = " ".join(f"(wayland-info >/tmp/somm-{i}.out 2>&1; echo $? >/tmp/somm-{i}.rc) &" for i in range(n))
    script += f" wait; for i in $(seq 0 {n - 1}); do echo \"{MARK}$(cat /tmp/somm-$i.rc)\"; cat /tmp/somm-$i.out; " \
              "done; rm -f /tmp/somm-*"
    out = in_penguin(fcc, script, timeout=CLIENT_TIMEOUT).stdout
    return [(int(part.split("\n", 1)[0]), part) for part in out.split(MARK)[1:]]


def test_runs_as_the_default_user(gui):
    r = in_penguin(gui, f"stat -c '%U %a %F' {RUNTIME} {RUNTIME}/bistro-waypipe.sock; "
                        f"ps -o user=,args= -p {wait_sommelier(gui)}")
    lines = r.stdout.splitlines()
    assert lines[0] == f"{USER} 700 directory", r.stdout
    assert lines[1] == f"{USER} 600 socket", r.stdout
    assert lines[2].split()[0] == USER and "/opt/bistro/bin/sommelier" in lines[2], r.stdout


def test_gui_env_in_vsh_sessions(gui):
    r = in_penguin(gui, "env")
    env = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
    assert env.get("XDG_RUNTIME_DIR") == RUNTIME, r.stdout
    assert env.get("WAYLAND_DISPLAY") == "wayland-0", r.stdout
    assert env.get("GDK_BACKEND") == "wayland,x11", r.stdout
    assert env.get("QT_QPA_PLATFORM") == "wayland;xcb", r.stdout
    # root is not penguin's default user: no GUI variables (the sommelier is alice's)
    r = in_penguin(gui, "env", user="root")
    assert "WAYLAND_DISPLAY=" not in r.stdout, r.stdout


def test_parallel_clients(gui):
    """Four Wayland clients at once: each sees the host compositor's globals, less the hidden ones."""
    results = wayland_info(gui, 4)
    assert len(results) == 4, results
    for rc, out in results:
        assert rc == 0 and "wl_compositor" in out and "xdg_wm_base" in out, out
        assert "zwlr_screencopy_manager_v1" not in out and "zwlr_data_control_manager_v1" not in out, out
    # each stream's child is gone once both sides closed: only sommelier itself is left
    deadline = time.monotonic() + 30
    while len(sommelier_pids(gui)) != 1 and time.monotonic() < deadline:
        time.sleep(1)
    assert len(sommelier_pids(gui)) == 1, sommelier_pids(gui)


def test_garcon_restarts_sommelier(gui):
    old = wait_sommelier(gui)
    in_penguin(gui, f"kill -9 {old}")
    new = wait_sommelier(gui, other_than=old, timeout=60)
    assert new != old
    # the new one serves clients (a waypipe of the old one may hold wayland-0 for a moment)
    deadline = time.monotonic() + 60
    while True:
        [(rc, out)] = wayland_info(gui)
        if rc == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert rc == 0 and "wl_compositor" in out, out

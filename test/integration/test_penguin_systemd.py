# SPDX-License-Identifier: LGPL-2.1-or-later
"""penguin is a real Debian system (issue #12 items 3 and 7), end to end under TCG: systemd is PID 1
and reaches running (or degraded, with the failed units printed); the default user lingers, so
`systemctl --user` works; `tty` in a bistro shell is a pts of penguin; the container's zone follows
the host's (a zone source the test controls, BISTRO_TIMEZONE_SOURCE), within 10 s of a change,
until the container sets its own; a container stop stays bounded.

One concierge, one VM boot and one penguin shared by the module, tests in order. The debian image
comes from the store (BISTRO_IMAGE_STORE, default the real one) and is built by bistro when
missing (root and debootstrap needed, else skipped).

Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (default tcg here), BISTRO_TERMINA_IMAGE, BISTRO_IMAGE_STORE.
"""

import os
import re
import shutil
import subprocess
import time

import pytest

from concierge_helpers import require_built, image_store, Concierge, build_dir
from test_bistro import PtySession

FIRST_TIMEOUT = 1800
CALL_TIMEOUT = 600
ZONE_WINDOW = 10  # s: a host change reaches penguin within this (issue #12)
USER = "alice"


def set_zone(link, name):
    """Re-points the source link atomically, as a host does: a new link renamed over the old."""
    tmp = link.with_name(link.name + ".new")
    if tmp.is_symlink():
        tmp.unlink()
    tmp.symlink_to(f"/usr/share/zoneinfo/{name}")
    os.rename(tmp, link)


@pytest.fixture(scope="module")
def cc():
    require_built("src/bistro/bistro", "src/concierge/concierge", "src/vmc/vmc", "src/vsh/vsh", "src/vmm/vmm")
    if not os.path.exists("/usr/share/zoneinfo/Europe/Paris"):
        pytest.skip("the host has no /usr/share/zoneinfo (tzdata)")
    store = image_store()
    if not ((store / "debian.tar.zst").exists() and (store / "debian.json").exists()):
        if os.geteuid() != 0:
            pytest.skip(f"no debian image in {store}, and building it needs root")
        if not shutil.which("debootstrap", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            pytest.skip(f"no debian image in {store}, and debootstrap is not installed")
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(store)})
    c.zone_link = c.root / "zone" / "localtime"
    c.zone_link.parent.mkdir()
    set_zone(c.zone_link, "Europe/Paris")
    c.env["BISTRO_TIMEZONE_SOURCE"] = str(c.zone_link)
    yield c
    c.cleanup()
    assert not c.alive(), "processes left behind"


def bistro(cc, *args, timeout=CALL_TIMEOUT):
    r = subprocess.run([str(build_dir() / "src/bistro/bistro"), *args], env=cc.env, stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=timeout)
    cc.track()
    return r


def bistro_ok(cc, *args, **kw):
    r = bistro(cc, *args, **kw)
    assert r.returncode == 0, f"bistro {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}\n" + \
        cc.diagnostics()
    return r


def penguin_zone(cc):
    return bistro_ok(cc, "--", "date", "+%Z").stdout.strip()


def wait_zone(cc, want, window):
    t0 = time.monotonic()
    seen = None
    while time.monotonic() - t0 < window:
        seen = penguin_zone(cc)
        if seen == want:
            return time.monotonic() - t0
        time.sleep(0.5)
    raise AssertionError(f"penguin's zone is {seen}, not {want}, {window} s after the host change\n" +
                         cc.diagnostics())


def test_systemd_is_pid1_and_running(cc):
    r = bistro_ok(cc, "--user", USER, "--", "true", timeout=FIRST_TIMEOUT)
    r = bistro_ok(cc, "--", "cat", "/proc/1/comm")
    assert r.stdout.strip() == "systemd", r.stdout
    r = bistro(cc, "--", "timeout", "240", "systemctl", "is-system-running", "--wait", timeout=300)
    state = r.stdout.strip()
    failed = bistro(cc, "--", "systemctl", "list-units", "--failed", "--no-legend", "--plain").stdout
    print(f"penguin: systemctl is-system-running = {state}; failed units:\n{failed}")
    assert state in ("running", "degraded"), f"{state!r}\n{r.stderr}\nfailed units:\n{failed}"
    if state == "degraded":
        assert failed.strip(), "degraded without a failed unit"


def test_user_manager_lingers(cc):
    r = bistro_ok(cc, "--", "ls", "/var/lib/systemd/linger")
    assert USER in r.stdout.split(), r.stdout
    # vsh sessions bypass PAM: a login shell gets XDG_RUNTIME_DIR from the image's profile.d.
    deadline = time.monotonic() + 120
    while True:
        r = bistro(cc, "--user", USER, "--", "bash", "-lc",
                   "timeout 60 systemctl --user is-system-running --wait; echo XDG=$XDG_RUNTIME_DIR")
        out = r.stdout
        if re.search(r"^(running|degraded)$", out, re.M) or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert re.search(r"^(running|degraded)$", out, re.M), out + r.stderr
    assert "XDG=/run/user/1000" in out, out
    r = bistro_ok(cc, "--", "loginctl", "show-user", USER, "--property=Linger")
    assert r.stdout.strip() == "Linger=yes", r.stdout


def test_tty_is_a_pts_of_penguin(cc):
    s = PtySession(cc, "--user", USER)
    try:
        s.expect(rb"@penguin[^\r\n]*[#$] ", 300)
        s.send('echo "T=$(tty)"; exit 0\n')
        s.expect(rb"T=/dev/pts/\d+\r\n", 60)
        assert s.wait(60) == 0
    finally:
        s.close()


def test_zone_follows_the_host(cc):
    # December: CET. (A summer run sees CEST.)
    assert penguin_zone(cc) in ("CET", "CEST")
    r = bistro_ok(cc, "--", "readlink", "/etc/localtime")
    assert r.stdout.strip() == "/usr/share/zoneinfo/Europe/Paris", r.stdout
    set_zone(cc.zone_link, "Asia/Tokyo")
    took = wait_zone(cc, "JST", ZONE_WINDOW)
    print(f"host zone change -> penguin: {took:.1f} s")
    assert bistro_ok(cc, "--", "cat", "/etc/timezone").stdout.strip() == "Asia/Tokyo"


def test_container_zone_is_respected(cc):
    r = bistro(cc, "--", "timedatectl", "set-timezone", "America/New_York", timeout=120)
    if r.returncode != 0:
        print(f"timedatectl failed ({r.returncode}: {r.stderr.strip()}), using ln -sf")
        bistro_ok(cc, "--", "ln", "-sf", "../usr/share/zoneinfo/America/New_York", "/etc/localtime")
    assert penguin_zone(cc) in ("EST", "EDT")
    set_zone(cc.zone_link, "Europe/Paris")
    # The VM follows the host (maitred), the container keeps its own.
    deadline = time.monotonic() + ZONE_WINDOW + 5
    while cc.guest_sh("termina", 'read x < /run/bistro/timezone && test "$x" = Europe/Paris') != 0:
        assert time.monotonic() < deadline, "tremplin never got the new zone\n" + cc.diagnostics()
        time.sleep(0.5)
    time.sleep(1)
    assert penguin_zone(cc) in ("EST", "EDT")


def test_stop_is_bounded_and_restart_works(cc):
    t0 = time.monotonic()
    cc.vmc("container-stop", "termina", "penguin", check=True, timeout=60)
    took = time.monotonic() - t0
    print(f"container-stop of penguin (systemd): {took:.1f} s")
    assert took < 20, f"stopping took {took:.1f} s"
    t0 = time.monotonic()
    r = bistro_ok(cc, "--", "cat", "/proc/1/comm")
    print(f"restart -> command: {time.monotonic() - t0:.1f} s")
    assert r.stdout.strip() == "systemd"
    # The zone the user set survives, the user still lingers.
    assert penguin_zone(cc) in ("EST", "EDT")

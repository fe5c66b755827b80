# SPDX-License-Identifier: LGPL-2.1-or-later
"""Per-app scale and window marks, hermetic (no VM): `vmc app-scale` / `vmc window-mark` write gui.conf,
the real cicerone reads it: the scale goes into garcon's LaunchApplicationRequest.scale_percent, the
mark into the StartupWMClass of the launcher entries (test_cicerone's harness: the test acts as garcon
and as the VM's hybrid vsock socket)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from test_cicerone import (APP_LIST, CICERONE_LAUNCH, CONTAINER_READY, TOKEN, Cicerone,  # noqa: E402
                           FakeVm, app, app_list, cicerone_binary, expect_empty, launch_req, ready,
                           vmc_binary)


@pytest.fixture
def cic(tmp_path):
    if not os.access(cicerone_binary(), os.X_OK):
        pytest.fail(f"{cicerone_binary()} missing: build the tree first")
    c = Cicerone(tmp_path)
    c.env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    c.conf = tmp_path / "config" / "bistro" / "gui.conf"
    c.start()
    c.vm_started()
    yield c
    c.stop()


def vmc(cic, *args):
    return subprocess.run([str(vmc_binary()), *args], env=cic.env, capture_output=True, text=True,
                          timeout=30)


def launch(cic, app_id, port):
    """Launches app_id through cicerone; the scale_percent garcon received."""
    fake = FakeVm(cic, port, TOKEN)
    try:
        with cic.garcon() as g:
            expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN, port)))
            expect_empty(cic.control_call(CICERONE_LAUNCH, launch_req(app_id)))
        fake.thread.join(5)
        assert [a for a, _ in fake.launched] == [app_id]
        return fake.scales[0]
    finally:
        fake.close()


def test_scale_reaches_the_launch_request(cic):
    assert launch(cic, "org.gnome.gedit", 10050) == 0  # no gui.conf: no scale
    r = vmc(cic, "app-scale", "termina", "penguin", "org.gnome.gedit.desktop", "1.5")
    assert r.returncode == 0, r.stderr
    assert "scale 1.5 (150%)" in r.stdout
    assert launch(cic, "org.gnome.gedit", 10051) == 150
    # Another app and another container keep theirs.
    assert launch(cic, "xterm", 10052) == 0
    assert vmc(cic, "app-scale", "termina", "other", "xterm", "200%").returncode == 0
    assert launch(cic, "xterm", 10053) == 0
    assert vmc(cic, "app-scale", "termina", "penguin", "org.gnome.gedit", "reset").returncode == 0
    assert launch(cic, "org.gnome.gedit", 10054) == 0


def test_broken_conf_launches_unscaled(cic):
    cic.conf.parent.mkdir(parents=True)
    cic.conf.write_text("app-scale termina/penguin/xterm = 200\nnonsense\n")
    assert launch(cic, "xterm", 10055) == 0
    assert "Cannot read the scale of xterm from gui.conf" in cic.log.read_text()
    r = vmc(cic, "app-scale", "termina", "penguin", "xterm", "2")
    assert r.returncode == 1
    assert "gui.conf: line 2: expected 'KEY = VALUE'" in r.stderr
    assert cic.conf.read_text() == "app-scale termina/penguin/xterm = 200\nnonsense\n"


def test_vmc_app_scale_cli(cic):
    r = vmc(cic, "app-scale", "termina", "penguin", "foot")
    assert (r.returncode, r.stdout) == (0, "none\n")
    for factor, percent in (("2", 200), ("1.25", 125), ("50%", 50), ("4", 400)):
        r = vmc(cic, "app-scale", "termina", "penguin", "foot", factor)
        assert r.returncode == 0, r.stderr
        r = vmc(cic, "--json", "app-scale", "termina", "penguin", "foot")
        assert json.loads(r.stdout)["percent"] == percent
    assert vmc(cic, "app-scale", "termina", "penguin", "foot", "-1").returncode == 2  # an option
    for bad in ("4.5", "0.25", "x", "1.333", "1,5", "150 %"):
        r = vmc(cic, "app-scale", "termina", "penguin", "foot", bad)
        assert r.returncode == 2, (bad, r.stderr)
        assert "invalid scale factor" in r.stderr and "0.5 to 4" in r.stderr
    assert vmc(cic, "app-scale", "termina", "pen/guin", "foot", "2").returncode == 2
    assert vmc(cic, "app-scale", "termina", "penguin", "foo bar", "2").returncode == 2
    assert vmc(cic, "app-scale", "termina", "penguin").returncode == 2
    assert vmc(cic, "app-scale", "--list", "termina").returncode == 2
    assert vmc(cic, "app-scale", "dev", "box", "Alacritty", "0.5").returncode == 0
    r = vmc(cic, "app-scale", "--list", "--json")
    assert json.loads(r.stdout) == [
        {"vm": "dev", "container": "box", "app": "Alacritty", "scale": 0.5, "percent": 50},
        {"vm": "termina", "container": "penguin", "app": "foot", "scale": 4, "percent": 400}]
    r = vmc(cic, "app-scale", "--list")
    assert r.stdout.splitlines()[1:] == [
        "dev              box              Alacritty                        0.5",
        "termina          penguin          foot                             4"]


def test_window_mark_rewrites_startup_wm_class(cic):
    r = vmc(cic, "window-mark")
    assert (r.returncode, r.stdout) == (0, "title\n")
    apps = [app("org.gnome.gedit", "Text Editor", wm="gedit"), app("xterm", "XTerm")]
    with cic.garcon() as g:
        expect_empty(cic.call(g, CONTAINER_READY, ready(TOKEN)))
        expect_empty(cic.call(g, APP_LIST, app_list(TOKEN, apps)))
        assert "StartupWMClass=gedit\n" in cic.entry("org.gnome.gedit").read_text()
        assert "StartupWMClass=xterm\n" in cic.entry("xterm").read_text()

        # cicerone reads the mark each time it writes entries (the file edited by hand: vmc would
        # rewrite the entries itself).
        cic.conf.parent.mkdir(parents=True)
        cic.conf.write_text("window-mark = app-id\n")
        assert vmc(cic, "window-mark").stdout == "app-id\n"
        expect_empty(cic.call(g, APP_LIST, app_list(TOKEN, apps)))
        assert "StartupWMClass=bistro.penguin.gedit\n" in cic.entry("org.gnome.gedit").read_text()
        assert "StartupWMClass=bistro.penguin.xterm\n" in cic.entry("xterm").read_text()
        cic.conf.write_text("window-mark = none\n")
        expect_empty(cic.call(g, APP_LIST, app_list(TOKEN, apps)))
        assert "StartupWMClass=gedit\n" in cic.entry("org.gnome.gedit").read_text()
        # Changing the mark rewrites the entries at once, without a new list from garcon.
        r = vmc(cic, "window-mark", "app-id")
        assert (r.returncode, r.stdout) == (0, "2 launcher entries updated.\n"), r.stderr
        assert "StartupWMClass=bistro.penguin.gedit\n" in cic.entry("org.gnome.gedit").read_text()
        assert "StartupWMClass=bistro.penguin.xterm\n" in cic.entry("xterm").read_text()
        assert vmc(cic, "window-mark", "app-id").stdout == ""  # nothing left to change
        r = vmc(cic, "window-mark", "title")
        assert (r.returncode, r.stdout) == (0, "2 launcher entries updated.\n"), r.stderr
        assert "StartupWMClass=gedit\n" in cic.entry("org.gnome.gedit").read_text()
        assert "StartupWMClass=xterm\n" in cic.entry("xterm").read_text()
        assert vmc(cic, "window-mark", "none").stdout == ""  # title and none: the same class
    r = vmc(cic, "window-mark", "App-Id")
    assert r.returncode == 2 and "title, app-id or none" in r.stderr
    assert "window-mark = none\n" in cic.conf.read_text()


def test_bash_completion():
    comp = Path(__file__).resolve().parents[2] / "shell-completion/vmc.bash"

    def complete(*words):
        script = (f"source {comp}; COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; _vmc; "
                  'echo "${COMPREPLY[*]}"')
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert complete("vmc", "app-") == ["app-scale"]
    assert complete("vmc", "window-mark", "a") == ["app-id"]
    assert complete("vmc", "window-mark", "") == ["title", "app-id", "none"]
    assert complete("vmc", "app-scale", "--l") == ["--list"]
    assert complete("vmc", "app-scale", "termina", "penguin", "foot", "1.") == ["1.25", "1.5", "1.75"]
    assert complete("vmc", "app-scale", "termina", "penguin", "foot", "r") == ["reset"]

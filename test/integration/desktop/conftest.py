# SPDX-License-Identifier: LGPL-2.1-or-later
"""One VM for every desktop-integration test (#13: shares, "Linux files", FUSE in containers; #14: GUI
apps and the clipboard): a headless sway desktop (when sway is installed), then a private concierge whose
WAYLAND_DISPLAY is that desktop, with penguin set up for its default user, booted once for the whole
package (boots under TCG cost minutes). Each module leaves the VM running and penguin as it found it."""

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from concierge_helpers import Concierge, bistro, bistro_ok, image_store, require_built
from headless_desktop import HeadlessDesktop, missing_tools

USER = "alice"  # penguin's default user (uid 1000)
FIRST_TIMEOUT = 1800


@pytest.fixture(scope="package")
def fcc():
    require_built("src/bistro/bistro", "src/concierge/concierge", "src/vmc/vmc", "src/vsh/vsh",
                  "src/vmm/vmm", "src/cicerone/cicerone", "src/garcon/garcon")
    store = image_store()
    if not ((store / "debian.tar.zst").exists() and (store / "debian.json").exists()):
        pytest.fail(f"no debian image in {store}: the suite's image step builds it "
                    "(image/containers/build-debian.sh)")
    stub_dir = Path(tempfile.mkdtemp(prefix="bistro-fstub-", dir="/tmp"))
    opened = stub_dir / "opened.log"
    stub = stub_dir / "xdg-open"
    stub.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {shlex.quote(str(opened))}\n")
    stub.chmod(0o755)
    env = {"BISTRO_IMAGE_STORE": str(store), "PATH": f"{stub_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    desktop = None
    missing = missing_tools(("foot",))
    if not missing:
        desktop = HeadlessDesktop()
        desktop.start()
        env["WAYLAND_DISPLAY"] = str(desktop.socket)
    c = Concierge(env=env)
    c.desktop = desktop
    c.desktop_missing = missing
    c.opened = opened
    c.home = c.root / "home"  # host folders the tests share live here
    c.home.mkdir(mode=0o755)
    bistro_ok(c, "--user", USER, "--", "true", timeout=FIRST_TIMEOUT)
    yield c
    c.cleanup()
    if desktop:
        desktop.stop()
    shutil.rmtree(stub_dir, ignore_errors=True)
    assert not c.alive(), "processes left behind"


def in_penguin(cc, script, user=USER, **kw):
    """A shell script in penguin (as its default user unless user= says otherwise); CompletedProcess."""
    return bistro_ok(cc, "--user", user, "--", "sh", "-c", script, **kw)


def in_penguin_rc(cc, script, user=USER, **kw):
    """As in_penguin but a failing script is returned, not raised."""
    return bistro(cc, "--user", user, "--", "sh", "-c", script, **kw)

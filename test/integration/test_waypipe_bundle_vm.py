# SPDX-License-Identifier: LGPL-2.1-or-later
"""The waypipe bundle where sommelier runs it: in Termina (/opt/bistro/lib/waypipe) and in a busybox
container, which has no glibc of its own (docs/design/sommelier.md, "The waypipe bundle"). Real vmc,
a private concierge, the real Termina image under TCG. Checks are exit codes (maitred returns no
output).
"""

import shlex

import pytest

from concierge_helpers import Concierge, image_store, require_built

LXC = "/mnt/stateful/lxc"
DIR = "/opt/bistro/lib/waypipe"
WAYPIPE = f"{DIR}/ld-linux-x86-64.so.2 --library-path {DIR} {DIR}/waypipe"
# Shell builtins only: Termina has dash but no coreutils or grep.
VERSION_IS_084 = f'{WAYPIPE} --version | {{ read -r l; test "$l" = "waypipe 0.8.4"; }}'


@pytest.fixture(scope="module")
def cc():
    require_built("src/concierge/concierge", "src/vmc/vmc", "src/tremplin/tremplin", "test/tools/maitred-client")
    store = image_store()
    if not (store / "busybox.tar.zst").exists():
        pytest.skip(f"no busybox image in {store} (image/containers/build-busybox.sh makes it)")
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(store)}).start()
    r = c.vmc("start", "termina")
    assert r.returncode == 0, r.stderr + c.diagnostics()
    yield c
    c.cleanup()
    assert not c.alive(), "processes left behind"


def attach(cc, name, script):
    return cc.guest_sh("termina", f"/usr/bin/lxc-attach -n {name} -P {LXC} -- /bin/sh -c {shlex.quote(script)}")


def test_bundle_in_termina_and_busybox(cc):
    assert cc.guest_sh("termina", VERSION_IS_084) == 0
    r = cc.vmc("container", "termina", "wpbb", "--image", "busybox")
    assert r.returncode == 0, r.stderr + cc.diagnostics()
    # busybox has no libc: the bundle brings its own. Not writable from the container.
    assert attach(cc, "wpbb", "test ! -e /lib/libc.so.6 && test ! -e /lib/x86_64-linux-gnu/libc.so.6") == 0
    assert attach(cc, "wpbb", VERSION_IS_084) == 0
    assert attach(cc, "wpbb", f"! touch {DIR}/x 2>/dev/null") == 0
    # The server end starts, makes the display socket and runs its child on the container's own
    # binaries (busybox's sleep); it exits with the child.
    script = (f"mkdir -p /tmp/wp && chmod 700 /tmp/wp && "
              f"XDG_RUNTIME_DIR=/tmp/wp {WAYPIPE} -n -s /tmp/wp/up.sock --display wayland-t server -- sleep 4 "
              f"& i=0; while [ ! -S /tmp/wp/wayland-t ] && [ $i -lt 10 ]; do sleep 1; i=$((i+1)); done; "
              f"test -S /tmp/wp/wayland-t && wait $!")
    assert attach(cc, "wpbb", script) == 0
    assert cc.vmc("container-stop", "termina", "wpbb").returncode == 0
    assert cc.vmc("container-delete", "termina", "wpbb", "--yes").returncode == 0

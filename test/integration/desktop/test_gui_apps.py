# SPDX-License-Identifier: LGPL-2.1-or-later
"""GUI apps from penguin on the host desktop (#14), through the real VM: sommelier in penguin,
vsock port 7100, wayland-gate and a sandboxed waypipe on the host, the headless sway desktop the
package's conftest started. A Wayland app started in penguin maps a window with its app_id and the
container's mark, and a screenshot of it is kept; the same app from its host launcher entry, from
cold (VM and concierge stopped), maps too with its per-app scale; the clipboard moves text, a PNG
and the primary selection both ways; the host's output scale reaches penguin's apps."""

import hashlib
import shlex
import subprocess
import time

import pytest

from procutil import REPO
from .conftest import FIRST_TIMEOUT, in_penguin, in_penguin_rc

APP_TIMEOUT = 180  # a Wayland app's start under TCG, the first one also starts the gate


@pytest.fixture(scope="module")
def desk(fcc):
    if fcc.desktop is None:
        pytest.skip(f"no headless desktop: {', '.join(fcc.desktop_missing)} not installed")
    # The clipboard's data-device flow (the only one a container has) needs focus, so a keyboard.
    kb = fcc.desktop.add_keyboard()
    # sommelier serves the display moments after the container's user session starts.
    in_penguin(fcc, "for i in $(seq 120); do [ -S /run/user/1000/wayland-0 ] && exit 0; sleep 0.5; done; exit 1")
    yield fcc.desktop
    kb.terminate()


def start_in_penguin(fcc, cmd, log):
    """A GUI app in penguin as alice, in the background of a vsh session that then ends."""
    in_penguin(fcc, f"setsid -f sh -c {shlex.quote(cmd)} >{log} 2>&1 </dev/null")


def wait_window(fcc, desk, timeout=APP_TIMEOUT, **kw):
    try:
        return desk.wait_for_window(timeout=timeout, **kw)
    except TimeoutError as e:
        r = in_penguin_rc(fcc, "tail -n 20 /tmp/gui-*.log; journalctl --user -n 30 --no-pager 2>/dev/null")
        raise AssertionError(f"{e}\npenguin:\n{r.stdout}{r.stderr}\n{fcc.diagnostics()}") from None


def test_app_in_penguin_maps_window(fcc, desk):
    start_in_penguin(fcc, "foot --app-id bistro-vm-foot --title 'from penguin'", "/tmp/gui-foot.log")
    node = wait_window(fcc, desk, app_id="bistro-vm-foot")
    assert node["name"] == "from penguin (penguin)", node["name"]
    # The toplevel appears with its title before its first frame has crossed the VM (TCG is slow).
    deadline = time.monotonic() + APP_TIMEOUT
    while desk.colours(node) <= 2 and time.monotonic() < deadline:
        time.sleep(1)
    shot = desk.screenshot("penguin-foot.png", node)
    assert desk.colours(node) > 2, f"blank window, see {shot}"
    # Closing the window on the host ends the app in penguin and its stream.
    desk.close_window(node["id"])
    desk.wait_window_gone(node["id"], timeout=60)
    r = in_penguin(fcc, "for i in $(seq 60); do pgrep -f '[b]istro-vm-foot' >/dev/null || exit 0; sleep 1; done; exit 1")
    assert r.returncode == 0


def clip_in_penguin(fcc, script):
    return in_penguin(fcc, script, timeout=120).stdout


@pytest.mark.parametrize("primary", [False, True], ids=["clipboard", "primary"])
def test_clipboard_both_ways(fcc, desk, primary):
    p = "--primary " if primary else ""
    # penguin -> host: wl-copy in penguin (it serves the selection until another one replaces it)
    text = f"from penguin {time.time()}"
    in_penguin(fcc, f"setsid -f wl-copy {p}{shlex.quote(text)} >/tmp/gui-copy.log 2>&1 </dev/null")
    deadline = time.monotonic() + 120
    while "text/plain" not in desk.paste_types(primary) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert desk.paste("text/plain", primary=primary, timeout=60).decode() == text
    # host -> penguin
    text = f"from the host {time.time()}"
    desk.copy(text, primary=primary)
    assert clip_in_penguin(fcc, f"wl-paste {p}--no-newline") == text
    if primary:
        return
    # An image both ways, by checksum.
    png = (REPO / "docs/screenshots/bistro.png") if (REPO / "docs/screenshots/bistro.png").exists() else None
    data = png.read_bytes() if png else bytes(range(256)) * 200
    desk.copy(data, mime="image/png")
    got = in_penguin(fcc, "wl-paste --type image/png | sha256sum", timeout=120).stdout.split()[0]
    assert got == hashlib.sha256(data).hexdigest()
    in_penguin(fcc, "head -c 50000 /dev/urandom > /tmp/gui.png && sha256sum /tmp/gui.png > /tmp/gui.png.sum && "
                    "setsid -f wl-copy --type image/png </tmp/gui.png >/dev/null 2>&1")
    want = in_penguin(fcc, "cat /tmp/gui.png.sum").stdout.split()[0]
    # The host's own image is the selection until penguin's wl-copy takes it over.
    deadline = time.monotonic() + 120
    got = None
    while time.monotonic() < deadline:
        if "image/png" in desk.paste_types():
            got = hashlib.sha256(desk.paste("image/png", timeout=60)).hexdigest()
            if got == want:
                break
        time.sleep(0.5)
    assert got == want


def test_host_output_scale_reaches_penguin(fcc, desk):
    desk.swaymsg("output", "HEADLESS-1", "scale", "2")
    try:
        out = in_penguin(fcc, "wayland-info -i wl_output", timeout=120).stdout
        assert "scale: 2" in out, out
    finally:
        desk.swaymsg("output", "HEADLESS-1", "scale", "1")


def test_launcher_entry_from_cold_with_scale(fcc, desk):
    entry = fcc.data_dir / "applications" / "bistro-termina-penguin-foot.desktop"
    deadline = time.monotonic() + 120
    while not entry.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert entry.exists(), sorted(p.name for p in (fcc.data_dir / "applications").glob("*"))
    keys = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert keys.get("StartupWMClass") == "foot", keys
    fcc.vmc("app-scale", "termina", "penguin", "foot", "2", check=True)
    fcc.vmc("stop", "termina", check=True)
    fcc.stop()
    argv = [a for a in shlex.split(keys["Exec"]) if not a.startswith("%")]
    r = subprocess.run(argv, env=fcc.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=FIRST_TIMEOUT)
    fcc.track()
    assert r.returncode == 0, r.stderr + fcc.diagnostics()
    node = wait_window(fcc, desk, app_id="foot", timeout=FIRST_TIMEOUT)
    assert node["name"].endswith(" (penguin)"), node["name"]
    env = in_penguin(fcc, "tr '\\0' '\\n' < /proc/$(pgrep -n -x foot)/environ").stdout.split("\n")
    assert "GDK_SCALE=2" in env and "QT_SCALE_FACTOR=2" in env, env
    desk.close_window(node["id"])
    desk.wait_window_gone(node["id"], timeout=60)
    fcc.vmc("app-scale", "termina", "penguin", "foot", "reset", check=True)

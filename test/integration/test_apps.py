# SPDX-License-Identifier: LGPL-2.1-or-later
"""Container apps on the host, end to end under TCG (issue #12): garcon in penguin (Debian 12 with
systemd, garcon as alice's user service) finds desktop entries and sends them to cicerone, which
writes the host's launcher entries and icons; the host Exec line starts everything from cold and
launches the app; xdg-open in penguin reaches the host's xdg-open (a stub first on cicerone's PATH)
for http/https/mailto only, throttled; a container with a forged token is refused; deleting a
container removes what it brought.

One concierge, VM and penguin for the module (a boot and a container create are minutes under
TCG); the tests run in order. The debian image comes from the real store (as test_bistro.py).
"""

import os
import base64
import shlex
import shutil
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import pytest

from concierge_helpers import require_built, image_store, Concierge, build_dir, bistro, bistro_ok

FIRST_TIMEOUT = 1800
CALL_TIMEOUT = 600
APPEAR_BOUND = 30  # the figure is 5 s; bench/apps-bench.py measures it, this only bounds the wait
USER = "alice"



def make_png(size):
    """A valid size x size RGBA PNG (transparent)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + b"\0" * (4 * size) for _ in range(size))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


PNG48 = make_png(48)

APP_SCRIPT = """#!/bin/sh
# bistro-test-app: records that it ran, as whom, with what
printf '%s\\n' "ran uid=$(id -u) args=$*" >> /var/tmp/bistro-test-app.log
"""

DESKTOP = """[Desktop Entry]
Type=Application
Name=Bistro Test App
Comment=A test application
Exec=/usr/local/bin/bistro-test-app %U
Icon=bistrotestapp
MimeType=text/plain;x-scheme-handler/https;
StartupWMClass=BistroTestApp
Categories=Utility;
"""


@pytest.fixture(scope="module")
def cc():
    require_built("src/bistro/bistro", "src/concierge/concierge", "src/vmc/vmc", "src/vsh/vsh",
                  "src/vmm/vmm", "src/cicerone/cicerone", "src/garcon/garcon")
    store = image_store()
    if not ((store / "debian.tar.zst").exists() and (store / "debian.json").exists()):
        if os.geteuid() != 0:
            pytest.skip(f"no debian image in {store}, and building it needs root "
                        "(sudo image/containers/build-debian.sh)")
        if not shutil.which("debootstrap", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin"):
            pytest.skip(f"no debian image in {store}, and debootstrap is not installed")
    root = Path(os.environ.get("TMPDIR", "/tmp"))
    stub_dir = Path(tempfile.mkdtemp(prefix="bistro-stub-", dir=root))
    opened = stub_dir / "opened.log"
    stub = stub_dir / "xdg-open"
    stub.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {shlex.quote(str(opened))}\n")
    stub.chmod(0o755)
    notified = stub_dir / "notified.log"
    notify = stub_dir / "notify-send"
    notify.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {shlex.quote(str(notified))}\n")
    notify.chmod(0o755)
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(store),
                       "PATH": f"{stub_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"})
    c.opened = opened
    c.notified = notified
    c.apps_dir = c.data_dir / "applications"
    c.icons_dir = c.data_dir / "icons/hicolor"
    yield c
    c.cleanup()
    shutil.rmtree(stub_dir, ignore_errors=True)
    assert not c.alive(), "processes left behind"



def in_penguin(cc, script, user="root", **kw):
    """A shell script in penguin (as root by default: it writes system files)."""
    return bistro_ok(cc, "--user", user, "--", "sh", "-c", script, **kw)


def entry_path(cc, app_id, container="penguin", vm="termina"):
    return cc.apps_dir / f"bistro-{vm}-{container}-{app_id}.desktop"


def wait_for(pred, timeout, what, cc):
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if pred():
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {timeout} s\n" + cc.diagnostics())


def parse_entry(path):
    keys = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            k, v = line.split("=", 1)
            keys[k] = v
    return keys


def validate(path):
    tool = shutil.which("desktop-file-validate")
    if not tool:
        pytest.fail("desktop-file-validate missing (Debian package desktop-file-utils; bootstrap installs it)")
    r = subprocess.run([tool, str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and not r.stdout.strip(), f"{path}:\n{r.stdout}{r.stderr}"


def host_entries(cc):
    return sorted(cc.apps_dir.glob("bistro-*.desktop")) if cc.apps_dir.exists() else []


def test_setup_penguin_with_garcon(cc):
    # alice is penguin's default user: garcon runs as her (a systemd user service, lingering).
    r = bistro_ok(cc, "--user", USER, "--", "true", timeout=FIRST_TIMEOUT)
    r = in_penguin(cc, "for i in $(seq 600); do pgrep -u alice -x garcon >/dev/null && break; sleep 0.1; done; "
                       "pgrep -u alice -x garcon >/dev/null && echo garcon-running", timeout=120)
    assert "garcon-running" in r.stdout, r.stdout + r.stderr + cc.diagnostics()


def test_desktop_entry_appears_valid_and_goes(cc):
    in_penguin(cc, f"""set -e
cat > /usr/local/bin/bistro-test-app <<'EOF'
{APP_SCRIPT}EOF
chmod 755 /usr/local/bin/bistro-test-app
mkdir -p /usr/share/icons/hicolor/48x48/apps /usr/share/applications
echo {base64.b64encode(PNG48).decode()} | base64 -d > /usr/share/icons/hicolor/48x48/apps/bistrotestapp.png
cat > /usr/share/applications/bistro-test-app.desktop <<'EOF'
{DESKTOP}EOF
""")
    path = entry_path(cc, "bistro-test-app")
    took = wait_for(path.exists, APPEAR_BOUND, f"{path}", cc)
    print(f"entry appeared after {took:.1f} s")
    validate(path)
    keys = parse_entry(path)
    bistro_path = str(build_dir() / "src/bistro/bistro")
    exec_argv = shlex.split(keys["Exec"])
    assert exec_argv == [bistro_path, "--app", "bistro-test-app", "--vm", "termina", "--container", "penguin",
                         "%U"], keys["Exec"]
    assert keys["Name"] == "Bistro Test App (penguin)"
    assert keys["StartupWMClass"] == "BistroTestApp"
    assert keys["X-Bistro-VM"] == "termina" and keys["X-Bistro-Container"] == "penguin"
    assert "TryExec" not in keys and "DBusActivatable" not in keys
    icon = cc.icons_dir / "48x48/apps/bistro-termina-penguin-bistro-test-app.png"
    wait_for(icon.exists, APPEAR_BOUND, f"{icon}", cc)
    assert icon.read_bytes() == PNG48
    wait_for(lambda: parse_entry(path).get("Icon") == "bistro-termina-penguin-bistro-test-app",
             APPEAR_BOUND, "Icon= in the entry", cc)
    # vmc apps lists it.
    r = cc.vmc("apps", "termina", "penguin", check=True)
    assert "bistro-test-app" in r.stdout and "Bistro Test App" in r.stdout, r.stdout
    # Removed in penguin: gone on the host, icon too.
    in_penguin(cc, "cp /usr/share/applications/bistro-test-app.desktop /root/keep.desktop; "
                   "rm /usr/share/applications/bistro-test-app.desktop")
    wait_for(lambda: not path.exists(), APPEAR_BOUND, f"{path} removed", cc)
    wait_for(lambda: not icon.exists(), APPEAR_BOUND, f"{icon} removed", cc)
    in_penguin(cc, "cp /root/keep.desktop /usr/share/applications/bistro-test-app.desktop")
    wait_for(path.exists, APPEAR_BOUND, f"{path} again", cc)


def test_launch_warm(cc):
    path = entry_path(cc, "bistro-test-app")
    argv = [a for a in shlex.split(parse_entry(path)["Exec"]) if a != "%U"] + ["https://example.org/warm"]
    in_penguin(cc, "rm -f /var/tmp/bistro-test-app.log")
    r = subprocess.run(argv, env=cc.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=CALL_TIMEOUT)
    assert r.returncode == 0, r.stderr + cc.diagnostics()
    r = in_penguin(cc, "for i in $(seq 100); do [ -s /var/tmp/bistro-test-app.log ] && break; sleep 0.1; done; "
                       "cat /var/tmp/bistro-test-app.log")
    assert "ran uid=1000 args=https://example.org/warm" in r.stdout, r.stdout


def test_launch_bad_usage(cc):
    r = bistro(cc, "--app", "bistro-test-app", "file:///etc/passwd")
    assert r.returncode == 2 and "only http, https and mailto" in r.stderr, r.stderr
    r = bistro(cc, "--app", "no-such-app-here")
    assert r.returncode == 1 and "no-such-app-here" in r.stderr, r.stderr
    # No terminal shows a launcher's stderr: the failure is also a desktop notification.
    assert cc.notified.exists() and "Cannot start no-such-app-here" in cc.notified.read_text(), \
        cc.notified.read_text() if cc.notified.exists() else "notify-send was not run"
    assert "bistro-test-app" not in cc.notified.read_text()


def test_open_url_on_host(cc):
    r = in_penguin(cc, "xdg-open https://example.org/from-penguin; echo rc=$?", user=USER)
    assert "rc=0" in r.stdout, r.stdout + r.stderr
    wait_for(lambda: cc.opened.exists() and "https://example.org/from-penguin" in cc.opened.read_text(),
             30, "the host's xdg-open", cc)
    before = cc.opened.read_text()
    for bad in ("file:///etc/passwd", "javascript:alert(1)"):
        r = bistro(cc, "--user", USER, "--", "xdg-open", bad)
        assert r.returncode != 0, f"{bad}: {r.stdout}{r.stderr}"
    # sensible-browser and $BROWSER (set for login shells) go the same way.
    r = in_penguin(cc, 'sensible-browser https://example.org/sensible; echo "rc=$?"; '
                       'bash -lc \'echo "B=$BROWSER"; "$BROWSER" https://example.org/browser-var\'', user=USER)
    assert "rc=0" in r.stdout and "B=/opt/bistro/bin/bistro-open" in r.stdout, r.stdout + r.stderr
    wait_for(lambda: "https://example.org/sensible" in cc.opened.read_text(), 30, "sensible-browser", cc)
    wait_for(lambda: "https://example.org/browser-var" in cc.opened.read_text(), 30, "$BROWSER", cc)
    time.sleep(2)
    text = cc.opened.read_text()
    assert "passwd" not in text and "javascript" not in text, text
    assert text.startswith(before)


def test_open_url_burst_is_throttled(cc):
    start = len(cc.opened.read_text().splitlines())
    r = in_penguin(cc, "i=0; while [ $i -lt 1000 ]; do /opt/bistro/bin/bistro-open https://example.org/b$i "
                       ">/dev/null 2>&1 & i=$((i+1)); done; wait; echo done", user=USER, timeout=900)
    assert "done" in r.stdout
    time.sleep(3)
    opened = len(cc.opened.read_text().splitlines()) - start
    print(f"1000 requests, {opened} opened")
    assert 1 <= opened <= 30, opened
    assert "throttl" in cc.log().lower() or "slow down" in cc.log().lower() or "rate" in cc.log().lower()


def test_forged_or_missing_token_refused(cc):
    # garcon reads its token from $GARCON_TOKEN_FILE when set (the container can send any bytes anyway).
    r = in_penguin(cc, "printf 'forgedtoken0123456789abcdefXYZ' > /tmp/forged; "
                       "GARCON_TOKEN_FILE=/tmp/forged /opt/bistro/bin/bistro-open https://example.org/forged; "
                       "echo rc=$?", user=USER)
    assert "rc=0" not in r.stdout, r.stdout + r.stderr
    time.sleep(1)
    assert "forged" not in cc.opened.read_text()
    assert "unknown token" in cc.log(), cc.log()[-3000:]


def test_hostile_entries(cc):
    in_penguin(cc, r"""set -e
d=/usr/share/applications
printf '[Desktop Entry]\nType=Application\nName=Evil; rm -rf ~\nExec=sh -c "touch /tmp/pwned; rm -rf ~" `id` $(id)\n' > $d/evil-exec.desktop
printf '[Desktop Entry]\nType=Application\nName=\033[31mred\033]0;title\007\nExec=true\n' > $d/evil-ctl.desktop
mkdir -p /usr/share/icons/hicolor/48x48/apps /usr/share/icons/hicolor/64x64/apps
head -c 10485760 /dev/zero > /usr/share/icons/hicolor/48x48/apps/evilbig.png
printf '[Desktop Entry]\nType=Application\nName=Big Icon\nExec=true\nIcon=evilbig\n' > $d/evil-bigicon.desktop
ln -sf /etc/shadow /usr/share/icons/hicolor/64x64/apps/evillink.png
printf '[Desktop Entry]\nType=Application\nName=Link Icon\nExec=true\nIcon=evillink\n' > $d/evil-link.desktop
""")
    path = entry_path(cc, "evil-exec")
    wait_for(path.exists, APPEAR_BOUND, f"{path}", cc)
    validate(path)
    keys = parse_entry(path)
    assert shlex.split(keys["Exec"])[1:] == ["--app", "evil-exec", "--vm", "termina", "--container", "penguin", "%U"]
    for p in host_entries(cc):
        text = p.read_bytes()
        assert not any(b < 0x20 and b not in (0x0A,) for b in text), p
        validate(p)
    wait_for(entry_path(cc, "evil-bigicon").exists, APPEAR_BOUND, "the big-icon entry", cc)
    assert not list(cc.icons_dir.glob("*/apps/*evilbig*"))
    assert not list(cc.icons_dir.glob("*/apps/*evillink*"))
    # 10,000 entries: garcon sends at most 2048; cicerone stays up and the host gets no more.
    in_penguin(cc, "mkdir -p /usr/share/applications/many && cd /usr/share/applications/many && "
                   "i=0; while [ $i -lt 10000 ]; do printf '[Desktop Entry]\\nType=Application\\nName=M%d\\nExec=true\\n' $i "
                   "> m$i.desktop; i=$((i+1)); done", timeout=900)
    time.sleep(10)
    n = len(host_entries(cc))
    assert n <= 2048 + 10, n
    in_penguin(cc, "rm -rf /usr/share/applications/many /usr/share/applications/evil-*", timeout=300)
    wait_for(lambda: not any("-many-" in p.name or "-evil-" in p.name for p in host_entries(cc)),
             120, "the hostile entries removed", cc)
    wait_for(entry_path(cc, "bistro-test-app").exists, 5, "the test app still there", cc)


def test_garcon_restarts_when_killed(cc):
    # systemd's Restart= brings garcon back as alice; it registers again and launches still work.
    r = in_penguin(cc, "p=$(pgrep -u alice -x garcon); kill -9 $p; "
                       "for i in $(seq 300); do q=$(pgrep -u alice -x garcon); "
                       "[ -n \"$q\" ] && [ \"$q\" != \"$p\" ] && break; sleep 0.1; done; echo \"old=$p new=$q\"")
    old, new = (w.split("=")[1] for w in r.stdout.split())
    assert old and new and old != new, r.stdout
    test_launch_warm(cc)


def test_launch_from_cold(cc):
    path = entry_path(cc, "bistro-test-app")
    argv = [a for a in shlex.split(parse_entry(path)["Exec"]) if a != "%U"] + ["https://example.org/cold"]
    in_penguin(cc, "rm -f /var/tmp/bistro-test-app.log")
    cc.vmc("stop", "termina", check=True)
    cc.stop()
    r = subprocess.run(argv, env=cc.env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=FIRST_TIMEOUT)
    cc.track()
    assert r.returncode == 0, r.stderr + cc.diagnostics()
    r = in_penguin(cc, "for i in $(seq 100); do [ -s /var/tmp/bistro-test-app.log ] && break; sleep 0.1; done; "
                       "cat /var/tmp/bistro-test-app.log")
    assert "ran uid=1000 args=https://example.org/cold" in r.stdout, r.stdout


def test_container_delete_removes_its_entries(cc):
    # A busybox container (bistro-init supervises garcon there), one entry, then delete.
    cc.vmc("container", "termina", "bb", "--image", "busybox", check=True, timeout=CALL_TIMEOUT)
    sh = [str(build_dir() / "src/vsh/vsh"), "termina", "bb", "--", "sh", "-c",
          "mkdir -p /usr/share/applications && printf '[Desktop Entry]\\nType=Application\\nName=BB\\nExec=true\\n' "
          "> /usr/share/applications/bb-app.desktop"]
    r = subprocess.run(sh, env=cc.env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    path = entry_path(cc, "bb-app", container="bb")
    wait_for(path.exists, APPEAR_BOUND, f"{path}", cc)
    cc.vmc("container-stop", "termina", "bb", check=True)
    cc.vmc("container-delete", "termina", "bb", "--yes", check=True)
    assert not path.exists()
    assert entry_path(cc, "bistro-test-app").exists()

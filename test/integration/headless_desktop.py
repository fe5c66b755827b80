# SPDX-License-Identifier: LGPL-2.1-or-later
"""A headless host desktop for the GUI tests and bench/gui-bench.py: sway with the headless backend and
the pixman renderer, run as a non-root test user (sway refuses root).

    with HeadlessDesktop() as d:          # or d = HeadlessDesktop(); d.start(); ...; d.stop()
        p = d.spawn(["foot"])             # a client as the test user, on this desktop
        node = d.wait_for_window(app_id="foot")
        d.screenshot("foot.png", node)    # into artifacts_dir(); colours() for a non-blank check
        d.copy(b"hi"); d.paste()          # wl-copy / wl-paste as the test user
        d.add_keyboard()                  # a keyboard on the seat, for clients that need focus

d.socket is the absolute path of the Wayland socket: root-run Bistro daemons connect to it directly (root
bypasses the private runtime dir's 0700); d.share_socket() opens it to every uid. Clients as the test
user get d.env (d.spawn, d.run do it). stop() kills only what this object started.
"""

import json
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from procutil import build_dir

USER = "bistro-desktop"
TOOLS = ("sway", "swaymsg", "grim", "wl-copy", "wl-paste")


def missing_tools(extra=()):
    """The programs this helper (and extra) needs that are not installed: for a skip reason."""
    return [t for t in (*TOOLS, *extra) if shutil.which(t) is None]


def artifacts_dir():
    """$BISTRO_TEST_ARTIFACTS, else <build>/test-artifacts; created."""
    d = Path(os.environ.get("BISTRO_TEST_ARTIFACTS") or build_dir() / "test-artifacts")
    d.mkdir(parents=True, exist_ok=True)
    return d


def ensure_user(name=USER):
    """Creates the test user once (a system user with no login); returns its passwd entry."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    r = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                        "--shell", "/usr/sbin/nologin", name], capture_output=True, text=True)
    try:  # another test may have created it meanwhile: that is fine
        return pwd.getpwnam(name)
    except KeyError:
        raise RuntimeError(f"cannot create the test user {name}: {r.stderr.strip()}") from None


def parse_ppm(data):
    """(width, height, pixel bytes) of a binary PPM (P6, maxval 255) such as `grim -t ppm` writes."""
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or fields[3] != b"255":
        raise ValueError("not an 8-bit binary PPM")
    w, h = int(fields[1]), int(fields[2])
    pixels = data[pos + 1:pos + 1 + w * h * 3]
    if len(pixels) != w * h * 3:
        raise ValueError("truncated PPM")
    return w, h, pixels


def distinct_colours(pixels, limit=1 << 16):
    """How many distinct RGB colours the pixel bytes hold (stops counting at limit)."""
    seen = set()
    for i in range(0, len(pixels), 3):
        seen.add(pixels[i:i + 3])
        if len(seen) >= limit:
            break
    return len(seen)


class HeadlessDesktop:
    def __init__(self, scale=None, width=1024, height=768, user=USER, timeout=20.0):
        self.scale, self.width, self.height, self.timeout = scale, width, height, timeout
        self.user = user
        self.proc = None
        self.children = []
        self.runtime_dir = None
        self.socket = None
        self.ipc_socket = None
        self.log_path = None

    # --- lifecycle ---

    def start(self):
        if os.geteuid() == 0:
            pw = ensure_user(self.user)
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
        else:  # already not root: run sway as ourselves
            self.uid, self.gid = os.getuid(), os.getgid()
        self.runtime_dir = Path(tempfile.mkdtemp(prefix="bistro-desktop-"))
        os.chown(self.runtime_dir, self.uid, self.gid)
        os.chmod(self.runtime_dir, 0o700)
        cfg = self.runtime_dir / "sway.config"
        out = f"output HEADLESS-1 resolution {self.width}x{self.height}"
        if self.scale:
            out += f" scale {self.scale}"
        # No bar (it would need swaybar's fonts and adds nothing); a plain known background.
        cfg.write_text(f"{out}\noutput * background #204060 solid_color\nbar {{\n    mode invisible\n}}\n")
        os.chmod(cfg, 0o644)
        self.env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.runtime_dir),
            "XDG_RUNTIME_DIR": str(self.runtime_dir),
            "WLR_BACKENDS": "headless",
            "WLR_RENDERER": "pixman",
            "WLR_LIBINPUT_NO_DEVICES": "1",
            "LANG": "C.UTF-8",
        }
        self.log_path = artifacts_dir() / f"sway-{os.getpid()}-{self.runtime_dir.name}.log"
        with open(self.log_path, "wb") as log:
            self.proc = self._popen(["sway", "-c", str(cfg)], stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sway exited with {self.proc.returncode}: {self._log_tail()}")
            socks = sorted(p for p in self.runtime_dir.glob("wayland-*") if not p.name.endswith(".lock"))
            ipcs = sorted(self.runtime_dir.glob("sway-ipc.*.sock"))
            if socks and ipcs and self._ipc_ready(ipcs[0]):
                self.socket, self.ipc_socket = str(socks[0]), str(ipcs[0])
                self.env["WAYLAND_DISPLAY"] = self.socket
                self.env["SWAYSOCK"] = self.ipc_socket
                return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sway did not offer its sockets within {self.timeout} s: {self._log_tail()}")

    def stop(self):
        for p in [*self.children, self.proc]:
            if p is not None and p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.children, self.proc = [], None
        if self.runtime_dir is not None:
            shutil.rmtree(self.runtime_dir, ignore_errors=True)
            self.runtime_dir = None

    def share_socket(self):
        """Lets every uid connect to the Wayland socket (runtime dir 0711: search only, socket 0666), for
        a client that is neither the test user nor root with CAP_DAC_OVERRIDE: e.g. a sandboxed Bistro
        daemon in its own user namespace, or the host user of a rootless concierge."""
        os.chmod(self.runtime_dir, 0o711)
        os.chmod(self.socket, 0o666)

    def user_dir(self, name):
        """A 0700 directory of the test user's inside the desktop's runtime dir (another XDG_RUNTIME_DIR,
        a HOME); stop() removes it with the rest."""
        d = self.runtime_dir / name
        d.mkdir(mode=0o700)
        os.chown(d, self.uid, self.gid)
        return d

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _log_tail(self):
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def _ipc_ready(self, path):
        r = subprocess.run(["swaymsg", "-s", str(path), "-t", "get_version"], capture_output=True, timeout=10,
                           env=self.env, **self._as_user())
        return r.returncode == 0

    # --- running programs as the test user ---

    def _as_user(self):
        if os.geteuid() != 0:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "cwd": str(self.runtime_dir)}

    def _popen(self, argv, env=None, **kw):
        return subprocess.Popen(argv, env={**self.env, **(env or {})}, stdin=kw.pop("stdin", subprocess.DEVNULL),
                                start_new_session=True, **self._as_user(), **kw)

    def spawn(self, argv, env=None, **kw):
        """Starts a client as the test user on this desktop; stop() kills it if still running."""
        p = self._popen(argv, env=env, **kw)
        self.children.append(p)
        return p

    def run(self, argv, input=None, timeout=20, check=True):
        """Runs a command as the test user on this desktop; returns the CompletedProcess (bytes)."""
        r = subprocess.run(argv, env=self.env, input=input, capture_output=True, timeout=timeout,
                           **self._as_user())
        if check and r.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed ({r.returncode}): {r.stderr.decode(errors='replace')}")
        return r

    def add_keyboard(self):
        """Puts a virtual keyboard on the seat until stop() (test/integration/wayland_vkbd.py). Headless sway
        has none, so no client would ever get focus, and the clipboard's data-device flow (the only one a
        container has: the gate hides data-control) needs focus."""
        vkbd = self.runtime_dir / "wayland_vkbd.py"
        shutil.copy(Path(__file__).with_name("wayland_vkbd.py"), vkbd)
        vkbd.chmod(0o755)
        p = self.spawn(["/usr/bin/python3", str(vkbd)], stdout=subprocess.PIPE, text=True)
        if p.stdout.readline().strip() != "ready":
            raise RuntimeError(f"wayland_vkbd.py did not start (exit {p.wait()})")
        return p

    # --- windows ---

    def swaymsg(self, *args):
        return self.run(["swaymsg", "-s", self.ipc_socket, *args]).stdout

    def tree(self):
        return json.loads(self.swaymsg("-t", "get_tree"))

    def windows(self):
        """Every view in the tree (nodes with a pid), tiled and floating."""
        found, todo = [], [self.tree()]
        while todo:
            n = todo.pop()
            if n.get("pid") and n.get("type") in ("con", "floating_con"):
                found.append(n)
            todo += n.get("nodes", []) + n.get("floating_nodes", [])
        return found

    def find_window(self, app_id=None, title_contains=None):
        for n in self.windows():
            if app_id is not None and n.get("app_id") != app_id:
                continue
            if title_contains is not None and title_contains not in (n.get("name") or ""):
                continue
            return n
        return None

    def wait_for_window(self, app_id=None, title_contains=None, timeout=20.0, interval=0.1):
        """The first window matching app_id and/or title_contains, polled every interval seconds until
        timeout (TimeoutError)."""
        deadline = time.monotonic() + timeout
        while True:
            n = self.find_window(app_id, title_contains)
            if n is not None:
                return n
            if time.monotonic() > deadline:
                seen = [(w.get("app_id"), w.get("name")) for w in self.windows()]
                raise TimeoutError(f"no window app_id={app_id!r} title~{title_contains!r} in {timeout} s; "
                                   f"windows: {seen}")
            time.sleep(interval)

    def wait_window_gone(self, con_id, timeout=10.0):
        deadline = time.monotonic() + timeout
        while any(w["id"] == con_id for w in self.windows()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"window {con_id} still there after {timeout} s")
            time.sleep(0.1)

    def close_window(self, con_id):
        self.swaymsg(f"[con_id={int(con_id)}]", "kill")

    def focus(self, con_id):
        self.swaymsg(f"[con_id={int(con_id)}]", "focus")

    # --- pixels ---

    @staticmethod
    def _geometry(node):
        r = node["rect"]
        return f"{r['x']},{r['y']} {r['width']}x{r['height']}"

    def grab(self, node=None, fmt="png"):
        """The screen (or node's rectangle) as grim encodes it (bytes)."""
        argv = ["grim", "-t", fmt]
        if node is not None:
            argv += ["-g", self._geometry(node)]
        return self.run([*argv, "-"], timeout=30).stdout

    def screenshot(self, name, node=None):
        """Saves a PNG of the screen (or of node) as artifacts_dir()/name (or at name when absolute)."""
        path = Path(name) if os.path.isabs(name) else artifacts_dir() / name
        path.write_bytes(self.grab(node))
        return path

    def colours(self, node=None):
        """Distinct colours on the screen (or in node's rectangle): 1 means blank."""
        _, _, pixels = parse_ppm(self.grab(node, "ppm"))
        return distinct_colours(pixels)

    # --- clipboard (wl-copy / wl-paste as the test user; sway's data-control: no focus needed) ---

    def copy(self, data, mime="text/plain", primary=False, timeout=10.0):
        """Sets the selection (or the primary selection) to data; returns once wl-paste offers it."""
        if isinstance(data, str):
            data = data.encode()
        argv = ["wl-copy", "--foreground", "--type", mime] + (["--primary"] if primary else [])
        p = self.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        p.stdin.write(data)
        p.stdin.close()
        deadline = time.monotonic() + timeout
        while mime not in self.paste_types(primary):
            if p.poll() is not None:
                raise RuntimeError(f"wl-copy exited with {p.returncode}: {p.stderr.read().decode(errors='replace')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the selection does not offer {mime} after {timeout} s")
            time.sleep(0.05)
        return p

    def paste_types(self, primary=False):
        r = self.run(["wl-paste", "--list-types"] + (["--primary"] if primary else []), check=False)
        return r.stdout.decode(errors="replace").split() if r.returncode == 0 else []

    def paste(self, mime="text/plain", primary=False, timeout=10):
        """The selection's (or primary selection's) content as mime (bytes, exactly as offered)."""
        argv = ["wl-paste", "--no-newline", "--type", mime] + (["--primary"] if primary else [])
        return self.run(argv, timeout=timeout).stdout

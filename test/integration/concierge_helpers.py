# SPDX-License-Identifier: LGPL-2.1-or-later
"""A private concierge (temporary XDG_RUNTIME_DIR / XDG_DATA_HOME) driven through the real vmc.

Used by test_concierge*.py, test/soak/concierge-soak.py and bench/concierge-bench.py.
Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (tests default to tcg), BISTRO_TERMINA_IMAGE.
"""

import json
import re
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from procutil import REPO, build_dir, children as _children, pid_alive  # noqa: E402,F401
BOOT_TIMEOUT = float(os.environ.get("BISTRO_BOOT_TIMEOUT", "120"))
EXIT_BOUND = 75.0  # concierge's own bound is 60 s


def image_store():
    """The host's container image store: $BISTRO_IMAGE_STORE, else the one under the real
    $XDG_DATA_HOME (tests give concierge a private XDG_DATA_HOME, so they pass this one on)."""
    env = os.environ.get("BISTRO_IMAGE_STORE")
    if env:
        return Path(env)
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local/share")
    return Path(data) / "bistro/images/containers"


def image_dir():
    env = os.environ.get("BISTRO_TERMINA_IMAGE")
    if env:
        return Path(env)
    return build_dir() / "image/termina"


def require_built(*programs):
    """Fails the calling test when a program (a path under the build dir) or the signed Termina
    image is missing: a tree that is not built is an error, never a skip."""
    import pytest

    for f in programs:
        if not (build_dir() / f).exists():
            pytest.fail(f"{build_dir() / f} missing: build the tree first")
    if not (image_dir() / "manifest.sig").exists():
        pytest.fail(f"no Termina image in {image_dir()}: build it first (meson -Dimages=true)")


def bistro(cc, *args, timeout=600, stdin=subprocess.DEVNULL):
    """Runs the build's bistro with cc's environment (its processes are tracked)."""
    r = subprocess.run([str(build_dir() / "src/bistro/bistro"), *args], env=cc.env, stdin=stdin,
                       capture_output=True, text=True, timeout=timeout)
    cc.track()
    return r


def bistro_ok(cc, *args, **kw):
    r = bistro(cc, *args, **kw)
    assert r.returncode == 0, f"bistro {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}\n" + \
        cc.diagnostics()
    return r


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class Concierge:
    """One concierge with private dirs; every process it starts is tracked and killed at cleanup."""

    def __init__(self, image=None, env=None):
        # Short paths: unix socket names must fit 108 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="bc-", dir="/tmp"))
        self.run_dir = self.root / "run"
        self.data_dir = self.root / "data"
        self.run_dir.mkdir(mode=0o700)
        self.data_dir.mkdir(mode=0o700)
        self.env = dict(os.environ)
        self.env.setdefault("BISTRO_ACCEL", "tcg")
        self.env.update({"XDG_RUNTIME_DIR": str(self.run_dir), "XDG_DATA_HOME": str(self.data_dir),
                         "BISTRO_TERMINA_IMAGE": str(image or image_dir())})
        # The image's own key, copied into a private trust dir (the host's trust dir may differ).
        trust = self.root / "keys"
        trust.mkdir()
        shutil.copy(image_dir() / "signing-key.pub", trust / "image.pub")
        self.env["BISTRO_TRUSTED_KEYS_DIR"] = str(trust)
        if env:
            self.env.update(env)
        self.proc = None
        self.log_path = self.root / "concierge.log"
        self._log = None
        self.seen = set()

    @property
    def vmc_path(self):
        return build_dir() / "src/vmc/vmc"

    def command(self):
        """How concierge is started (a subclass may wrap it, e.g. in a network namespace)."""
        return [str(build_dir() / "src/concierge/concierge")]

    def start(self):
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.command(), env=self.env, stdout=self._log, stderr=subprocess.STDOUT)
        sock = self.run_dir / "bistro/concierge.sock"
        deadline = time.monotonic() + 20
        while not sock.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("concierge did not come up\n" + self.log())
            time.sleep(0.02)
        return self

    def log(self):
        text = ""
        for p in (self.log_path, self.run_dir / "bistro/concierge.log"):
            try:
                text += p.read_text(errors="replace")[-6000:]
            except OSError:
                pass
        return text

    def vmc(self, *args, check=None, timeout=BOOT_TIMEOUT + 60, input=None):
        r = subprocess.run([str(self.vmc_path), *args], env=self.env, capture_output=True, text=True,
                           timeout=timeout, input=input)
        self.track()
        if check is True and r.returncode != 0:
            raise AssertionError(f"vmc {' '.join(args)} failed ({r.returncode}): {r.stderr}\n" + self.diagnostics())
        return r

    def vmc_json(self, *args):
        r = self.vmc(*args, "--json", check=True)
        return json.loads(r.stdout)

    def vm_info(self, name):
        return self.vmc_json("info", name)

    def runtime(self, name):
        return self.run_dir / "bistro/vms" / name

    def guest(self, name, *argv, timeout=120):
        """Runs argv in the VM through maitred (test/tools/maitred-client)."""
        return subprocess.run([str(build_dir() / "test/tools/maitred-client"), "call", "--vsock",
                               str(self.runtime(name) / "vsock.sock"), "--timeout", "100", "launch", "--wait", "--",
                               *argv], capture_output=True, text=True, timeout=timeout)

    def guest_sh(self, name, script):
        """Runs a dash script in the VM (Termina has dash and btrfs, no coreutils); returns its exit
        code. maitred returns no output: tests check conditions with exit codes."""
        r = self.guest(name, "/usr/bin/sh", "-c", script)
        m = re.search(r"status=exited pid=\d+ code=(\d+)", r.stdout)
        assert r.returncode == 0 and m, f"maitred launch failed: {r.stdout} {r.stderr}\n" + self.diagnostics()
        return int(m.group(1))

    def guest_ok(self, name, script):
        code = self.guest_sh(name, script)
        assert code == 0, f"guest script failed ({code}): {script}"

    def write_synced(self, name, path, value):
        """Writes value to path on the stateful disk and commits it (btrfs filesystem sync: the guest
        has no sync(1))."""
        self.guest_ok(name, f"echo {value} > {path} && /usr/bin/btrfs filesystem sync /mnt/stateful")

    def read_equals(self, name, path, value):
        return self.guest_sh(name, f'read x < {path} && test "$x" = "{value}"') == 0

    def stateful_mounted(self, name):
        return self.guest_sh(name, 'while read d m t r; do test "$m $t" = "/mnt/stateful btrfs" && exit 0; '
                                   'done < /proc/mounts; exit 1') == 0

    # -- process tracking: nothing we started may outlive a test

    def our_pids(self):
        """vmm and vsockd processes whose command line names our dirs, plus their children (QEMU)."""
        pids = set()
        key = str(self.root)
        for d in os.listdir("/proc"):
            if d.isdigit() and key in _cmdline(int(d)):
                pids.add(int(d))
        for p in list(pids):
            pids.update(_children(p))
        return {p for p in pids if pid_alive(p)}

    def track(self):
        self.seen |= self.our_pids()
        if self.proc:
            self.seen.add(self.proc.pid)

    def alive(self):
        return sorted(p for p in (self.seen | self.our_pids()) if pid_alive(p) and
                      (self.proc is None or p != self.proc.pid))

    def qemu_pid(self, name):
        for p in self.our_pids():
            if f"{self.runtime(name)} " in _cmdline(p) + " " and "vmm" in _cmdline(p).split()[0]:
                for c in _children(p):
                    if _cmdline(c).startswith("/usr/bin/qemu-system") or "qemu-system" in _cmdline(c):
                        self.seen.add(c)
                        return c
        return None

    def wait_gone(self, timeout=EXIT_BOUND):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                return True
            time.sleep(0.1)
        return False

    def diagnostics(self):
        out = "--- concierge log ---\n" + self.log()
        for d in (self.run_dir / "bistro/vms").glob("*") if (self.run_dir / "bistro/vms").exists() else []:
            for f in ("vmm.log", "console.log"):
                try:
                    out += f"\n--- {d.name}/{f} (tail) ---\n" + (d / f).read_text(errors="replace")[-2500:]
                except OSError:
                    pass
        return out

    def stop(self, timeout=EXIT_BOUND):
        """SIGTERM (stops every VM), bounded; returns the exit status."""
        self.track()
        rc = None
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        elif self.proc:
            rc = self.proc.returncode
        return rc

    def cleanup(self):
        self.stop()
        # A concierge that vmc started on demand is not our child: find it by its environment.
        others = []
        for d in os.listdir("/proc"):
            if d.isdigit() and _cmdline(int(d)).split(" ")[0].endswith("concierge"):
                try:
                    with open(f"/proc/{d}/environ", "rb") as f:
                        if str(self.run_dir).encode() in f.read():
                            others.append(int(d))
                except OSError:
                    pass
        for p in others:
            os.kill(p, signal.SIGTERM)
        deadline = time.monotonic() + EXIT_BOUND
        while any(pid_alive(p) for p in others) and time.monotonic() < deadline:
            time.sleep(0.1)
        for p in others + self.alive():
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        if self._log:
            self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)

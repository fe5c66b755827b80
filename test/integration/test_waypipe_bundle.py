# SPDX-License-Identifier: LGPL-2.1-or-later
"""The waypipe bundle (image/waypipe/, docs/design/sommelier.md) on its own, no VM: it stands alone,
its stand-in video libraries say so and exit 70, and the real bundle at both ends carries a Wayland
app to a headless sway, with the clipboard both ways.

The end-to-end case is the design's transport without the VM: host end `waypipe -n -s H client`
against sway; "container" end `waypipe -n -s G --display wayland-wp server -- sleep` with an empty
environment and a runtime directory of its own; socat between G and H stands in for the vsock
stream (it passes no fds, like vsock).
"""

import ctypes
import hashlib
import os
import signal
import subprocess
import time

import pytest

from headless_desktop import HeadlessDesktop, artifacts_dir, missing_tools
from procutil import build_dir, children, wait_for

LOADER = "ld-linux-x86-64.so.2"
# What the docs promise (a few MB); Debian's waypipe with its library closure is 148 MB.
SIZE_BUDGET = 8 * 1024 * 1024


@pytest.fixture(scope="module")
def bundle():
    d = build_dir() / "image/waypipe/bundle"
    if not (d / "waypipe").exists():
        pytest.fail(f"{d} missing: build the tree first (ninja -C {build_dir()})")
    return d


def bundle_argv(d, *args):
    # As waypipe_bundle_argv() builds it (src/basic/waypipe-bundle.c).
    return [str(d / LOADER), "--library-path", str(d), str(d / "waypipe"), *args]


def test_bundle_stands_alone(bundle):
    """With an empty environment every library resolves inside the bundle, and waypipe runs."""
    r = subprocess.run(["env", "-i", "LD_TRACE_LOADED_OBJECTS=1", *bundle_argv(bundle)], capture_output=True,
                       text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    libs = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if parts[0].startswith("linux-vdso"):
            continue
        assert len(parts) >= 3 and parts[1] == "=>", f"unresolved: {line}"
        libs[parts[0]] = parts[2]
    assert libs, r.stdout
    for so, path in libs.items():
        assert path.startswith(str(bundle) + "/"), f"{so} resolved outside the bundle: {path}"
    assert {"libc.so.6", "liblz4.so.1", "libzstd.so.1", "libavcodec.so.59", "libgbm.so.1"} <= set(libs)

    r = subprocess.run(["env", "-i", *bundle_argv(bundle, "--version")], capture_output=True, text=True,
                       timeout=10)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "waypipe 0.8.4"
    size = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file())
    print(f"bundle size: {size} bytes ({size / 1048576:.1f} MiB)")
    assert size < SIZE_BUDGET


# waypipe's main() sets libav's log level and callback on every run: those two do nothing.
STARTUP_NOOPS = {"av_log_set_level", "av_log_set_callback"}


def call_in_child(lib, sym):
    """(exit status, stderr) of a child that calls sym() of lib and then exits 0."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(w, 2)
            ctypes.CDLL(str(lib))[sym]()
            os._exit(0)
        finally:
            os._exit(99)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        err = f.read()
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), err


def test_unavailable_libraries(bundle):
    """Every other function of every stand-in says video/GPU support is missing and exits 70."""
    stubs = sorted(p for p in bundle.glob("lib*.so*")
                   if p.name.startswith(("libav", "libswscale", "libva", "libgbm")))
    assert len(stubs) == 5, stubs
    seen = set()
    for lib in stubs:
        r = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True, check=True)
        symbols = [ln.split()[2].split("@")[0] for ln in r.stdout.splitlines()
                   if len(ln.split()) == 3 and ln.split()[1] == "T"]
        assert symbols, f"{lib.name} exports no function"
        # Stand-ins need nothing, not even libc.
        r = subprocess.run(["readelf", "-d", str(lib)], capture_output=True, text=True, check=True)
        assert "(NEEDED)" not in r.stdout
        for sym in symbols:
            seen.add(sym)
            status, err = call_in_child(lib, sym)
            if sym in STARTUP_NOOPS:
                assert (status, err) == (0, b""), (lib.name, sym, status, err)
            else:
                assert status == 70, (lib.name, sym, status, err)
                assert err == f"waypipe: video/GPU support is not in Bistro's waypipe ({sym})\n".encode()
    assert STARTUP_NOOPS <= seen


def isolated(env, argv):
    """argv with exactly env (None: the desktop's own environment, the host side)."""
    return argv if env is None else ["env", "-i", *[f"{k}={v}" for k, v in env.items()], *argv]


def test_app_and_clipboard_through_bundle(bundle):
    missing = missing_tools(("foot", "socat"))
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (Debian packages)")
    with HeadlessDesktop() as d:
        logs = {}

        def start(name, argv, env, **kw):
            logs[name] = artifacts_dir() / f"waypipe-bundle-{name}.log"
            with open(logs[name], "wb") as log:
                return d.spawn(isolated(env, argv), stdout=log, stderr=subprocess.STDOUT, **kw)

        def log(name):
            return logs[name].read_text(errors="replace")

        host_sock = d.runtime_dir / "wp-host.sock"
        cont_runtime, cont_home = d.user_dir("container-runtime"), d.user_dir("container-home")
        cont_sock = cont_runtime / "wp-container.sock"

        # Host end: only what reaches the compositor in its environment.
        host_wp = start("waypipe-client", bundle_argv(bundle, "-n", "-s", str(host_sock), "client"),
                        {"XDG_RUNTIME_DIR": str(d.runtime_dir), "WAYLAND_DISPLAY": d.socket})
        wait_for(lambda: host_sock.exists() or host_wp.poll() is not None, 10, "the host waypipe's socket")
        assert host_wp.poll() is None, log("waypipe-client")
        start("socat", ["socat", f"UNIX-LISTEN:{cont_sock},fork", f"UNIX-CONNECT:{host_sock}"], None)
        wait_for(cont_sock.exists, 10, "socat's socket")
        # Container end: an empty environment but its runtime dir; its child runs on the system's libc.
        cont_wp = start("waypipe-server",
                        bundle_argv(bundle, "-n", "-s", str(cont_sock), "--display", "wayland-wp", "server", "--",
                                    "/bin/sleep", "infinity"),
                        {"XDG_RUNTIME_DIR": str(cont_runtime)})
        wait_for(lambda: (cont_runtime / "wayland-wp").exists() or cont_wp.poll() is not None, 10,
                 "the container's wayland-wp")
        assert cont_wp.poll() is None, log("waypipe-server")
        cont_env = {"PATH": "/usr/bin:/bin", "HOME": str(cont_home), "XDG_RUNTIME_DIR": str(cont_runtime),
                    "WAYLAND_DISPLAY": "wayland-wp", "LANG": "C.UTF-8"}

        # The app maps a window: the compositor sees foot's app_id, from a host waypipe process.
        foot = start("foot", ["foot", "--app-id", "bistro-bundle-foot", "sh", "-c",
                              "printf 'Bistro waypipe bundle\\n%.0s' 1 2 3 4 5 6; exec sleep infinity"], cont_env)
        try:
            win = d.wait_for_window(app_id="bistro-bundle-foot", timeout=30)
        except TimeoutError as e:
            raise AssertionError(f"{e}\n{log('foot')}\n{log('waypipe-server')}\n{log('waypipe-client')}") from None
        # The host waypipe forks one process per Wayland client.
        assert win["pid"] in children(host_wp.pid), "the window should belong to the host waypipe"
        assert win["rect"]["width"] > 100 and win["rect"]["height"] > 100
        wait_for(lambda: d.colours(win) > 2, 20, "foot's text on the screen")
        png = d.screenshot("waypipe-bundle-foot.png").read_bytes()

        # Clipboard, both ways: text, image/png (screenshots, checksums), the primary selection.
        def copy_paste(src_env, dst_env, data, *opts):
            cp = d.spawn(isolated(src_env, ["wl-copy", "--foreground", *opts]), stdin=subprocess.PIPE,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            cp.stdin.write(data)
            cp.stdin.close()
            last = None
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # until wl-copy holds the selection
                r = d.run(isolated(dst_env, ["wl-paste", "--no-newline", *opts]), check=False)
                if r.returncode == 0 and r.stdout == data:
                    break
                last = (r.returncode, r.stdout[:80], r.stderr[-300:])
                time.sleep(0.2)
            else:
                raise AssertionError(f"wl-paste {opts} got {last}")
            assert hashlib.sha256(r.stdout).digest() == hashlib.sha256(data).digest()
            cp.terminate()
            cp.wait(timeout=5)

        copy_paste(cont_env, None, b"from the container \xe2\x9c\x93")
        copy_paste(None, cont_env, b"from the host \xe2\x9c\x93")
        copy_paste(cont_env, None, png, "--type", "image/png")
        # Another picture, so that what the container pastes cannot be the selection it just made.
        corner = d.run(["grim", "-g", "0,0 320x200", "-"]).stdout
        assert corner != png
        copy_paste(None, cont_env, corner, "--type", "image/png")
        copy_paste(cont_env, None, b"primary from the container", "--primary")
        copy_paste(None, cont_env, b"primary from the host", "--primary")

        # The app's stream goes when the app does; both waypipe ends stay up for the next one.
        os.killpg(foot.pid, signal.SIGTERM)
        foot.wait(timeout=10)
        wait_for(lambda: d.find_window(app_id="bistro-bundle-foot") is None, 10, "foot's window to go")
        assert host_wp.poll() is None and cont_wp.poll() is None

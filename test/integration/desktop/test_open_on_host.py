# SPDX-License-Identifier: LGPL-2.1-or-later
"""Opening shared files on the host (#13 item 4): `xdg-open` of a file in /mnt/shared/<name> in
penguin opens the host's file with the host's opener (garcon -> cicerone -> xdg-open); files outside
the container's shares, symlinks out of a share, and programs are refused."""

import time

from .conftest import in_penguin, in_penguin_rc


def opened_lines(fcc):
    try:
        return fcc.opened.read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_opened(fcc, want, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if want in opened_lines(fcc):
            return
        time.sleep(0.1)
    raise AssertionError(f"{want!r} not opened on the host within {timeout} s: {opened_lines(fcc)}\n" +
                         fcc.diagnostics())


def test_open_shared_file_on_host(fcc):
    d = fcc.home / "papers"
    d.mkdir()
    (d / "report one.pdf").write_bytes(b"%PDF-1.4\n%%EOF\n")
    (d / "tool").write_text("#!/bin/sh\necho ran\n")
    (d / "tool").chmod(0o755)
    (d / "launch.desktop").write_text("[Desktop Entry]\nType=Application\nName=x\nExec=true\n")
    fcc.vmc("share", "termina", str(d), "--name", "papers", check=True)
    in_penguin(fcc, "for i in $(seq 100); do test -f '/mnt/shared/papers/report one.pdf' && exit 0; "
                    "sleep 0.1; done; exit 1")
    try:
        # A path, relative to a directory in the share, and a file:// URL.
        in_penguin(fcc, "cd /mnt/shared/papers && xdg-open 'report one.pdf'")
        wait_opened(fcc, str(d / "report one.pdf"))
        in_penguin(fcc, "xdg-open 'file:///mnt/shared/papers/'")
        wait_opened(fcc, str(d))
        n = len(opened_lines(fcc))

        # Outside every share: refused in the container, nothing reaches the host.
        r = in_penguin_rc(fcc, "/opt/bistro/bin/bistro-open /etc/passwd")
        assert r.returncode != 0 and "cannot be opened on the host" in r.stderr, r.stderr
        # A symlink made in the container pointing out of the share resolves, in the container, to a
        # path outside it: refused there. The host never follows links in a share either (unit test
        # test-share-open covers what a hostile garcon could send).
        in_penguin(fcc, "ln -sf /etc/shadow /mnt/shared/papers/shadow")
        r = in_penguin_rc(fcc, "/opt/bistro/bin/bistro-open /mnt/shared/papers/shadow")
        assert r.returncode != 0, r.stderr
        # Programs and launchers are not opened on the host.
        for name in ("tool", "launch.desktop"):
            r = in_penguin_rc(fcc, f"/opt/bistro/bin/bistro-open /mnt/shared/papers/{name}")
            assert r.returncode != 0 and "not opened on the host" in r.stderr, (name, r.stderr)
        time.sleep(1)
        assert len(opened_lines(fcc)) == n, opened_lines(fcc)
    finally:
        fcc.vmc("unshare", "termina", "papers", check=True)

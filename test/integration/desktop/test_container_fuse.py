# SPDX-License-Identifier: LGPL-2.1-or-later
"""FUSE inside containers (#13 item 3; docs/design/containers.md, "FUSE"): penguin's default user
mounts an AppImage-style squashfs with squashfuse and an sshfs to an sftp-server the test runs in
the container, and unmounts them; the mounts stay in the container's namespaces (none reaches
Termina's mount table)."""

import subprocess

import pytest

from concierge_helpers import bistro
from .conftest import USER, in_penguin, in_penguin_rc

VM = "termina"


def termina_has_fuse_mount(cc):
    """Whether Termina's mount table has a FUSE file system (fuse, fuse.*; not fusectl)."""
    code = cc.guest_sh(VM, 'while read l; do case "$l" in *" - fuse "*|*" - fuse."*) exit 0;; esac; done '
                           '< /proc/self/mountinfo; exit 1')
    return code == 0


def test_dev_fuse(fcc):
    out = in_penguin(fcc, "stat -c '%F %t:%T %a' /dev/fuse").stdout.strip()
    assert out == "character special file a:e5 666", out
    # Termina's node is the one bound in: 0666, as udev would make it.
    assert fcc.guest_sh(VM, "test -c /dev/fuse && test -r /dev/fuse && test -w /dev/fuse") == 0


def test_squashfuse(fcc, tmp_path):
    """An AppImage's way: a squashfs image mounted by the user with squashfuse."""
    src = tmp_path / "app"
    (src / "usr/bin").mkdir(parents=True)
    (src / "usr/bin/hello").write_text("#!/bin/sh\necho hello from the squashfs\n")
    (src / "usr/bin/hello").chmod(0o755)
    img = tmp_path / "app.squashfs"
    subprocess.run(["mksquashfs", str(src), str(img), "-quiet", "-all-root", "-noappend"], check=True)
    with open(img, "rb") as f:
        r = bistro(fcc, "--user", USER, "--", "sh", "-c", "cat > /tmp/app.squashfs", stdin=f)
    assert r.returncode == 0, r.stderr
    in_penguin(fcc, "mkdir -p ~/app && squashfuse /tmp/app.squashfs ~/app")
    try:
        out = in_penguin(fcc, "~/app/usr/bin/hello; grep ' fuse.squashfuse ' /proc/self/mountinfo").stdout
        assert out.startswith("hello from the squashfs\n") and "/home/alice/app" in out, out
        assert not termina_has_fuse_mount(fcc)
    finally:
        in_penguin_rc(fcc, "fusermount3 -u ~/app")
    out = in_penguin(fcc, "grep -c ' fuse.squashfuse ' /proc/self/mountinfo || true; rm -f /tmp/app.squashfs; "
                          "rmdir ~/app").stdout
    assert out.strip() == "0", out


# sshfs runs it as ssh: the arguments (host, options) are ignored, the server speaks on stdio.
SFTP_WRAPPER = "#!/bin/sh\nexec /usr/lib/openssh/sftp-server\n"


def test_sshfs(fcc):
    """sshfs to an sftp-server in the container, write and read through it, unmount."""
    in_penguin(fcc, f"mkdir -p ~/fsrc ~/fmnt && echo served > ~/fsrc/a && printf '{SFTP_WRAPPER}' > ~/sftp-wrap "
                    "&& chmod +x ~/sftp-wrap && sshfs -o ssh_command=$HOME/sftp-wrap x:$HOME/fsrc ~/fmnt")
    try:
        out = in_penguin(fcc, "cat ~/fmnt/a && echo written > ~/fmnt/b && cat ~/fsrc/b && "
                              "mkdir ~/fmnt/d && mv ~/fmnt/b ~/fmnt/d/c && cat ~/fsrc/d/c && "
                              "stat -c %U ~/fsrc/d/c && grep -c ' fuse.sshfs ' /proc/self/mountinfo").stdout
        assert out.split() == ["served", "written", "written", USER, "1"], out
        assert not termina_has_fuse_mount(fcc)
        # Root in the container sees it as any FUSE mount (allow_other is off): no way around it.
        r = in_penguin_rc(fcc, "ls /home/alice/fmnt", user="root")
        assert r.returncode != 0 and "Permission denied" in r.stderr, r.stderr
        # fusermount3 mounts only where the user may write.
        r = in_penguin_rc(fcc, "sshfs -o ssh_command=$HOME/sftp-wrap x:$HOME/fsrc /etc")
        assert r.returncode != 0 and "/etc" in r.stderr, r.stderr
    finally:
        in_penguin_rc(fcc, "fusermount3 -u ~/fmnt")
    out = in_penguin(fcc, "grep -c ' fuse.sshfs ' /proc/self/mountinfo || true; pgrep -u alice -x sshfs || true; "
                          "rm -rf ~/fsrc ~/fmnt ~/sftp-wrap").stdout
    assert out.split() == ["0"], out

# SPDX-License-Identifier: LGPL-2.1-or-later
"""Shares in containers, the guest side (#13 item 1; docs/design/containers.md, "Shares"): tremplin's
AddShare / RemoveShare and StartContainer's shares, driven straight on tremplin's vsock port (the host
side that calls them is another part). The VM's share directory is a tmpfs laid over /mnt/shared for
the test (the real one is virtio-fs); its files are made in Termina with the busybox container's
static busybox (Termina has no coreutils)."""

import errno
import shlex
import time

import pytest

import guestproto as gp
from concierge_helpers import bistro
from .conftest import USER, in_penguin, in_penguin_rc

VM = "termina"
LXC = "/mnt/stateful/lxc"
BB = "shtest"  # a busybox container for the start path
BUSYBOX = f"{LXC}/{BB}/rootfs/bin/busybox"
TREMPLIN_PORT = 8890
START, ADD_SHARE, REMOVE_SHARE = 501, 507, 508
INFO_RESPONSE = 550


def tremplin(cc, mtype, payload, timeout=60):
    """One request to tremplin (the host's connection, as concierge makes it): (type, payload)."""
    s = gp.hybrid_connect(cc.runtime(VM) / "vsock.sock", TREMPLIN_PORT, timeout=timeout)
    try:
        s.sendall(gp.frame(mtype, gp.REQUEST, 7, payload))
        t, mid, flags, body = gp.recv_frame(s)
        assert mid == 7 and flags == gp.RESPONSE
        return t, body
    finally:
        s.close()


def share_mount(name, read_only=False):
    return gp.pb_bytes(1, name) + (gp.pb_varint(2, 1) if read_only else b"")


def add_share(cc, container, name, read_only=False):
    """0, or the negative errno of tremplin's ErrorReply."""
    t, body = tremplin(cc, ADD_SHARE, gp.pb_bytes(1, container) + gp.pb_bytes(2, share_mount(name, read_only)))
    return 0 if t == gp.EMPTY else gp.error_of(body)[0]


def remove_share(cc, container, name):
    t, body = tremplin(cc, REMOVE_SHARE, gp.pb_bytes(1, container) + gp.pb_bytes(2, name))
    return 0 if t == gp.EMPTY else gp.error_of(body)[0]


def start(cc, container, shares):
    payload = gp.pb_bytes(1, container) + gp.pb_bytes(2, "shtest-token-0123456789abcdef0123456789")
    for name, ro in shares:
        payload += gp.pb_bytes(5, share_mount(name, ro))
    t, body = tremplin(cc, START, payload, timeout=120)
    assert t == INFO_RESPONSE, gp.error_of(body)


def attach(cc, name, script):
    """Exit code of script run by /bin/sh in container name (as its root)."""
    return cc.guest_sh(VM, f"/usr/bin/lxc-attach -n {name} -P {LXC} -- /bin/sh -c {shlex.quote(script)}")


def bb(script):
    """A Termina script with busybox's applets as functions (mkdir, chown, stat...)."""
    applets = "mkdir chown stat cat rm rmdir ln mount umount grep sleep"  # Termina has dash only
    return "".join(f'{a}() {{ {BUSYBOX} {a} "$@"; }}; ' for a in applets.split()) + script


@pytest.fixture(scope="module")
def shares(fcc):
    """The busybox container and a tmpfs at /mnt/shared in Termina with shares live, ro, boot."""
    cc = fcc
    r = cc.vmc("container", VM, BB, "--image", "busybox")
    assert r.returncode == 0, r.stderr
    cc.guest_ok(VM, bb("mkdir -p /mnt/shared && mount -t tmpfs -o mode=0755 test-shares /mnt/shared && "
                       "mkdir /mnt/shared/live /mnt/shared/ro /mnt/shared/boot && "
                       "echo hello > /mnt/shared/live/hello && echo mine > /mnt/shared/live/mine && "
                       "chown 1000:1000 /mnt/shared/live /mnt/shared/live/mine /mnt/shared/ro /mnt/shared/boot && "
                       "echo ro > /mnt/shared/ro/file && echo boot > /mnt/shared/boot/file"))
    yield cc
    for name in ("live", "ro"):
        remove_share(cc, "penguin", name)
    # The stand-in goes before the busybox container whose busybox unmounts it, so that the next
    # module sees the real (virtio-fs) /mnt/shared again.
    cc.guest_ok(VM, bb("umount -l /mnt/shared && ! grep -q '^test-shares ' /proc/mounts"))
    cc.vmc("container-stop", VM, BB, "--force")
    cc.vmc("container-delete", VM, BB, "--yes")


def test_live_share_in_penguin(shares):
    cc = shares
    t0 = time.monotonic()
    assert add_share(cc, "penguin", "live") == 0
    # There at once, owned by the default user (VM uid 1000 is penguin's 1000), nosuid and nodev.
    out = in_penguin(cc, "cat /mnt/shared/live/hello; stat -c '%U %G' /mnt/shared/live/mine; "
                         "grep ' /mnt/shared/live ' /proc/self/mountinfo").stdout
    assert time.monotonic() - t0 < 30
    lines = out.splitlines()
    assert lines[0] == "hello" and lines[1] == f"{USER} {USER}", out
    assert "nosuid" in lines[2] and "nodev" in lines[2], out
    # What the default user writes is the VM's uid 1000 (the host user through virtio-fs).
    in_penguin(cc, "echo from-penguin > /mnt/shared/live/new")
    assert cc.guest_sh(VM, bb('test "$(stat -c %u:%g /mnt/shared/live/new)" = 1000:1000 && '
                              'test "$(cat /mnt/shared/live/new)" = from-penguin')) == 0
    # Adding it again is fine (replaces the mount); a missing share or a stopped container is an error.
    assert add_share(cc, "penguin", "live") == 0
    assert add_share(cc, "penguin", "nosuch") == -errno.ENOENT
    assert remove_share(cc, "penguin", "nosuch") == 0
    assert add_share(cc, "nosuchcontainer", "live") == -errno.ENOENT


def test_read_only_share(shares):
    cc = shares
    assert add_share(cc, "penguin", "ro", read_only=True) == 0
    r = in_penguin_rc(cc, "cat /mnt/shared/ro/file && echo x > /mnt/shared/ro/file")
    assert r.stdout.strip() == "ro" and "Read-only file system" in r.stderr, (r.stdout, r.stderr)
    # The mount propagated from the VM: its flags are locked in the container's user namespace, so
    # its root cannot make it writable.
    r = in_penguin_rc(cc, "mount -o remount,rw /mnt/shared/ro; mount -o remount,bind,rw /mnt/shared/ro; "
                          "echo x > /mnt/shared/ro/file", user="root")
    assert r.returncode != 0 and "Read-only file system" in r.stderr, r.stderr
    assert r.stderr.count("permission denied") == 2, r.stderr
    assert in_penguin(cc, "cat /mnt/shared/ro/file").stdout.strip() == "ro"
    assert remove_share(cc, "penguin", "ro") == 0


def test_remove_share_with_open_file(shares):
    cc = shares
    assert add_share(cc, "penguin", "live") == 0
    # A process holds a file of the share open across the removal, then reads it.
    in_penguin(cc, "rm -f /tmp/after; setsid sh -c 'exec 3< /mnt/shared/live/hello; sleep 6; cat <&3 > /tmp/after' "
                   "> /dev/null 2>&1 < /dev/null & sleep 1")
    t0 = time.monotonic()
    assert remove_share(cc, "penguin", "live") == 0
    assert time.monotonic() - t0 < 10
    r = in_penguin(cc, "test ! -e /mnt/shared/live/hello && ! grep -q ' /mnt/shared/live ' /proc/self/mountinfo "
                       "&& ls /mnt/shared; sleep 7; cat /tmp/after")
    assert r.stdout.split()[-1] == "hello", r.stdout
    # Removing again is fine; the VM's copy is untouched.
    assert remove_share(cc, "penguin", "live") == 0
    assert cc.guest_sh(VM, "read x < /mnt/shared/live/hello && test $x = hello") == 0


def test_start_with_shares_and_symlink(shares):
    cc = shares
    cc.vmc("container-stop", VM, BB, "--force")
    start(cc, BB, [("boot", False), ("ro", True), ("nosuch", False)])
    # At start: there, owned by the container's 1000, ro refused; a missing share is left out.
    assert attach(cc, BB, 'test "$(cat /mnt/shared/boot/file)" = boot && '
                          'test "$(stat -c %u /mnt/shared/boot/file)" = 65534 && '
                          'test "$(stat -c %u /mnt/shared/boot)" = 1000 && '
                          '! echo x > /mnt/shared/ro/file && test "$(cat /mnt/shared/ro/file)" = ro && '
                          'test ! -e /mnt/shared/nosuch') == 0
    # The container's root replaces /mnt/shared with a symlink to /etc: tremplin never follows it,
    # neither live nor at the next start.
    assert attach(cc, BB, "umount -l /mnt/shared && rmdir /mnt/shared && ln -s /etc /mnt/shared") == 0
    assert add_share(cc, BB, "live") == -errno.ENOTDIR
    assert attach(cc, BB, "test ! -e /etc/live") == 0
    cc.vmc("container-stop", VM, BB, "--force")
    start(cc, BB, [("boot", False)])
    assert attach(cc, BB, "test -L /mnt/shared && test ! -e /etc/boot") == 0
    assert cc.guest_sh(VM, f"test ! -e {LXC}/{BB}/rootfs/etc/boot") == 0
    assert add_share(cc, BB, "live") == -errno.ENOTDIR
    # Put back, the shares come back at the next start; a stopped container gets none live.
    assert attach(cc, BB, "rm /mnt/shared && mkdir /mnt/shared") == 0
    cc.vmc("container-stop", VM, BB, "--force")
    assert add_share(cc, BB, "live") == -errno.ESRCH
    assert remove_share(cc, BB, "live") == -errno.ESRCH
    start(cc, BB, [("boot", False)])
    assert attach(cc, BB, 'test "$(cat /mnt/shared/boot/file)" = boot') == 0
    assert add_share(cc, BB, "live") == 0
    assert attach(cc, BB, 'test "$(cat /mnt/shared/live/hello)" = hello') == 0
    # Nothing of the shares reaches the VM's own tree but the carrier.
    assert cc.guest_sh(VM, 'while read a b c d m r; do case $m in /mnt/shared/*) exit 1;; esac; done '
                           '< /proc/self/mountinfo') == 0


def test_legacy_container_migrated(shares):
    """A container of the tremplin before the id passthrough (no idmap= in its meta, the default
    user's files at BASE+1000) is migrated once at its next start."""
    cc = shares
    cc.vmc("container-stop", VM, BB, "--force")
    d = f"{LXC}/{BB}"
    cc.guest_ok(VM, bb(f'slot=$(grep "^slot=" {d}/bistro-meta | {BUSYBOX} cut -d= -f2); '
                       'u=$((100000 + 65536 * (slot - 1) + 1000)); '
                       f'mkdir -p {d}/rootfs/home/u && echo x > {d}/rootfs/home/u/f && '
                       f'chown $u:$u {d}/rootfs/home/u {d}/rootfs/home/u/f && {BUSYBOX} chmod 4755 {d}/rootfs/home/u/f && '
                       f'grep -v "^idmap=" {d}/bistro-meta > {d}/meta.new && {BUSYBOX} mv {d}/meta.new {d}/bistro-meta'))
    start(cc, BB, [])
    assert cc.guest_sh(VM, bb(f'grep -qx "idmap=1000:1000" {d}/bistro-meta && '
                              f'test "$(stat -c %u:%g:%a {d}/rootfs/home/u/f)" = 1000:1000:4755 && '
                              f'test "$(stat -c %u:%g {d}/rootfs/home/u)" = 1000:1000')) == 0
    assert attach(cc, BB, 'test "$(stat -c %u:%g /home/u/f)" = 1000:1000 && '
                          'test "$(cat /proc/self/uid_map | wc -l)" = 3') == 0


def test_bad_requests(shares):
    """Names that are not names never reach tremplin's code: the validator closes the connection."""
    cc = shares
    for name in ("..", ".x", "a/b", "-o", "x" * 65, ""):
        with pytest.raises((EOFError, ConnectionError)):
            add_share(cc, "penguin", name)
    assert bistro(cc, "--user", USER, "--", "true").returncode == 0

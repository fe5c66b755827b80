# SPDX-License-Identifier: LGPL-2.1-or-later
"""Host folders shared into the VM and penguin (#13 item 1; docs/design/shares.md): seneschal in its
own user namespace, virtiofsd, QEMU's vhost-user-fs on modern virtio-mmio, Termina's /mnt/shared,
then the container. Uses the package's one penguin VM (conftest.fcc) and leaves it running with no
share left."""

import json
import mmap
import os
import re
import socket
import stat
import struct
import time
from pathlib import Path

import pytest

from .conftest import USER, in_penguin, in_penguin_rc

VM = "termina"
ROOT_SUBID_BASE = 0x7F000000  # seneschal's ids when run as root (no /etc/subuid entry)
VISIBLE_WITHIN = 30  # seconds: "visible in the container within seconds", with TCG's slowness


def seneschal_pid(cc):
    """seneschal of cc's VM (the one whose --export is in its runtime dir)."""
    export = str(cc.runtime(VM) / "shares")
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            argv = (p / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"/seneschal") and export.encode() in argv:
            return int(p.name)
    return None


def children(pid):
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(p.name))
    return out


def seneschal_call(cc, op, name, flags=0, fd=None):
    """One request on seneschal's control socket (seneschal-control.h); returns its int32 reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.settimeout(20)
        s.connect(str(cc.runtime(VM) / "seneschal.sock"))
        req = struct.pack("<II", op, flags) + name.encode().ljust(65, b"\0") + b"\0\0\0"
        if fd is None:
            s.send(req)
        else:
            socket.send_fds(s, [req], [fd])
        return struct.unpack("<i", s.recv(4))[0]


def wait_for(pred, timeout=VISIBLE_WITHIN, step=0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def host_dir(cc, name, mode=0o755):
    d = cc.home / name
    d.mkdir(mode=mode)
    os.chmod(d, mode)
    return d


# --- the device: seneschal, its namespace, virtiofsd, the guest mount -------------------------


def test_seneschal_serves_the_vm(fcc):
    pid = seneschal_pid(fcc)
    assert pid, "no seneschal for the VM\n" + fcc.diagnostics()
    # Its own user namespace: the user (root here) is the namespace's 1000, the rest unprivileged.
    assert os.readlink(f"/proc/{pid}/ns/user") != os.readlink("/proc/self/ns/user")
    assert os.readlink(f"/proc/{pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    lines = [l.split() for l in Path(f"/proc/{pid}/uid_map").read_text().splitlines()]
    assert lines == [["0", str(ROOT_SUBID_BASE), "1000"], ["1000", "0", "1"],
                     ["1001", str(ROOT_SUBID_BASE + 1000), "64535"]]
    status = Path(f"/proc/{pid}/status").read_text()
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.M)
    kids = children(pid)
    assert any(Path(f"/proc/{k}/comm").read_text().strip() == "virtiofsd" for k in kids), kids
    # The export is a mount of seneschal's namespace only: the host sees an empty directory.
    assert list((fcc.runtime(VM) / "shares").iterdir()) == []
    # QEMU has the device on modern virtio-mmio; Termina mounted it at /mnt/shared.
    qemu = fcc.qemu_pid(VM)
    cmd = Path(f"/proc/{qemu}/cmdline").read_bytes().split(b"\0")
    assert b"virtio-mmio.force-legacy=false" in cmd
    assert b"vhost-user-fs-device,chardev=fs0,tag=bistro-shares" in cmd
    assert fcc.guest_sh(VM, 'while read d m t r; do test "$d $m $t" = "bistro-shares /mnt/shared virtiofs" && '
                            'exit 0; done < /proc/mounts; exit 1') == 0


def test_seneschal_export_in_termina(fcc):
    """seneschal + virtiofsd + QEMU + Termina without the container: a bind added at runtime is
    there at once, reads and writes go both ways, read-only is read-only, removal is clean."""
    d = host_dir(fcc, "vmlevel")
    (d / "f").write_text("hello\n")
    fd = os.open(d, os.O_PATH | os.O_DIRECTORY)
    try:
        assert seneschal_call(fcc, 1, "vmlevel", 0, fd) == 0
        assert seneschal_call(fcc, 1, "vmlevel", 0, fd) == -17  # EEXIST
    finally:
        os.close(fd)
    try:
        assert fcc.guest_sh(VM, 'read x < /mnt/shared/vmlevel/f && test "$x" = hello') == 0
        assert fcc.guest_sh(VM, "echo fromvm > /mnt/shared/vmlevel/g") == 0
        assert (d / "g").read_text() == "fromvm\n"
        # Termina's root is the namespace's 0: an unprivileged id on the host, never the user.
        assert (d / "g").stat().st_uid == ROOT_SUBID_BASE
        # Nothing can be created at the export's root.
        assert fcc.guest_sh(VM, "echo x > /mnt/shared/new") != 0
        assert fcc.guest_sh(VM, "mkdir /mnt/shared/newdir") != 0 or True  # Termina has no mkdir(1)
    finally:
        assert seneschal_call(fcc, 2, "vmlevel") == 0
    assert seneschal_call(fcc, 2, "vmlevel") == -2  # ENOENT
    assert wait_for(lambda: fcc.guest_sh(VM, "test -e /mnt/shared/vmlevel") != 0)
    assert (d / "f").read_text() == "hello\n"  # the host folder is untouched

    ro = host_dir(fcc, "vmlevel-ro")
    (ro / "f").write_text("keep\n")
    fd = os.open(ro, os.O_PATH | os.O_DIRECTORY)
    try:
        assert seneschal_call(fcc, 1, "vmlevel-ro", 1, fd) == 0
    finally:
        os.close(fd)
    try:
        assert fcc.guest_sh(VM, 'read x < /mnt/shared/vmlevel-ro/f && test "$x" = keep') == 0
        assert fcc.guest_sh(VM, "echo no > /mnt/shared/vmlevel-ro/f") != 0
        assert fcc.guest_sh(VM, "echo no > /mnt/shared/vmlevel-ro/new") != 0
        assert (ro / "f").read_text() == "keep\n" and not (ro / "new").exists()
    finally:
        assert seneschal_call(fcc, 2, "vmlevel-ro") == 0


def test_seneschal_shares_the_directory_it_was_given(fcc):
    """The fd names one directory: moved away and replaced by a symlink to /etc, the directory is
    still what is shared (the symlink is never followed); a deleted one is refused."""
    d = host_dir(fcc, "swap")
    (d / "marker").write_text("m")
    fd = os.open(d, os.O_PATH | os.O_DIRECTORY)
    try:
        os.rename(d, fcc.home / "swap-moved")
        (fcc.home / "swap").symlink_to("/etc")
        assert seneschal_call(fcc, 1, "swap", 0, fd) == 0
    finally:
        os.close(fd)
    try:
        assert fcc.guest_sh(VM, "test -f /mnt/shared/swap/marker && test ! -e /mnt/shared/swap/passwd") == 0
    finally:
        assert seneschal_call(fcc, 2, "swap") == 0
    gone = host_dir(fcc, "gone")
    fd = os.open(gone, os.O_PATH | os.O_DIRECTORY)
    try:
        gone.rmdir()
        assert seneschal_call(fcc, 1, "gone", 0, fd) == -116  # ESTALE
    finally:
        os.close(fd)
    assert fcc.guest_sh(VM, "test -e /mnt/shared/gone") != 0


def test_bad_control_requests(fcc):
    def exchange(payload):
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
            s.settimeout(20)
            s.connect(str(fcc.runtime(VM) / "seneschal.sock"))
            s.send(payload)
            return s.recv(8)

    for bad in (b"x" * 76, b"x" * 77, b"x" * 4096, struct.pack("<II", 1, 0) + b"../etc".ljust(68, b"\0"),
                struct.pack("<II", 1, 0) + b"noname".ljust(68, b"\0")):  # ADD without an fd
        assert struct.unpack("<i", exchange(bad))[0] == -74  # EBADMSG
    # An empty datagram reads as the end of the connection: seneschal hangs up.
    assert exchange(b"") == b""
    assert seneschal_pid(fcc) and fcc.guest_sh(VM, "test -d /mnt/shared") == 0


# --- vmc: the path rules and bad input -------------------------------------------------------


@pytest.mark.parametrize("args,code,message", [
    (["share", VM, "/nonexistent-bistro-share"], 1, "No such file"),
    (["share", VM, "/"], 1, "'/' cannot be shared"),
    (["share", VM, "/etc/hostname"], 1, "not a directory"),
    (["share", VM, "/tmp", "--name", "-bad"], 2, "invalid --name"),
    (["share", VM, "/tmp", "--container", "no/slash"], 2, ""),
    (["share", "no such vm", "/tmp"], 2, ""),
    (["share", VM], 2, ""),
    (["unshare", VM, "nosuchshare"], 1, "no share named"),
    (["unshare", VM, "../x"], 2, "invalid share name"),
])
def test_vmc_bad_input(fcc, args, code, message):
    r = fcc.vmc(*args)
    assert r.returncode == code, (r.returncode, r.stdout, r.stderr)
    assert message in r.stderr, r.stderr
    assert r.stderr.startswith("vmc: ")


def test_vmc_refuses_bistro_data_and_invalid_default_name(fcc):
    r = fcc.vmc("share", VM, str(fcc.data_dir / "bistro"))
    assert r.returncode == 1 and "bistro's data" in r.stderr, r.stderr
    bad = host_dir(fcc, "with space")
    r = fcc.vmc("share", VM, str(bad))
    assert r.returncode == 1 and "--name" in r.stderr, r.stderr
    assert fcc.vmc_json("shares", VM) == []


# --- the container: tremplin's AddShare (the guest side) -------------------------------


@pytest.fixture
def penguin_share(fcc):
    """Shares a fresh host folder into penguin."""
    made = []

    def make(name, *extra):
        d = host_dir(fcc, name)
        r = fcc.vmc("share", VM, str(d), *extra)
        assert r.returncode == 0, r.stderr + fcc.diagnostics()
        made.append(name if "--name" not in extra else extra[extra.index("--name") + 1])
        return d

    yield make
    for n in made:
        fcc.vmc("unshare", VM, n)
    assert fcc.vmc_json("shares", VM) == []


def test_share_is_live_in_penguin(fcc, penguin_share):
    d = penguin_share("live")
    (d / "from-host").write_text("hi\n")
    listed = fcc.vmc_json("shares", VM)
    assert listed == [{"name": "live", "host_path": str(d), "container": "penguin", "read_only": False,
                       "path": "/mnt/shared/live"}]
    t0 = time.monotonic()
    assert wait_for(lambda: in_penguin_rc(fcc, "cat /mnt/shared/live/from-host").stdout == "hi\n")
    print(f"share visible in penguin after {time.monotonic() - t0:.1f} s")


def test_file_operations_both_ways(fcc, penguin_share):
    d = penguin_share("ops")
    # Container side: every operation the issue lists, then the host checks.
    in_penguin(fcc, """set -e; cd /mnt/shared/ops
        echo one > a; mv a b; echo x > gone; rm gone; mkdir dir; mkdir rmd; rmdir rmd
        echo mode > m; chmod 640 m; ln -s b sym; ln b hard; printf 123456 > t; truncate -s 3 t
        printf synced | dd of=sync conv=fsync status=none
        head -c 4096 /dev/zero > mm; printf mmap > src
        perl -e 'open(F, "+<", "mm") or die; open(S, "<", "src") or die;
            my $a = syscall(9, 0, 4096, 3, 1, fileno(F), 0); die "mmap" if $a == -1;
            syscall(0, fileno(S), $a, 4) == 4 or die "write"; syscall(26, $a, 4096, 4) == 0 or die "msync"'
        """)
    assert (d / "b").read_text() == "one\n" and not (d / "a").exists() and not (d / "gone").exists()
    assert (d / "dir").is_dir() and not (d / "rmd").exists()
    assert stat.S_IMODE((d / "m").stat().st_mode) == 0o640
    assert os.readlink(d / "sym") == "b"
    assert (d / "hard").stat().st_ino == (d / "b").stat().st_ino and (d / "b").stat().st_nlink == 2
    assert (d / "t").read_bytes() == b"123"
    assert (d / "sync").read_bytes() == b"synced"
    assert (d / "mm").read_bytes()[:4] == b"mmap"
    # Host side, seen in the container (cache=auto: attributes revalidate within a second).
    (d / "h1").write_text("host\n")
    os.rename(d / "b", d / "b2")
    (d / "hdir").mkdir()
    os.chmod(d / "m", 0o600)
    os.truncate(d / "t", 1)
    assert wait_for(lambda: in_penguin_rc(fcc, """cd /mnt/shared/ops && test "$(cat h1)" = host && test -e b2 &&
        test ! -e b && test -d hdir && test "$(stat -c %a m)" = 600 && test "$(stat -c %s t)" = 1""").returncode == 0)


def test_owners_map(fcc, penguin_share):
    d = penguin_share("owners")
    (d / "mine").write_text("x")
    out = in_penguin(fcc, "stat -c '%u %U' /mnt/shared/owners/mine; id -u").stdout.split("\n")
    assert out[0] == f"1000 {USER}", out
    in_penguin(fcc, "echo a > /mnt/shared/owners/by-alice")
    assert (d / "by-alice").stat().st_uid == os.getuid()
    # Container root is not the host user: it cannot write there.
    r = in_penguin_rc(fcc, "echo r > /mnt/shared/owners/by-root", user="root")
    assert r.returncode != 0 and not (d / "by-root").exists(), r
    # Nor give the user's file away (its ids are unmapped in virtiofsd's namespace). Writing into an
    # existing file of uid 1000 is another matter: Termina's kernel lets container root act on uid
    # 1000's inodes and virtiofsd opens files as itself (docs/design/shares.md, "Container root").
    r = in_penguin_rc(fcc, "chown root /mnt/shared/owners/mine", user="root")
    assert r.returncode != 0 and (d / "mine").stat().st_uid == os.getuid()
    # Host side, mmap write seen in the container.
    (d / "hm").write_bytes(b"." * 4096)
    with open(d / "hm", "r+b") as f:
        m = mmap.mmap(f.fileno(), 4096)
        m[0:6] = b"hostmm"
        m.flush()
        m.close()
    assert wait_for(lambda: in_penguin_rc(fcc, "head -c 6 /mnt/shared/owners/hm").stdout == "hostmm")


def test_read_only_is_erofs(fcc, penguin_share):
    d = penguin_share("ro", "--read-only")
    (d / "f").write_text("keep\n")
    r = in_penguin_rc(fcc, "echo no > /mnt/shared/ro/f 2>&1; echo no > /mnt/shared/ro/new 2>&1; true")
    assert r.stderr.count("Read-only file system") == 2, r.stderr
    assert (d / "f").read_text() == "keep\n" and not (d / "new").exists()
    assert fcc.vmc_json("shares", VM)[0]["read_only"] is True


def test_unshare_with_open_file(fcc, penguin_share):
    d = penguin_share("busy")
    (d / "f").write_text("open\n")
    # A reader holds the file open (and its cwd in the share) while the share goes away.
    in_penguin(fcc, "cd /mnt/shared/busy && (exec 3< f; sleep 30) >/dev/null 2>&1 & echo started")
    t0 = time.monotonic()
    r = fcc.vmc("unshare", VM, "busy", timeout=60)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < 30
    assert in_penguin_rc(fcc, "test -e /mnt/shared/busy/f").returncode != 0
    assert seneschal_pid(fcc) and fcc.vm_info(VM)["state"] == "running"
    assert (d / "f").read_text() == "open\n"


def test_escapes_fail(fcc, penguin_share):
    d = penguin_share("esc")
    outside = host_dir(fcc, "outside")
    (outside / "secret").write_text("s")
    # A symlink made in the container is a symlink on the host, resolved by nobody but the reader.
    in_penguin(fcc, "ln -s /etc/shadow /mnt/shared/esc/shadow; ln -s ../outside /mnt/shared/esc/up")
    assert os.readlink(d / "shadow") == "/etc/shadow"
    r = in_penguin_rc(fcc, "cat /mnt/shared/esc/shadow", user="root")
    assert Path("/etc/shadow").read_text() not in r.stdout  # at most the container's own
    assert in_penguin_rc(fcc, "cat /mnt/shared/esc/up/secret").returncode != 0
    # ".." from the share root stays in the container's /mnt/shared.
    assert in_penguin(fcc, "ls -A /mnt/shared/esc/..").stdout.split() == ["esc"]
    assert in_penguin_rc(fcc, "cat /mnt/shared/esc/../outside/secret").returncode != 0
    assert in_penguin_rc(fcc, "cat /mnt/shared/esc/../../../outside/secret").returncode != 0
    # No hard link across the share boundary (different mounts: EXDEV).
    r = in_penguin_rc(fcc, "ln /etc/passwd /mnt/shared/esc/pw")
    assert r.returncode != 0 and not (d / "pw").exists()
    # Container root cannot plant a setuid file for the host user to run.
    r = in_penguin_rc(fcc, "cp /bin/true /mnt/shared/esc/su && chmod 4755 /mnt/shared/esc/su", user="root")
    assert r.returncode != 0 and not (d / "su").exists()
    # alice's setuid bit would only ever be the host user's own (and the host mount is nosuid-free).
    in_penguin(fcc, "cp /bin/true /mnt/shared/esc/mine && chmod 4755 /mnt/shared/esc/mine || true")
    if (d / "mine").exists():
        assert (d / "mine").stat().st_uid == os.getuid()


def test_shares_survive_a_restart(fcc, penguin_share):
    d = penguin_share("persist", "--read-only")
    (d / "f").write_text("after restart\n")
    fcc.vmc("stop", VM, check=True, timeout=180)
    assert fcc.vmc_json("shares", VM)[0]["name"] == "persist"
    r = in_penguin_rc(fcc, "cat /mnt/shared/persist/f; echo x > /mnt/shared/persist/g", timeout=1800)
    assert r.stdout.startswith("after restart\n"), r
    assert not (d / "g").exists()
    assert seneschal_pid(fcc)

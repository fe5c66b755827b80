# SPDX-License-Identifier: LGPL-2.1-or-later
"""concierge fault paths through the real vmc under TCG: a full host disk during create and export,
and a damaged stateful disk (the mount recovery path).

Needs root (tmpfs mounts). Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (default tcg), BISTRO_TERMINA_IMAGE.
"""

import os
import subprocess
from pathlib import Path

import pytest

from concierge_helpers import require_built, Concierge, build_dir, image_dir

SB = 65536  # btrfs primary superblock offset
SB_MAGIC = SB + 64


@pytest.fixture(scope="module", autouse=True)
def prerequisites():
    if os.geteuid() != 0:
        pytest.skip("needs root to mount tmpfs")
    require_built("src/concierge/concierge", "src/vmc/vmc", "src/vmm/vmm", "src/vsockd/vsockd", "test/tools/maitred-client")


class Tmpfs:
    def __init__(self, path, size):
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(self.path)],
                       check=True)

    def free(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def fill(self, leave):
        """Fills the file system up to `leave` bytes free with one file; returns its path."""
        p = self.path / "filler"
        with open(p, "wb") as f:
            chunk = b"\xa5" * 4096
            while self.free() > leave:
                try:
                    f.write(chunk)
                    f.flush()
                except OSError:
                    break
        return p

    def umount(self):
        subprocess.run(["umount", "-l", str(self.path)], check=False)


@pytest.fixture
def mounts():
    made = []
    yield lambda path, size: made.append(Tmpfs(path, size)) or made[-1]
    for m in reversed(made):
        m.umount()


@pytest.fixture
def cc():
    c = Concierge()
    yield c
    c.cleanup()
    assert not c.alive(), "processes left behind"


def started(cc, name, *extra):
    r = cc.vmc("start", name, "--disk-size", "1G", *extra)
    assert r.returncode == 0, f"start {name}: {r.stderr}\n" + cc.diagnostics()
    return r


def one_line_error(r):
    lines = [x for x in r.stderr.splitlines() if x.strip() and not x.startswith("\r")]
    return r.returncode != 0 and len(lines) == 1, lines


def vms_dir(cc):
    return cc.data_dir / "bistro/vms"


def test_full_disk_during_create(cc, mounts):
    # XDG_DATA_HOME (the disks) on a small tmpfs; the concierge comes up on it.
    fs = mounts(cc.data_dir, "64M")
    cc.start()
    started(cc, "keep")
    cc.write_synced("keep", "/mnt/stateful/mark", "kept42")
    assert cc.vmc("stop", "keep").returncode == 0
    keep_disk = vms_dir(cc) / "keep/disk.qcow2"
    keep_before = keep_disk.read_bytes()

    filler = fs.fill(64 << 10)
    r = cc.vmc("start", "new", "--disk-size", "1G")
    ok, lines = one_line_error(r)
    assert ok, f"rc={r.returncode} stderr={lines}\n" + cc.diagnostics()
    assert "qemu-img create failed" in r.stderr or "No space" in r.stderr, r.stderr
    # The daemon is still up; no half-created VM is left: no disk, and nothing listed as running.
    assert cc.proc.poll() is None
    listed = {v["name"]: v for v in cc.vmc_json("list")}
    assert "keep" in listed and listed["keep"]["state"] == "stopped"
    assert listed.get("new", {}).get("state", "stopped") == "stopped"
    assert not (vms_dir(cc) / "new/disk.qcow2").exists()
    assert keep_disk.read_bytes() == keep_before

    # With space again, a retry of the same name works, and the older VM kept its data.
    filler.unlink()
    started(cc, "new")
    assert cc.stateful_mounted("new")
    assert cc.vmc("stop", "new").returncode == 0
    started(cc, "keep")
    assert cc.read_equals("keep", "/mnt/stateful/mark", "kept42")
    assert cc.vmc("stop", "keep").returncode == 0


def test_full_disk_during_export(cc, mounts, tmp_path):
    cc.start()
    started(cc, "ex")
    cc.write_synced("ex", "/mnt/stateful/mark", "exported7")
    assert cc.vmc("stop", "ex").returncode == 0
    disk = vms_dir(cc) / "ex/disk.qcow2"
    before = disk.read_bytes()

    # Far smaller than the qcow2 copy of a formatted disk: the copy or the compression fails.
    out = mounts(tmp_path / "tiny", "128k")
    exp = out.path / "ex.export"
    r = cc.vmc("export", "ex", str(exp))
    ok, lines = one_line_error(r)
    assert ok, f"rc={r.returncode} stderr={lines}\n" + cc.diagnostics()
    assert "No space" in r.stderr or "failed" in r.stderr, r.stderr
    assert sorted(os.listdir(out.path)) == [], "partial export left behind"
    assert cc.proc.poll() is None
    assert disk.read_bytes() == before
    assert cc.vm_info("ex")["state"] == "stopped"

    # The same with a little room: whatever step runs out, nothing partial stays.
    out2 = mounts(tmp_path / "small", "4M")
    filler = out2.fill(256 << 10)
    exp2 = out2.path / "ex.export"
    r = cc.vmc("export", "ex", str(exp2))
    ok, lines = one_line_error(r)
    assert ok, f"rc={r.returncode} stderr={lines}\n" + cc.diagnostics()
    assert sorted(os.listdir(out2.path)) == ["filler"], "partial export left behind"
    filler.unlink()

    # Room for the qcow2 copy but not for everything after it (here the late steps fail: the
    # compressed file or its .sha256 next to it).
    copy = tmp_path / "copy.qcow2"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "qcow2", str(disk), str(copy)], check=True)
    q = copy.stat().st_blocks * 512  # qemu-img leaves holes
    z = len(subprocess.run(["zstd", "-q", "-c", str(copy)], capture_output=True, check=True).stdout)
    copy.unlink()
    out3 = mounts(tmp_path / "mid", str(q + (4 << 20)))
    filler = out3.fill(q + 4095)  # exactly the copy's pages stay free
    r = cc.vmc("export", "ex", str(out3.path / "ex.export"))
    ok, lines = one_line_error(r)
    assert ok, f"copy {q}, zstd {z}: rc={r.returncode} stderr={lines}"
    assert "zstd failed" in r.stderr or ("cannot write" in r.stderr and "No space" in r.stderr), r.stderr
    assert sorted(os.listdir(out3.path)) == ["filler"], "partial export left behind"
    filler.unlink()

    started(cc, "ex")
    assert cc.read_equals("ex", "/mnt/stateful/mark", "exported7")
    assert cc.vmc("stop", "ex").returncode == 0


def damage(disk, tmp_path, offset, data):
    """Writes data at offset of the guest-visible disk (qcow2 -> raw -> qcow2)."""
    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "raw", str(disk), str(raw)], check=True)
    with open(raw, "r+b") as f:
        f.seek(offset)
        f.write(data)
    subprocess.run(["qemu-img", "convert", "-q", "-O", "qcow2", str(raw), str(disk)], check=True)
    raw.unlink()


def guest_region(disk, tmp_path, start, length):
    raw = tmp_path / "peek.raw"
    # -U: a VM whose start failed may still be shutting down and hold the lock; reading is safe.
    subprocess.run(["qemu-img", "convert", "-q", "-U", "-O", "raw", str(disk), str(raw)], check=True)
    with open(raw, "rb") as f:
        f.seek(start)
        data = f.read(length)
    raw.unlink()
    return data


def test_damaged_superblock_checksum(cc, tmp_path):
    """A primary superblock whose checksum no longer matches (magic intact): the normal mount and
    both recovery mounts fail in Linux 6.1 (the kernel reads only the primary superblock). Expected:
    a clear error, the disk left as it was (no mkfs over it), other VMs unaffected."""
    cc.start()
    started(cc, "other")
    cc.write_synced("other", "/mnt/stateful/mark", "other1")
    started(cc, "bad")
    cc.write_synced("bad", "/mnt/stateful/mark", "precious")
    assert cc.vmc("stop", "bad").returncode == 0
    disk = vms_dir(cc) / "bad/disk.qcow2"
    damage(disk, tmp_path, SB, b"\xde\xad\xbe\xef")  # the crc32c itself
    damaged = guest_region(disk, tmp_path, 0, 2 << 20)

    r = cc.vmc("start", "bad")
    if r.returncode == 0:
        # A kernel that recovers: it must say so, and the data must be there.
        assert "partial data loss" in r.stdout + r.stderr, r.stdout + r.stderr
        assert cc.read_equals("bad", "/mnt/stateful/mark", "precious")
    else:
        ok, lines = one_line_error(r)
        assert ok, f"rc={r.returncode} stderr={lines}\n" + cc.diagnostics()
        assert "cannot mount the stateful disk" in r.stderr, r.stderr
        assert cc.vm_info("bad")["state"] != "running"
        # Nothing wrote over the damaged disk (a mkfs would have).
        assert guest_region(disk, tmp_path, 0, 2 << 20) == damaged
    assert cc.proc.poll() is None
    assert cc.read_equals("other", "/mnt/stateful/mark", "other1")


def test_damaged_superblock_magic_is_not_reformatted(cc, tmp_path):
    """A used disk whose primary superblock magic is gone must not get mkfs.btrfs over it (only a
    disk concierge created and never mounted is formatted): a clear error, the disk untouched."""
    cc.start()
    started(cc, "bad")
    cc.write_synced("bad", "/mnt/stateful/mark", "precious")
    assert cc.vmc("stop", "bad").returncode == 0
    disk = vms_dir(cc) / "bad/disk.qcow2"
    damage(disk, tmp_path, SB_MAGIC, b"\0" * 8)
    damaged = guest_region(disk, tmp_path, 0, 2 << 20)

    r = cc.vmc("start", "bad")
    if r.returncode == 0:
        # Started: only acceptable if recovered (and said so) with the data.
        assert cc.read_equals("bad", "/mnt/stateful/mark", "precious"), "data gone: the disk was reformatted"
        assert "partial data loss" in r.stdout + r.stderr, "started without a warning: " + r.stdout
    else:
        ok, lines = one_line_error(r)
        assert ok, f"rc={r.returncode} stderr={lines}\n" + cc.diagnostics()
        assert "cannot mount the stateful disk" in r.stderr, r.stderr
        assert guest_region(disk, tmp_path, 0, 2 << 20) == damaged
    assert cc.proc.poll() is None


def damage_root_tree(disk, tmp_path):
    """Overwrites every copy of the current root tree node (found by its header: fsid and logical
    bytenr as in the superblock) so that the normal mount fails and the superblock's backup roots
    (rescue=usebackuproot) are the way back. Returns how many copies were hit."""
    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-q", "-O", "raw", str(disk), str(raw)], check=True)
    hits = 0
    with open(raw, "r+b") as f:
        f.seek(SB)
        sb = f.read(4096)
        assert sb[64:72] == b"_BHRfS_M"
        fsid, root = sb[0x20:0x30], int.from_bytes(sb[0x50:0x58], "little")
        nodesize = int.from_bytes(sb[0x94:0x98], "little")
        size = os.fstat(f.fileno()).st_size
        off = 0
        while off < size:
            f.seek(off)
            hdr = f.read(0x38)
            if hdr[0x20:0x30] == fsid and int.from_bytes(hdr[0x30:0x38], "little") == root:
                f.seek(off + 0x60)
                f.write(b"\xff" * (nodesize - 0x60))
                hits += 1
            off += 4096
    subprocess.run(["qemu-img", "convert", "-q", "-O", "qcow2", str(raw), str(disk)], check=True)
    raw.unlink()
    return hits


def test_damaged_root_tree_mounts_with_backup_root(cc, tmp_path):
    cc.start()
    started(cc, "bad")
    cc.write_synced("bad", "/mnt/stateful/mark", "precious")
    # More commits: backup roots of several generations.
    for i in range(3):
        cc.write_synced("bad", f"/mnt/stateful/more{i}", f"v{i}")
    assert cc.vmc("stop", "bad").returncode == 0
    disk = vms_dir(cc) / "bad/disk.qcow2"
    assert damage_root_tree(disk, tmp_path) >= 1

    r = cc.vmc("start", "bad")
    assert r.returncode == 0, r.stderr + cc.diagnostics()
    assert "partial data loss" in r.stdout + r.stderr, r.stdout + r.stderr
    assert "rescue=usebackuproot" in r.stdout + r.stderr
    assert cc.stateful_mounted("bad")
    assert cc.read_equals("bad", "/mnt/stateful/mark", "precious")

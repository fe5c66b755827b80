# SPDX-License-Identifier: LGPL-2.1-or-later
"""concierge + vmc end to end on the real Termina image under TCG: lifecycle, two VMs, durability
across stop and kill -9 of QEMU, SIGTERM and kill -9 of concierge, export/import, resize, bad input.

Env: BISTRO_ACCEL (default tcg here), BISTRO_TERMINA_IMAGE, BISTRO_CONCIERGE_CYCLES (kill -9 cycles,
default 3).
"""

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from concierge_helpers import require_built, EXIT_BOUND, Concierge, build_dir, image_dir, pid_alive

CYCLES = int(os.environ.get("BISTRO_CONCIERGE_CYCLES", "3"))
GIB = 1 << 30


@pytest.fixture(scope="module", autouse=True)
def prerequisites():
    require_built("src/concierge/concierge", "src/vmc/vmc", "src/vmm/vmm", "src/vsockd/vsockd", "test/tools/maitred-client")


@pytest.fixture
def cc():
    c = Concierge().start()
    yield c
    c.cleanup()
    assert not c.alive(), "processes left behind"


def started(cc, name, *extra):
    r = cc.vmc("start", name, "--disk-size", "1G", *extra)
    assert r.returncode == 0, f"start {name}: {r.stderr}\n" + cc.diagnostics()
    return r


def test_lifecycle_resize_export_import(cc, tmp_path):
    assert cc.vmc_json("list") == []
    started(cc, "t1", "--cpus", "1", "--mem", "512M")
    info = cc.vm_info("t1")
    assert info["state"] == "running" and info["pid"] > 0 and info["kernel_version"]
    assert info["disk_size"] == GIB and info["memory_mib"] == 512
    assert [v["name"] for v in cc.vmc_json("ls")] == ["t1"]
    assert "t1" in cc.vmc("list").stdout

    # A running VM cannot be started again; the daemon stays up.
    r = cc.vmc("start", "t1")
    assert r.returncode == 1 and "already running" in r.stderr

    # Data on the btrfs stateful disk.
    assert cc.stateful_mounted("t1")
    cc.write_synced("t1", "/mnt/stateful/f", "hello-1")

    # Live grow; shrinking is refused with a clear error and changes nothing.
    r = cc.vmc("resize", "t1", "2G")
    assert r.returncode == 0, r.stderr
    assert cc.vm_info("t1")["disk_size"] == 2 * GIB
    assert cc.read_equals("t1", "/sys/block/vdb/size", str(2 * GIB // 512))
    r = cc.vmc("resize", "t1", "1G")
    assert r.returncode == 1 and "shrink" in r.stderr
    assert cc.vm_info("t1")["disk_size"] == 2 * GIB

    r = cc.vmc("sync-time")
    assert r.returncode == 0, r.stderr

    # Export of a running VM needs --force.
    exp = tmp_path / "t1.export"
    r = cc.vmc("export", "t1", str(exp))
    assert r.returncode == 1 and "--force" in r.stderr and not exp.exists()
    live = tmp_path / "live.export"
    r = cc.vmc("export", "--force", "t1", str(live))
    assert r.returncode == 0, r.stderr
    r = cc.vmc("import", str(live), "t1copy")
    assert r.returncode == 0, r.stderr
    assert cc.vm_info("t1copy")["disk_size"] == 2 * GIB
    assert cc.vmc("destroy", "--yes", "t1copy").returncode == 0
    # Export never overwrites.
    r = cc.vmc("export", "--force", "t1", str(live))
    assert r.returncode == 1 and "exists" in r.stderr

    assert cc.vmc("stop", "t1").returncode == 0
    assert cc.vm_info("t1")["state"] == "stopped"
    assert "Linux version" in cc.vmc("logs", "t1").stdout
    # vmm rotates console.log into console.log.1 (docs/design/vmm.md): logs shows the tail of both, older first.
    (cc.runtime("t1") / "console.log.1").write_bytes(b"old-" + b"y" * 70000 + b"\n")
    (cc.runtime("t1") / "console.log").write_bytes(b"newest line\n")
    out = cc.vmc("logs", "t1").stdout
    assert out.endswith("y\nnewest line\n") and "old-" not in out and len(out) == 64 * 1024

    # Offline grow: the image now, the file system at the next start (without a warning).
    r = cc.vmc("resize", "t1", "3G")
    assert r.returncode == 0, r.stderr
    assert cc.vm_info("t1")["disk_size"] == 3 * GIB
    assert "grow_pending=1" in (cc.data_dir / "bistro/vms/t1/config").read_text()

    # Data persists across stop/start.
    r = started(cc, "t1")
    assert "warning" not in r.stderr, r.stderr
    assert "grow_pending" not in (cc.data_dir / "bistro/vms/t1/config").read_text()
    assert cc.read_equals("t1", "/sys/block/vdb/size", str(3 * GIB // 512))
    assert cc.stateful_mounted("t1") and cc.read_equals("t1", "/mnt/stateful/f", "hello-1")
    assert cc.vmc("stop", "t1").returncode == 0

    # Destroy asks without --yes (no terminal: refuses).
    r = cc.vmc("destroy", "t1")
    assert r.returncode != 0 and (cc.data_dir / "bistro/vms/t1/disk.qcow2").exists()

    r = cc.vmc("export", "t1", str(exp))
    assert r.returncode == 0, r.stderr
    assert exp.exists() and (tmp_path / "t1.export.sha256").exists()
    r = subprocess.run(["sha256sum", "-c", "t1.export.sha256"], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr

    # Corrupted and truncated exports are refused; nothing is created or touched.
    bad = tmp_path / "bad.export"
    data = exp.read_bytes()
    bad.write_bytes(data[: len(data) // 2])
    shutil.copy(tmp_path / "t1.export.sha256", tmp_path / "bad.export.sha256")
    r = cc.vmc("import", str(bad), "t2")
    assert r.returncode == 1 and "checksum" in r.stderr
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x40
    bad.write_bytes(bytes(flipped))
    r = cc.vmc("import", str(bad), "t2")
    assert r.returncode == 1 and "checksum" in r.stderr
    # A matching checksum over garbage: zstd or qemu-img refuses it.
    bad.write_bytes(b"not an export" * 1000)
    subprocess.run(f"sha256sum bad.export > bad.export.sha256", shell=True, cwd=tmp_path, check=True)
    r = cc.vmc("import", str(bad), "t2")
    assert r.returncode == 1 and "not a valid export" in r.stderr
    r = cc.vmc("import", str(exp), "t1")
    assert r.returncode == 1 and "exists" in r.stderr
    assert [v["name"] for v in cc.vmc_json("list")] == ["t1"]
    assert not list((cc.data_dir / "bistro/vms").glob(".import-*"))

    assert cc.vmc("destroy", "--yes", "t1").returncode == 0
    assert cc.vmc_json("list") == []
    r = cc.vmc("import", str(exp), "t1")
    assert r.returncode == 0, r.stderr
    started(cc, "t1")
    assert cc.read_equals("t1", "/mnt/stateful/f", "hello-1")
    assert cc.vm_info("t1")["disk_size"] == 3 * GIB
    # Destroying a running VM is refused.
    r = cc.vmc("destroy", "--yes", "t1")
    assert r.returncode == 1 and "stop it first" in r.stderr
    assert cc.vmc("stop", "t1").returncode == 0
    assert cc.vmc("destroy", "--yes", "t1").returncode == 0
    assert not (cc.data_dir / "bistro/vms/t1").exists()


def test_two_vms_at_once(cc):
    results = {}

    def start(name):
        results[name] = cc.vmc("start", name, "--disk-size", "1G")

    threads = [threading.Thread(target=start, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in ("a", "b"):
        assert results[n].returncode == 0, results[n].stderr + cc.diagnostics()
    states = {v["name"]: v["state"] for v in cc.vmc_json("list")}
    assert states == {"a": "running", "b": "running"}
    cc.write_synced("a", "/mnt/stateful/who", "A")
    cc.write_synced("b", "/mnt/stateful/who", "B")
    assert cc.read_equals("a", "/mnt/stateful/who", "A") and cc.read_equals("b", "/mnt/stateful/who", "B")
    assert cc.vmc("stop", "--force", "a").returncode == 0
    assert cc.vm_info("a")["state"] == "stopped" and cc.vm_info("b")["state"] == "running"
    # SIGTERM to concierge stops every remaining VM within the bound, then it exits 0.
    cc.track()
    t0 = time.monotonic()
    assert cc.stop(timeout=EXIT_BOUND) == 0
    assert time.monotonic() - t0 < EXIT_BOUND
    assert cc.wait_gone(10), f"left behind: {cc.alive()}"


def test_durability_across_qemu_kill(cc):
    started(cc, "d")
    cc.write_synced("d", "/mnt/stateful/v", "v0")
    assert cc.vmc("stop", "d").returncode == 0
    for i in range(1, CYCLES + 1):
        started(cc, "d")
        assert cc.stateful_mounted("d")
        assert cc.read_equals("d", "/mnt/stateful/v", f"v{i - 1}"), cc.diagnostics()
        cc.write_synced("d", "/mnt/stateful/v", f"v{i}")
        qemu = cc.qemu_pid("d")
        assert qemu, "no QEMU found"
        os.kill(qemu, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while cc.vm_info("d")["state"] != "stopped":
            assert time.monotonic() < deadline, cc.diagnostics()
            time.sleep(0.2)
    started(cc, "d")
    assert cc.stateful_mounted("d") and cc.read_equals("d", "/mnt/stateful/v", f"v{CYCLES}")
    assert cc.vmc("stop", "d").returncode == 0


def test_concierge_killed_leaves_no_orphans(cc):
    started(cc, "k")
    cc.write_synced("k", "/mnt/stateful/k", "keep")
    cc.track()
    assert len(cc.alive()) >= 3  # vmm, vsockd, QEMU
    cc.proc.kill()
    cc.proc.wait()
    # vmm gets SIGTERM from PR_SET_PDEATHSIG and powers the VM off; nothing stays behind.
    assert cc.wait_gone(EXIT_BOUND), f"orphans: {cc.alive()}"
    # A new concierge, started on demand by vmc, sees the VM stopped and starts it again.
    os.unlink(cc.run_dir / "bistro/concierge.sock")
    cc.proc = None
    assert cc.vmc_json("info", "k")["state"] == "stopped"
    started(cc, "k")
    assert cc.read_equals("k", "/mnt/stateful/k", "keep")
    assert cc.vmc("stop", "k").returncode == 0


def test_nothing_autostarts(cc):
    """A concierge restart with existing VMs starts none of them."""
    (cc.data_dir / "bistro/vms/idle").mkdir(parents=True)
    cc.stop()
    cc.start()
    time.sleep(1)
    assert cc.vm_info("idle")["state"] == "stopped"
    assert not cc.alive()


@pytest.mark.parametrize("name", ["a/b", "..", "x" * 65, "", "a\x01b", "-x", ".hidden", "a b"])
def test_bad_names(cc, name):
    for verb in (["start", "--", name], ["stop", "--", name], ["info", "--", name],
                 ["destroy", "--yes", "--", name]):
        r = cc.vmc(*verb)
        assert r.returncode == 2 and "invalid VM name" in r.stderr, (verb, r.stderr)
    assert cc.vmc("list").returncode == 0
    assert cc.proc.poll() is None
    assert not any((cc.data_dir / "bistro/vms").iterdir())


def test_unknown_vm_errors(cc, tmp_path):
    for verb in (["stop", "nope"], ["info", "nope"], ["destroy", "--yes", "nope"], ["logs", "nope"],
                 ["resize", "nope", "2G"], ["export", "nope", str(tmp_path / "x")]):
        r = cc.vmc(*verb)
        assert r.returncode == 1, (verb, r.stderr)
        assert "no VM named 'nope'" in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
    r = cc.vmc("import", str(tmp_path / "missing"), "nope")
    assert r.returncode == 1 and "cannot read" in r.stderr
    r = cc.vmc("frobnicate")
    assert r.returncode == 2
    for verb in ("start", "stop", "list", "info", "destroy", "logs", "export", "import", "resize", "sync-time"):
        r = cc.vmc(verb, "--help")
        assert r.returncode == 0 and r.stdout.startswith(f"Usage: vmc {verb}"), verb
    assert cc.proc.poll() is None


def test_tampered_image_refused(tmp_path):
    img = tmp_path / "img"
    img.mkdir()
    for f in ("vmlinuz", "initramfs.img", "rootfs.img", "manifest", "manifest.sig", "signing-key.pub"):
        shutil.copy(image_dir() / f, img / f)
    with open(img / "rootfs.img", "r+b") as f:
        f.seek(4096 * 3)
        b = f.read(1)
        f.seek(4096 * 3)
        f.write(bytes([b[0] ^ 0x40]))
    c = Concierge(image=img).start()
    try:
        r = c.vmc("start", "t", "--disk-size", "1G")
        assert r.returncode == 1 and "refused" in r.stderr and "rootfs.img" in r.stderr, r.stderr
        assert c.vmc_json("list") == []
        assert c.proc.poll() is None and not c.alive()
    finally:
        c.cleanup()


def test_on_demand_start_and_no_vm_running(tmp_path):
    """vmc starts concierge when nothing listens; starting concierge starts no VM."""
    c = Concierge()
    try:
        r = c.vmc("list")
        assert r.returncode == 0, r.stderr
        assert (c.run_dir / "bistro/concierge.sock").exists()
        assert not c.alive()
    finally:
        c.cleanup()


def test_bash_completion():
    comp = Path(__file__).resolve().parents[2] / "shell-completion/vmc.bash"

    def complete(*words):
        script = (f"source {comp}; COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; _vmc; "
                  'echo "${COMPREPLY[*]}"')
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return r.stdout.split()

    assert complete("vmc", "st") == ["start", "stop"]
    assert "--disk-size" in complete("vmc", "start", "--d")
    assert complete("vmc", "stop", "--f") == ["--force"]


def _frame(type_, flags, id_, payload, length=None):
    import struct
    return struct.pack("<IIQII", 0x01534942, type_, id_, flags, len(payload) if length is None else length) + payload


def test_hostile_client_frames(cc):
    """Invalid requests sent around vmc: each connection is closed, the daemon stays up, nothing is made."""
    import socket
    bad_name = b"\x0a\x03a/b"  # StartVmRequest{name: "a/b"}
    frames = [
        b"\x00" * 64,                                    # garbage
        _frame(100, 1, 1, bad_name),                     # START_VM_REQUEST with a path in the name
        _frame(100, 1, 1, b"", length=0xFFFFFFFF),       # length over the cap
        _frame(150, 2, 7, b""),                          # a response nobody asked for
        _frame(100, 1, 1, b"\x0a\xff\xff\xff\xff\x0f"),  # truncated protobuf
        _frame(9999, 1, 1, b""),                         # unknown type
    ]
    for data in frames:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(str(cc.run_dir / "bistro/concierge.sock"))
        s.sendall(data)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
        s.close()
        assert cc.proc.poll() is None
    assert cc.vmc_json("list") == []
    assert not any((cc.data_dir / "bistro/vms").iterdir())

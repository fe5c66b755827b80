# SPDX-License-Identifier: LGPL-2.1-or-later
"""concierge's build id (GetVersion), Exit{if_idle}, the one-concierge-per-data-directory lock and
its exit codes. A copy of the concierge binary stands in for a second build (its build id covers
the binary's path, size and mtime: docs/design/concierge.md "Builds").

Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (default tcg), BISTRO_TERMINA_IMAGE.
"""

import hashlib
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from concierge_helpers import require_built, Concierge, build_dir

FRAME_MAGIC = 0x01534942
KIND_REQUEST, KIND_RESPONSE = 1, 2
ERROR_REPLY, EMPTY = 1, 2
GET_VERSION_REQUEST, EXIT_REQUEST, GET_VERSION_RESPONSE = 115, 116, 156


@pytest.fixture(scope="module", autouse=True)
def prerequisites():
    require_built("src/concierge/concierge", "src/vmc/vmc", "src/vmm/vmm", "src/vsockd/vsockd")


class BinaryConcierge(Concierge):
    """A Concierge started from another binary (a stand-in for another build)."""

    def __init__(self, binary, **kw):
        super().__init__(**kw)
        self.binary = binary

    def command(self):
        return [str(self.binary)]


def varint(data, i):
    v = shift = 0
    while True:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def pb_fields(data):
    """A flat protobuf decoder for the few messages used here: {field: value}."""
    out, i = {}, 0
    while i < len(data):
        key, i = varint(data, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            out[field], i = varint(data, i)
        elif wt == 2:
            n, i = varint(data, i)
            out[field] = data[i:i + n]
            i += n
        else:
            raise AssertionError(f"unexpected wire type {wt}")
    return out


def call(cc, type_, payload=b""):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(20)
    s.connect(str(cc.run_dir / "bistro/concierge.sock"))
    s.sendall(struct.pack("<IIQII", FRAME_MAGIC, type_, 7, KIND_REQUEST, len(payload)) + payload)
    hdr = b""
    while len(hdr) < 24:
        chunk = s.recv(24 - len(hdr))
        assert chunk, "concierge closed the connection"
        hdr += chunk
    magic, rtype, rid, flags, length = struct.unpack("<IIQII", hdr)
    assert (magic, rid, flags) == (FRAME_MAGIC, 7, KIND_RESPONSE)
    body = b""
    while len(body) < length:
        chunk = s.recv(length - len(body))
        assert chunk
        body += chunk
    s.close()
    return rtype, pb_fields(body)


def expected_build_id(binary):
    """src/shared/build-id.c, recomputed: BLAKE2b-128 of version, canonical path, "size mtime"."""
    version = subprocess.run(["meson", "introspect", "--projectinfo", str(build_dir())],
                             capture_output=True, text=True, check=True).stdout
    import json
    version = json.loads(version)["version"]
    path = os.path.realpath(binary)
    st = os.stat(path)
    meta = f"{st.st_size} {st.st_mtime_ns // 10**9}.{st.st_mtime_ns % 10**9:09d}"
    h = hashlib.blake2b(digest_size=16)
    for part in (version, path, meta):
        h.update(part.encode() + b"\0")
    return h.hexdigest()


def test_get_version_names_the_running_build(tmp_path):
    alt = tmp_path / "other-build" / "concierge"
    alt.parent.mkdir()
    shutil.copy2(build_dir() / "src/concierge/concierge", alt)
    os.utime(alt, ns=(1_000_000_000_123, 1_000_000_000_123))  # another build: another mtime
    cc = BinaryConcierge(alt, env={"BISTRO_VMM": str(build_dir() / "src/vmm/vmm")}).start()
    try:
        rtype, f = call(cc, GET_VERSION_REQUEST)
        assert rtype == GET_VERSION_RESPONSE, f
        build_id = f[1].decode()
        assert len(build_id) == 32 and all(c in "0123456789abcdef" for c in build_id)
        assert build_id == expected_build_id(alt)
        assert build_id != expected_build_id(build_dir() / "src/concierge/concierge")
        assert f[3].decode() == os.path.realpath(alt)
        assert f.get(4, 0) == 0  # no VM running: idle
        assert f[5] == cc.proc.pid
    finally:
        cc.cleanup()


def test_exit_if_idle():
    cc = Concierge().start()
    try:
        rtype, f = call(cc, EXIT_REQUEST, b"\x08\x01")  # ExitRequest{if_idle: true}
        assert rtype == EMPTY, f
        assert cc.proc.wait(20) == 0
    finally:
        cc.cleanup()


def test_exit_if_idle_refused_while_a_vm_runs():
    cc = Concierge().start()
    try:
        r = cc.vmc("start", "termina", "--disk-size", "1G")
        assert r.returncode == 0, r.stderr + cc.diagnostics()
        rtype, f = call(cc, EXIT_REQUEST, b"\x08\x01")
        assert rtype == ERROR_REPLY
        err = f[1] - (1 << 64) if f[1] >= 1 << 63 else f[1]
        assert err == -16, f  # EBUSY
        assert b"1 VM running" in f[2]
        rtype, f = call(cc, GET_VERSION_REQUEST)
        assert f[4] == 1
        assert cc.proc.poll() is None
        assert cc.vmc("stop", "termina").returncode == 0
    finally:
        cc.cleanup()


def test_second_concierge_of_a_data_dir_refused():
    first = Concierge().start()
    second = Concierge()  # its own runtime dir ...
    second.env["XDG_DATA_HOME"] = first.env["XDG_DATA_HOME"]  # ... the same data dir
    try:
        r = subprocess.run([str(build_dir() / "src/concierge/concierge")], env=second.env,
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == 1, r.stderr
        assert "Another concierge manages" in r.stderr
        assert str(first.run_dir / "bistro/concierge.sock") in r.stderr
        # The first one is untouched and still answers.
        assert first.proc.poll() is None
        assert (first.run_dir / "bistro/concierge.sock").exists()
        assert not (second.run_dir / "bistro/concierge.sock").exists()
        assert call(first, GET_VERSION_REQUEST)[0] == GET_VERSION_RESPONSE
    finally:
        first.cleanup()
        shutil.rmtree(second.root, ignore_errors=True)
    # Once the first is gone, the data dir is free again.
    third = Concierge()
    third.env["XDG_DATA_HOME"] = first.env["XDG_DATA_HOME"]
    third.start()
    third.cleanup()


@pytest.mark.parametrize("args,status", [(["--bogus"], 2), (["extra"], 2), (["--help"], 0)])
def test_exit_codes(args, status):
    cc = Concierge()
    try:
        r = subprocess.run([str(build_dir() / "src/concierge/concierge"), *args], env=cc.env,
                           capture_output=True, text=True, timeout=20)
        assert r.returncode == status, r.stderr
        if status == 2:
            assert "--help" in r.stderr
    finally:
        shutil.rmtree(cc.root, ignore_errors=True)


def test_disk_in_use_is_told_as_such():
    """QEMU's "Failed to get write lock" (in vmm.log) becomes a clear error, not "vmm status 2"."""
    cc = Concierge().start()
    holder = None
    try:
        r = cc.vmc("start", "termina", "--disk-size", "1G")
        assert r.returncode == 0, r.stderr + cc.diagnostics()
        assert cc.vmc("stop", "termina").returncode == 0
        disk = cc.data_dir / "bistro/vms/termina/disk.qcow2"
        # qemu-io keeps the image open (and write-locked) while it waits for commands on stdin.
        holder = subprocess.Popen(["qemu-io", "-f", "qcow2", str(disk)], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        assert holder.poll() is None
        r = cc.vmc("start", "termina")
        assert r.returncode == 1
        assert f"disk {disk} is in use by another process" in r.stderr, r.stderr
        assert "vmm status" not in r.stderr
        holder.stdin.close()
        holder.wait(20)
        holder = None
        r = cc.vmc("start", "termina")
        assert r.returncode == 0, r.stderr + cc.diagnostics()
        assert cc.vmc("stop", "termina").returncode == 0
    finally:
        if holder:
            holder.kill()
            holder.wait()
        cc.cleanup()


def other_build(tmp_path):
    """A concierge binary of "another build": a copy at another path with another mtime."""
    alt = tmp_path / "other-build" / "concierge"
    alt.parent.mkdir()
    shutil.copy2(build_dir() / "src/concierge/concierge", alt)
    os.utime(alt, ns=(1_000_000_000_123, 1_000_000_000_123))
    return alt


def test_client_replaces_an_idle_concierge_of_another_build(tmp_path):
    alt = other_build(tmp_path)
    cc = BinaryConcierge(alt, env={"BISTRO_VMM": str(build_dir() / "src/vmm/vmm")}).start()
    try:
        old = cc.proc.pid
        r = cc.vmc("list")
        assert r.returncode == 0, r.stderr + cc.diagnostics()
        assert "Replaced an idle concierge from another build" in r.stderr, r.stderr
        assert str(alt) in r.stderr and str(old) in r.stderr, r.stderr
        assert cc.proc.wait(20) == 0, "the old concierge did not exit cleanly"
        # The concierge that answers now is this build's.
        rtype, f = call(cc, GET_VERSION_REQUEST)
        assert rtype == GET_VERSION_RESPONSE
        assert f[1].decode() == expected_build_id(build_dir() / "src/concierge/concierge")
        assert f[5] != old
        # Same build from now on: nothing more is said.
        r = cc.vmc("list")
        assert r.returncode == 0 and "another build" not in r.stderr, r.stderr
    finally:
        cc.cleanup()


def test_client_warns_about_a_busy_concierge_of_another_build(tmp_path):
    alt = other_build(tmp_path)
    cc = BinaryConcierge(alt, env={"BISTRO_VMM": str(build_dir() / "src/vmm/vmm")}).start()
    try:
        # The VM is started through the old build's own client path (BISTRO_CONCIERGE names it).
        env = dict(cc.env, BISTRO_CONCIERGE=str(alt))
        r = subprocess.run([str(cc.vmc_path), "start", "termina", "--disk-size", "1G"], env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr + cc.diagnostics()
        assert "another build" not in r.stderr, r.stderr
        qemu = cc.qemu_pid("termina")
        # This build's client: the concierge is busy, so it is kept, and the user is told how to fix it.
        r = cc.vmc("list")
        assert r.returncode == 0, r.stderr
        assert "from another build" in r.stderr and "1 VM(s) running" in r.stderr, r.stderr
        assert "vmc stop" in r.stderr, r.stderr
        assert "termina" in r.stdout
        assert cc.proc.poll() is None and cc.qemu_pid("termina") == qemu, "someone's VM was stopped"
        assert subprocess.run([str(cc.vmc_path), "stop", "termina"], env=env, capture_output=True,
                              timeout=120).returncode == 0
    finally:
        cc.cleanup()

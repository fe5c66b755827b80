# SPDX-License-Identifier: LGPL-2.1-or-later
"""StartContainer with create_if_missing (proto/concierge.proto): one RPC on a fresh concierge
starts the VM, creates the container from the store's busybox image and starts it, with PROGRESS
events of both operations on the way; the reply says created. Raw frames, since this is the
server side of the contract (vmc and bistro use it through concierge-client).

Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (default tcg), BISTRO_IMAGE_STORE.
"""

import socket
import struct

import pytest

from concierge_helpers import require_built, image_store, Concierge

STORE = image_store()
FRAME_MAGIC = 0x01534942
KIND_REQUEST, KIND_RESPONSE, KIND_EVENT = 1, 2, 4
ERROR_REPLY, START_CONTAINER_REQUEST, CONTAINER_INFO_RESPONSE, PROGRESS = 1, 111, 153, 155
OPERATION_START_VM, OPERATION_CREATE_CONTAINER = 1, 5
CONTAINER_STATE_RUNNING = 3


@pytest.fixture(scope="module", autouse=True)
def prerequisites():
    require_built("src/concierge/concierge", "src/vmc/vmc", "src/vmm/vmm", "src/vsockd/vsockd")
    if not (STORE / "busybox.tar.zst").exists():
        pytest.skip(f"no busybox image in {STORE} (image/containers/build-busybox.sh makes it)")


def pb_varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def pb_str(field, s):
    data = s.encode()
    return pb_varint(field << 3 | 2) + pb_varint(len(data)) + data


def pb_bool(field, v):
    return pb_varint(field << 3) + pb_varint(1) if v else b""


def read_varint(data, i):
    v = shift = 0
    while True:
        b = data[i]
        i += 1
        v |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return v, i


def pb_fields(data):
    out, i = {}, 0
    while i < len(data):
        key, i = read_varint(data, i)
        field, wt = key >> 3, key & 7
        if wt == 0:
            out[field], i = read_varint(data, i)
        elif wt == 2:
            n, i = read_varint(data, i)
            out[field] = data[i:i + n]
            i += n
        else:
            raise AssertionError(f"wire type {wt}")
    return out


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        assert chunk, "concierge closed the connection"
        data += chunk
    return data


def start_container(cc, name, image="", create=False, timeout=600):
    """One StartContainer call: returns (response type, fields, [progress (operation, stage)])."""
    payload = pb_str(1, "termina") + pb_str(2, name) + (pb_str(3, image) if image else b"") + pb_bool(4, create)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(cc.run_dir / "bistro/concierge.sock"))
    s.sendall(struct.pack("<IIQII", FRAME_MAGIC, START_CONTAINER_REQUEST, 9, KIND_REQUEST, len(payload)) + payload)
    events = []
    while True:
        magic, rtype, rid, flags, length = struct.unpack("<IIQII", recv_exact(s, 24))
        assert magic == FRAME_MAGIC and rid == 9
        body = pb_fields(recv_exact(s, length))
        if flags == KIND_EVENT:
            assert rtype == PROGRESS
            events.append((body.get(1, 0), body.get(4, b"").decode()))
            continue
        assert flags == KIND_RESPONSE
        s.close()
        return rtype, body, events


def test_start_creates_missing_container():
    cc = Concierge(env={"BISTRO_IMAGE_STORE": str(STORE)}).start()
    try:
        # Missing and not asked to create: ENOENT, nothing made (the VM is started for the call).
        rtype, f, _ = start_container(cc, "box")
        assert rtype == ERROR_REPLY
        assert f[1] - (1 << 64) == -2, f  # ENOENT

        rtype, f, events = start_container(cc, "box", image="busybox", create=True)
        assert rtype == CONTAINER_INFO_RESPONSE, f.get(2, f) if rtype == ERROR_REPLY else f
        info = pb_fields(f[1])
        assert info[2] == b"box" and info[3] == CONTAINER_STATE_RUNNING and info[4] == b"busybox"
        assert f.get(2) == 1, "created not set"
        assert any(op == OPERATION_CREATE_CONTAINER and stage == "unpacking" for op, stage in events), events

        # Again: it exists and runs; not created.
        rtype, f, events = start_container(cc, "box", image="busybox", create=True)
        assert rtype == CONTAINER_INFO_RESPONSE
        assert f.get(2, 0) == 0
        assert not any(op == OPERATION_CREATE_CONTAINER for op, _ in events)

        # A missing image: the error names it, whole.
        rtype, f, _ = start_container(cc, "other", image="nosuchimage", create=True)
        assert rtype == ERROR_REPLY
        assert b"nosuchimage" in f[2] and b"cannot be created" in f[2], f
        assert cc.vmc("stop", "termina").returncode == 0
    finally:
        cc.cleanup()


def test_start_container_starts_the_vm_in_one_call():
    cc = Concierge(env={"BISTRO_IMAGE_STORE": str(STORE)}).start()
    try:
        rtype, f, events = start_container(cc, "first", image="busybox", create=True)
        assert rtype == CONTAINER_INFO_RESPONSE, f
        assert (OPERATION_START_VM, "starting the VM") in events
        assert f.get(2) == 1
        assert cc.vmc_json("list")[0]["state"] == "running"
        assert cc.vmc("stop", "termina").returncode == 0
    finally:
        cc.cleanup()

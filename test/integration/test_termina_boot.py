# SPDX-License-Identifier: LGPL-2.1-or-later
"""Booting the Termina image under vmm: maitred's ready call reaches the host over vsock; a damaged
or mismatched root stops stage 1 with a clear FATAL line and a poweroff (never a hang); many boots
in a row without a hang.

Env: BISTRO_ACCEL (CI: tcg), BISTRO_TERMINA_BOOTS (the loop's length, default 15: the hang it
guards against hit 8 boots of 8 without the fix; test/soak/boot-loop-soak.py runs longer loops).
"""

import os
import subprocess

import pytest

from conftest import BOOT_TIMEOUT, Vm, build_dir, have_vsockd
from test_termina_image import IMAGE_FILES, bistro_image, flip_byte, manifest, termina_image_dir

BOOTS = int(os.environ.get("BISTRO_TERMINA_BOOTS", "15"))


def client():
    return build_dir() / "test/tools/maitred-client"


@pytest.fixture(scope="module")
def image():
    if not client().exists():
        pytest.fail(f"{client()} missing: build the tree first")
    if not have_vsockd():
        pytest.skip("no vsockd in this build: the ready call needs vsock")
    return termina_image_dir()


def cmdline(image_dir):
    r = subprocess.run([str(bistro_image()), "verify", "--key", str(image_dir / "signing-key.pub"), "--cmdline",
                        str(image_dir)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


class TerminaVm(Vm):
    """A Vm booting Termina: the root image as the first disk, maitred's ready call on port 7777."""

    def __init__(self, image_dir, append, **kwargs):
        super().__init__((image_dir / "vmlinuz", image_dir / "initramfs.img"), append=append, net=False,
                         mem="512M", extra_args=("--disk", f"ro:{image_dir / 'rootfs.img'}"), **kwargs)
        self.ready = None

    def start(self):
        # The host side of port 7777 must listen before the guest calls.
        self.ready = subprocess.Popen([str(client()), "wait-ready", "--vsock", str(self.vsock_path), "--timeout",
                                       str(int(BOOT_TIMEOUT))], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True)
        return super().start()

    def wait_maitred_ready(self):
        try:
            out, err = self.ready.communicate(timeout=BOOT_TIMEOUT + 10)
        except subprocess.TimeoutExpired:
            self.ready.kill()
            self.ready.communicate()
            raise AssertionError("no ready call (hang?)\n" + self.diagnostics())
        if self.ready.returncode != 0:
            raise AssertionError(f"maitred-client wait-ready failed ({err.strip()})\n" + self.diagnostics())
        return out.strip()

    def call(self, *args, timeout=60):
        return subprocess.run([str(client()), "call", "--vsock", str(self.vsock_path), *args],
                              capture_output=True, text=True, timeout=timeout)

    def wait_exit(self, timeout=BOOT_TIMEOUT):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("the VM did not power off (hang?)\n" + self.diagnostics())

    def cleanup(self):
        if self.ready and self.ready.poll() is None:
            self.ready.kill()
            self.ready.communicate()
        super().cleanup()


@pytest.fixture
def termina_vm():
    vms = []

    def make(image_dir, append):
        v = TerminaVm(image_dir, append)
        vms.append(v)
        return v.start()

    yield make
    for v in vms:
        v.cleanup()


@pytest.fixture
def image_copy(image, tmp_path):
    import shutil
    d = tmp_path / "img"
    d.mkdir()
    for f in IMAGE_FILES:
        shutil.copy(image / f, d / f)
    return d


def boot_to_ready(termina_vm, image_dir):
    vm = termina_vm(image_dir, cmdline(image_dir))
    line = vm.wait_maitred_ready()
    return vm, line


def test_boot_ready(image, termina_vm):
    vm, line = boot_to_ready(termina_vm, image)
    m = manifest(image)
    assert line.startswith("READY ")
    assert f"kernel={m['kernel_release']}" in line
    assert f"image={m['image_version']}" in line
    console = vm.console_text()
    assert "bistro-stage1: root /dev/vda verified" in console
    assert "FATAL" not in console
    r = vm.call("get-kernel-version")
    assert r.returncode == 0 and m["kernel_release"] in r.stdout
    # The root is read-only and verified: a write fails inside the guest.
    r = vm.call("launch", "--wait", "--", "/bin/sh", "-c", "test -s /etc/ssl/certs/ca-certificates.crt")
    assert r.returncode == 0 and "status=exited" in r.stdout and "code=0" in r.stdout, r.stdout + r.stderr
    r = vm.call("launch", "--wait", "--", "/bin/sh", "-c", "touch /usr/x")
    assert r.returncode == 0 and "status=exited" in r.stdout and "code=0" not in r.stdout, r.stdout + r.stderr
    assert vm.call("shutdown").returncode == 0
    assert vm.wait_exit() == 0


def test_damaged_data_block_fails_in_guest(image_copy, termina_vm):
    """A flipped byte: the verifier refuses it; booted anyway, reading that block fails with EIO."""
    m = manifest(image_copy)
    blocks = int(m["verity_data_blocks"])
    block = blocks // 2
    flip_byte(image_copy / "rootfs.img", block * 4096 + 123)
    r = subprocess.run([str(bistro_image()), "verify", "--key", str(image_copy / "signing-key.pub"),
                        str(image_copy)], capture_output=True, text=True)
    assert r.returncode == 1 and "rootfs.img: sha256 mismatch" in r.stderr

    # The old manifest's command line, with stage 1 reading every block before it mounts the root.
    vm = termina_vm(image_copy, cmdline_unverified(m) + " bistro.verity_scrub")
    vm.wait_exit()
    console = vm.console_text()
    assert f"bistro-stage1: FATAL reading the verified root at block {block} failed: Input/output error" in console
    assert f"data block {block} is corrupted" in console  # dm-verity's own message
    assert "maitred" not in console


def cmdline_unverified(m):
    return (f"bistro.roothash={m['verity_root_hash']} bistro.verity_blocks={m['verity_data_blocks']} "
            f"bistro.verity_salt={m['verity_salt']}")


def test_damaged_superblock_stops_boot(image_copy, termina_vm):
    """Without the scrub, the first read of the damaged block (the squashfs superblock) fails."""
    m = manifest(image_copy)
    flip_byte(image_copy / "rootfs.img", 40)
    vm = termina_vm(image_copy, cmdline_unverified(m))
    vm.wait_exit()
    console = vm.console_text()
    assert "bistro-stage1: FATAL mounting the verified root failed" in console
    assert "data block 0 is corrupted" in console


def test_wrong_root_hash_stops_boot(image, termina_vm):
    m = manifest(image)
    bad = dict(m, verity_root_hash="0" * 64)
    vm = termina_vm(image, cmdline_unverified(bad))
    vm.wait_exit()
    assert "bistro-stage1: FATAL" in vm.console_text()
    assert "maitred[1]" not in vm.console_text()


def test_missing_root_hash_stops_boot(image, termina_vm):
    vm = termina_vm(image, "")
    vm.wait_exit()
    assert "bistro-stage1: FATAL bistro.roothash= is missing" in vm.console_text()


def test_many_boots_without_hang(image, termina_vm):
    """BOOTS consecutive boots to maitred's ready call; any hang fails (with its console)."""
    line = cmdline(image)
    times = []
    for i in range(BOOTS):
        vm = TerminaVm(image, line)
        try:
            vm.start()
            vm.wait_maitred_ready()
            times.append(vm.t_start)
            assert vm.call("shutdown").returncode == 0, f"boot {i + 1}: Shutdown failed"
            assert vm.wait_exit() == 0, f"boot {i + 1}: vmm exit status"
        except AssertionError as e:
            raise AssertionError(f"boot {i + 1} of {BOOTS}: {e}")
        finally:
            vm.cleanup()
    assert len(times) == BOOTS

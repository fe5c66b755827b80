# SPDX-License-Identifier: LGPL-2.1-or-later
"""The Termina image as built (no VM): what the root holds, the sizes, and the host-side verifier
(bistro-image verify) refusing tampered images with clear messages.

The image is BISTRO_TERMINA_IMAGE, else <build>/image/termina (meson -Dimages=true builds it),
else it is built there now with image/termina/build.sh (Debian packages are cached, ~1 min).
"""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import REPO, build_dir

IMAGE_FILES = ("vmlinuz", "initramfs.img", "rootfs.img", "manifest", "manifest.sig", "signing-key.pub")


def bistro_image():
    return build_dir() / "src/bistro-image/bistro-image"


def termina_image_dir():
    """The built image directory (building it when missing)."""
    env = os.environ.get("BISTRO_TERMINA_IMAGE")
    if env:
        return Path(env)
    out = build_dir() / "image/termina"
    if (out / "manifest.sig").exists():
        return out
    stage1 = build_dir() / "image/termina/bistro-stage1"
    maitred = build_dir() / "src/maitred/maitred"
    for f in (stage1, bistro_image(), maitred):
        if not f.exists():
            pytest.fail(f"{f} missing: build the tree first (ninja -C {build_dir()})")
    subprocess.run([str(REPO / "image/termina/build.sh"), "--out", str(out), "--stage1", str(stage1),
                    "--bistro-image", str(bistro_image()), "--maitred", str(maitred)], check=True)
    return out


@pytest.fixture(scope="session")
def termina_image():
    return termina_image_dir()


@pytest.fixture
def image_copy(termina_image, tmp_path):
    """A private copy of the image that a test may damage."""
    d = tmp_path / "img"
    d.mkdir()
    for f in IMAGE_FILES:
        shutil.copy(termina_image / f, d / f)
    return d


def verify(image, *extra):
    return subprocess.run([str(bistro_image()), "verify", *extra, str(image)], capture_output=True, text=True)


def verify_with_own_key(image):
    return verify(image, "--key", str(image / "signing-key.pub"))


def flip_byte(path, offset):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0x40]))


def manifest(image):
    return dict(line.split(" ", 1) for line in (image / "manifest").read_text().splitlines())


def test_verifies(termina_image):
    r = verify_with_own_key(termina_image)
    assert r.returncode == 0, r.stderr
    assert ": OK: image " in r.stdout
    m = manifest(termina_image)
    assert m["verity_root_hash"] in r.stdout
    c = verify(termina_image, "--key", str(termina_image / "signing-key.pub"), "--cmdline")
    assert c.stdout.split() == [f"bistro.roothash={m['verity_root_hash']}",
                                f"bistro.verity_blocks={m['verity_data_blocks']}",
                                f"bistro.verity_salt={m['verity_salt']}"]


def test_manifest_matches_files(termina_image):
    import hashlib
    m = manifest(termina_image)
    for key, name in (("vmlinuz_sha256", "vmlinuz"), ("initramfs_sha256", "initramfs.img"),
                      ("rootfs_sha256", "rootfs.img")):
        assert hashlib.sha256((termina_image / name).read_bytes()).hexdigest() == m[key]
    assert int(m["rootfs_size"]) == (termina_image / "rootfs.img").stat().st_size
    kernel_version = (REPO / "image/kernel/VERSION").read_text().split()
    assert m["kernel_package"].split()[0] == kernel_version[0]


@pytest.mark.parametrize("name,offset", [("rootfs.img", None), ("vmlinuz", 4096), ("initramfs.img", 100)])
def test_flipped_byte_refused(image_copy, name, offset):
    path = image_copy / name
    flip_byte(path, path.stat().st_size // 2 if offset is None else offset)
    r = verify_with_own_key(image_copy)
    assert r.returncode == 1
    assert f"{name}: sha256 mismatch" in r.stderr


def test_wrong_signature_refused(image_copy, tmp_path):
    sig = (image_copy / "manifest.sig").read_text().split()
    # Same key id, another signature: flip one hex digit of the signature.
    sig[2] = ("0" if sig[2][0] != "0" else "1") + sig[2][1:]
    (image_copy / "manifest.sig").write_text(" ".join(sig) + "\n")
    r = verify_with_own_key(image_copy)
    assert r.returncode == 1
    assert "manifest: signature does not verify with trusted key" in r.stderr


def test_edited_manifest_refused(image_copy):
    text = (image_copy / "manifest").read_text()
    m = manifest(image_copy)
    text = text.replace(f"image_version {m['image_version']}", "image_version 9.9.9")
    (image_copy / "manifest").write_text(text)
    r = verify_with_own_key(image_copy)
    assert r.returncode == 1
    assert "signature does not verify" in r.stderr


def test_wrong_key_refused(image_copy, tmp_path):
    secret, public = tmp_path / "other.key", tmp_path / "other.pub"
    subprocess.run([str(bistro_image()), "keygen", str(secret), str(public)], check=True, capture_output=True)
    assert (secret.stat().st_mode & 0o777) == 0o600
    r = verify(image_copy, "--key", str(public))
    assert r.returncode == 1
    assert "which is not trusted" in r.stderr
    # An empty trust directory trusts nothing.
    empty = tmp_path / "trust"
    empty.mkdir()
    r = verify(image_copy, "--trust-dir", str(empty))
    assert r.returncode == 1
    assert "no trusted image keys" in r.stderr
    # Re-signed with the other key: verifies only with that key.
    subprocess.run([str(bistro_image()), "sign", "--key", str(secret), str(image_copy / "manifest"),
                    str(image_copy / "manifest.sig")], check=True, capture_output=True)
    assert verify(image_copy, "--key", str(public)).returncode == 0
    assert "which is not trusted" in verify_with_own_key(image_copy).stderr


def test_truncated_manifest_refused(image_copy):
    data = (image_copy / "manifest").read_bytes()
    for cut in (len(data) - 10, data.rindex(b"\n", 0, len(data) - 1) + 1, 0):
        (image_copy / "manifest").write_bytes(data[:cut])
        r = verify_with_own_key(image_copy)
        assert r.returncode == 1
        assert "manifest: truncated" in r.stderr, r.stderr


def test_truncated_rootfs_refused(image_copy):
    path = image_copy / "rootfs.img"
    os.truncate(path, path.stat().st_size - 4096)
    r = verify_with_own_key(image_copy)
    assert r.returncode == 1
    assert "rootfs.img: size" in r.stderr and "manifest says" in r.stderr


def test_default_trust_dir(image_copy, tmp_path):
    env = dict(os.environ, XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    r = subprocess.run([str(bistro_image()), "verify", str(image_copy)], capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "no trusted image keys" in r.stderr
    trust = tmp_path / "cfg/bistro/trusted-image-keys"
    trust.mkdir(parents=True)
    shutil.copy(image_copy / "signing-key.pub", trust / "dev.pub")
    r = subprocess.run([str(bistro_image()), "verify", str(image_copy)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr


def root_listing(image):
    if not shutil.which("unsquashfs"):
        pytest.skip("unsquashfs missing (Debian package squashfs-tools)")
    r = subprocess.run(["unsquashfs", "-lls", "-d", "", str(image / "rootfs.img")], capture_output=True,
                       text=True, check=True)
    entries = {}
    for line in r.stdout.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and parts[0][0] in "-dl":
            name = parts[5]
            target = None
            if " -> " in name:
                name, target = name.split(" -> ", 1)
            entries[name] = (parts[0][0], target)
    return entries


def test_root_contents(termina_image):
    root = root_listing(termina_image)
    for path in ("/usr/sbin/maitred", "/usr/lib/x86_64-linux-gnu/liblxc.so.1", "/usr/bin/lxc-start",
                 "/usr/bin/lxc-attach", "/usr/bin/btrfs", "/usr/sbin/mkfs.btrfs", "/usr/sbin/mkfs.ext4",
                 "/usr/sbin/nft", "/usr/lib/openssh/sftp-server", "/usr/bin/sshfs",
                 "/etc/ssl/certs/ca-certificates.crt", "/etc/bistro/image-version", "/opt/bistro",
                 "/usr/share/zoneinfo/UTC", "/usr/lib/x86_64-linux-gnu/libc.so.6",
                 # the waypipe bundle (image/waypipe/), for sommelier in every container
                 "/opt/bistro/lib/waypipe/waypipe", "/opt/bistro/lib/waypipe/ld-linux-x86-64.so.2",
                 "/opt/bistro/lib/waypipe/libc.so.6", "/opt/bistro/lib/waypipe/libavcodec.so.59"):
        assert path in root, f"{path} missing from the root"
    assert root["/usr/sbin/init"] == ("l", "maitred")
    assert root["/sbin"] == ("l", "usr/sbin")
    assert root["/etc/localtime"] == ("l", "/run/bistro/localtime")
    for banned in ("/usr/share/doc", "/usr/share/man", "/usr/share/locale", "/usr/bin/apt", "/usr/bin/dpkg",
                   "/usr/bin/perl", "/var/lib/dpkg"):
        assert banned not in root, f"{banned} should not be in the root"
    modules = [p for p in root if p.startswith("/usr/lib/modules/") and p.endswith("/modules.dep")]
    assert modules, "no modules.dep in the root"
    assert any(p.endswith("/btrfs.ko") for p in root)


def test_sizes(termina_image):
    sizes = dict((k, int(v)) for k, v in (l.split() for l in (termina_image / "sizes").read_text().splitlines()))
    total = sizes["vmlinuz"] + sizes["initramfs.img"] + sizes["rootfs.img"]
    assert total == sizes["total"]
    print(f"termina image: {total / 1048576:.1f} MiB "
          f"(kernel {sizes['vmlinuz'] / 1048576:.1f}, initramfs {sizes['initramfs.img'] / 1048576:.1f}, "
          f"root {sizes['rootfs.img'] / 1048576:.1f})")
    # The aim is 40 MiB; a root that doubles means a pruning rule broke.
    assert total <= 48 << 20


def test_rebuild_is_cached_and_offline(tmp_path):
    """Building twice with the same inputs: the second run does nothing. Both runs go through a dead
    proxy, so this also shows the build works offline once the .debs are cached."""
    stage1 = build_dir() / "image/termina/bistro-stage1"
    out = tmp_path / "termina"
    args = [str(REPO / "image/termina/build.sh"), "--out", str(out), "--stage1", str(stage1),
            "--bistro-image", str(bistro_image()), "--maitred", str(build_dir() / "src/maitred/maitred")]
    env = dict(os.environ, http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    first = subprocess.run(args, capture_output=True, text=True, env=env)
    if first.returncode != 0 and "download" in first.stderr:
        pytest.skip("the .deb cache is not complete yet (first build needs the Debian mirror)")
    assert first.returncode == 0, first.stderr[-2000:]
    assert "[9/9] manifest" in first.stderr  # progress is shown
    before = (out / "manifest").read_bytes()
    second = subprocess.run(args, capture_output=True, text=True, env=env)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "up to date" in second.stderr
    assert (out / "manifest").read_bytes() == before
    assert verify_with_own_key(out).returncode == 0


def test_busybox_container_image(tmp_path):
    """The tiny container image: tarball + metadata whose size and sha256 match; rebuild is cached."""
    import hashlib
    import json
    store = tmp_path / "store"
    script = REPO / "image/containers/build-busybox.sh"
    r = subprocess.run([str(script), str(store)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    meta = json.loads((store / "busybox.json").read_text())
    tarball = store / "busybox.tar.zst"
    assert meta["name"] == "busybox" and meta["distro"] == "busybox" and meta["arch"]
    assert meta["size"] == tarball.stat().st_size
    assert meta["sha256"] == hashlib.sha256(tarball.read_bytes()).hexdigest()
    listing = subprocess.run(["tar", "--zstd", "-tvf", str(tarball)], capture_output=True, text=True, check=True)
    names = {line.split()[5] for line in listing.stdout.splitlines()}
    for p in ("./bin/busybox", "./bin/sh", "./sbin/init", "./etc/passwd", "./etc/os-release"):
        assert p in names, f"{p} missing from the busybox image"
    assert all(" 0/0 " in line for line in listing.stdout.splitlines())
    again = subprocess.run([str(script), str(store)], capture_output=True, text=True)
    assert again.returncode == 0 and "up to date" in again.stderr
    # A damaged tarball is noticed (the metadata no longer matches) and rebuilt.
    flip_byte(tarball, 100)
    again = subprocess.run([str(script), str(store)], capture_output=True, text=True)
    assert again.returncode == 0 and "up to date" not in again.stderr
    assert json.loads((store / "busybox.json").read_text())["sha256"] == \
        hashlib.sha256(tarball.read_bytes()).hexdigest()


def test_debian_container_image():
    """The debian image, when the store has one (the suite never rebuilds it: debootstrap takes
    minutes; image/containers/build-debian.sh makes it)."""
    import hashlib
    import json
    store = Path(os.environ.get("BISTRO_IMAGE_STORE") or
                 Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local/share")) / "bistro/images/containers")
    meta_path, tarball = store / "debian.json", store / "debian.tar.zst"
    if not meta_path.exists():
        pytest.skip(f"no debian image in {store} (build it with image/containers/build-debian.sh)")
    meta = json.loads(meta_path.read_text())
    assert (meta["name"], meta["distro"], meta["release"]) == ("debian", "debian", "12")
    assert meta["size"] == tarball.stat().st_size
    h = hashlib.sha256()
    with open(tarball, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    assert meta["sha256"] == h.hexdigest()
    names = set(subprocess.run(["tar", "--zstd", "-tf", str(tarball)], capture_output=True, text=True,
                               check=True).stdout.split())
    for p in ("./usr/bin/bash", "./usr/bin/sudo", "./usr/bin/apt", "./usr/bin/less", "./usr/bin/ps",
              "./usr/bin/ip", "./etc/ssl/certs/ca-certificates.crt", "./usr/lib/locale/locale-archive",
              # for the GUI tests: a Wayland app and its font, the clipboard tools, wayland-info
              "./usr/bin/foot", "./usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", "./usr/bin/wl-copy",
              "./usr/bin/wl-paste", "./usr/bin/wayland-info"):
        assert p in names, f"{p} missing from the debian image"

# SPDX-License-Identifier: LGPL-2.1-or-later
"""Containers end to end (docs/design/containers.md): the real vmc and a private concierge, the real
Termina image under TCG, tremplin in the VM, images from the real host store (BISTRO_IMAGE_STORE).

Inside a container, checks run through lxc-attach launched by maitred (exit codes only: maitred
returns no output). A small static probe, compiled here and added to a copy of the busybox image
(imported as a .tar.gz file, which also tests "any rootfs tarball"), checks vsock isolation and id
separation.

Env: BISTRO_BUILD_DIR, BISTRO_ACCEL (default tcg), BISTRO_IMAGE_STORE (default
~/.local/share/bistro/images/containers).
"""

import gzip
import io
import os
import shlex
import shutil
import subprocess
import tarfile
import time

import pytest

from concierge_helpers import require_built, image_store, Concierge, build_dir, image_dir

STORE = image_store()
LXC = "/mnt/stateful/lxc"
GUEST_CID = 3  # src/vmm/vmm.c
ID_BASE, ID_COUNT = 100000, 65536

PROBE_C = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

/* probe vsock CID PORT: 2 connect failed, 3 connected but no answer, 0 answered.
 * probe owner PATH UID: 0 when PATH is owned by UID.
 * probe readas UID PATH: 0 when UID (and gid UID) can open PATH for reading, 1 otherwise. */
int main(int argc, char **argv) {
        if (argc == 4 && strcmp(argv[1], "vsock") == 0) {
                struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = atoi(argv[2]),
                                          .svm_port = atoi(argv[3]) };
                struct timeval tv = { .tv_sec = 5 };
                /* maitred GET_KERNEL_VERSION_REQUEST (206), id 1, flags REQUEST, empty payload. */
                uint8_t h[24] = { 0x42, 0x49, 0x53, 0x01, 206, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
                char buf[64];
                int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

                if (fd < 0 || connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                        return 2;
                (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
                if (write(fd, h, sizeof(h)) != sizeof(h))
                        return 3;
                return read(fd, buf, sizeof(buf)) > 0 ? 0 : 3;
        }
        if (argc == 4 && strcmp(argv[1], "owner") == 0) {
                struct stat st;

                return lstat(argv[2], &st) == 0 && st.st_uid == (uid_t) atol(argv[3]) ? 0 : 1;
        }
        if (argc == 4 && strcmp(argv[1], "readas") == 0) {
                uid_t u = (uid_t) atol(argv[2]);

                if (setgroups(0, NULL) < 0 || setgid(u) < 0 || setuid(u) < 0)
                        return 4;
                return open(argv[3], O_RDONLY) >= 0 ? 0 : 1;
        }
        return 64;
}
"""


@pytest.fixture(scope="module")
def probe_image(tmp_path_factory):
    """busybox.tar.zst + /probe, as a .tar.gz file."""
    src = STORE / "busybox.tar.zst"
    if not src.exists():
        pytest.skip(f"no busybox image in {STORE} (image/containers/build-busybox.sh makes it)")
    cc = shutil.which("cc")
    if not cc:
        pytest.skip("no C compiler for the in-container probe")
    d = tmp_path_factory.mktemp("probe")
    (d / "probe.c").write_text(PROBE_C)
    subprocess.run([cc, "-static", "-O1", "-o", str(d / "probe"), str(d / "probe.c")], check=True)
    tar_bytes = subprocess.run(["zstd", "-dc", str(src)], check=True, capture_output=True).stdout
    out = d / "busybox-probe.tar.gz"
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tin, gzip.open(out, "wb") as gz, \
            tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tout:
        for m in tin.getmembers():
            tout.addfile(m, tin.extractfile(m) if m.isfile() else None)
        info = tarfile.TarInfo("probe")
        info.size = (d / "probe").stat().st_size
        info.mode = 0o755
        with open(d / "probe", "rb") as f:
            tout.addfile(info, f)
    return out


@pytest.fixture(scope="module")
def cc():
    require_built("src/concierge/concierge", "src/vmc/vmc", "src/tremplin/tremplin", "test/tools/maitred-client")
    if not (STORE / "busybox.tar.zst").exists():
        pytest.skip(f"no busybox image in {STORE} (image/containers/build-busybox.sh makes it)")
    c = Concierge(env={"BISTRO_IMAGE_STORE": str(STORE)}).start()
    r = c.vmc("start", "termina")
    assert r.returncode == 0, r.stderr + c.diagnostics()
    yield c
    c.cleanup()
    assert not c.alive(), "processes left behind"


def vmc_ok(cc, *args):
    r = cc.vmc(*args)
    assert r.returncode == 0, f"vmc {' '.join(args)}: {r.stderr}\n" + cc.diagnostics()
    return r


def containers(cc):
    return {c["name"]: c for c in cc.vmc_json("container-list", "termina")}


def attach(cc, name, script):
    """Exit code of script run by /bin/sh in container name (as its root)."""
    return cc.guest_sh("termina", f"/usr/bin/lxc-attach -n {name} -P {LXC} -- /bin/sh -c {shlex.quote(script)}")


def id_base(cc, name):
    """The first VM uid of the container, from /proc/self/uid_map inside it: ids below the default
    user's 1000 (which is the VM's 1000, docs/design/containers.md "Ids and shares") are shifted."""
    for slot in range(1, 17):
        base = ID_BASE + ID_COUNT * (slot - 1)
        if attach(cc, name, f'read a b c < /proc/self/uid_map; test "$a $b $c" = "0 {base} 1000"') == 0:
            return base
    return None


def test_lifecycle_busybox(cc):
    r = vmc_ok(cc, "container", "termina", "bb", "--image", "busybox")
    # Not a terminal: plain progress lines, ending at 100%.
    assert "unpacking:" in r.stderr and "100%" in r.stderr, r.stderr
    assert "Container 'bb' is running" in r.stdout and "IPv4: 10.0.3." in r.stdout, r.stdout

    info = containers(cc)["bb"]
    assert info["vm_name"] == "termina" and info["state"] == "running" and info["image"] == "busybox"
    assert info["ipv4_address"].startswith("10.0.3.") and info["ipv6_address"].startswith("fd42:b157:3::")
    assert "bb" in vmc_ok(cc, "container-list", "-q").stdout.split()  # VM defaults to termina
    assert "bb" in vmc_ok(cc, "container-list").stdout

    # Starting a running container again changes nothing; delete is refused while it runs.
    r = vmc_ok(cc, "container", "termina", "bb")
    assert "Creating" not in r.stderr
    r = cc.vmc("container-delete", "termina", "bb", "--yes")
    assert r.returncode == 1 and "running" in r.stderr, r.stderr
    assert attach(cc, "bb", "true") == 0
    # Its address and the bridge (tremplin-network.c's side of the config).
    ip = info["ipv4_address"]
    assert attach(cc, "bb", f"ip -4 addr show eth0 | grep -q 'inet {ip}/24'") == 0
    assert attach(cc, "bb", "ping -c 1 -W 5 10.0.3.1 > /dev/null") == 0

    vmc_ok(cc, "container-stop", "termina", "bb")
    info = containers(cc)["bb"]
    assert info["state"] == "stopped" and info["ipv4_address"] == ""
    r = cc.vmc("container-delete", "termina", "bb")  # no terminal, no --yes
    assert r.returncode == 1 and "--yes" in r.stderr
    vmc_ok(cc, "container-delete", "termina", "bb", "--yes")
    assert "bb" not in containers(cc)
    assert cc.guest_sh("termina", f"test -e {LXC}/bb || test -e {LXC}/.del-bb") == 1


# Bistro's waypipe bundle (docs/design/sommelier.md, "The waypipe bundle"), run as sommelier runs it.
WAYPIPE_DIR = "/opt/bistro/lib/waypipe"
WAYPIPE = f"{WAYPIPE_DIR}/ld-linux-x86-64.so.2 --library-path {WAYPIPE_DIR} {WAYPIPE_DIR}/waypipe"
# Shell builtins only: Termina has dash but no coreutils or grep.
WAYPIPE_IS_084 = f'{WAYPIPE} --version | {{ read -r l; test "$l" = "waypipe 0.8.4"; }}'


def test_waypipe_bundle_in_termina_and_busybox(cc):
    """The bundle runs in Termina and in a container with no libc of its own, read-only there."""
    assert cc.guest_sh("termina", WAYPIPE_IS_084) == 0
    vmc_ok(cc, "container", "termina", "wpbb", "--image", "busybox")
    assert attach(cc, "wpbb", "test ! -e /lib/libc.so.6 && test ! -e /lib/x86_64-linux-gnu/libc.so.6") == 0
    assert attach(cc, "wpbb", WAYPIPE_IS_084) == 0
    assert attach(cc, "wpbb", f"! touch {WAYPIPE_DIR}/x 2>/dev/null") == 0
    # The server end starts, makes the display socket and runs its child on the container's own
    # binaries (busybox's sleep); it exits with the child.
    script = (f"mkdir -p /tmp/wp && chmod 700 /tmp/wp && "
              f"XDG_RUNTIME_DIR=/tmp/wp {WAYPIPE} -n -s /tmp/wp/up.sock --display wayland-t server -- sleep 4 "
              f"& i=0; while [ ! -S /tmp/wp/wayland-t ] && [ $i -lt 10 ]; do sleep 1; i=$((i+1)); done; "
              f"test -S /tmp/wp/wayland-t && wait $!")
    assert attach(cc, "wpbb", script) == 0
    vmc_ok(cc, "container-stop", "termina", "wpbb")
    vmc_ok(cc, "container-delete", "termina", "wpbb", "--yes")


def test_bad_images(cc, tmp_path):
    r = cc.vmc("container", "termina", "nope", "--image", "no-such-image")
    assert r.returncode == 1 and "no image 'no-such-image'" in r.stderr, r.stderr
    r = cc.vmc("container", "termina", "nope", "--image", str(tmp_path / "missing.tar"))
    assert r.returncode == 1 and "missing.tar" in r.stderr, r.stderr
    # Not a tarball: refused by the extractor, nothing left behind.
    junk = tmp_path / "junk.tar"
    junk.write_bytes(os.urandom(8192))
    r = cc.vmc("container", "termina", "nope", "--image", str(junk))
    assert r.returncode == 1 and r.stderr, r.stderr
    # A truncated gzip: the decompressor fails.
    gz = tmp_path / "trunc.tar.gz"
    gz.write_bytes(gzip.compress(b"x" * 100000)[:200])
    r = cc.vmc("container", "termina", "nope", "--image", str(gz))
    assert r.returncode == 1 and r.stderr, r.stderr
    assert "nope" not in containers(cc)
    # tremplin's worker cleans up when the host hangs up, which may be just after vmc's answer.
    for _ in range(50):
        if cc.guest_sh("termina", f"test -e {LXC}/nope || test -e {LXC}/.new-nope") == 1:
            break
        time.sleep(0.2)
    else:
        raise AssertionError("a failed create left its directory behind")
    r = cc.vmc("container", "termina", "-bad", "--image", "busybox")
    assert r.returncode == 2
    r = cc.vmc("container-stop", "termina", "nope")
    assert r.returncode == 1 and "no container 'nope'" in r.stderr, r.stderr


def test_isolation(cc, probe_image):
    for name in ("p1", "p2"):
        r = vmc_ok(cc, "container", "termina", name, "--image", str(probe_image))
        assert "Container" in r.stdout
    info = containers(cc)
    assert info["p1"]["image"] == "busybox-probe" and info["p1"]["ipv4_address"] != info["p2"]["ipv4_address"]

    # Root in a container is not root in the VM, and two containers have different id ranges.
    b1, b2 = id_base(cc, "p1"), id_base(cc, "p2")
    assert b1 and b2 and b1 != b2, (b1, b2)
    assert attach(cc, "p1", 'read a b c < /proc/self/uid_map; test "$a $b $c" = "0 0 4294967295"') == 1
    # The rootfs is owned by the container's ids in the VM.
    assert cc.guest_sh("termina", f"{LXC}/p1/rootfs/probe owner {LXC}/p1/rootfs/bin/busybox {b1}") == 0
    # A private file of p1's root: p1's root can read it, p2's root cannot, even given the path.
    assert attach(cc, "p1", "echo secret > /root/secret && chmod 600 /root/secret") == 0
    secret = f"{LXC}/p1/rootfs/root/secret"
    assert cc.guest_sh("termina", f"{LXC}/p1/rootfs/probe owner {secret} {b1}") == 0
    assert cc.guest_sh("termina", f"{LXC}/p1/rootfs/probe readas {b1} {secret}") == 0
    assert cc.guest_sh("termina", f"{LXC}/p1/rootfs/probe readas {b2} {secret}") == 1
    assert attach(cc, "p2", "test ! -e /root/secret") == 0

    # The token: read-only in the container, the same as the VM's copy, different per container.
    assert attach(cc, "p1", "test -s /dev/.container_token && ! echo x >> /dev/.container_token") == 0
    for name in ("p1", "p2"):
        assert attach(cc, name, "cat /dev/.container_token > /root/token") == 0
        assert cc.guest_sh("termina", f'read a < {LXC}/{name}/rootfs/root/token; read b < /run/bistro/tokens/{name}; '
                                      f'test "$a" = "$b" && test ${{#a}} -ge 16') == 0
    assert cc.guest_sh("termina", 'read a < /run/bistro/tokens/p1; read b < /run/bistro/tokens/p2; '
                                  'test "$a" != "$b"') == 0

    # /opt/bistro: there, read-only.
    assert attach(cc, "p1", "test -x /opt/bistro/bin/bistro-init && ! touch /opt/bistro/x") == 0
    assert attach(cc, "p1", "test ! -e /opt/bistro/x") == 0

    # The container is in its own cgroup (seen from the VM).
    assert cc.guest_sh("termina", 'for f in /proc/[0-9]*/cgroup; do read l < $f; case $l in *lxc.payload.p1*) '
                                  'exit 0;; esac; done; exit 1') == 0

    # vsock: maitred, tremplin and vshd refuse a container, through loopback (CID 1) or the VM's CID.
    # Termina does not load vsock_loopback, so such a connect fails at once (2); with the module
    # loaded it would connect and be refused by the peer check (3). An answer (0) is a failure.
    loopback = cc.guest_sh("termina", "test -d /sys/module/vsock_loopback") == 0
    for cid in (1, GUEST_CID):
        for port in (8888, 8890, 9001):
            code = attach(cc, "p1", f"/probe vsock {cid} {port}")
            assert code in ((2, 3) if loopback else (2,)), f"container and CID {cid} port {port}: probe {code}"
    # The same from the VM itself (not the host): connected or not, never answered.
    assert cc.guest_sh("termina", f"{LXC}/p1/rootfs/probe vsock 1 8888") in (2, 3)

    for name in ("p1", "p2"):
        vmc_ok(cc, "container-stop", "termina", name, "--force")
        vmc_ok(cc, "container-delete", "termina", name, "--yes")


def test_survives_vm_restart(cc):
    vmc_ok(cc, "container", "termina", "keep", "--image", "busybox")
    # Written in the container, no sync: the VM's shutdown must get it to the disk.
    assert attach(cc, "keep", "echo persisted > /root/file") == 0
    vmc_ok(cc, "stop", "termina")
    assert cc.vm_info("termina")["state"] == "stopped"
    r = cc.vmc("container-list", "termina")
    assert r.returncode == 1 and "VM 'termina' is not running" in r.stderr, r.stderr
    # Starting the container starts the VM.
    r = vmc_ok(cc, "container", "termina", "keep")
    assert "Creating" not in r.stderr
    assert containers(cc)["keep"]["state"] == "running"
    assert attach(cc, "keep", 'read x < /root/file && test "$x" = persisted') == 0
    vmc_ok(cc, "container-stop", "termina", "keep")
    vmc_ok(cc, "container-delete", "termina", "keep", "--yes")


def test_debian(cc):
    if not (STORE / "debian.tar.zst").exists():
        pytest.skip(f"no debian image in {STORE} (image/containers/build-debian.sh makes it)")
    # The default image; tremplin keeps answering while it unpacks 160 MiB.
    p = subprocess.Popen([str(cc.vmc_path), "container", "termina", "deb"], env=cc.env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    answered_during = 0
    while p.poll() is None:
        listed = cc.vmc("container-list", "termina", "-q")
        if p.poll() is None:
            assert listed.returncode == 0, listed.stderr
            answered_during += 1
        time.sleep(0.5)
    out, err = p.communicate()
    assert p.returncode == 0, err + cc.diagnostics()
    assert "100%" in err and answered_during > 0
    info = containers(cc)["deb"]
    assert info["image"] == "debian" and info["state"] == "running"
    assert attach(cc, "deb", "test -f /etc/debian_version") == 0
    # The debian image runs systemd as PID 1 (penguin is a real Debian system), and a clean stop
    # works through it (SIGRTMIN+3).
    assert attach(cc, "deb", 'read c < /proc/1/comm; test "$c" = systemd') == 0
    vmc_ok(cc, "container-stop", "termina", "deb")
    assert containers(cc)["deb"]["state"] == "stopped"
    vmc_ok(cc, "container-delete", "termina", "deb", "--yes")


def test_create_interrupted(cc):
    """The VM dies in the middle of a create: the next tremplin removes the partial container."""
    if not (STORE / "debian.tar.zst").exists():
        pytest.skip(f"no debian image in {STORE} (image/containers/build-debian.sh makes it)")
    if cc.vm_info("termina")["state"] != "running":
        vmc_ok(cc, "start", "termina")
    p = subprocess.Popen([str(cc.vmc_path), "container", "termina", "half", "--image", "debian"], env=cc.env,
                         text=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seen = []
    for line in p.stderr:
        seen.append(line)
        if line.startswith("unpacking: ") and not line.startswith("unpacking: 0%"):
            break
    assert any(x.startswith("unpacking: 1") for x in seen), "".join(seen)
    assert cc.guest_sh("termina", f"test -d {LXC}/.new-half") == 0
    vmc_ok(cc, "stop", "termina", "--force")
    assert p.wait(timeout=120) == 1
    vmc_ok(cc, "start", "termina")
    assert "half" not in containers(cc)  # tremplin answers: its startup cleanup ran
    assert cc.guest_sh("termina", f"test -e {LXC}/.new-half || test -e {LXC}/half") == 1

# SPDX-License-Identifier: LGPL-2.1-or-later
"""ConfigureNetwork: maitred configures eth0 through rtnetlink on the real Termina image (TCG in CI),
driven by test/tools/maitred-client, and concierge does it for every VM it starts.

Guest 10.0.2.15/24, gateway 10.0.2.2, DNS 10.0.2.3; IPv6 fec0::/64 via fec0::2: the addresses
concierge's VMs get from slirpd (vmm --net slirpd, docs/design/network.md); the maitred-level tests
here boot through vmm with QEMU's user network, which uses the same ones. Guest-side checks use dash builtins only (Termina has no coreutils).
"""

import subprocess
import time

import pytest

from concierge_helpers import require_built, Concierge, image_dir
from concierge_helpers import build_dir as cc_build_dir
from test_maitred import MaitredVm, check_binaries, termina_guest

RESOLV = "/run/resolv.conf"

# /proc/net/route prints addresses as the kernel's u32 in host (little-endian) order.
SH_DEFAULT_ROUTE = ("while read -r i d g rest; do [ \"$i\" = eth0 ] && [ \"$d\" = 00000000 ] && "
                    "[ \"$g\" = 0202000A ] && exit 0; done < /proc/net/route; exit 1")
SH_OPER_UP = "read -r s < /sys/class/net/eth0/operstate && [ \"$s\" = up ]"
SH_NAMESERVER = (f"while read -r k v; do [ \"$k\" = nameserver ] && [ \"$v\" = 10.0.2.3 ] && exit 0; "
                 f"done < {RESOLV}; exit 1")
SH_IPV4_ADDR = ("while read -r i d g f rc u m mask rest; do [ \"$i\" = eth0 ] && [ \"$d\" = 0002000A ] && "
                "[ \"$mask\" = 00FFFFFF ] && exit 0; done < /proc/net/route; exit 1")
SH_HAS_IPV6 = "[ -e /proc/net/if_inet6 ]"
SH_IPV6_ADDR = ("while read -r a idx p rest; do [ \"$a\" = fec00000000000000000000000000015 ] && "
                "[ \"$p\" = 40 ] && exit 0; done < /proc/net/if_inet6; exit 1")
SH_IPV6_DEFAULT = ("while read -r d dl s sl gw rest; do [ \"$d\" = 00000000000000000000000000000000 ] && "
                   "[ \"$dl\" = 00 ] && [ \"$gw\" = fec00000000000000000000000000002 ] && exit 0; "
                   "done < /proc/net/ipv6_route; exit 1")

ARGS_V4 = ["configure-network", "10.0.2.15/24", "--gateway", "10.0.2.2", "--nameserver", "10.0.2.3"]
ARGS_V6 = ["--ipv6", "fec0::15/64", "--gateway6", "fec0::2"]


@pytest.fixture(scope="module")
def termina():
    check_binaries()
    return termina_guest()


def boot(guest, net):
    v = MaitredVm(guest, net=net)
    v.start()
    try:
        v.wait_ready()
    except BaseException:
        v.cleanup()
        raise
    return v


def test_configure_network_through_maitred(termina):
    v = boot(termina, True)
    try:
        ipv6 = v.sh_true(SH_HAS_IPV6)
        p = v.call(*ARGS_V4, *ARGS_V6, "--hostname", "penne")
        if ipv6:
            assert p.returncode == 0, p.stderr + v.vm.diagnostics()
        else:
            # A kernel without IPv6: maitred answers an error after configuring IPv4.
            assert p.returncode == 1 and "IPv6" in p.stderr, p.stderr
        assert v.sh_true(SH_DEFAULT_ROUTE), "no default route via 10.0.2.2 on eth0\n" + v.console()
        assert v.sh_true(SH_IPV4_ADDR), "no 10.0.2.0/24 route on eth0"
        assert v.poll_sh(SH_OPER_UP), "eth0 is not up"
        assert v.sh_true(SH_NAMESERVER), f"{RESOLV} lacks nameserver 10.0.2.3"
        assert v.sh_true("read -r h < /proc/sys/kernel/hostname && [ \"$h\" = penne ]")
        if ipv6:
            assert v.sh_true(SH_IPV6_ADDR), "no fec0::15/64 on eth0"
            assert v.sh_true(SH_IPV6_DEFAULT), "no IPv6 default route via fec0::2"
        # Idempotent: concierge may send it again (its IPv4-only retry does).
        v.ok(*ARGS_V4)
        assert v.sh_true(SH_DEFAULT_ROUTE)
    finally:
        v.cleanup()


def test_configure_network_without_nic_is_an_error(termina):
    """No eth0: an ErrorReply, and PID 1 keeps serving."""
    v = boot(termina, False)
    try:
        p = v.call(*ARGS_V4)
        assert p.returncode == 1 and "eth0" in p.stderr, p.stderr
        assert "release=" in v.ok("get-kernel-version")
    finally:
        v.cleanup()


@pytest.mark.parametrize("args", [["10.0.2.15/0"], ["10.0.2.15"], ["10.0.2.15/24", "--ipv6", "fec0::15/129"],
                                  ["10.0.2.15/24", "--hostname", "a.b"]])
def test_invalid_request_refused_by_client(args):
    """The validator's limits hold in the client before anything is sent: no VM needed."""
    r = subprocess.run([str(cc_build_dir() / "test/tools/maitred-client"), "call", "--vsock", "/nonexistent",
                        "configure-network", *args], capture_output=True, text=True)
    assert r.returncode == 2, r.stderr


def test_concierge_vm_has_network():
    require_built("src/concierge/concierge", "src/vmc/vmc", "test/tools/maitred-client")
    cc = Concierge().start()
    try:
        r = cc.vmc("start", "net1", "--disk-size", "1G")
        assert r.returncode == 0, f"start: {r.stderr}\n" + cc.diagnostics()
        cc.guest_ok("net1", SH_DEFAULT_ROUTE)
        cc.guest_ok("net1", SH_IPV4_ADDR)
        cc.guest_ok("net1", SH_NAMESERVER)
        # operstate follows the carrier, which the kernel reports shortly after the link goes up.
        deadline = time.monotonic() + 60
        while cc.guest_sh("net1", SH_OPER_UP) != 0:
            assert time.monotonic() < deadline, "eth0 is not up"
            time.sleep(0.5)
        if cc.guest_sh("net1", SH_HAS_IPV6) == 0:
            cc.guest_ok("net1", SH_IPV6_ADDR)
        assert cc.vmc("stop", "net1").returncode == 0
    finally:
        cc.cleanup()
    assert not cc.alive(), "processes left behind"

# SPDX-License-Identifier: LGPL-2.1-or-later
"""bistro-image's exit statuses: 0 ok, 1 refused or failed, 2 usage (README)."""

import subprocess

import pytest

from conftest import build_dir


def bistro_image():
    return build_dir() / "src/bistro-image/bistro-image"


def run(*args, **kw):
    return subprocess.run([str(bistro_image()), *args], capture_output=True, text=True, timeout=30, **kw)


@pytest.mark.parametrize("args", [
    [],
    ["bogus"],
    ["keygen", "only-one"],
    ["pubkey"],
    ["sign", "FILE", "SIG"],
    ["sign", "--nokey", "K", "FILE", "SIG"],
    ["verify"],
    ["verify", "--bogus", "dir"],
    ["verify", "a", "b"],
    ["info"],
])
def test_bad_usage_exits_2(args):
    p = run(*args)
    assert p.returncode == 2, p.stderr
    # "prog: message", no pid (cli_setup)
    assert "bistro-image[" not in p.stderr


def test_failures_exit_1(tmp_path):
    p = run("info", str(tmp_path / "missing"))
    assert p.returncode == 1
    assert p.stderr.startswith("bistro-image: ") and "No such file" in p.stderr
    p = run("verify", "--trust-dir", str(tmp_path), str(tmp_path))
    assert p.returncode == 1 and "refused" in p.stderr


def test_keygen_sign_verify_round_trip(tmp_path):
    sk, pk = tmp_path / "k.secret", tmp_path / "k.pub"
    assert run("keygen", str(sk), str(pk)).returncode == 0
    assert run("pubkey", str(sk)).stdout == pk.read_text()
    (tmp_path / "f").write_text("data\n")
    assert run("sign", "--key", str(sk), str(tmp_path / "f"), str(tmp_path / "f.sig")).returncode == 0
    assert run("--help").returncode == 0

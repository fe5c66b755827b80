#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Hostile seed tarballs for fuzz-tar-extract: traversal, symlink escapes, truncation, bad
checksums, huge sizes, bad pax records. Usage: gen-hostile.py OUTDIR"""
import io
import os
import sys
import tarfile

out = sys.argv[1]


def member(name, type=tarfile.REGTYPE, data=b"", **kw):
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.size = len(data) if type == tarfile.REGTYPE else 0
    ti.mtime = 1700000000
    for k, v in kw.items():
        setattr(ti, k, v)
    return ti, (io.BytesIO(data) if type == tarfile.REGTYPE else None)


def write(name, members, fmt=tarfile.GNU_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for ti, f in members:
            t.addfile(ti, f)
    data = buf.getvalue()
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    return data


def raw(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


write("hostile-dotdot.tar", [member("../escape", data=b"x"), member("a/../../escape", data=b"x")])
write("hostile-symlink-root.tar", [member("a", tarfile.SYMTYPE, linkname="/"), member("a/etc/x", data=b"in root")])
write("hostile-symlink-up.tar", [member("up", tarfile.SYMTYPE, linkname="../../../../.."), member("up/tmp/x", data=b"x")])
write("hostile-symlink-replace.tar", [member("v", tarfile.SYMTYPE, linkname="/tmp/victim"), member("v", data=b"replaced")])
write("hostile-hardlink-out.tar", [member("h", tarfile.LNKTYPE, linkname="../../etc/passwd"), member("h2", tarfile.LNKTYPE, linkname="/etc/passwd")])
write("hostile-dir-over-symlink.tar", [member("d", tarfile.SYMTYPE, linkname="/tmp"), member("d", tarfile.DIRTYPE, mode=0o700), member("d/f", data=b"x")])
write("hostile-empty-name.tar", [member("./", data=b"x")])
write("hostile-big-uid.tar", [member("f", data=b"x", uid=70000, gid=0)])
write("hostile-pax-path.tar", [member("x" * 150 + "/../../escape", data=b"x")], tarfile.PAX_FORMAT)
write("hostile-pax-xattr.tar", [member("f", data=b"x", pax_headers={"SCHILY.xattr.user.a": "b", "SCHILY.xattr.security.capability": "c", "SCHILY.xattr.trusted.t": "d"})], tarfile.PAX_FORMAT)
write("hostile-devices.tar", [member("dev/null", tarfile.CHRTYPE, devmajor=1, devminor=3), member("dev/sda", tarfile.BLKTYPE, devmajor=8), member("run/fifo", tarfile.FIFOTYPE)])
good = write("good-small.tar", [member("etc/", tarfile.DIRTYPE, mode=0o755), member("etc/hostname", data=b"penguin\n"), member("etc/ro/", tarfile.DIRTYPE, mode=0o500), member("etc/ro/f", data=b"ro" * 700)])

raw("hostile-truncated-data.tar", good[:512 * 3 + 100])
raw("hostile-truncated-header.tar", good[:512 + 200])
bad = bytearray(good)
bad[0] ^= 1
raw("hostile-bad-checksum.tar", bytes(bad))


def header(name, size_field, type=b"0", magic=b"ustar  \x00"):
    h = bytearray(512)
    h[0:len(name)] = name
    h[100:108] = b"0000644\x00"
    h[108:116] = b"0000000\x00"
    h[116:124] = b"0000000\x00"
    h[124:136] = size_field
    h[136:148] = b"00000000000\x00"
    h[156:157] = type
    h[257:265] = magic
    h[148:156] = b" " * 8
    h[148:156] = b"%06o\x00 " % sum(h)
    return bytes(h)


raw("hostile-huge-size.tar", header(b"huge", b"\x80" + b"\x00" * 3 + b"\xff" * 8) + b"data")
raw("hostile-huge-octal.tar", header(b"huge", b"77777777777\x00") + b"data")
raw("hostile-huge-pax.tar", header(b"PaxHeaders/x", b"77777777777\x00", b"x") + b"99999999999 path=x\n")
raw("hostile-pax-bad-length.tar", header(b"PaxHeaders/x", b"00000000020\x00", b"x") + b"99 path=abcdefgh\n".ljust(512, b"\x00") + header(b"f", b"00000000000\x00") + b"\x00" * 1024)
raw("hostile-longname-no-nul.tar", header(b"././@LongLink", b"00000001000\x00", b"L") + b"n" * 512 + header(b"f", b"00000000000\x00") + b"\x00" * 1024)
raw("hostile-sparse.tar", header(b"sparse", b"00000000000\x00", b"S") + b"\x00" * 1024)

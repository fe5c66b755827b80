#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Removes the appended signature from kernel module files, in place.

Stage 1's modules are covered by the initramfs digest in the signed image manifest, so the
kernel's own signature check (an RSA verification per module, slow under TCG) adds nothing there.
The kernel (CONFIG_MODULE_SIG without _FORCE) loads them and notes the taint once.
"""

import struct
import sys

MAGIC = b"~Module signature appended~\n"

for path in sys.argv[1:]:
    with open(path, "rb") as f:
        data = f.read()
    if not data.endswith(MAGIC):
        continue
    # struct module_signature: 8 bytes of algorithm/id fields, then __be32 sig_len.
    (sig_len,) = struct.unpack(">I", data[-len(MAGIC) - 4:-len(MAGIC)])
    end = len(data) - len(MAGIC) - 12 - sig_len
    if end <= 0:
        sys.exit(f"{path}: malformed module signature")
    with open(path, "wb") as f:
        f.write(data[:end])

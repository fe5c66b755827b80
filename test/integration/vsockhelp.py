# SPDX-License-Identifier: LGPL-2.1-or-later
"""Fast stream()/fnv1a64 for vsock tests and benches: the pure-Python versions in guestproto.py
run at a few MB/s, too slow for gigabytes. A tiny C helper is compiled once with the system cc and
loaded through ctypes (stdlib only); results are cross-checked against guestproto."""

import ctypes
import os
import subprocess
import tempfile

_SRC = r'''
#include <stdint.h>
#include <stddef.h>
#include <string.h>
uint64_t fnv1a64(const unsigned char *p, size_t n, uint64_t h) {
        for (size_t i = 0; i < n; i++) {
                h ^= p[i];
                h *= 0x100000001b3ULL;
        }
        return h;
}
/* Continues stream(seed) from *state; n is a multiple of 8 except in the last call. */
void stream_fill(uint64_t *state, unsigned char *buf, size_t n) {
        uint64_t x = *state;
        for (size_t i = 0; i < n; i += 8) {
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                uint64_t v = x * 0x2545F4914F6CDD1DULL;
                memcpy(buf + i, &v, n - i < 8 ? n - i : 8);
        }
        *state = x;
}
'''

FNV_INIT = 0xCBF29CE484222325
_lib = None


def _load():
    global _lib
    if _lib is None:
        d = tempfile.mkdtemp(prefix="bistro-vsockhelp-")
        src, so = os.path.join(d, "h.c"), os.path.join(d, "h.so")
        with open(src, "w") as f:
            f.write(_SRC)
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, src], check=True)
        lib = ctypes.CDLL(so)
        lib.fnv1a64.restype = ctypes.c_uint64
        lib.fnv1a64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
        lib.stream_fill.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_void_p, ctypes.c_size_t]
        _lib = lib
    return _lib


def fnv(data, h=FNV_INIT):
    return _load().fnv1a64(bytes(data), len(data), h)


class Stream:
    """stream(seed) in chunks; every read but the last must be a multiple of 8 bytes."""

    def __init__(self, seed):
        self.x = ctypes.c_uint64(seed if seed else 1)

    def read(self, n):
        b = ctypes.create_string_buffer(n)
        _load().stream_fill(ctypes.byref(self.x), b, n)
        return b.raw


def stream_fnv(seed, size, chunk=1 << 20):
    s, h, left = Stream(seed), FNV_INIT, size
    while left:
        b = s.read(min(chunk, left))
        h = fnv(b, h)
        left -= len(b)
    return h

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Wayland filter on both directions of one connection, interleaved as the input says. The
 * input: one byte (the window mark, modulo 3), then records: a byte (bit 0: 0 client -> compositor,
 * 1 compositor -> client), a little-endian u16 length, that many bytes (fewer at the end). That is
 * what tools/wayland-record.py writes, so real recordings are seeds.
 *
 * The input runs twice: once a record per call, once a byte per call. Whatever the split, the
 * output must be the same (or, after a violation, the per-record output a prefix of the per-byte
 * one), both runs must fail alike, and every output must be whole, well-formed messages. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "wayland-filter.h"

/* Every message the filter sends is whole and has a valid size. */
static void check_messages(const Buffer *out, size_t from) {
        size_t off = from;

        while (off < out->size) {
                uint32_t word;
                size_t size;

                if (out->size - off < 8)
                        abort();
                memcpy(&word, out->data + off + 4, 4);
                size = word >> 16;
                if (size < 8 || size % 4 != 0 || size > WAYLAND_MESSAGE_MAX || size > out->size - off)
                        abort();
                off += size;
        }
}

/* Runs the input with pieces of at most step bytes (0: a record per call). Returns the first error. */
static int run(const uint8_t *data, size_t size, size_t step, Buffer out[2]) {
        _cleanup_(wayland_filter_freep) WaylandFilter *f = NULL;
        size_t off = 1;

        if (wayland_filter_new("penguin", (WindowMark) (data[0] % 3), &f) < 0)
                abort();

        while (size - off >= 3) {
                unsigned d = data[off] & 1;
                size_t n = MIN((size_t) (data[off + 1] | data[off + 2] << 8), size - off - 3);
                const uint8_t *p = data + off + 3;

                off += 3 + n;
                for (size_t k = 0; k < n || (n == 0 && k == 0);) {
                        size_t piece = step == 0 ? n : MIN(step, n - k), before = out[d].size;
                        int r = d == 0 ? wayland_filter_client(f, p + k, piece, &out[d])
                                       : wayland_filter_server(f, p + k, piece, &out[d]);

                        if (r < 0) {
                                if (r != -EPROTO || !wayland_filter_violation(f))
                                        abort();
                                /* Refused for good. */
                                if (wayland_filter_client(f, "", 0, &out[0]) != r)
                                        abort();
                                return r;
                        }
                        check_messages(&out[d], before);
                        k += piece;
                        if (piece == 0)
                                break;
                }
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        Buffer whole[2] = {}, bytes[2] = {};
        int r1, r2;

        if (size < 1 || size > 256 * 1024)
                return 0;

        r1 = run(data, size, 0, whole);
        r2 = run(data, size, 1, bytes);
        if (r1 != r2)
                abort();
        for (unsigned d = 0; d < 2; d++) {
                if (r1 == 0 ? whole[d].size != bytes[d].size : whole[d].size > bytes[d].size)
                        abort();
                if (whole[d].size > 0 && memcmp(whole[d].data, bytes[d].data, whole[d].size) != 0)
                        abort();
                buffer_done(&whole[d]);
                buffer_done(&bytes[d]);
        }
        return 0;
}

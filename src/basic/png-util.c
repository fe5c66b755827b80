/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <string.h>

#include "png-util.h"
#include "unaligned.h"

bool png_header_ok(const void *data, size_t len, uint32_t *ret_width, uint32_t *ret_height) {
        static const uint8_t sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
        const uint8_t *d = data;
        uint8_t depth, ct;
        bool ok;

        /* Signature, IHDR (length 13) first, IEND last. */
        if (!d || len < 8 + 25 + 12 || memcmp(d, sig, 8) != 0)
                return false;
        if (unaligned_read_be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4) != 0)
                return false;
        if (memcmp(d + len - 8, "IEND", 4) != 0 || unaligned_read_be32(d + len - 12) != 0)
                return false;
        depth = d[24];
        ct = d[25];
        if (d[26] != 0 || d[27] != 0 || d[28] > 1)
                return false;
        switch (ct) {
        case 0:
                ok = depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
                break;
        case 3:
                ok = depth == 1 || depth == 2 || depth == 4 || depth == 8;
                break;
        case 2:
        case 4:
        case 6:
                ok = depth == 8 || depth == 16;
                break;
        default:
                ok = false;
        }
        if (!ok)
                return false;
        if (ret_width)
                *ret_width = unaligned_read_be32(d + 16);
        if (ret_height)
                *ret_height = unaligned_read_be32(d + 20);
        return true;
}

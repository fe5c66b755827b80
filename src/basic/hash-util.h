/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* FNV-1a, 64 bits: a fast non-cryptographic hash for "did this change" signatures (never for
 * anything a peer could choose to collide on purpose and gain by it). Header-only: the static
 * programs (garcon) use it without linking libbasic. */

#include <stddef.h>
#include <stdint.h>

#define FNV1A64_INIT UINT64_C(0xcbf29ce484222325)

/* Continues h over n bytes at p; start with FNV1A64_INIT. */
static inline uint64_t fnv1a64(uint64_t h, const void *p, size_t n) {
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++) {
                h ^= b[i];
                h *= UINT64_C(0x100000001b3);
        }
        return h;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The structure of a PNG file as far as it can be checked without decoding: the signature, IHDR
 * (length 13) as the first chunk, IEND (length 0) as the last, a bit depth that goes with the
 * colour type, compression and filter method 0, interlace 0 or 1. On success the image's width
 * and height go to *ret_width / *ret_height (either may be NULL). libc only: garcon's static
 * binary uses it as well as the host's icon store. */
bool png_header_ok(const void *data, size_t len, uint32_t *ret_width, uint32_t *ret_height);

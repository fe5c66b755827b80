/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Percent-encoding (RFC 3986) for file:// URLs. */

#include <stddef.h>

/* path with every byte outside [A-Za-z0-9/._~-] written as %XX (upper case). Returns the length
 * written to *ret (malloc'd) or -ENOMEM. */
int url_encode_path(const char *path, char **ret);

/* Decodes the n bytes of s: "%XX" (hex, either case) becomes that byte, any other byte stays. A '%'
 * not followed by two hex digits, or a decoded NUL, is -EINVAL. Returns the decoded length, with the
 * string in *ret (malloc'd, NUL-terminated), or -ENOMEM. */
int url_decode(const char *s, size_t n, char **ret);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tremplin-error.h"

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if it is not one: no overlong forms,
 * no surrogates, nothing above U+10FFFF. */
static size_t utf8_sequence_len(const unsigned char *s, size_t n, uint32_t *ret_cp) {
        uint32_t cp;
        size_t len;

        if (s[0] < 0x80) {
                *ret_cp = s[0];
                return 1;
        }
        if (s[0] >= 0xc2 && s[0] <= 0xdf) {
                len = 2;
                cp = s[0] & 0x1f;
        } else if (s[0] >= 0xe0 && s[0] <= 0xef) {
                len = 3;
                cp = s[0] & 0x0f;
        } else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
                len = 4;
                cp = s[0] & 0x07;
        } else
                return 0;
        if (n < len)
                return 0;
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        *ret_cp = cp;
        return len;
}

char *error_text_sanitize(const char *s, size_t max) {
        const unsigned char *p = (const unsigned char *) (s ?: "");
        size_t n = strlen((const char *) p), o = 0;
        char *out;

        /* Every replacement is no longer than what it replaces. */
        out = malloc(MIN(n, max) + 1);
        if (!out)
                return NULL;
        for (size_t i = 0; i < n;) {
                uint32_t cp = 0;
                size_t len = utf8_sequence_len(p + i, n - i, &cp);
                bool bad = len == 0 || (cp < 0x20 && cp != '\n' && cp != '\t') || (cp >= 0x7f && cp <= 0x9f);
                size_t take = len ? len : 1; /* a control character goes whole */

                if (o + (bad ? 1 : len) > max)
                        break;
                if (bad)
                        out[o++] = '?';
                else {
                        memcpy(out + o, p + i, len);
                        o += len;
                }
                i += take;
        }
        out[o] = 0;
        return out;
}

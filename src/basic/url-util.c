/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "string-util.h"
#include "url-util.h"

static bool path_char_plain(unsigned char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' ||
               c == '.' || c == '_' || c == '~' || c == '-';
}

int url_encode_path(const char *path, char **ret) {
        static const char hex[] = "0123456789ABCDEF";
        size_t n = 0;
        char *s;

        for (const unsigned char *p = (const unsigned char *) path; *p; p++)
                n += path_char_plain(*p) ? 1 : 3;
        s = malloc(n + 1);
        if (!s)
                return -ENOMEM;
        n = 0;
        for (const unsigned char *p = (const unsigned char *) path; *p; p++)
                if (path_char_plain(*p))
                        s[n++] = (char) *p;
                else {
                        s[n++] = '%';
                        s[n++] = hex[*p >> 4];
                        s[n++] = hex[*p & 15];
                }
        s[n] = 0;
        *ret = s;
        return (int) n;
}

int url_decode(const char *s, size_t n, char **ret) {
        size_t k = 0;
        char *d;

        d = malloc(n + 1);
        if (!d)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int hi, lo;

                if (s[i] != '%') {
                        if (s[i] == '\0')
                                goto invalid;
                        d[k++] = s[i];
                        continue;
                }
                if (n - i < 3 || (hi = unhexchar(s[i + 1])) < 0 || (lo = unhexchar(s[i + 2])) < 0 ||
                    (hi == 0 && lo == 0))
                        goto invalid;
                d[k++] = (char) (hi << 4 | lo);
                i += 2;
        }
        d[k] = 0;
        *ret = d;
        return (int) k;
invalid:
        free(d);
        return -EINVAL;
}

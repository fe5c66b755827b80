/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "string-util.h"

int safe_atou64(const char *s, uint64_t *ret) {
        unsigned long long v;
        char *end = NULL;

        if (!s || !*s || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || !end || *end != 0)
                return -EINVAL;
        *ret = (uint64_t) v;
        return 0;
}

int safe_atou32(const char *s, uint32_t *ret) {
        uint64_t v;
        int r;

        r = safe_atou64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

int safe_atoi(const char *s, int *ret) {
        long v;
        char *end = NULL;

        if (!s || !*s || isspace((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno == ERANGE || v > INT_MAX || v < INT_MIN)
                return -ERANGE;
        if (errno != 0 || !end || *end != 0)
                return -EINVAL;
        *ret = (int) v;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        static const struct {
                char suffix;
                unsigned shift;
        } units[] = { { 'K', 10 }, { 'M', 20 }, { 'G', 30 }, { 'T', 40 } };
        char buf[32];
        size_t n;
        unsigned shift = 0;
        uint64_t v;
        int r;

        if (!s)
                return -EINVAL;
        n = strlen(s);
        if (n == 0 || n >= sizeof(buf))
                return -EINVAL;
        memcpy(buf, s, n + 1);

        if (n >= 3 && streq(buf + n - 2, "iB"))
                buf[n -= 2] = 0;
        else if (n >= 2 && buf[n - 1] == 'B' && !isdigit((unsigned char) buf[n - 2]))
                buf[--n] = 0;
        for (size_t i = 0; n > 0 && i < ELEMENTSOF(units); i++)
                if (toupper((unsigned char) buf[n - 1]) == units[i].suffix) {
                        shift = units[i].shift;
                        buf[--n] = 0;
                        break;
                }
        r = safe_atou64(buf, &v);
        if (r < 0)
                return r;
        if (shift > 0 && v > (UINT64_MAX >> shift))
                return -ERANGE;
        *ret = v << shift;
        return 0;
}

size_t utf8_sequence_len(const char *str, size_t n, uint32_t *ret_cp) {
        const unsigned char *s = (const unsigned char *) str;
        uint32_t cp;
        size_t len;

        if (n == 0)
                return 0;
        if (s[0] < 0x80) {
                if (ret_cp)
                        *ret_cp = s[0];
                return 1;
        }
        if ((s[0] & 0xE0) == 0xC0)
                len = 2, cp = s[0] & 0x1F;
        else if ((s[0] & 0xF0) == 0xE0)
                len = 3, cp = s[0] & 0x0F;
        else if ((s[0] & 0xF8) == 0xF0)
                len = 4, cp = s[0] & 0x07;
        else
                return 0;
        if (n < len)
                return 0;
        for (size_t k = 1; k < len; k++) {
                if ((s[k] & 0xC0) != 0x80)
                        return 0;
                cp = (cp << 6) | (s[k] & 0x3F);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
                return 0; /* overlong */
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
                return 0;
        if (ret_cp)
                *ret_cp = cp;
        return len;
}

bool utf8_is_valid_n(const char *str, size_t n) {
        for (size_t i = 0; i < n;) {
                size_t len = utf8_sequence_len(str + i, n - i, NULL);

                if (len == 0)
                        return false;
                i += len;
        }
        return true;
}

bool utf8_is_valid(const char *s) {
        return s && utf8_is_valid_n(s, strlen(s));
}

int parse_fd(const char *s, int *ret) {
        int fd;

        if (safe_atoi(s, &fd) < 0 || fd < 3)
                return -EINVAL;
        *ret = fd;
        return 0;
}

bool name_is_valid(const char *s, size_t max) {
        size_t n;

        if (!s)
                return false;
        n = strlen(s);
        if (n == 0 || n > max || s[0] == '.' || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!isalnum((unsigned char) s[i]) && !strchr("._-", s[i]))
                        return false;
        return true;
}

char *strscpy(char *dst, const char *src, size_t n) {
        size_t l;

        if (n == 0)
                return dst;
        l = strnlen(src, n - 1);
        memcpy(dst, src, l);
        dst[l] = 0;
        return dst;
}

bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

void format_bytes(uint64_t b, char *buf, size_t size) {
        static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
        double v = (double) b;
        size_t u = 0;

        while (v >= 1024 && u + 1 < ELEMENTSOF(units)) {
                v /= 1024;
                u++;
        }
        (void) snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

int set_error_message(char **reterr_message, int r, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        if (!reterr_message)
                return r;
        va_start(ap, fmt);
        errno = r < 0 ? -r : r;
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        free(*reterr_message);
        *reterr_message = m;
        return r;
}

int unhexchar(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

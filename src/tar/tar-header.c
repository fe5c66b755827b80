/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "tar-header.h"

/* ustar / GNU header layout (POSIX.1-1988 plus the GNU fields we look at). */
#define H_NAME 0
#define H_MODE 100
#define H_UID 108
#define H_GID 116
#define H_SIZE 124
#define H_MTIME 136
#define H_CHKSUM 148
#define H_TYPEFLAG 156
#define H_LINKNAME 157
#define H_MAGIC 257
#define H_PREFIX 345
#define H_GNU_ISEXTENDED 482

static int fail(const char **ret_error, const char *msg) {
        if (ret_error)
                *ret_error = msg;
        return -EBADMSG;
}

int tar_parse_number(const uint8_t *field, size_t size, bool allow_negative, int64_t *ret) {
        uint64_t v = 0;

        if (size == 0)
                return -EBADMSG;

        if (field[0] & 0x80) {
                /* GNU base-256: big-endian two's complement, 0x80 marks a positive number. */
                bool negative = field[0] & 0x40;

                if (negative && !allow_negative)
                        return -EBADMSG;
                v = (negative ? (uint8_t) ~field[0] : field[0]) & 0x3f;
                for (size_t i = 1; i < size; i++) {
                        uint8_t b = negative ? (uint8_t) ~field[i] : field[i];

                        if (v > ((uint64_t) INT64_MAX >> 8))
                                return -EBADMSG;
                        v = (v << 8) | b;
                }
                /* -(v + 1) fits in int64_t because v <= INT64_MAX */
                *ret = negative ? -(int64_t) v - 1 : (int64_t) v;
                return 0;
        }

        size_t i = 0;
        while (i < size && field[i] == ' ')
                i++;
        bool digits = false;
        for (; i < size; i++) {
                uint8_t c = field[i];

                if (c == ' ' || c == 0)
                        break;
                if (c < '0' || c > '7')
                        return -EBADMSG;
                if (v > ((uint64_t) INT64_MAX >> 3))
                        return -EBADMSG;
                v = (v << 3) | (uint64_t) (c - '0');
                digits = true;
        }
        /* only terminators may follow the digits */
        for (; i < size; i++)
                if (field[i] != ' ' && field[i] != 0)
                        return -EBADMSG;
        (void) digits; /* an empty field reads as 0, like GNU tar's lenient mode */
        *ret = (int64_t) v;
        return 0;
}

static int parse_unsigned(const uint8_t *field, size_t size, uint64_t *ret) {
        int64_t v;

        if (tar_parse_number(field, size, false, &v) < 0 || v < 0)
                return -EBADMSG;
        *ret = (uint64_t) v;
        return 0;
}

static size_t field_len(const uint8_t *field, size_t size) {
        const uint8_t *nul = memchr(field, 0, size);
        return nul ? (size_t) (nul - field) : size;
}

int tar_header_parse(const uint8_t block[TAR_BLOCK_SIZE], TarHeader *ret, const char **ret_error) {
        TarHeader h = {};
        bool zero = true;
        uint64_t sum_unsigned = 0, v;
        int64_t sum_signed = 0, stored, mtime;

        for (size_t i = 0; i < TAR_BLOCK_SIZE; i++)
                if (block[i] != 0) {
                        zero = false;
                        break;
                }
        if (zero)
                return TAR_HEADER_ZERO;

        for (size_t i = 0; i < TAR_BLOCK_SIZE; i++) {
                uint8_t c = (i >= H_CHKSUM && i < H_CHKSUM + 8) ? ' ' : block[i];
                sum_unsigned += c;
                sum_signed += (int8_t) c;
        }
        if (block[H_CHKSUM] & 0x80 || tar_parse_number(block + H_CHKSUM, 8, false, &stored) < 0)
                return fail(ret_error, "bad header checksum field");
        if ((uint64_t) stored != sum_unsigned && stored != sum_signed)
                return fail(ret_error, "header checksum mismatch");

        h.typeflag = block[H_TYPEFLAG] == 0 ? '0' : (char) block[H_TYPEFLAG];

        if (parse_unsigned(block + H_MODE, 8, &v) < 0)
                return fail(ret_error, "bad mode field");
        h.mode = (uint32_t) (v & 07777);
        if (parse_unsigned(block + H_UID, 8, &h.uid) < 0)
                return fail(ret_error, "bad uid field");
        if (parse_unsigned(block + H_GID, 8, &h.gid) < 0)
                return fail(ret_error, "bad gid field");
        if (parse_unsigned(block + H_SIZE, 12, &h.size) < 0)
                return fail(ret_error, "bad size field");
        if (tar_parse_number(block + H_MTIME, 12, true, &mtime) < 0)
                return fail(ret_error, "bad mtime field");
        h.mtime = mtime;

        /* The prefix field exists only in POSIX ustar ("ustar\0"); GNU ("ustar  \0") keeps atime,
         * ctime and sparse maps there. */
        size_t name_len = field_len(block + H_NAME, 100);
        if (memcmp(block + H_MAGIC, "ustar\0", 6) == 0) {
                size_t prefix_len = field_len(block + H_PREFIX, 155);
                if (prefix_len > 0) {
                        memcpy(h.name, block + H_PREFIX, prefix_len);
                        h.name[prefix_len] = '/';
                        memcpy(h.name + prefix_len + 1, block + H_NAME, name_len);
                        h.name[prefix_len + 1 + name_len] = 0;
                } else {
                        memcpy(h.name, block + H_NAME, name_len);
                        h.name[name_len] = 0;
                }
        } else {
                memcpy(h.name, block + H_NAME, name_len);
                h.name[name_len] = 0;
                if (memcmp(block + H_MAGIC, "ustar  \0", 8) == 0 && h.typeflag == 'S')
                        h.gnu_extended = block[H_GNU_ISEXTENDED] != 0;
        }

        size_t link_len = field_len(block + H_LINKNAME, 100);
        memcpy(h.linkname, block + H_LINKNAME, link_len);
        h.linkname[link_len] = 0;

        *ret = h;
        return TAR_HEADER_ENTRY;
}

/* pax */

static int parse_decimal(const char *s, size_t n, uint64_t *ret) {
        uint64_t v = 0;

        if (n == 0 || n > 20)
                return -EBADMSG;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EBADMSG;
                if (v > (UINT64_MAX - 9) / 10)
                        return -EBADMSG;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        *ret = v;
        return 0;
}

static int parse_pax_time(const char *s, size_t n, int64_t *ret, uint32_t *ret_nsec) {
        bool negative = false;
        uint64_t v;
        size_t i = 0;

        if (n > 0 && s[0] == '-') {
                negative = true;
                i = 1;
        }
        size_t start = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
        if (i == start || parse_decimal(s + start, i - start, &v) < 0 || v > INT64_MAX)
                return -EBADMSG;
        uint32_t nsec = 0, scale = 100000000;
        if (i < n) {
                /* fractional seconds: nanoseconds kept, finer digits dropped */
                if (s[i] != '.')
                        return -EBADMSG;
                for (i++; i < n; i++) {
                        if (s[i] < '0' || s[i] > '9')
                                return -EBADMSG;
                        nsec += (uint32_t) (s[i] - '0') * scale;
                        scale /= 10;
                }
        }
        if (negative && nsec > 0) {
                /* -1.25 is 1.25 s before the epoch: -2 s + 0.75 s */
                if (v == (uint64_t) INT64_MAX)
                        return -EBADMSG;
                v++;
                nsec = 1000000000u - nsec;
        }
        *ret = negative ? -(int64_t) v : (int64_t) v;
        *ret_nsec = nsec;
        return 0;
}

static int set_string(char **dst, const char *value, size_t n) {
        char *s;

        if (memchr(value, 0, n))
                return -EBADMSG;
        if (n > TAR_PATH_MAX)
                return -EBADMSG;
        if (n == 0) {
                /* an empty value removes the override (POSIX) */
                free(*dst);
                *dst = NULL;
                return 0;
        }
        s = strndup(value, n);
        if (!s)
                return -ENOMEM;
        free(*dst);
        *dst = s;
        return 0;
}

static int add_xattr(TarPax *pax, const char *name, size_t name_len, const char *value, size_t n) {
        _cleanup_free_ char *k = NULL;
        _cleanup_free_ uint8_t *v = NULL;

        if (name_len == 0 || name_len > 255 || memchr(name, 0, name_len) || n > TAR_XATTR_VALUE_MAX)
                return -EBADMSG;

        k = strndup(name, name_len);
        if (!k)
                return -ENOMEM;
        v = malloc(n > 0 ? n : 1);
        if (!v)
                return -ENOMEM;
        memcpy(v, value, n);

        for (size_t i = 0; i < pax->n_xattrs; i++)
                if (streq(pax->xattrs[i].name, k)) {
                        free(pax->xattrs[i].value);
                        pax->xattrs[i].value = TAKE_PTR(v);
                        pax->xattrs[i].size = n;
                        return 0;
                }

        if (pax->n_xattrs >= TAR_PAX_XATTR_MAX)
                return -EBADMSG;
        TarXattr *a = realloc(pax->xattrs, (pax->n_xattrs + 1) * sizeof(TarXattr));
        if (!a)
                return -ENOMEM;
        pax->xattrs = a;
        a[pax->n_xattrs++] = (TarXattr){ .name = TAKE_PTR(k), .value = TAKE_PTR(v), .size = n };
        return 0;
}

static bool key_is(const char *key, size_t key_len, const char *s) {
        return strlen(s) == key_len && memcmp(key, s, key_len) == 0;
}

static int pax_record(
        TarPax *pax, const char *key, size_t key_len, const char *value, size_t n, const char **ret_error) {
        static const char xattr_prefix[] = "SCHILY.xattr.";
        int r;

        if (key_is(key, key_len, "path"))
                r = set_string(&pax->path, value, n);
        else if (key_is(key, key_len, "linkpath"))
                r = set_string(&pax->linkpath, value, n);
        else if (
                key_is(key, key_len, "size") || key_is(key, key_len, "uid") || key_is(key, key_len, "gid")) {
                uint64_t v = 0;

                r = n == 0 ? 0 : parse_decimal(value, n, &v);
                if (r >= 0) {
                        bool has = n > 0;
                        if (key[0] == 's') {
                                pax->has_size = has;
                                pax->size = v;
                        } else if (key[0] == 'u') {
                                pax->has_uid = has;
                                pax->uid = v;
                        } else {
                                pax->has_gid = has;
                                pax->gid = v;
                        }
                }
        } else if (key_is(key, key_len, "mtime")) {
                int64_t t = 0;
                uint32_t nsec = 0;

                r = n == 0 ? 0 : parse_pax_time(value, n, &t, &nsec);
                if (r >= 0) {
                        pax->has_mtime = n > 0;
                        pax->mtime = t;
                        pax->mtime_nsec = nsec;
                }
        } else if (key_len > strlen(xattr_prefix) && memcmp(key, xattr_prefix, strlen(xattr_prefix)) == 0)
                r = add_xattr(pax, key + strlen(xattr_prefix), key_len - strlen(xattr_prefix), value, n);
        else if (key_len > 11 && memcmp(key, "GNU.sparse.", 11) == 0) {
                pax->sparse = true;
                r = 0;
        } else
                r = 0; /* atime, ctime, uname, gname, comment, charset, ACLs, ...: ignored */

        if (r == -EBADMSG)
                return fail(ret_error, "bad pax record value");
        return r;
}

int tar_pax_parse(const uint8_t *data, size_t size, TarPax *pax, const char **ret_error) {
        const char *s = (const char *) data;
        size_t p = 0;
        int r;

        if (size > TAR_PAX_MAX)
                return fail(ret_error, "pax header too large");

        while (p < size) {
                uint64_t len;
                size_t d = p;

                /* trailing NUL padding ends the records */
                if (s[p] == 0) {
                        for (; p < size; p++)
                                if (s[p] != 0)
                                        return fail(ret_error, "garbage after pax records");
                        break;
                }

                while (d < size && s[d] >= '0' && s[d] <= '9')
                        d++;
                if (d == p || d >= size || s[d] != ' ')
                        return fail(ret_error, "bad pax record length");
                if (parse_decimal(s + p, d - p, &len) < 0 || len > size - p || len < d - p + 3)
                        return fail(ret_error, "bad pax record length");

                const char *key = s + d + 1, *end = s + p + len - 1; /* end: the '\n' */
                if (*end != '\n')
                        return fail(ret_error, "pax record not terminated by a newline");
                const char *eq = memchr(key, '=', (size_t) (end - key));
                if (!eq || eq == key || memchr(key, 0, (size_t) (eq - key)))
                        return fail(ret_error, "bad pax record key");

                r = pax_record(pax, key, (size_t) (eq - key), eq + 1, (size_t) (end - eq - 1), ret_error);
                if (r < 0)
                        return r;
                p += len;
        }
        return 0;
}

void tar_pax_done(TarPax *pax) {
        if (!pax)
                return;
        free(pax->path);
        free(pax->linkpath);
        for (size_t i = 0; i < pax->n_xattrs; i++) {
                free(pax->xattrs[i].name);
                free(pax->xattrs[i].value);
        }
        free(pax->xattrs);
        *pax = (TarPax){};
}

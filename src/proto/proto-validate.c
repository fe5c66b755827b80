/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "concierge.pb-c.h"
#include "macro.h"
#include "proto-validate.h"
#include "string-util.h"

bool proto_text_ok(const char *s, size_t max, bool allow_newlines) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, max + 1);
        if (n > max)
                return false;
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if (c == 0x7F)
                        return false;
                if (c < 0x20 && !(allow_newlines && (c == '\n' || c == '\t')))
                        return false;
                /* C1 controls U+0080..U+009F are C2 80..C2 9F in UTF-8: a terminal acts on them as on
                 * ESC sequences (U+009B is CSI, U+009D is OSC), so guest text must not carry them. */
                if (c == 0xC2 && i + 1 < n && (unsigned char) s[i + 1] >= 0x80 &&
                    (unsigned char) s[i + 1] <= 0x9F)
                        return false;
        }
        return utf8_is_valid_n(s, n);
}

void proto_text_sanitize(char *s, size_t max, bool allow_newlines) {
        size_t n, o = 0;

        if (!s)
                return;
        n = strlen(s);
        /* In place: every replacement ('?') is no longer than what it replaces. */
        for (size_t i = 0; i < n;) {
                uint32_t cp = 0;
                size_t len = utf8_sequence_len(s + i, n - i, &cp);
                bool bad = len == 0 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) ||
                           (cp < 0x20 && !(allow_newlines && (cp == '\n' || cp == '\t')));

                if (o + (bad ? 1 : len) > max)
                        break; /* cut at max, never inside a character */
                if (bad)
                        s[o++] = '?';
                else {
                        memmove(s + o, s + i, len);
                        o += len;
                }
                i += len ?: 1; /* a control character goes whole, a bad byte alone */
        }
        s[o] = 0;
}

bool proto_text_nonempty_ok(const char *s, size_t max) {
        return s && s[0] != '\0' && proto_text_ok(s, max, false);
}

bool proto_name_ok(const char *s) {
        return name_is_valid(s, PROTO_NAME_MAX);
}

bool proto_share_name_ok(const char *s) {
        return name_is_valid(s, PROTO_SHARE_NAME_MAX);
}

bool proto_abs_path_ok(const char *s, bool no_dotdot) {
        if (!s || s[0] != '/' || !proto_text_ok(s, PROTO_PATH_MAX, false))
                return false;
        if (no_dotdot)
                for (const char *p = s; (p = strstr(p, "..")); p += 2)
                        if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
                                return false;
        return true;
}

static bool is_token_char(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
               c == '-';
}

bool proto_token_ok(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, PROTO_TOKEN_MAX + 1);
        if (n < PROTO_TOKEN_MIN || n > PROTO_TOKEN_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!is_token_char(s[i]))
                        return false;
        return true;
}

bool proto_env_ok(const char *s) {
        const char *eq;

        if (!proto_text_ok(s, PROTO_ARG_MAX, false))
                return false;
        eq = strchr(s, '=');
        if (!eq || eq == s)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
                return false;
        for (const char *p = s; p < eq; p++)
                if (!is_token_char(*p) || *p == '-')
                        return false;
        return true;
}

bool proto_argv_ok(char *const *v, size_t n, size_t max, bool allow_empty) {
        if (n > max || (n == 0 && !allow_empty))
                return false;
        if (n > 0 && !v)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!proto_text_ok(v[i], PROTO_ARG_MAX, true))
                        return false;
        return true;
}

bool proto_user_ok(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, 33);
        if (n == 0 || n > 32)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
                      s[i] == '-'))
                        return false;
        return true;
}

bool proto_enum_ok(const ProtobufCEnumDescriptor *d, int value) {
        return d && protobuf_c_enum_descriptor_get_value(d, value) != NULL;
}

bool proto_ip_ok(const char *s, int family, bool allow_empty) {
        unsigned char buf[sizeof(struct in6_addr)];

        if (!s)
                return false;
        if (s[0] == '\0')
                return allow_empty;
        if (strnlen(s, INET6_ADDRSTRLEN) >= INET6_ADDRSTRLEN)
                return false;
        return inet_pton(family, s, buf) == 1;
}

bool proto_image_name_ok(const char *s) {
        return s && (s[0] == '\0' || name_is_valid(s, PROTO_IMAGE_NAME_MAX));
}

bool proto_timezone_ok(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, PROTO_TIMEZONE_MAX + 1);
        if (n == 0 || n > PROTO_TIMEZONE_MAX || s[0] == '/')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || strchr("_+-/", s[i])))
                        return false;
        /* Every component non-empty and not "." or "..": the name becomes a path below zoneinfo. */
        for (const char *p = s, *slash;; p = slash + 1) {
                size_t len;

                slash = strchr(p, '/');
                len = slash ? (size_t) (slash - p) : strlen(p);
                if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                if (!slash)
                        return true;
        }
}

bool proto_url_ok(const char *s) {
        static const char *const schemes[] = { "http://", "https://", "mailto:" };
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, PROTO_URL_MAX + 1);
        if (n == 0 || n > PROTO_URL_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (s[i] <= 0x20 || s[i] >= 0x7F)
                        return false;
        for (size_t i = 0; i < ELEMENTSOF(schemes); i++)
                if (strncasecmp(s, schemes[i], strlen(schemes[i])) == 0 && n > strlen(schemes[i]))
                        return true;
        return false;
}

bool proto_mime_type_ok(const char *s) {
        const char *slash;
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, PROTO_MIME_TYPE_MAX + 1);
        if (n == 0 || n > PROTO_MIME_TYPE_MAX)
                return false;
        slash = strchr(s, '/');
        if (!slash || slash == s || slash[1] == '\0' || strchr(slash + 1, '/'))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
                      (s[i] >= '0' && s[i] <= '9') || strchr("/.+-_", s[i])))
                        return false;
        return true;
}

bool proto_shared_dir_ok(const Bistro__Concierge__SharedDir *d) {
        return d && proto_share_name_ok(d->name) && proto_abs_path_ok(d->host_path, true) &&
               proto_name_ok(d->container);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Field checks shared by the per-file validators (src/proto/<file>-validate.c). All return
 * true when the field is acceptable; none of them logs. Strings from protobuf-c are always
 * NUL-terminated (proto3 leaves unset strings as ""), but may be NULL in hand-built messages. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "message-type.h"

/* Valid UTF-8 of at most max bytes without control characters: neither C0 (U+0000..U+001F),
 * DEL (U+007F) nor C1 (U+0080..U+009F); allow_newlines also accepts '\n' and '\t' (free text such
 * as error messages). */
bool proto_text_ok(const char *s, size_t max, bool allow_newlines);
/* Makes s pass proto_text_ok(s, max, allow_newlines) in place: cuts it to max bytes (at a character
 * boundary); each byte that is not part of valid UTF-8, and each control character (C0, DEL, C1),
 * becomes one '?'. For text we send that must not be refused. */
void proto_text_sanitize(char *s, size_t max, bool allow_newlines);
/* Like proto_text_ok() but must be non-empty. */
bool proto_text_nonempty_ok(const char *s, size_t max);
/* A VM or container name (name_is_valid() with PROTO_NAME_MAX). */
bool proto_name_ok(const char *s);
/* A share's name (proto/tremplin.proto ShareMount, a directory below /mnt/shared): 1..64 bytes of
 * [A-Za-z0-9._-], not starting with '.' or '-' (so never "." or ".."). */
#define PROTO_SHARE_NAME_MAX 64u
#define PROTO_SHARES_MAX 64u
bool proto_share_name_ok(const char *s);
/* An absolute path of at most PROTO_PATH_MAX bytes, valid UTF-8 without control characters;
 * no_dotdot additionally refuses ".." components. */
bool proto_abs_path_ok(const char *s, bool no_dotdot);

/* A zoneinfo name ("Europe/Paris", "UTC"): 1..PROTO_TIMEZONE_MAX bytes of [A-Za-z0-9_+-/], not
 * absolute, no empty, "." or ".." component, so it can become a path below a zoneinfo dir. */
#define PROTO_TIMEZONE_MAX 64u
bool proto_timezone_ok(const char *s);
/* A token: PROTO_TOKEN_MIN..PROTO_TOKEN_MAX bytes of [A-Za-z0-9_-]. */
bool proto_token_ok(const char *s);
/* A "KEY=value" environment entry: key [A-Za-z_][A-Za-z0-9_]*, value text without control
 * characters, at most PROTO_ARG_MAX bytes in total. */
bool proto_env_ok(const char *s);
/* 1..max entries (or 0..max with allow_empty) of argv strings, each valid text of at most
 * PROTO_ARG_MAX bytes (tabs and newlines allowed, no other control characters). */
bool proto_argv_ok(char *const *v, size_t n, size_t max, bool allow_empty);
/* A link that may cross between host and container: http://, https:// or mailto: (any case) with
 * something after the scheme, 1..PROTO_URL_MAX bytes of printable ASCII (no spaces, no controls:
 * a URL with those is either broken or a trick). */
#define PROTO_URL_MAX 8192u
bool proto_url_ok(const char *s);
/* A MIME type "type/subtype": 1..PROTO_MIME_TYPE_MAX bytes of [A-Za-z0-9/.+-_] with exactly one '/'
 * that is neither first nor last. */
#define PROTO_MIME_TYPE_MAX 127u
bool proto_mime_type_ok(const char *s);
/* A POSIX-ish login name: [a-z_][a-z0-9_-]*, 1..32 bytes. */
bool proto_user_ok(const char *s);

/* An enum value protobuf-c accepted into memory is any int: check it against the descriptor. */
bool proto_enum_ok(const ProtobufCEnumDescriptor *d, int value);

/* Validates a message of the given descriptor field by field; used as the table's entry. */
#define PROTO_VALIDATOR(fn, type)                                  \
        static int fn##_impl(const type *m);                       \
        static int fn(const ProtobufCMessage *m) {                 \
                return m ? fn##_impl((const type *) m) : -EBADMSG; \
        }

#define PROTO_CHECK(expr)                \
        do {                             \
                if (!(expr))             \
                        return -EBADMSG; \
        } while (0)

/* A share of concierge.proto's SharedDir: proto_share_name_ok(), host_path proto_abs_path_ok()
 * without "..", container proto_name_ok(). At most PROTO_SHARES_MAX per VM. */
struct Bistro__Concierge__SharedDir;
bool proto_shared_dir_ok(const struct Bistro__Concierge__SharedDir *d);

/* Empty, or a numeric address of the family (AF_INET, AF_INET6) as inet_pton() reads it. */
bool proto_ip_ok(const char *s, int family, bool allow_empty);
/* Empty, or an image name: name_is_valid() with PROTO_IMAGE_NAME_MAX. */
bool proto_image_name_ok(const char *s);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Pure parsers for tar headers and pax extended headers: bytes in, a struct out, no I/O. The
 * extractor (tar-extract.c) applies what these return; fuzz-tar-header exercises them alone.
 *
 * Every numeric field is checked (octal with overflow checks, or GNU base-256), names are NUL
 * terminated within their fields, and the checksum must match. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TAR_BLOCK_SIZE 512u
#define TAR_PATH_MAX 4096u     /* longest name or link target accepted */
#define TAR_PAX_MAX (1u << 20) /* largest pax extended header accepted */
#define TAR_PAX_XATTR_MAX 128u /* xattrs per entry */
#define TAR_XATTR_VALUE_MAX 65536u

typedef enum TarHeaderResult {
        TAR_HEADER_ENTRY = 0,
        TAR_HEADER_ZERO = 1, /* an all-zero block: end of archive */
} TarHeaderResult;

typedef struct TarHeader {
        char typeflag;      /* '0' for the old '\0' */
        char name[256 + 1]; /* ustar prefix "/" name, NUL terminated */
        char linkname[100 + 1];
        uint32_t mode; /* & 07777 */
        uint64_t uid;
        uint64_t gid;
        uint64_t size; /* data bytes that follow (before padding) */
        int64_t mtime;
        bool gnu_extended; /* GNU sparse header with continuation blocks */
} TarHeader;

/* Parses one 512-byte block. Returns TAR_HEADER_ENTRY, TAR_HEADER_ZERO, or -EBADMSG with a
 * static message in *ret_error. */
int tar_header_parse(const uint8_t block[TAR_BLOCK_SIZE], TarHeader *ret, const char **ret_error);

/* Parses a numeric header field (octal, or GNU base-256 when the high bit of the first byte is
 * set). Negative base-256 values are accepted only when allow_negative. */
int tar_parse_number(const uint8_t *field, size_t size, bool allow_negative, int64_t *ret);

typedef struct TarXattr {
        char *name;     /* "user.foo" (the "SCHILY.xattr." prefix removed) */
        uint8_t *value; /* may contain NULs */
        size_t size;
} TarXattr;

typedef struct TarPax {
        char *path;
        char *linkpath;
        bool has_size, has_uid, has_gid, has_mtime;
        uint64_t size;
        uint64_t uid;
        uint64_t gid;
        int64_t mtime;
        uint32_t mtime_nsec;
        TarXattr *xattrs;
        size_t n_xattrs;
        bool sparse; /* GNU.sparse.* seen: not supported */
} TarPax;

/* Parses a pax extended header ("LEN KEY=VALUE\n" records) and merges it into *pax (a later
 * record overrides an earlier one). Returns 0, -ENOMEM, or -EBADMSG with a static message. */
int tar_pax_parse(const uint8_t *data, size_t size, TarPax *pax, const char **ret_error);

void tar_pax_done(TarPax *pax);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Strict number parsers: the whole string must be a number in range; no sign for unsigned,
 * no leading space, no trailing junk. Return 0 or -EINVAL/-ERANGE; *ret is written only on success. */
int safe_atou64(const char *s, uint64_t *ret);
int safe_atou32(const char *s, uint32_t *ret);
int safe_atoi(const char *s, int *ret);
/* An inherited fd number on a command line: 3 or more (0-2 are stdio). */
int parse_fd(const char *s, int *ret);

/* "512M", "20G", "1024" (bytes), binary multiples K/M/G/T with optional "iB"/"B". */
int parse_size(const char *s, uint64_t *ret);

/* True if the n bytes form valid UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
/* Length of the valid UTF-8 sequence at s (n bytes left; 1 for ASCII), with its code point in
 * *ret_cp (may be NULL); 0 when it is not one: truncated, overlong, a surrogate, above U+10FFFF. */
size_t utf8_sequence_len(const char *s, size_t n, uint32_t *ret_cp);
bool utf8_is_valid_n(const char *s, size_t n);
bool utf8_is_valid(const char *s);

/* A name that may become part of a path or a command line: 1..max bytes of [A-Za-z0-9._-],
 * not starting with '.' or '-'. Used for VM and container names. */
bool name_is_valid(const char *s, size_t max);

/* Copies at most n-1 bytes and always terminates; returns dst. */
char *strscpy(char *dst, const char *src, size_t n);

bool startswith(const char *s, const char *prefix);

/* The value of one hex digit (either case), or -EINVAL. */
int unhexchar(char c);

/* "512 B", "1.5 MiB": b in binary units, one decimal past bytes. */
void format_bytes(uint64_t b, char *buf, size_t size);

/* The one way to hand back an error message: replaces *reterr_message (when reterr_message is not NULL)
 * with the formatted text ("%m" is strerror(-r)) and returns r. Out of memory, the message is dropped
 * (the errno still tells what failed), never a wrong one left in place. */
int set_error_message(char **reterr_message, int r, const char *fmt, ...) _printf_(3, 4);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Pure helpers of maitred (no syscalls with side effects, no logging): unit-tested in
 * test/unit/maitred/. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kmod-util.h"
#include "strv.h"

/* Splits a command line into words: blanks separate, '...' quotes literally, "..." quotes with
 * \" \\ \$ escapes, a backslash outside quotes escapes the next byte. Returns -EINVAL for an
 * unterminated quote or a trailing backslash, -E2BIG above max_words. */
int split_quoted(const char *s, size_t max_words, char ***ret);

/* The environment of a launched process: every entry of env (KEY=value, validated elsewhere),
 * then each default whose key env does not set. */
int env_merge(char *const *env, size_t n_env, char *const *defaults, char ***ret);

/* Respawn rate limit: at most burst respawns in any interval_usec window. */
#define RATELIMIT_BURST_MAX 64u
typedef struct RateLimit {
        uint64_t interval_usec;
        unsigned burst;
        unsigned n;    /* recorded events, <= burst */
        unsigned head; /* index of the oldest event once n == burst */
        uint64_t events[RATELIMIT_BURST_MAX];
} RateLimit;

#define RATELIMIT_INIT(interval, b) \
        { .interval_usec = (interval), .burst = (b) }

/* Records an event at now and returns true when it is within the limit; returns false (and
 * records nothing) when burst events already happened in the last interval_usec. */
bool ratelimit_test(RateLimit *rl, uint64_t now_usec);

/* A service file (/etc/bistro/services/NAME.conf): "key = value" lines, '#' comments.
 *   exec = /usr/sbin/vshd --port 9001   (required; words as split_quoted(), absolute argv[0])
 *   respawn = yes|no                    (default yes)
 *   env = KEY=value                     (repeatable)
 * Unknown keys are errors, so a typo does not silently drop a setting. */
typedef struct ServiceConfig {
        char **argv;
        char **env;
        bool respawn;
} ServiceConfig;

void service_config_done(ServiceConfig *c);
/* On failure *ret_line (if given) is the 1-based line of the error. */
int service_config_parse(const char *text, ServiceConfig *ret, unsigned *ret_line);
/* A service name from a file name: "vshd.conf" -> "vshd"; NULL when it does not end in .conf or
 * the rest is not a valid name. */
char *service_name_from_filename(const char *fn);

/* The path under zoneinfo_dir for a timezone name, or -EINVAL when the name is not an acceptable
 * zoneinfo name (same rules as the SetTimezone validator: defence in depth). */
int timezone_path(const char *zoneinfo_dir, const char *name, char **ret);

/* The first line of an image-version file, trimmed; "dev" when empty; -EINVAL when it is longer
 * than max bytes or holds bytes other than printable ASCII. */
int image_version_parse(const char *text, size_t max, char **ret);

/* "rdonly,nosuid,..." for logs; unknown bits shown as hex. */
int mount_flags_to_string(uint64_t flags, char **ret);
/* Flags a Mount request may carry (same list as the validator). */
uint64_t mount_flags_allowed(void);

/* Filesystem signature at the start of a block device (buf holds its first n bytes; at least
 * FS_PROBE_SIZE for btrfs). Returns the type name or NULL when no known signature is found. */
#define FS_PROBE_SIZE (68u * 1024u)
const char *fs_probe(const uint8_t *buf, size_t n);

/* argv for formatting source as fstype: {"mkfs.<fstype>", source}. -EINVAL for a bad fstype. */
int mkfs_argv(const char *fstype, const char *source, char ***ret);

/* Whether word appears as a whole word in a kernel command line. */
bool proc_cmdline_has(const char *cmdline, const char *word);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* sommelier's pure parts: the runtime directory check, waypipe's command line, the restart
 * backoff, the deduplication of the host's refusals. Nothing here logs. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "time-util.h"

#define SOMMELIER_PATH "/opt/bistro/bin/sommelier"

/* A runtime directory we may put sockets in: a directory owned by uid, mode 0700 exactly. */
bool sommelier_runtime_dir_ok(const struct stat *st, uid_t uid);

/* waypipe's argv (free with strv_free()): the bundle in bundle_dir (waypipe_bundle_argv()) as the
 * server end, no GPU, connections to socket_path, its display wayland-0, and hold_exe --hold as the
 * child it waits for. All paths absolute (-EINVAL); -ENOMEM. */
int sommelier_waypipe_argv(
        const char *bundle_dir, const char *socket_path, const char *hold_exe, char ***ret);

/* waypipe's restarts: 1 s, doubled after each run shorter than 10 s, at most 30 s; back to 1 s after a
 * run of 10 s or more. */
extern const RestartBackoff sommelier_backoff;

/* The host's refusals are logged once per distinct message per interval (a client that retries
 * in a loop must not flood the log). */
#define REFUSAL_SLOTS 8
#define REFUSAL_MESSAGE_MAX 256
#define REFUSAL_INTERVAL_USEC (60 * USEC_PER_SEC)
typedef struct RefusalLog {
        struct {
                char message[REFUSAL_MESSAGE_MAX];
                usec_t logged;
        } slot[REFUSAL_SLOTS];
        size_t next;
} RefusalLog;
/* true when message should be logged now (and records it). */
bool refusal_log_should(RefusalLog *l, const char *message, usec_t now);

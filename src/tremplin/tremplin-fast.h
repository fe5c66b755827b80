/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The warm StartContainer without a fork (docs/design/containers.md, "The warm start"). Every
 * request is served by a forked worker, and under TCG the fork is most of the cost of asking for a
 * container that already runs (what `bistro` does each time). So a worker that saw a container
 * running reports its init process to the main process (a pipe, one fixed-size record), which
 * keeps a pidfd of it; the next StartContainer of that container, when its init still lives and
 * the requested user is already recorded in its meta, is answered by the main process from the
 * meta alone. Anything else (a stopped or unknown container, a new user, another request, a
 * malformed one) goes to a worker as before. */

#include <stdint.h>
#include <sys/types.h>

#include "proto-validate.h"

#define RUNNING_CACHE_MAX 64u

typedef struct RunningEntry {
        char name[PROTO_NAME_MAX + 1];
        pid_t pid;
        int pidfd; /* -EBADF: free */
} RunningEntry;

typedef struct RunningCache {
        RunningEntry entries[RUNNING_CACHE_MAX];
} RunningCache;

void running_cache_init(RunningCache *c);
void running_cache_done(RunningCache *c);

/* Worker side: name runs with init pid. Writes one record to fd (the pipe's write end); errors are
 * ignored by the caller (the cache is only a shortcut). */
int running_report(int fd, const char *name, pid_t pid);

/* Main side: reads the records waiting in fd (non-blocking) into the cache. A record whose pid no
 * longer has the reported start time (the container stopped meanwhile) is dropped. */
void running_cache_read_reports(RunningCache *c, int fd);

/* Main side, on a fresh connection fd from the host: 1 when the request was a StartContainer the
 * cache could answer (answered; the caller closes fd), -EAGAIN when the request is not complete yet
 * (the caller waits for more, within a bound), 0 otherwise (a worker handles the connection; the
 * request is still unread: only peeked at). */
int fast_start_try(RunningCache *c, int fd);

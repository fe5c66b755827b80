/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* garcon keeps one sommelier (Wayland for the container's apps, docs/design/sommelier.md) running
 * as its own child: restarted with a backoff when it exits, stopped when garcon stops, killed
 * (PR_SET_PDEATHSIG) if garcon dies. Logs. */

#include <stdbool.h>
#include <sys/types.h>

#include "time-util.h"

#define GARCON_SOMMELIER_PATH "/opt/bistro/bin/sommelier"

typedef struct SommelierChild {
        const char *path; /* $GARCON_SOMMELIER (tests) or GARCON_SOMMELIER_PATH; NULL: disabled */
        pid_t pid;
        usec_t started, backoff, next_start; /* next_start: USEC_INFINITY when none is due */
} SommelierChild;

/* enabled false (--no-sommelier, $GARCON_NO_SOMMELIER=1): never starts one. A sommelier that is
 * not installed is not started either (logged once). Otherwise the first start is due now. */
void sommelier_child_init(SommelierChild *c, bool enabled);
/* Starts it when due and not running. */
void sommelier_child_process(SommelierChild *c);
/* true when pid was sommelier (its restart is then scheduled). */
bool sommelier_child_reaped(SommelierChild *c, pid_t pid, int status);
/* SIGTERM, up to 5 s, then SIGKILL. */
void sommelier_child_stop(SommelierChild *c);

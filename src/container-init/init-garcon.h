/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* bistro-init's supervision of garcon (containers without systemd): garcon runs as the
 * container's default user, and is started again when it exits, after a delay that doubles from
 * GARCON_BACKOFF_MIN_USEC to GARCON_BACKOFF_MAX_USEC (back to the minimum after a run of
 * GARCON_STABLE_USEC). */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "time-util.h"

#define GARCON_DEFAULT_PATH "/opt/bistro/bin/garcon"
#define GARCON_BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define GARCON_BACKOFF_MAX_USEC (30 * USEC_PER_SEC)
#define GARCON_STABLE_USEC (60 * USEC_PER_SEC)
#define GARCON_HOME_MAX 512

/* The delay before the next start, given the last one and how long garcon ran. */
usec_t garcon_next_backoff(usec_t previous, usec_t ran);
/* The home directory of uid in /etc/passwd text (name:x:uid:gid:gecos:home:shell): 1 found (copied
 * into home, at most size - 1 bytes, absolute), 0 not there or unusable. */
int garcon_passwd_home(const char *passwd, unsigned uid, char *home, size_t size);
/* "NUMBER" below 2^31 into *ret: 0, or -EINVAL. */
int garcon_parse_id(const char *s, unsigned *ret);
/* Forks garcon (path --server) as uid:gid with HOME from /etc/passwd (or /), a clean environment
 * and its own session; the child unblocks signals. Returns the pid or < 0. */
pid_t garcon_spawn(const char *path, unsigned uid, unsigned gid);

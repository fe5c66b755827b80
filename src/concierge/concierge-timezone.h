/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The host's timezone for the VMs and their containers (docs/design/containers.md, "Timezone").
 * The source is /etc/localtime (a symlink to .../zoneinfo/NAME; $TZ wins when set), or the path in
 * $BISTRO_TIMEZONE_SOURCE (tests point it at a symlink they control). concierge watches the
 * source's directory (inotify: the link is replaced by a rename) and checks it every
 * TIMEZONE_CHECK_USEC as well; on a change, and when a VM becomes RUNNING, a job sends maitred
 * SetTimezone{name} and tremplin SetTimezone{name, TZif bytes} to every running VM. */

#include <stddef.h>

#include "time-util.h"

typedef struct Manager Manager;
typedef struct Vm Vm;

#define TIMEZONE_CHECK_USEC (10 * USEC_PER_SEC)
#define TIMEZONE_TZIF_MAX (64u * 1024u)

/* $BISTRO_TIMEZONE_SOURCE, else /etc/localtime. */
const char *timezone_source(void);
/* The zoneinfo name of source (NULL: timezone_source()): $TZ when source is the default and $TZ
 * names a zone, else what the symlink source points to below "zoneinfo/"; "UTC" when unknown. */
int host_timezone(const char *source, char *buf, size_t size);
/* The name and the TZif bytes (*ret_tzif malloc'd, NULL when unreadable or not TZif). */
int host_timezone_read(const char *source, char *name, size_t size, void **ret_tzif, size_t *ret_len);

/* Starts watching (logs failures; the timer alone still works). */
int timezone_watch_start(Manager *m);
void timezone_watch_stop(void);
/* vm just became RUNNING: its containers get the zone. */
void timezone_vm_running(Vm *vm);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The host's timezone in containers (docs/design/containers.md, "Timezone"). concierge sends
 * SetTimezone{name, tzif}; tremplin keeps it in TIMEZONE_STATE_PATH ("NAME\n" then the TZif bytes) and
 * applies it to every running container at once and to every container at its start. A
 * container's /etc/localtime is replaced only when it is missing or is exactly what tremplin last
 * put there (recorded in the meta: tz=, tzfile=); anything else means the container manages its
 * own zone (timedatectl set-timezone, ln -sf) and it is left alone. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tremplin-meta.h"

#define TIMEZONE_STATE_PATH "/run/bistro/timezone"
#define TIMEZONE_TZIF_MAX (64u * 1024u)
#define ZONEINFO_DIR "/usr/share/zoneinfo/"

typedef enum LocaltimeKind {
        LOCALTIME_MISSING,
        LOCALTIME_LINK,
        LOCALTIME_FILE,
        LOCALTIME_OTHER, /* a directory, a device, unreadable, too large */
} LocaltimeKind;

typedef struct LocaltimeState {
        LocaltimeKind kind;
        char target[256];                 /* LOCALTIME_LINK */
        char fileid[META_TZFILE_MAX + 1]; /* LOCALTIME_FILE: timezone_file_id() of its bytes */
} LocaltimeState;

typedef enum TimezoneAction {
        TIMEZONE_SKIP, /* the container's own zone, or nothing to set */
        TIMEZONE_LINK, /* /etc/localtime -> /usr/share/zoneinfo/NAME */
        TIMEZONE_FILE, /* /etc/localtime := the TZif bytes */
} TimezoneAction;

/* "SIZE:HASH" (hex FNV-1a 64) of a zone file's bytes: what tzfile= records. */
void timezone_file_id(const void *data, size_t n, char ret[static META_TZFILE_MAX + 1]);
/* Whether /etc/localtime in state s is tremplin's to replace, given the meta's record. */
bool timezone_managed(const LocaltimeState *s, const char *rec_tz, const char *rec_tzfile);
/* What to do: managed, the rootfs has zoneinfo for the name, the TZif bytes we have. */
TimezoneAction timezone_plan(bool managed, bool have_zoneinfo, size_t tzif_len);

/* Reads etc/localtime of the rootfs without following it. */
int timezone_read_state(int rootfs_fd, LocaltimeState *ret);
/* Applies name/tzif to the rootfs per the rules above; *m's tz/tzfile are updated when something
 * was written (the caller writes the meta). Returns the action taken, or < 0. */
int timezone_apply(
        int rootfs_fd, uid_t owner, const char *name, const void *tzif, size_t tzif_len, ContainerMeta *m);

/* TIMEZONE_STATE_PATH: save (atomically) and load (name: PROTO_TIMEZONE_MAX + 1 bytes; *ret_tzif
 * malloc'd, may be NULL with *ret_len 0). load: -ENOENT when none was ever sent. */
int timezone_save(const char *path, const char *name, const void *tzif, size_t len);
int timezone_load(const char *path, char *name, size_t name_size, void **ret_tzif, size_t *ret_len);

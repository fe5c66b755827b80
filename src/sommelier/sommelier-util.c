/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gui-env.h"
#include "sommelier-util.h"

bool sommelier_runtime_dir_ok(const struct stat *st, uid_t uid) {
        return S_ISDIR(st->st_mode) && st->st_uid == uid && (st->st_mode & 07777) == 0700;
}

static int join(char *buf, const char *dir, const char *name) {
        int n = snprintf(buf, SOMMELIER_PATH_MAX, "%s/%s", dir, name);

        return n < 0 || n >= SOMMELIER_PATH_MAX ? -ENAMETOOLONG : 0;
}

/* Replaced by src/basic/waypipe-bundle.h's argv once that lands (one place says how to run it). */
int sommelier_waypipe_argv(
        const char *bundle_dir,
        const char *runtime_dir,
        const char *hold_exe,
        WaypipeArgvBuf *bufs,
        const char **ret) {
        size_t n = 0;

        if (bundle_dir[0] != '/' || runtime_dir[0] != '/' || hold_exe[0] != '/')
                return -EINVAL;
        if (join(bufs->loader, bundle_dir, "ld-linux-x86-64.so.2") < 0 ||
            join(bufs->exe, bundle_dir, "waypipe") < 0 ||
            join(bufs->socket, runtime_dir, GUI_WAYPIPE_SOCKET) < 0)
                return -ENAMETOOLONG;
        ret[n++] = bufs->loader;
        ret[n++] = "--library-path";
        ret[n++] = bundle_dir;
        ret[n++] = bufs->exe;
        ret[n++] = "-n"; /* no GPU: the bundle has no libgbm, the host no render node for us */
        ret[n++] = "-s";
        ret[n++] = bufs->socket;
        ret[n++] = "--display";
        ret[n++] = GUI_WAYLAND_DISPLAY;
        ret[n++] = "server";
        ret[n++] = "--";
        ret[n++] = hold_exe;
        ret[n++] = "--hold";
        ret[n] = NULL;
        return 0;
}

usec_t sommelier_next_backoff(usec_t previous, usec_t ran) {
        if (ran >= SOMMELIER_STABLE_USEC || previous < SOMMELIER_BACKOFF_MIN_USEC)
                return SOMMELIER_BACKOFF_MIN_USEC;
        if (previous >= SOMMELIER_BACKOFF_MAX_USEC / 2)
                return SOMMELIER_BACKOFF_MAX_USEC;
        return previous * 2;
}

bool refusal_log_should(RefusalLog *l, const char *message, usec_t now) {
        for (size_t i = 0; i < REFUSAL_SLOTS; i++)
                if (strncmp(l->slot[i].message, message, REFUSAL_MESSAGE_MAX - 1) == 0 &&
                    l->slot[i].message[0]) {
                        if (now - l->slot[i].logged < REFUSAL_INTERVAL_USEC)
                                return false;
                        l->slot[i].logged = now;
                        return true;
                }
        (void) snprintf(l->slot[l->next].message, REFUSAL_MESSAGE_MAX, "%s", message);
        l->slot[l->next].logged = now;
        l->next = (l->next + 1) % REFUSAL_SLOTS;
        return true;
}

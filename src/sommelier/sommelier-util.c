/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "gui-env.h"
#include "sommelier-util.h"
#include "waypipe-bundle.h"

bool sommelier_runtime_dir_ok(const struct stat *st, uid_t uid) {
        return S_ISDIR(st->st_mode) && st->st_uid == uid && (st->st_mode & 07777) == 0700;
}

int sommelier_waypipe_argv(
        const char *bundle_dir, const char *socket_path, const char *hold_exe, char ***ret) {
        /* -n: no GPU; the bundle has no libgbm and the host gives us no render node */
        char *const args[] = {
                (char *) "-n",
                (char *) "-s",
                (char *) socket_path,
                (char *) "--display",
                (char *) GUI_WAYLAND_DISPLAY,
                (char *) "server",
                (char *) "--",
                (char *) hold_exe,
                (char *) "--hold",
                NULL,
        };

        if (socket_path[0] != '/' || hold_exe[0] != '/')
                return -EINVAL;
        return waypipe_bundle_argv(bundle_dir, args, ret);
}

const RestartBackoff sommelier_backoff = {
        .min = 1 * USEC_PER_SEC,
        .max = 30 * USEC_PER_SEC,
        .stable = 10 * USEC_PER_SEC,
};

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

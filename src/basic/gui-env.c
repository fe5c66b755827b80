/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "gui-env.h"

/* Checked against each toolkit's documentation; a list ("a,b") lets a toolkit fall back to X11
 * when a user runs an X server of their own. */
const char *const gui_env[] = {
        "WAYLAND_DISPLAY=" GUI_WAYLAND_DISPLAY,
        "XDG_SESSION_TYPE=wayland",    /* Chromium and Electron's "auto" ozone platform reads it */
        "GDK_BACKEND=wayland,x11",     /* GTK 3.10+: a comma-separated list, tried in order */
        "QT_QPA_PLATFORM=wayland;xcb", /* Qt tries a ";"-separated list of platforms in order */
        "SDL_VIDEODRIVER=wayland,x11", /* SDL 2.0.22+: a comma-separated list */
        "MOZ_ENABLE_WAYLAND=1",        /* Firefox before 121 (Debian 12's ESR) uses X11 without it */
        "CLUTTER_BACKEND=wayland",
        "ELECTRON_OZONE_PLATFORM_HINT=auto", /* Electron 28+: Wayland when the session is Wayland */
        NULL,
};

void gui_runtime_dir(uid_t uid, char buf[static GUI_RUNTIME_DIR_MAX]) {
        (void) snprintf(buf, GUI_RUNTIME_DIR_MAX, GUI_RUNTIME_DIR_PREFIX "%u", (unsigned) uid);
}

bool gui_runtime_dir_is_users(const char *dir, uid_t uid) {
        struct stat st;

        return stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == uid;
}

/* value / 1000 as a decimal without trailing zeros ("1.5", "2", "0.833"): no locale, no float. */
static void format_milli(char *buf, size_t size, const char *name, uint32_t milli) {
        uint32_t frac = milli % 1000;
        int digits = 3;

        if (frac == 0) {
                (void) snprintf(buf, size, "%s=%u", name, milli / 1000);
                return;
        }
        while (frac % 10 == 0) {
                frac /= 10;
                digits--;
        }
        (void) snprintf(buf, size, "%s=%u.%0*u", name, milli / 1000, digits, frac);
}

int gui_scale_env(uint32_t percent, GuiScaleEnv *ret) {
        uint32_t gdk;

        memset(ret, 0, sizeof(*ret));
        if (percent == 0)
                return 0;
        if (percent < 50 || percent > 400)
                return -EINVAL;
        gdk = percent / 100 ?: 1;
        (void) snprintf(ret->entries[ret->n++], GUI_SCALE_ENTRY_MAX, "GDK_SCALE=%u", gdk);
        /* The rest, rounded to 1/1000: 150% -> 1 and 1.5, 250% -> 2 and 1.25, 50% -> 1 and 0.5. */
        format_milli(
                ret->entries[ret->n++], GUI_SCALE_ENTRY_MAX, "GDK_DPI_SCALE",
                (percent * 1000 + gdk * 50) / (gdk * 100));
        format_milli(ret->entries[ret->n++], GUI_SCALE_ENTRY_MAX, "QT_SCALE_FACTOR", percent * 10);
        format_milli(ret->entries[ret->n++], GUI_SCALE_ENTRY_MAX, "ELM_SCALE", percent * 10);
        (void) snprintf(
                ret->entries[ret->n++], GUI_SCALE_ENTRY_MAX, "XCURSOR_SIZE=%u", (24 * percent + 50) / 100);
        return 0;
}

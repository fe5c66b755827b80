/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* How the host marks windows that come from a container (the user's setting `window-mark` in
 * gui.conf; the Wayland gate applies it, cicerone's launcher entries follow it). */
typedef enum WindowMark {
        WINDOW_MARK_TITLE,  /* the default: " (<container>)" after the title */
        WINDOW_MARK_APP_ID, /* app_id "bistro.<container>.<app_id>"; StartupWMClass rewritten alike */
        WINDOW_MARK_NONE,
} WindowMark;

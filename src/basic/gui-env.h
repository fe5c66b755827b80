/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The environment of GUI programs in a container (docs/design/sommelier.md, "The container side"):
 * where sommelier's Wayland socket is, and the variables that make toolkits pick Wayland over X11
 * (the container has no X server). garcon applies it to the apps it launches, vshd to the sessions
 * of the container's default user. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* sommelier's Wayland socket, in the user's runtime directory. */
#define GUI_WAYLAND_DISPLAY "wayland-0"
/* The socket waypipe's server end connects to for each client, served by sommelier. */
#define GUI_WAYPIPE_SOCKET "bistro-waypipe.sock"
/* The runtime directory every container user gets (systemd's pam_systemd, bistro-init for
 * containers without systemd): "/run/user/<uid>". */
#define GUI_RUNTIME_DIR_PREFIX "/run/user/"
#define GUI_RUNTIME_DIR_MAX (sizeof(GUI_RUNTIME_DIR_PREFIX) + 10)

/* "NAME=value" entries, NULL-terminated: the toolkit choice (XDG_RUNTIME_DIR is not in it). */
extern const char *const gui_env[];

/* "/run/user/<uid>" into buf. */
void gui_runtime_dir(uid_t uid, char buf[static GUI_RUNTIME_DIR_MAX]);
/* Whether dir is a directory uid owns (only root makes /run/user/<uid>, so then it is theirs). */
bool gui_runtime_dir_is_users(const char *dir, uid_t uid);

/* The toolkit variables for a per-app scale of percent (50..400; 0: none, n = 0). */
#define GUI_SCALE_ENV_MAX 5
#define GUI_SCALE_ENTRY_MAX 32
typedef struct GuiScaleEnv {
        char entries[GUI_SCALE_ENV_MAX][GUI_SCALE_ENTRY_MAX];
        size_t n;
} GuiScaleEnv;

/* Fills *ret: GDK_SCALE (the integer part, at least 1: GTK scales windows by whole numbers only),
 * GDK_DPI_SCALE (the rest, applied to text), QT_SCALE_FACTOR and ELM_SCALE (the factor itself),
 * XCURSOR_SIZE (24 pixels scaled). -EINVAL when percent is neither 0 nor in 50..400. */
int gui_scale_env(uint32_t percent, GuiScaleEnv *ret);

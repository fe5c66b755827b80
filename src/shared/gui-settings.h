/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The user's GUI settings for container apps: $XDG_CONFIG_HOME/bistro/gui.conf
 * (docs/design/sommelier.md, "Per-app scale and window marks"). One setting per line:
 *
 *   # comment
 *   window-mark = title|app-id|none
 *   app-scale <vm>/<container>/<desktop file id> = <percent, 50..400>
 *
 * The parser is strict: an unknown key, a bad value or a repeated key is an error that names the
 * line. `vmc app-scale` and `vmc window-mark` change the file under a lock (.gui.conf.lock beside it)
 * and replace it atomically, so concurrent writers never lose each other's entries; the file is
 * rewritten in the canonical form (comments are not kept). Non-logging; -errno. */

#include <stdbool.h>
#include <stddef.h>

#include "window-mark.h"

#define GUI_SCALE_PERCENT_MIN 50u
#define GUI_SCALE_PERCENT_MAX 400u
#define GUI_SETTINGS_FILE_MAX (1024u * 1024u)
#define GUI_SETTINGS_SCALES_MAX 4096u

typedef struct AppScale {
        char *vm, *container, *app; /* app: the desktop file id without ".desktop" */
        unsigned percent;           /* GUI_SCALE_PERCENT_MIN..GUI_SCALE_PERCENT_MAX */
} AppScale;

typedef struct GuiSettings {
        WindowMark window_mark;
        AppScale *scales; /* sorted by vm, container, app */
        size_t n_scales;
} GuiSettings;

#define GUI_SETTINGS_INIT ((GuiSettings){ .window_mark = WINDOW_MARK_TITLE })

void gui_settings_done(GuiSettings *s);

/* "title", "app-id", "none"; NULL for a value out of range. */
const char *window_mark_to_string(WindowMark m);
/* -EINVAL for anything else. */
int window_mark_from_string(const char *s, WindowMark *ret);

/* A scale factor as the user writes it: "1.5", "2", "0.75" (at most two decimals) or "150%" (whole
 * percent). *ret gets percent. -EINVAL when malformed, -ERANGE outside 0.5..4 (50%..400%). */
int scale_factor_parse(const char *s, unsigned *ret);
/* percent as the shortest factor: 150 -> "1.5", 200 -> "2", 125 -> "1.25". buf holds >= 8 bytes. */
void scale_factor_format(unsigned percent, char *buf, size_t size);

/* An application id as given by the user or in a launcher entry: "org.gnome.gedit.desktop" and
 * "org.gnome.gedit" are the same app. A copy without the suffix; -EINVAL when it is not a valid
 * desktop file id (app_id_ok()). */
int gui_app_id_normalize(const char *app, char **ret);

/* Parses the text of gui.conf (len bytes; a NUL byte is an error). On failure *reterr_message (may be
 * NULL) says which line and why; -EBADMSG for any error in the text, -E2BIG for too many entries,
 * -ENOMEM. *ret is written only on success. */
int gui_settings_parse(const char *text, size_t len, GuiSettings *ret, char **reterr_message);
/* The canonical text of s (a header comment, window-mark, then the scales sorted). */
int gui_settings_format(const GuiSettings *s, char **ret);

/* The scale of an app in s: percent, 0 when there is none. */
unsigned gui_settings_find_scale(
        const GuiSettings *s, const char *vm, const char *container, const char *app);
/* Sets (percent 50..400) or removes (percent 0) the scale of an app in s. 1 when s changed, 0 when not,
 * -EINVAL for a bad name or percent, -E2BIG when full. */
int gui_settings_put_scale(
        GuiSettings *s, const char *vm, const char *container, const char *app, unsigned percent);

/* $XDG_CONFIG_HOME/bistro/gui.conf (bistro_config_dir()). */
int gui_settings_path(char **ret);
/* Reads gui.conf; a missing file (or directory) gives the defaults. Errors as gui_settings_parse()
 * (the message names the file and line), or reading's -errno. */
int gui_settings_load(GuiSettings *ret, char **reterr_message);

/* Read-modify-write of gui.conf under its lock (waits for another writer): sets or, with percent 0,
 * removes an app's scale; sets the window mark. 1 when the file changed, 0 when it already said
 * so. A gui.conf that does not parse is not overwritten (-EBADMSG with the message). */
int gui_settings_set_scale(
        const char *vm, const char *container, const char *app, unsigned percent, char **reterr_message);
int gui_settings_set_window_mark(WindowMark m, char **reterr_message);

/* The getters the host's programs use. The app's scale in percent (0: none) for cicerone's launch
 * requests; the window mark for the Wayland gate and cicerone's launcher entries. A missing file
 * gives the default (0, WINDOW_MARK_TITLE); a broken one an error (the caller logs it and goes on with
 * the default). *ret is written only on success. */
int gui_settings_app_scale(const char *vm, const char *container, const char *app, unsigned *ret);
int gui_settings_window_mark(WindowMark *ret);

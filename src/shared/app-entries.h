/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The host's desktop entries and icons of the containers' applications (docs/design/cicerone.md):
 *   $XDG_DATA_HOME/applications/bistro-<vm>-<container>-<id>.desktop
 *   $XDG_DATA_HOME/icons/hicolor/<N>x<N>/apps/bistro-<vm>-<container>-<id>.png
 *   $XDG_DATA_HOME/icons/hicolor/scalable/apps/bistro-<vm>-<container>-<id>.svg
 * ($XDG_DATA_HOME defaults to ~/.local/share). cicerone writes them, `vmc apps` lists them, concierge
 * removes them when a container or VM goes. Every name is built from validated components only (vm,
 * container: proto_name_ok(); id, StartupWMClass: the desktop-id rule, name_is_valid(s, 255)); every
 * file is written to a hidden temp name with O_CREAT|O_EXCL|O_NOFOLLOW and renamed over the final
 * name, through directory fds opened with O_DIRECTORY|O_NOFOLLOW: a symlink planted at the final name
 * is replaced, never followed. Entries are found again by their X-Bistro-* keys, not by their file
 * names (names contain '-'). Non-logging; -errno. */

#include <stdbool.h>
#include <stddef.h>

#include "window-mark.h"

#define APP_ICON_BYTES_MAX (256u * 1024u)
#define APP_ICON_PIXELS_MIN 16u
#define APP_ICON_PIXELS_MAX 512u

/* One application as the container describes it (already validated by the wire layer; checked again). */
typedef struct AppInfo {
        const char *id;          /* desktop-file id */
        const char *name;        /* display name; " (<container>)" is appended */
        const char *comment;     /* may be NULL or "" */
        char *const *mime_types; /* "type/subtype" */
        size_t n_mime_types;
        bool no_display;
        const char *startup_wm_class; /* NULL or "": the id */
        WindowMark window_mark;       /* the host's setting (gui.conf), not the container's */
} AppInfo;

/* One entry found on disk. */
typedef struct AppEntry {
        char *vm, *container, *id, *name, *path;
} AppEntry;

/* True for a valid desktop-file id (and StartupWMClass): name_is_valid(s, 255). */
bool app_id_ok(const char *id);

/* The StartupWMClass of app's entry: its StartupWMClass (or id when it has none); with
 * WINDOW_MARK_APP_ID "bistro.<container>.<that>", the app_id the Wayland gate gives its windows, so
 * they still group with the entry. -EINVAL when container or the class is not valid. */
int app_entry_wm_class(const char *container, const AppInfo *app, char **ret);

/* Rewrites the StartupWMClass of every entry on disk for mark (as app_entry_wm_class()), so that
 * a changed setting reaches the entries at once, not only when cicerone next writes them. The number
 * of entries rewritten, or the first error (the others are still tried). */
int app_entries_apply_window_mark(WindowMark mark);

/* Renders the .desktop text of app; exec is the absolute path of bistro's launcher (quoted as the
 * Desktop Entry Specification says when needed). with_icon adds Icon=bistro-<vm>-<container>-<id>. */
int app_entry_format(
        const char *vm,
        const char *container,
        const AppInfo *app,
        const char *exec,
        bool with_icon,
        char **ret);
/* Writes (or replaces) the entry; 0 when it was already identical, 1 when written, -EEXIST when that
 * file name holds another VM's, container's or application's entry. */
int app_entry_write(
        const char *vm, const char *container, const AppInfo *app, const char *exec, bool with_icon);

/* 0 when data is an acceptable icon of that size: a PNG whose IHDR says size x size (16-512) with a
 * sane bit depth and colour type, or (size 0) a strict SVG: UTF-8 text, no NUL, "<svg", no "<!ENTITY",
 * no external (file:, absolute or network) references, at most APP_ICON_BYTES_MAX. -EBADMSG otherwise. */
int app_icon_check(unsigned size, const void *data, size_t len);
/* Checks and writes the icon of an application (size 0: SVG). Only for an entry of that container:
 * -ENOENT when there is none, -EEXIST when the file name belongs to another VM/container/id (the name
 * format is ambiguous: names contain '-'; the first owner keeps a name). */
int app_icon_write(
        const char *vm, const char *container, const char *id, unsigned size, const void *data, size_t len);
/* Removes every icon of an application whose entry is theirs (-ENOENT, -EEXIST as above). */
int app_icons_remove(const char *vm, const char *container, const char *id);
/* True when any icon of that application exists. */
bool app_icon_exists(const char *vm, const char *container, const char *id);

/* The entries found (vm, container: NULL for any), sorted by vm, container, id. */
int app_entries_list(const char *vm, const char *container, AppEntry **ret, size_t *ret_n);
void app_entries_free(AppEntry *e, size_t n);

/* Removes one application's entry and icons. Missing (or another owner's file of that name) is fine. */
int app_entry_remove(const char *vm, const char *container, const char *id);
/* Removes the entries and icons of a container, or of every container of vm when container is NULL;
 * with keep (n_keep ids), the entries of those ids stay. Returns how many entries were removed. */
int app_entries_remove_except(const char *vm, const char *container, const char *const *keep, size_t n_keep);
static inline int app_entries_remove(const char *vm, const char *container) {
        return app_entries_remove_except(vm, container, NULL, 0);
}

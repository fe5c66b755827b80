/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* garcon's view of the container's applications: the scan of the applications/ directories
 * (bounded: files, depth, sizes), the entries that pass garcon's filters, cleaned so that every
 * message built from them passes the validators of src/proto, their icons, and the messages.
 * Nothing here logs above debug. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "container.pb-c.h"
#include "desktop-entry.h"
#include "macro.h"

#define GARCON_SCAN_FILES_MAX 20000u
#define GARCON_SCAN_DEPTH_MAX 8u
#define GARCON_APPS_MAX 2048u /* the validator's limit */
/* UPDATE_APPLICATION_LIST_REQUEST's cap is 1 MiB: the list we build stays below this. */
#define GARCON_APP_LIST_BYTES_MAX (1024u * 1024u - 4096u)
#define GARCON_APP_NAME_MAX 256u
#define GARCON_APP_COMMENT_MAX 1024u
#define GARCON_MIME_TYPES_MAX 64u
#define GARCON_ICON_BYTES_MAX (256u * 1024u)
#define GARCON_ICON_PIXELS_MIN 16u
#define GARCON_ICON_PIXELS_MAX 512u
#define GARCON_ICONS_MAX 5u /* 4 PNGs and one SVG */
#define GARCON_DIR_ONLY_WATCHES_MAX 512u

typedef struct GarconApp {
        char *id;          /* valid desktop id */
        char *file;        /* the .desktop file */
        char *name;        /* passes the validator (1..256 bytes of text) */
        char *comment;     /* passes the validator, "" when none */
        char **mime_types; /* each valid, at most 64; never NULL */
        size_t n_mime_types;
        char *startup_wm_class; /* valid, or "" */
        bool no_display;
        char *exec;             /* the Exec value (Exec quoting), splits into an argv */
        char *work_dir;         /* Path=, NULL when unset */
        char *icon;             /* Icon=, NULL when unset */
        uint64_t icon_sig;      /* of the icon files found (path, size, mtime, inode); 0: none */
        uint64_t icon_sig_sent; /* garcon-server.c: icon_sig of the icons the host has (0: none) */
} GarconApp;

GarconApp *garcon_app_free(GarconApp *a);
DEFINE_TRIVIAL_CLEANUP_FUNC(GarconApp *, garcon_app_free);

/* The app of an entry that passed the filters: Name required (-EINVAL without one, or when it
 * cleans to nothing), text cleaned, invalid mime types and StartupWMClass dropped, icons looked
 * up in data_dirs (may be NULL). */
int garcon_app_from_entry(
        const char *id, const char *path, DesktopEntry *e, char *const *data_dirs, GarconApp **ret);

typedef struct GarconAppList {
        GarconApp **apps; /* sorted by id, unique */
        size_t n;
} GarconAppList;

GarconAppList *garcon_app_list_free(GarconAppList *l);
DEFINE_TRIVIAL_CLEANUP_FUNC(GarconAppList *, garcon_app_list_free);
const GarconApp *garcon_app_list_find(const GarconAppList *l, const char *id);

typedef struct GarconScanOptions {
        char **data_dirs;        /* in order of priority: $XDG_DATA_HOME first */
        const char *search_path; /* $PATH for TryExec; NULL: the default */
        const char *lang;        /* locale for Name/Comment; NULL: unlocalized */
        int inotify_fd;          /* >= 0: watches are added for every directory read */
} GarconScanOptions;

typedef struct GarconScanStats {
        size_t files; /* directory entries looked at */
        size_t desktop_files;
        size_t skipped; /* filtered out, unreadable, too large, invalid */
        size_t watches;
        bool truncated; /* GARCON_SCAN_FILES_MAX reached */
        /* Watches of data dirs and of ancestors of missing dirs: only events about directories
         * (IN_ISDIR) count on them; -1 entries are unused. */
        int dir_only_wds[GARCON_DIR_ONLY_WATCHES_MAX];
        size_t n_dir_only_wds;
} GarconScanStats;

/* True when an event of wd matters: any event on a full watch, directory events on the others. */
bool garcon_scan_event_matters(const GarconScanStats *st, int wd, uint32_t mask);

/* $XDG_DATA_HOME (default ~/.local/share) then $XDG_DATA_DIRS (default
 * /usr/local/share:/usr/share); relative entries are ignored. */
int garcon_data_dirs_from_env(char ***ret);

/* Scans <dir>/applications of every data dir. The first file of a desktop id wins, even when the
 * filters then drop it (a Hidden=true entry in ~/.local/share hides the system one). */
int garcon_scan(const GarconScanOptions *o, GarconAppList **ret, GarconScanStats *ret_stats);

/* Cleaning, exposed for the tests: name/comment text cut at a UTF-8 boundary, controls and
 * invalid bytes replaced. (MIME types are checked with proto_mime_type_ok(), the validator's.) */
int garcon_clean_text(const char *s, size_t max, char **ret);

/* An UpdateApplicationListRequest for l (borrowing its strings): the first apps in id order that
 * fit GARCON_APPS_MAX and GARCON_APP_LIST_BYTES_MAX. */
typedef struct AppListMessage {
        Bistro__Container__UpdateApplicationListRequest req;
        Bistro__Container__Application *apps;
        Bistro__Container__Application **ptrs;
} AppListMessage;
int app_list_message_build(const GarconAppList *l, const char *token, AppListMessage *ret);
void app_list_message_done(AppListMessage *m);

/* Icon files of an Icon= value: an absolute .png/.svg as is; otherwise
 * <data dir>/icons/hicolor/NxN/apps/NAME.png for N in 48 64 128 256 (the first data dir that has
 * it), <data dir>/icons/hicolor/scalable/apps/NAME.svg, and when none of those exist
 * /usr/share/pixmaps/NAME.png or .svg. *ret_sig hashes what was found (0: nothing). */
typedef struct IconFile {
        char *path;
        bool svg;
} IconFile;
int icon_find(const char *icon, char *const *data_dirs, IconFile **ret, size_t *ret_n, uint64_t *ret_sig);
void icon_files_free(IconFile *f, size_t n);

/* The square size of a PNG from its signature and IHDR chunk, when it is 16..512 pixels. */
bool png_square_size(const uint8_t *d, size_t n, uint32_t *ret_size);

/* Reads an icon file: regular (opened O_NONBLOCK, so a FIFO or device never blocks), 1..256 KiB,
 * a PNG with a valid square size or an SVG. Returns 0 with the data and size (0 for SVG),
 * -EFBIG, -EBADMSG, -errno. */
int icon_load(const IconFile *f, uint8_t **ret, size_t *ret_len, uint32_t *ret_size);

/* An UpdateApplicationIconsRequest for one app: at most 4 PNGs of distinct sizes and one SVG,
 * loaded now. n_icons may be 0 (the app has no usable icon any more). */
typedef struct IconsMessage {
        Bistro__Container__UpdateApplicationIconsRequest req;
        Bistro__Container__Icon icons[GARCON_ICONS_MAX];
        Bistro__Container__Icon *ptrs[GARCON_ICONS_MAX];
} IconsMessage;
int icons_message_build(const GarconApp *a, char *const *data_dirs, const char *token, IconsMessage *ret);
void icons_message_done(IconsMessage *m);

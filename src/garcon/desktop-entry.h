/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Desktop entries (freedesktop Desktop Entry Specification 1.5) as garcon reads them: the
 * [Desktop Entry] group of one file, garcon's filters, desktop ids and the Exec line. The files
 * come from the container, which may be hostile: everything here is bounded by the input and
 * never crashes on any bytes. Nothing here logs. */

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* A file larger than this is not read (garcon skips it). */
#define DESKTOP_ENTRY_SIZE_MAX (64u * 1024u)

typedef struct DesktopEntry {
        /* Unescaped string values (\s \n \t \r \\), NULL when the key is absent. name and comment
         * are the best match for the locale given to desktop_entry_parse(). */
        char *type;
        char *name;
        char *comment;
        char *exec; /* still in Exec quoting: see exec_line_expand() */
        char *try_exec;
        char *icon;
        char *path;
        char *startup_wm_class;
        /* Lists (';'-separated, "\;" escapes a ';'), NULL-terminated; NULL when absent. */
        char **mime_types;
        char **only_show_in;
        char **not_show_in;
        bool hidden;
        bool no_display;
        bool terminal;
        /* Match quality (0: unlocalized key) of name and comment. */
        int name_score;
        int comment_score;
} DesktopEntry;

DesktopEntry *desktop_entry_free(DesktopEntry *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(DesktopEntry *, desktop_entry_free);

/* Parses the [Desktop Entry] group of a file's n bytes (any bytes: a NUL ends nothing, lines are
 * split at '\n', a trailing '\r' is dropped). lang is a POSIX locale name ("de_DE.UTF-8@euro",
 * "C", NULL) used to pick localized Name[...]/Comment[...] keys as the spec orders them
 * (lang_COUNTRY@MODIFIER, lang_COUNTRY, lang@MODIFIER, lang, unlocalized). Other groups,
 * comments, blank lines and malformed lines are skipped; for a key given twice, the first wins.
 * Returns 0, -EBADMSG when the file has no [Desktop Entry] group, -ENOMEM. */
int desktop_entry_parse(const char *buf, size_t n, const char *lang, DesktopEntry **ret);

/* The locale for desktop_entry_parse() from $LC_ALL, $LC_MESSAGES, $LANG (the first set one). */
const char *desktop_entry_locale_from_env(void);

/* Why an entry is not sent to the host (garcon's rules), or DESKTOP_ENTRY_SHOW. */
typedef enum DesktopEntryVerdict {
        DESKTOP_ENTRY_SHOW,
        DESKTOP_ENTRY_NOT_APPLICATION,
        DESKTOP_ENTRY_HIDDEN,
        DESKTOP_ENTRY_NO_EXEC,      /* no Exec, or one that does not split into an argv */
        DESKTOP_ENTRY_NO_DISPLAY,   /* NoDisplay=true without MimeType */
        DESKTOP_ENTRY_TERMINAL,     /* Terminal=true: the host has no terminal handler yet */
        DESKTOP_ENTRY_ONLY_SHOW_IN, /* OnlyShowIn without GNOME */
        DESKTOP_ENTRY_NOT_SHOW_IN,  /* NotShowIn with GNOME */
        DESKTOP_ENTRY_TRY_EXEC,     /* TryExec not found */
        _DESKTOP_ENTRY_VERDICT_MAX,
} DesktopEntryVerdict;

/* Applies garcon's filters. TryExec is resolved as an absolute path, or a name looked up in
 * search_path (a $PATH value; NULL: the default path), and must be a regular executable file. */
DesktopEntryVerdict desktop_entry_verdict(const DesktopEntry *e, const char *search_path);
const char *desktop_entry_verdict_to_string(DesktopEntryVerdict v);

/* The desktop id of a file at rel below an applications/ directory: '/' becomes '-', the
 * ".desktop" suffix goes. Returns 0 with a new string, -EINVAL when rel does not end in
 * ".desktop" or the id would not be valid for the wire (name_is_valid(), 255 bytes), -ENOMEM. */
int desktop_id_from_path(const char *rel, char **ret);

/* Splits an Exec value (already unescaped as a string) into arguments by the spec's quoting
 * rules: arguments separated by spaces, tabs or newlines; "double quotes" in which \" \` \$ \\
 * stand for the character; outside quotes a backslash takes the next character literally and
 * 'single quotes' are literal up to the next one (GLib's g_shell_parse_argv() reads them, and
 * real files use them). Field codes are then expanded in every argument:
 *   %f  the first of files (one argument; dropped when there is none)
 *   %F  every file, each its own argument (only as a whole argument; inside one it is %f)
 *   %u  the first of uris, or of files when there are no uris; %U every one of them
 *   %i  "--icon" ICON when icon is set (as a whole argument), nothing otherwise
 *   %c  name; %k  location (the desktop file's path); %%  '%'
 *   the deprecated %d %D %n %N %v %m and unknown codes are dropped.
 * An argument that consisted only of field codes that expanded to nothing is dropped. Nothing is
 * ever given to a shell: ';', '$(...)', backticks, '|' stay literal characters of an argument.
 * Returns 0 with a NULL-terminated argv of at least one element, -EINVAL for an unterminated
 * quote, a trailing backslash or an empty command, -E2BIG beyond EXEC_ARGS_MAX arguments,
 * -ENOMEM. */
#define EXEC_ARGS_MAX 4096u
int exec_line_expand(
        const char *exec,
        char *const *files,
        size_t n_files,
        char *const *uris,
        size_t n_uris,
        const char *icon,
        const char *name,
        const char *location,
        char ***ret_argv);

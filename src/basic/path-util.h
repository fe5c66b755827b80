/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* "a" + "/" + "b" with exactly one slash between them; NULL on OOM. */
char *path_join(const char *a, const char *b);
/* The directory of our own executable (/proc/self/exe), malloc'd; -errno. */
int self_exe_dir(char **ret);
/* The path of our own executable; -errno. */
int self_exe_path(char **ret);
/* Looks name up like execvp() does: a name with a slash is taken as it is; else each $PATH entry (or
 * /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin when unset). Only regular executable
 * files count. -ENOENT when not found. */
int find_executable(const char *name, char **ret);
/* True when path is absolute and has no "." or ".." component and no "//". */
bool path_is_normalized_absolute(const char *path);
/* readlink() into a malloc'd string of any length (bounded by PATH_MAX). */
int readlink_malloc(const char *path, char **ret);

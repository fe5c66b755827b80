/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Recursive removal that never follows a symlink and never leaves the file system it starts on (a
 * mount point below is skipped, not entered: a bind mount of the user's home must not be emptied). */

/* Removes everything below the directory fd (which it consumes); the directory itself stays. Goes on
 * past failures and returns the first error, 0 if all went. */
int rm_rf_children(int dfd);
/* Removes name (a file, a symlink, or a directory with everything below it) relative to dirfd (AT_FDCWD
 * for a path). A missing name is success. */
int rm_rf_at(int dirfd, const char *name);
static inline int rm_rf(const char *path) {
        return rm_rf_at(-100 /* AT_FDCWD */, path);
}

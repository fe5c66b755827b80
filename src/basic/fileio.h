/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

typedef enum WriteStringFileFlags {
        WRITE_STRING_FILE_CREATE =
                1 << 0, /* create (0644 & ~umask) and truncate; else the file must exist */
        WRITE_STRING_FILE_NOFOLLOW = 1 << 1, /* refuse a symlink as the last component */
} WriteStringFileFlags;

/* Writes s with one write() (kernel files such as /proc/PID/uid_map and sysctls need that) and reports
 * a short write as -EIO. Not atomic: for state files use write_file_atomic() (fd-util.h). */
int write_string_file(const char *path, const char *s, WriteStringFileFlags flags);
int write_string_file_at(int dirfd, const char *path, const char *s, WriteStringFileFlags flags);

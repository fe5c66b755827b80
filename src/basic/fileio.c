/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>

#include "fileio.h"
#include "macro.h"

int write_string_file_at(int dirfd, const char *path, const char *s, WriteStringFileFlags flags) {
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(s);
        ssize_t k;
        int oflags = O_WRONLY | O_CLOEXEC | O_NOCTTY;

        if (flags & WRITE_STRING_FILE_CREATE)
                oflags |= O_CREAT | O_TRUNC;
        if (flags & WRITE_STRING_FILE_NOFOLLOW)
                oflags |= O_NOFOLLOW;
        fd = openat(dirfd, path, oflags, 0644);
        if (fd < 0)
                return -errno;
        k = write(fd, s, n);
        if (k < 0)
                return -errno;
        return (size_t) k == n ? 0 : -EIO;
}

int write_string_file(const char *path, const char *s, WriteStringFileFlags flags) {
        return write_string_file_at(AT_FDCWD, path, s, flags);
}

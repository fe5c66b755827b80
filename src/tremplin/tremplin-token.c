/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "tremplin-layout.h"
#include "tremplin-token.h"

int token_write(const char *name, const char *token, uint32_t base) {
        char path[PATH_MAX], tmp[PATH_MAX + 8];
        _cleanup_close_ int fd = -EBADF;
        int r;

        r = mkdir_p(TOKEN_DIR, 0711);
        if (r < 0)
                return r;
        (void) snprintf(path, sizeof(path), TOKEN_DIR "/%s", name);
        (void) snprintf(tmp, sizeof(tmp), TOKEN_DIR "/.%s.new", name);
        (void) unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0400);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, token, strlen(token));
        /* Readable by the container's root only. */
        if (r >= 0 && fchown(fd, base, base) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

void token_remove(const char *name) {
        char path[PATH_MAX];

        (void) snprintf(path, sizeof(path), TOKEN_DIR "/%s", name);
        (void) unlink(path);
}

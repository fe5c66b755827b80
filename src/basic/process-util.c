/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "process-util.h"

int pid_get_state(pid_t pid) {
        _cleanup_close_ int fd = -EBADF;
        char path[64], buf[512];
        const char *p;
        ssize_t n;

        if (pid <= 0)
                return -EINVAL;
        (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        n = read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return errno == ESRCH ? -ESRCH : -errno;
        buf[n] = 0;
        /* "PID (COMM) S ...": COMM may hold spaces and parentheses, so the state follows the last ')'. */
        p = strrchr(buf, ')');
        if (!p || p[1] != ' ' || !p[2] || p[2] == ' ')
                return -EBADMSG;
        return (unsigned char) p[2];
}

bool pid_is_alive(pid_t pid) {
        int r = pid_get_state(pid);

        return r >= 0 ? r != 'Z' && r != 'X' : r != -ESRCH && r != -EINVAL;
}

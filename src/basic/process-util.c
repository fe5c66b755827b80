/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "process-util.h"

/* Reads /proc/PID/stat into buf and returns (in *ret) what follows "PID (COMM) ": COMM may hold
 * spaces and parentheses, so that is after the last ')'. */
static int read_stat_fields(pid_t pid, char *buf, size_t size, const char **ret) {
        _cleanup_close_ int fd = -EBADF;
        char path[64];
        const char *p;
        ssize_t n;

        if (pid <= 0)
                return -EINVAL;
        (void) snprintf(path, sizeof(path), "/proc/%d/stat", (int) pid);
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return errno == ENOENT ? -ESRCH : -errno;
        n = read(fd, buf, size - 1);
        if (n < 0)
                return errno == ESRCH ? -ESRCH : -errno;
        buf[n] = 0;
        p = strrchr(buf, ')');
        if (!p || p[1] != ' ' || !p[2] || p[2] == ' ')
                return -EBADMSG;
        *ret = p + 2;
        return 0;
}

int pid_get_state(pid_t pid) {
        char buf[512];
        const char *p;
        int r;

        r = read_stat_fields(pid, buf, sizeof(buf), &p);
        if (r < 0)
                return r;
        return (unsigned char) p[0];
}

int pid_get_start_time(pid_t pid, uint64_t *ret) {
        char buf[1024], *end;
        const char *p;
        unsigned long long v;
        int r;

        r = read_stat_fields(pid, buf, sizeof(buf), &p);
        if (r < 0)
                return r;
        /* p is field 3 (state); starttime is field 22. */
        for (unsigned i = 3; i < 22; i++) {
                p = strchr(p, ' ');
                if (!p)
                        return -EBADMSG;
                p++;
        }
        errno = 0;
        v = strtoull(p, &end, 10);
        if (errno != 0 || end == p || (*end != ' ' && *end != '\n' && *end != 0))
                return -EBADMSG;
        *ret = (uint64_t) v;
        return 0;
}

bool pid_is_alive(pid_t pid) {
        int r = pid_get_state(pid);

        return r >= 0 ? r != 'Z' && r != 'X' : r != -ESRCH && r != -EINVAL;
}

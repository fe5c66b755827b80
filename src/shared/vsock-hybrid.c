/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "socket-util.h"
#include "string-util.h"
#include "time-util.h"
#include "vsock-hybrid.h"

int vsock_hybrid_connect(const char *path, uint32_t port, int timeout_ms) {
        _cleanup_close_ int fd = -EBADF;
        char cmd[32], line[64];
        int64_t deadline = timeout_ms < 0 ? -1 : (int64_t) now_msec(CLOCK_MONOTONIC) + timeout_ms;
        size_t n = 0;
        int r;

        fd = unix_connect(path);
        if (fd < 0)
                return fd;
        (void) snprintf(cmd, sizeof(cmd), "CONNECT %u\n", port);
        r = loop_write(fd, cmd, strlen(cmd));
        if (r < 0)
                return r;

        /* One byte at a time: what follows the line is the guest's stream. */
        for (;;) {
                ssize_t k;

                if (n + 1 >= sizeof(line))
                        return -EBADMSG;
                r = fd_wait_until(fd, POLLIN, deadline);
                if (r < 0)
                        return r;
                k = read(fd, line + n, 1);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return n == 0 ? -ECONNABORTED : -EBADMSG;
                if (line[n++] == '\n')
                        break;
        }
        line[n] = 0;
        if (startswith(line, "OK "))
                return TAKE_FD(fd);
        if (startswith(line, "ERR"))
                return -ECONNABORTED;
        return -EBADMSG;
}

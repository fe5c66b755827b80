/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "hybrid.h"
#include "macro.h"
#include "socket-util.h"
#include "string-util.h"

int hybrid_parse_connect(const char *line, size_t n, uint32_t *ret_port) {
        char buf[HYBRID_LINE_MAX + 1];
        uint32_t port;

        if (n < 2 || n > HYBRID_LINE_MAX || line[n - 1] != '\n')
                return -EBADMSG;
        memcpy(buf, line, n - 1);
        buf[n - 1] = 0;
        if (memchr(buf, 0, n - 1))
                return -EBADMSG;
        if (!startswith(buf, "CONNECT "))
                return -EBADMSG;
        if (safe_atou32(buf + strlen("CONNECT "), &port) < 0)
                return -EBADMSG;
        *ret_port = port;
        return 0;
}

int hybrid_read_connect(int fd, uint32_t *ret_port) {
        char buf[HYBRID_LINE_MAX];
        const char *nl;
        ssize_t n;

        /* Peek first so that data sent right after the line stays in the socket for the guest. */
        n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0)
                return -ECONNRESET;
        nl = memchr(buf, '\n', (size_t) n);
        if (!nl)
                return (size_t) n >= sizeof(buf) ? -EBADMSG : 0;
        n = nl - buf + 1;
        if (recv(fd, buf, (size_t) n, MSG_DONTWAIT) != n)
                return -EIO;
        return hybrid_parse_connect(buf, (size_t) n, ret_port) < 0 ? -EBADMSG : 1;
}

int hybrid_connect_port(const char *base, uint32_t port) {
        char path[108];
        int n;

        n = snprintf(path, sizeof(path), "%s_%" PRIu32, base, port);
        if (n < 0 || (size_t) n >= sizeof(path))
                return -ENAMETOOLONG;
        return unix_connect_nonblock(path);
}

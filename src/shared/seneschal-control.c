/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "seneschal-control.h"
#include "socket-util.h"
#include "string-util.h"

bool share_name_is_valid(const char *s) {
        return proto_share_name_ok(s);
}

int seneschal_request_parse(const void *buf, size_t n, SeneschalRequest *ret) {
        SeneschalRequest r;

        if (!buf || n != sizeof(r))
                return -EBADMSG;
        memcpy(&r, buf, sizeof(r));
        if (r.op != SENESCHAL_OP_ADD && r.op != SENESCHAL_OP_REMOVE)
                return -EBADMSG;
        if (r.flags & ~(r.op == SENESCHAL_OP_ADD ? SENESCHAL_FLAG_READ_ONLY : 0))
                return -EBADMSG;
        if (!memchr(r.name, 0, sizeof(r.name)) || !share_name_is_valid(r.name))
                return -EBADMSG;
        if (r.reserved[0] || r.reserved[1] || r.reserved[2])
                return -EBADMSG;
        *ret = r;
        return 0;
}

int seneschal_call(const char *path, const SeneschalRequest *req, int dir_fd, int timeout_ms) {
        _cleanup_close_ int fd = -EBADF;
        int32_t reply;
        ssize_t n;
        int r;

        fd = unix_connect_type(path, SOCK_SEQPACKET);
        if (fd < 0)
                return fd;
        r = socket_set_timeouts(fd, timeout_ms);
        if (r < 0)
                return r;
        r = send_with_fd(fd, req, sizeof(*req), dir_fd);
        if (r < 0)
                return r;
        n = recv(fd, &reply, sizeof(reply), 0);
        if (n < 0)
                return errno == EAGAIN ? -ETIMEDOUT : -errno;
        if (n != (ssize_t) sizeof(reply) || reply > 0 || reply < -4095)
                return -EPROTO;
        return reply;
}

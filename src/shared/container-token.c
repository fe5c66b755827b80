/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "container-token.h"
#include "fd-util.h"
#include "macro.h"
#include "proto-validate.h"

const char *container_token_path(void) {
        const char *p = getenv("GARCON_TOKEN_FILE");

        return p && p[0] == '/' ? p : "/dev/.container_token";
}

int container_token_read(char *ret) {
        _cleanup_close_ int fd = -EBADF;
        char buf[PROTO_TOKEN_MAX + 3];
        struct stat st;
        ssize_t n;

        fd = open(container_token_path(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        n = loop_read(fd, buf, sizeof(buf) - 1);
        if (n < 0)
                return (int) n;
        buf[n] = 0;
        if (n > 0 && buf[n - 1] == '\n')
                buf[--n] = 0;
        if (!proto_token_ok(buf) || strlen(buf) != (size_t) n)
                return -EBADMSG;
        memcpy(ret, buf, (size_t) n + 1);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "bistro-ports.h"
#include "alloc-util.h"
#include "fd-util.h"
#include "garcon-util.h"
#include "macro.h"
#include "proto-validate.h"
#include "share-url.h"
#include "socket-util.h"
#include "time-util.h"
#include "url-util.h"

int garcon_host_connect_start(void) {
        const char *path = getenv("GARCON_HOST_SOCKET");
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (path && path[0]) {
                struct sockaddr_un sa;
                int salen = sockaddr_un_set_path(&sa, path);

                if (salen < 0)
                        return salen;
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return -errno;
                r = connect(fd, (struct sockaddr *) &sa, (socklen_t) salen);
        } else {
                struct sockaddr_vm sa = {
                        .svm_family = AF_VSOCK,
                        .svm_cid = VMADDR_CID_HOST,
                        .svm_port = CICERONE_PORT,
                };

                fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0)
                        return -errno;
                r = connect(fd, (struct sockaddr *) &sa, sizeof(sa));
        }
        if (r < 0 && errno != EINPROGRESS)
                return -errno;
        return TAKE_FD(fd);
}

int garcon_host_connect(int timeout_ms) {
        _cleanup_close_ int fd = -EBADF;
        int64_t deadline = (int64_t) now_msec(CLOCK_MONOTONIC) + timeout_ms;
        socklen_t l = sizeof(int);
        int r, err = 0;

        fd = garcon_host_connect_start();
        if (fd < 0)
                return fd;
        r = fd_wait_until(fd, POLLOUT, deadline);
        if (r < 0)
                return r;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                return -errno;
        if (err != 0)
                return -err;
        return TAKE_FD(fd);
}

/* "scheme:" at the start (RFC 3986: a letter, then letters, digits, '+', '-', '.'). */
static bool has_url_scheme(const char *s) {
        if (!isalpha((unsigned char) s[0]))
                return false;
        for (s++; *s; s++) {
                if (*s == ':')
                        return true;
                if (!isalnum((unsigned char) *s) && *s != '+' && *s != '-' && *s != '.')
                        return false;
        }
        return false;
}

/* A file (a path, or a file:// URL of this machine) that may be opened on the host: only in a share,
 * after resolving symlinks here; the host checks again, on its side. */
static int file_url_prepare(const char *arg, char **ret) {
        _cleanup_free_ char *decoded = NULL, *resolved = NULL;
        const char *path = arg;

        if (strncasecmp(arg, "file://", 7) == 0) {
                path = arg + 7;
                if (strncasecmp(path, "localhost/", 10) == 0)
                        path += 9;
                if (path[0] != '/')
                        return 0;
                if (url_decode(path, strlen(path), &decoded) < 0)
                        return 0;
                path = decoded;
        } else if (has_url_scheme(arg))
                return 0; /* another scheme (javascript:, ftp://, ...): not ours to open */
        resolved = realpath(path, NULL);
        if (!resolved)
                return -errno;
        return share_url_from_path(resolved, ret);
}

int garcon_url_prepare(const char *url, char **ret) {
        static const char *const schemes[] = { "http://", "https://", "mailto:" };
        static const char hex[] = "0123456789ABCDEF";
        bool ok = false;
        size_t n = 0;
        char *r;

        for (size_t i = 0; i < ELEMENTSOF(schemes); i++)
                if (strncasecmp(url, schemes[i], strlen(schemes[i])) == 0 && url[strlen(schemes[i])])
                        ok = true;
        if (!ok)
                return file_url_prepare(url, ret);
        for (const unsigned char *p = (const unsigned char *) url; *p; p++)
                n += *p <= 0x20 || *p >= 0x7f ? 3 : 1;
        if (n > PROTO_URL_MAX)
                return -E2BIG;
        r = malloc(n + 1);
        if (!r)
                return -ENOMEM;
        n = 0;
        for (const unsigned char *p = (const unsigned char *) url; *p; p++)
                if (*p <= 0x20 || *p >= 0x7f) {
                        r[n++] = '%';
                        r[n++] = hex[*p >> 4];
                        r[n++] = hex[*p & 15];
                } else
                        r[n++] = (char) *p;
        r[n] = 0;
        *ret = r;
        return 1;
}

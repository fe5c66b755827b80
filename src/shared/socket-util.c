/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"
#include "socket-util.h"

int sockaddr_un_set_path(struct sockaddr_un *ret, const char *path) {
        size_t l = strlen(path);

        if (l == 0)
                return -EINVAL;
        if (l >= sizeof(ret->sun_path))
                return -ENAMETOOLONG;
        *ret = (struct sockaddr_un){ .sun_family = AF_UNIX };
        memcpy(ret->sun_path, path, l + 1);
        return (int) (offsetof(struct sockaddr_un, sun_path) + l + 1);
}

int unix_listen(const char *path, int backlog, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        int salen;

        salen = sockaddr_un_set_path(&sa, path);
        if (salen < 0)
                return salen;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        (void) unlink(path);
        if (bind(fd, (struct sockaddr *) &sa, (socklen_t) salen) < 0)
                return -errno;
        if (chmod(path, mode) < 0)
                return -errno;
        if (listen(fd, backlog) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static int unix_connect_flags(const char *path, int flags) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        int salen;

        salen = sockaddr_un_set_path(&sa, path);
        if (salen < 0)
                return salen;
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, (socklen_t) salen) < 0 && errno != EINPROGRESS)
                return -errno;
        return TAKE_FD(fd);
}

int unix_connect(const char *path) {
        return unix_connect_flags(path, 0);
}

int unix_connect_nonblock(const char *path) {
        return unix_connect_flags(path, SOCK_NONBLOCK);
}

int vsock_listen(uint32_t port, int backlog) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_vm sa = {
                .svm_family = AF_VSOCK,
                .svm_cid = VMADDR_CID_ANY,
                .svm_port = port,
        };

        fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (bind(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        if (listen(fd, backlog) < 0)
                return -errno;
        return TAKE_FD(fd);
}

int vsock_connect(uint32_t cid, uint32_t port) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_vm sa = {
                .svm_family = AF_VSOCK,
                .svm_cid = cid,
                .svm_port = port,
        };

        fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) < 0)
                return -errno;
        return TAKE_FD(fd);
}

static int unix_peer_cred(int fd, struct ucred *ret) {
        socklen_t l = sizeof(*ret);

        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ret, &l) < 0)
                return -errno;
        return l == sizeof(*ret) ? 0 : -EIO;
}

int unix_peer_uid(int fd, uid_t *ret_uid) {
        struct ucred uc;
        int r = unix_peer_cred(fd, &uc);

        if (r < 0)
                return r;
        *ret_uid = uc.uid;
        return 0;
}

int unix_peer_pid(int fd, pid_t *ret_pid) {
        struct ucred uc;
        int r = unix_peer_cred(fd, &uc);

        if (r < 0)
                return r;
        if (uc.pid <= 0)
                return -ESRCH; /* no process (a peer in another pid namespace) */
        *ret_pid = uc.pid;
        return 0;
}

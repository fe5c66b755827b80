/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "fd-util.h"

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
        return unix_listen_type(path, SOCK_STREAM, backlog, mode);
}

int unix_listen_type(const char *path, int type, int backlog, mode_t mode) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        int salen;

        salen = sockaddr_un_set_path(&sa, path);
        if (salen < 0)
                return salen;
        fd = socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
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

static int unix_connect_flags(const char *path, int type, int flags) {
        _cleanup_close_ int fd = -EBADF;
        struct sockaddr_un sa;
        int salen;

        salen = sockaddr_un_set_path(&sa, path);
        if (salen < 0)
                return salen;
        fd = socket(AF_UNIX, type | SOCK_CLOEXEC | flags, 0);
        if (fd < 0)
                return -errno;
        if (connect(fd, (struct sockaddr *) &sa, (socklen_t) salen) < 0 && errno != EINPROGRESS)
                return -errno;
        return TAKE_FD(fd);
}

int unix_connect(const char *path) {
        return unix_connect_flags(path, SOCK_STREAM, 0);
}

int unix_connect_nonblock(const char *path) {
        return unix_connect_flags(path, SOCK_STREAM, SOCK_NONBLOCK);
}

int unix_connect_type(const char *path, int type) {
        return unix_connect_flags(path, type, 0);
}

int socket_set_timeouts(int fd, int timeout_ms) {
        struct timeval tv = {
                .tv_sec = timeout_ms / 1000,
                .tv_usec = (timeout_ms % 1000) * 1000,
        };

        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
                return -errno;
        return 0;
}

void cmsg_put_fds(struct msghdr *mh, void *control, const int *fds, size_t n) {
        struct cmsghdr *cm;

        mh->msg_control = control;
        mh->msg_controllen = CMSG_SPACE(sizeof(int) * n);
        cm = CMSG_FIRSTHDR(mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
        memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
}

int send_with_fd(int sock, const void *buf, size_t n, int fd) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = n };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t k;

        if (fd >= 0)
                cmsg_put_fds(&mh, &control, &fd, 1);
        k = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (k < 0)
                return errno == EAGAIN ? -ETIMEDOUT : -errno;
        return (size_t) k == n ? 0 : -EPROTO;
}

size_t cmsg_take_fds(struct msghdr *mh, int *fds, size_t *n, size_t max) {
        size_t closed = 0;

        for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
                size_t k;

                if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        int f;

                        memcpy(&f, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
                        if (*n < max)
                                fds[(*n)++] = f;
                        else {
                                (void) close(f);
                                closed++;
                        }
                }
        }
        return closed;
}

ssize_t recv_with_fd(int sock, void *buf, size_t n, int *ret_fd) {
        char cbuf[CMSG_SPACE(sizeof(int) * 4)];
        struct iovec iov = { .iov_base = buf, .iov_len = n };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = cbuf,
                .msg_controllen = sizeof(cbuf),
        };
        int got = -EBADF;
        size_t n_got = 0;
        ssize_t k;

        k = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (k < 0)
                return -errno;
        /* One fd is all we take. */
        (void) cmsg_take_fds(&mh, &got, &n_got, 1);
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) {
                safe_close(got);
                return -EMSGSIZE;
        }
        if (ret_fd)
                *ret_fd = got;
        else
                safe_close(got);
        return k;
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

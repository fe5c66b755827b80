/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A plain Wayland proxy with the gate's filter in the middle, for tests against a real compositor
 * without a VM: listens on LISTEN, and for each client connects to UPSTREAM and relays both ways
 * through a WaylandFilter, passing file descriptors as the gate does (with the output of the bytes
 * they came with, or with the next output when those bytes produced none). One process per client.
 * A violation is printed and ends that client's connection (exit 3).
 *
 *   wayland-filter-proxy LISTEN UPSTREAM CONTAINER title|app-id|none */
#include <errno.h>
#include <poll.h>
#include <sys/wait.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "macro.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "wayland-filter.h"

#define FDS_MAX 28 /* libwayland's per-sendmsg() limit */
#define FDS_QUEUE_MAX 1024

typedef struct Side {
        int fd;
        int fds[FDS_QUEUE_MAX]; /* received from this side, not yet sent to the other */
        size_t n_fds;
} Side;

static int receive(Side *s, uint8_t *buf, size_t size) {
        union {
                struct cmsghdr h;
                uint8_t space[CMSG_SPACE(sizeof(int) * FDS_MAX)];
        } control;
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)
        };
        ssize_t n;

        n = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0)
                return -errno;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                size_t k;

                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                if (s->n_fds + k > FDS_QUEUE_MAX)
                        return -EMFILE;
                memcpy(s->fds + s->n_fds, CMSG_DATA(c), k * sizeof(int));
                s->n_fds += k;
        }
        return (int) n;
}

/* Sends out to `to`, with the fds queued from `from` (FDS_MAX per sendmsg()). */
static int send_out(Side *from, int to, Buffer *out) {
        size_t off = 0;

        while (off < out->size) {
                union {
                        struct cmsghdr h;
                        uint8_t space[CMSG_SPACE(sizeof(int) * FDS_MAX)];
                } control = {};
                struct iovec iov = { .iov_base = out->data + off, .iov_len = out->size - off };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                size_t k = MIN(from->n_fds, (size_t) FDS_MAX);
                ssize_t n;

                if (k > 0) {
                        mh.msg_control = &control;
                        mh.msg_controllen = CMSG_SPACE(sizeof(int) * k);
                        CMSG_FIRSTHDR(&mh)->cmsg_level = SOL_SOCKET;
                        CMSG_FIRSTHDR(&mh)->cmsg_type = SCM_RIGHTS;
                        CMSG_FIRSTHDR(&mh)->cmsg_len = CMSG_LEN(sizeof(int) * k);
                        memcpy(CMSG_DATA(CMSG_FIRSTHDR(&mh)), from->fds, sizeof(int) * k);
                }
                n = sendmsg(to, &mh, MSG_NOSIGNAL);
                if (n < 0)
                        return -errno;
                for (size_t i = 0; i < k; i++)
                        (void) close(from->fds[i]);
                memmove(from->fds, from->fds + k, sizeof(int) * (from->n_fds - k));
                from->n_fds -= k;
                off += (size_t) n;
        }
        out->size = 0;
        return 0;
}

static int relay(int client_fd, const char *upstream, const char *container, WindowMark mark) {
        _cleanup_(wayland_filter_freep) WaylandFilter *f = NULL;
        Side sides[2] = { { .fd = client_fd }, { .fd = -EBADF } };
        static uint8_t buf[65536];
        Buffer out = {};
        int r;

        r = wayland_filter_new(container, mark, &f);
        if (r < 0)
                return r;
        sides[1].fd = unix_connect(upstream);
        if (sides[1].fd < 0)
                return sides[1].fd;

        for (;;) {
                struct pollfd p[2] = { { .fd = sides[0].fd, .events = POLLIN },
                                       { .fd = sides[1].fd, .events = POLLIN } };

                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (unsigned d = 0; d < 2; d++) {
                        if (!(p[d].revents & (POLLIN | POLLHUP | POLLERR)))
                                continue;
                        r = receive(&sides[d], buf, sizeof(buf));
                        if (r <= 0)
                                return r; /* EOF: the connection is over */
                        r = d == 0 ? wayland_filter_client(f, buf, (size_t) r, &out)
                                   : wayland_filter_server(f, buf, (size_t) r, &out);
                        if (r < 0) {
                                fprintf(stderr, "wayland-filter-proxy: %s: %s\n", strerror(-r),
                                        wayland_filter_violation(f) ?: "");
                                return 3;
                        }
                        r = send_out(&sides[d], sides[1 - d].fd, &out);
                        if (r < 0)
                                return r;
                }
        }
}

int main(int argc, char *argv[]) {
        _cleanup_close_ int listen_fd = -EBADF;
        WindowMark mark;

        if (argc != 5) {
                fprintf(stderr, "usage: %s LISTEN UPSTREAM CONTAINER title|app-id|none\n", argv[0]);
                return 2;
        }
        mark = streq(argv[4], "title")    ? WINDOW_MARK_TITLE
               : streq(argv[4], "app-id") ? WINDOW_MARK_APP_ID
                                          : WINDOW_MARK_NONE;
        (void) unlink(argv[1]);
        listen_fd = unix_listen(argv[1], 16, 0600);
        if (listen_fd < 0) {
                fprintf(stderr, "%s: %s\n", argv[1], strerror(-listen_fd));
                return 1;
        }
        for (;;) {
                int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC), r;
                pid_t pid;

                if (fd < 0) {
                        if (errno == EINTR)
                                continue;
                        perror("accept4");
                        return 1;
                }
                while (waitpid(-1, NULL, WNOHANG) > 0) /* the clients that are gone */
                        ;
                r = safe_fork("wl-filter-proxy", FORK_DEATHSIG, &pid);
                if (r == 0) {
                        r = relay(fd, argv[2], argv[3], mark);
                        if (r < 0)
                                fprintf(stderr, "wayland-filter-proxy: %s\n", strerror(-r));
                        _exit(r < 0 ? 1 : r);
                }
                (void) close(fd);
                if (r < 0) {
                        fprintf(stderr, "fork: %s\n", strerror(-r));
                        return 1;
                }
        }
}

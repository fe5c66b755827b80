/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "socket-util.h"
#include "vsock-server.h"

static void event(const VsockServer *s, VsockServerEvent e, int value) {
        if (s->on_event)
                s->on_event(e, value);
}

static void reap(const VsockServer *s, unsigned *n) {
        int st;

        while (waitpid(-1, &st, WNOHANG) > 0) {
                if (*n > 0)
                        (*n)--;
                if (WIFSIGNALED(st))
                        event(s, VSOCK_SERVER_CHILD_KILLED, WTERMSIG(st));
        }
}

int vsock_server_run(const VsockServer *s) {
        int fd;

        fd = vsock_listen(s->port, s->backlog);
        if (fd < 0)
                return fd;
        vsock_server_run_fd(s, fd);
}

void vsock_server_run_fd(const VsockServer *s, int fd) {
        unsigned n = 0;

        event(s, VSOCK_SERVER_LISTENING, (int) s->port);
        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                struct sockaddr_vm sa = {};
                socklen_t l = sizeof(sa);
                pid_t pid;
                int conn, r;

                /* Children are reaped here, at least once a second, rather than from SIGCHLD. */
                reap(s, &n);
                if (poll(&p, 1, 1000) <= 0)
                        continue;
                conn = accept4(fd, (struct sockaddr *) &sa, &l, SOCK_CLOEXEC);
                if (conn < 0) {
                        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
                                event(s, VSOCK_SERVER_ACCEPT_FAILED, -errno);
                        continue;
                }
                if (sa.svm_family != AF_VSOCK || sa.svm_cid != VMADDR_CID_HOST) {
                        event(s, VSOCK_SERVER_REFUSED_PEER, (int) sa.svm_cid);
                        safe_close(conn);
                        continue;
                }
                if (n >= s->max) {
                        event(s, VSOCK_SERVER_REFUSED_FULL, (int) n);
                        safe_close(conn);
                        continue;
                }
                r = safe_fork(s->child_name, s->fork_flags, &pid);
                if (r < 0) {
                        event(s, VSOCK_SERVER_FORK_FAILED, r);
                        safe_close(conn);
                        continue;
                }
                if (r == 0) {
                        fd = safe_close(fd);
                        _exit(s->serve(conn));
                }
                n++;
                safe_close(conn);
        }
}

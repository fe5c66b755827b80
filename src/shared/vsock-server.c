/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "listen-fds.h"

#include "macro.h"
#include "socket-util.h"
#include "vsock-server.h"

static void event(const VsockServer *s, VsockServerEvent e, int value) {
        if (s->on_event)
                s->on_event(e, value, NULL);
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

_noreturn_ static void serve(const VsockServer *s, int fd) {
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

int vsock_server_run(const VsockServer *s) {
        _cleanup_free_ char *why = NULL;
        int fd, r;

        /* maitred listens on the port for its whole life and passes the socket (started by hand, a
         * daemon listens itself). */
        r = listen_fd_take_vsock(s->port, &fd, &why);
        if (r < 0) {
                if (s->on_event)
                        s->on_event(VSOCK_SERVER_PASSED_BAD, r, why ?: "?");
                return r;
        }
        if (r > 0)
                event(s, VSOCK_SERVER_PASSED_SOCKET, (int) s->port);
        else {
                fd = vsock_listen(s->port, s->backlog);
                if (fd < 0)
                        return fd;
        }
        serve(s, fd);
}

const char *vsock_server_event_format(
        VsockServerEvent e, int value, const char *detail, char *buf, size_t size, int *ret_level) {
        int level = LOG_WARNING;

        switch (e) {
        case VSOCK_SERVER_LISTENING:
                level = LOG_INFO;
                (void) snprintf(buf, size, "Listening on vsock port %d.", value);
                break;
        case VSOCK_SERVER_PASSED_SOCKET:
                level = LOG_INFO;
                (void) snprintf(
                        buf, size, "Using the socket for vsock port %d passed by the service manager.",
                        value);
                break;
        case VSOCK_SERVER_PASSED_BAD:
                level = LOG_ERR;
                (void) snprintf(
                        buf, size,
                        "Unusable socket passed by the service manager (%s): %s, refusing to start.",
                        detail ?: "?", strerror(-value));
                break;
        case VSOCK_SERVER_REFUSED_PEER:
                (void) snprintf(
                        buf, size, "Refusing a connection from CID %u (only the host may connect).",
                        (unsigned) value);
                break;
        case VSOCK_SERVER_REFUSED_FULL:
                (void) snprintf(buf, size, "Refusing a connection: %d are open.", value);
                break;
        case VSOCK_SERVER_ACCEPT_FAILED:
                (void) snprintf(buf, size, "accept: %s", strerror(-value));
                break;
        case VSOCK_SERVER_FORK_FAILED:
                (void) snprintf(buf, size, "fork: %s", strerror(-value));
                break;
        case VSOCK_SERVER_CHILD_KILLED:
                (void) snprintf(buf, size, "A connection's process was killed by signal %d.", value);
                break;
        default:
                (void) snprintf(buf, size, "Event %d (%d).", (int) e, value);
        }
        *ret_level = level;
        return buf;
}

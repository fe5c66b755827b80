/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest daemons' accept loop (vshd, port-listener): a vsock listener that accepts only the host
 * (CID 2: a container could otherwise reach it through vsock loopback) and serves each connection
 * in its own process, at most max at once, so one that crashes or hangs costs nothing else.
 * Non-logging: what the daemon should report goes to on_event. */

#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "spawn-util.h"

typedef enum VsockServerEvent {
        VSOCK_SERVER_LISTENING,     /* value: the port */
        VSOCK_SERVER_REFUSED_PEER,  /* value: the peer's CID */
        VSOCK_SERVER_REFUSED_FULL,  /* value: connections open */
        VSOCK_SERVER_ACCEPT_FAILED, /* value: -errno */
        VSOCK_SERVER_FORK_FAILED,   /* value: -errno */
        VSOCK_SERVER_CHILD_KILLED,  /* value: the signal */
} VsockServerEvent;

typedef struct VsockServer {
        uint32_t port;
        int backlog;
        unsigned max; /* connections served at once; more are closed at once */
        const char *child_name;
        ForkFlags fork_flags;   /* for safe_fork() of each connection's process */
        int (*serve)(int conn); /* in the child: its return value is the exit status */
        void (*on_event)(VsockServerEvent event, int value); /* may be NULL */
} VsockServer;

/* Listens and serves forever; returns only when listening fails (-errno). */
int vsock_server_run(const VsockServer *s);
/* Serves forever on listen_fd, a socket already listening on s->port (the one maitred passed, see
 * listen-fds.h); takes it. s->backlog is not used: the socket's owner chose it. */
_noreturn_ void vsock_server_run_fd(const VsockServer *s, int listen_fd);

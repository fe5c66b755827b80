/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The guest daemons' accept loop (vshd, port-listener): a vsock listener that accepts only the host
 * (CID 2: a container could otherwise reach it through vsock loopback) and serves each connection
 * in its own process, at most max at once, so one that crashes or hangs costs nothing else.
 * A listener passed by maitred (listen-fds.h) is taken when there is one. Non-logging: what the
 * daemon should report goes to on_event, and vsock_server_event_format() words it. */

#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "spawn-util.h"

typedef enum VsockServerEvent {
        VSOCK_SERVER_LISTENING,     /* value: the port */
        VSOCK_SERVER_PASSED_SOCKET, /* value: the port; using the listener maitred passed */
        VSOCK_SERVER_PASSED_BAD,    /* value: -errno, detail: what is wrong; vsock_server_run() fails */
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
        /* may be NULL; detail is NULL but for VSOCK_SERVER_PASSED_BAD */
        void (*on_event)(VsockServerEvent event, int value, const char *detail);
} VsockServer;

/* Serves forever on the listener maitred passed for s->port (its backlog then), else on its own;
 * returns only when there is none to serve on (-errno): a passed socket that is not the right one
 * (reported as VSOCK_SERVER_PASSED_BAD first), or listening failed. */
int vsock_server_run(const VsockServer *s);

/* The event as a sentence for the daemon's log (value's errno as text where it is one), and the
 * level it deserves (LOG_INFO, LOG_WARNING or LOG_ERR). Returns buf. */
const char *vsock_server_event_format(
        VsockServerEvent e, int value, const char *detail, char *buf, size_t size, int *ret_level);

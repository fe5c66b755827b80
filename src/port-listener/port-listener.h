/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* port-listener (docs/design/ports.md): one process per host connection, forked by the listener;
 * the connection's first frame picks WatchPorts or ForwardConnect. */

#include <stdint.h>
#include <sys/types.h>

#include "ports.pb-c.h"

#define PL_REPLY_TIMEOUT_MS 30000

/* Sends an ErrorReply for request id (error: negative errno). */
int pl_reply_error(int fd, uint64_t id, int error, const char *format, ...) _printf_(4, 5);
int pl_reply_empty(int fd, uint64_t id);

/* The init pid of running container name in STATEFUL_LXC_PATH: -ENOENT when liblxc does not know
 * it, -ESRCH when it is not running. */
int pl_container_init_pid(const char *name, pid_t *ret_pid);
/* The same as a pidfd (owned by the caller): it names that process for good, so a namespace
 * entered through it cannot be a reused pid's. */
int pl_container_init_pidfd(const char *name);

/* Each serves the connection until it ends; return the process's exit status. */
int pl_watch_run(int fd, uint64_t id);
int pl_forward_run(int fd, uint64_t id, const Bistro__Ports__ForwardConnectRequest *req);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* All sockets are created SOCK_CLOEXEC. Functions return an fd or -errno and do not log. */

/* Fills *ret from path; -ENAMETOOLONG when it does not fit sun_path. Returns the address length. */
int sockaddr_un_set_path(struct sockaddr_un *ret, const char *path);

/* Listens on a unix stream socket at path, removing a stale socket file first. mode applies to
 * the socket file (0600 for per-user daemons). */
int unix_listen(const char *path, int backlog, mode_t mode);
int unix_connect(const char *path);
/* Non-blocking connect: returns the fd with the connect in flight (-EINPROGRESS is not an error). */
int unix_connect_nonblock(const char *path);

/* AF_VSOCK, guest side: cid VMADDR_CID_ANY to listen, VMADDR_CID_HOST (2) to reach the host. */
int vsock_listen(uint32_t port, int backlog);
int vsock_connect(uint32_t cid, uint32_t port);

/* The peer's credentials on a unix socket (SO_PEERCRED): those of the process that called listen()
 * for a connected client socket (with socket activation, the service manager's). */
int unix_peer_uid(int fd, uid_t *ret_uid);
int unix_peer_pid(int fd, pid_t *ret_pid);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

/* All sockets are created SOCK_CLOEXEC. Functions return an fd or -errno and do not log. */

/* Fills *ret from path; -ENAMETOOLONG when it does not fit sun_path. Returns the address length. */
int sockaddr_un_set_path(struct sockaddr_un *ret, const char *path);

/* Listens on a unix stream socket at path, removing a stale socket file first. mode applies to
 * the socket file (0600 for per-user daemons). */
int unix_listen(const char *path, int backlog, mode_t mode);
/* Same for another socket type (SOCK_SEQPACKET). */
int unix_listen_type(const char *path, int type, int backlog, mode_t mode);
int unix_connect(const char *path);
int unix_connect_type(const char *path, int type);
/* Non-blocking connect: returns the fd with the connect in flight (-EINPROGRESS is not an error). */
int unix_connect_nonblock(const char *path);

/* SO_RCVTIMEO and SO_SNDTIMEO: a blocking call then fails with -ETIMEDOUT (EAGAIN) after it. */
int socket_set_timeouts(int fd, int timeout_ms);
/* The fds passed with a received message (SCM_RIGHTS, every such control message of mh): appended to
 * fds[*n] while *n < max, any beyond closed at once, so that a peer cannot leave us fds. Returns how
 * many were closed that way. */
size_t cmsg_take_fds(struct msghdr *mh, int *fds, size_t *n, size_t max);

/* Attaches fds[0..n) (n > 0) to mh as one SCM_RIGHTS control message, in control, which must hold
 * CMSG_SPACE(n * sizeof(int)) bytes aligned for a struct cmsghdr. The twin of cmsg_take_fds(). */
void cmsg_put_fds(struct msghdr *mh, void *control, const int *fds, size_t n);

/* One message of n bytes with fd (< 0: none) attached (SCM_RIGHTS); a short send is -EPROTO. */
int send_with_fd(int sock, const void *buf, size_t n, int fd);
/* One message into buf; *ret_fd gets the first fd that came with it (CLOEXEC) or -EBADF, any other
 * is closed. Returns the length, -EMSGSIZE (nothing kept) when the message or its fds were cut. */
ssize_t recv_with_fd(int sock, void *buf, size_t n, int *ret_fd);

/* AF_VSOCK, guest side: cid VMADDR_CID_ANY to listen, VMADDR_CID_HOST (2) to reach the host. */
int vsock_listen(uint32_t port, int backlog);
int vsock_connect(uint32_t cid, uint32_t port);

/* The peer's credentials on a unix socket (SO_PEERCRED): those of the process that called listen()
 * for a connected client socket (with socket activation, the service manager's). */
int unix_peer_uid(int fd, uid_t *ret_uid);
int unix_peer_pid(int fd, pid_t *ret_pid);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Sockets passed by a service manager with systemd's convention (sd_listen_fds(3)): the fds start
 * at LISTEN_FDS_START, $LISTEN_FDS counts them and $LISTEN_PID names the process they are for.
 * maitred passes each guest service its vsock listener this way (docs/design/maitred.md). */

#include <stdint.h>

#define LISTEN_FDS_START 3

/* The vsock listener a service manager passed to this process for port, when it passed one.
 * Returns:
 *   1  fd 3 is an AF_VSOCK SOCK_STREAM socket listening on port; *ret_fd = 3, now close-on-exec;
 *   0  nothing was passed (LISTEN_PID or LISTEN_FDS unset, LISTEN_FDS=0, or LISTEN_PID names another
 *      process): the caller listens itself;
 *  <0  something was passed but it is not that socket, or the variables are not numbers: the
 *      caller must refuse to start (listening itself would fail, or serve a port twice).
 *      *reterr_message (may be NULL) says what was wrong.
 * Always removes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES from the environment, so that no child
 * believes the fds are its own. Does not log. */
int listen_fd_take_vsock(uint32_t port, int *ret_fd, char **reterr_message);

/* The same for a listening AF_UNIX SOCK_STREAM socket (concierge starts the Wayland gate on a VM's
 * hybrid vsock listener this way). */
int listen_fd_take_unix(int *ret_fd, char **reterr_message);

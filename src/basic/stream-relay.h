/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Bytes both ways between two connected stream sockets, in the calling process (meant for a child
 * that serves one connection): splice() through a pipe per direction (read()/write() through a
 * buffer when a socket type cannot splice), poll() on both, never blocked by one side. EOF on one
 * side becomes shutdown(SHUT_WR) on the other once the bytes before it are written; the relay ends
 * when both directions reached EOF, or at the first error of either side. */

/* Returns 0 when both directions ended with EOF, -errno of the first failure (-EPIPE,
 * -ECONNRESET, ...) otherwise. The fds are made non-blocking and left open. */
int stream_relay(int a, int b);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Firecracker-style "hybrid vsock" on the host side: a client connects to the VM's unix socket and
 * writes "CONNECT <port>\n"; a guest connection to host port P goes to the unix socket "<path>_P". */

#include <stddef.h>
#include <stdint.h>

/* Longest handshake line we accept, newline included. */
#define HYBRID_LINE_MAX 64u
/* Seconds a client has to send its line, and the guest to answer our REQUEST. */
#define HYBRID_HANDSHAKE_TIMEOUT_USEC (10u * 1000000u)

/* Parses "CONNECT <port>\n" (n bytes, the newline last). 0 or -EBADMSG. */
int hybrid_parse_connect(const char *line, size_t n, uint32_t *ret_port);
/* Consumes one handshake line from a non-blocking socket without reading past it. Returns 1 and
 * the port when complete, 0 when more bytes are needed, -errno on error or a malformed line
 * (-ECONNRESET when the client went away). */
int hybrid_read_connect(int fd, uint32_t *ret_port);
/* Non-blocking connect to "<base>_<port>"; returns the fd or -errno. */
int hybrid_connect_port(const char *base, uint32_t port);

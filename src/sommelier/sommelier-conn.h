/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One Wayland client's stream, served in a child of its own: connect to the host's Wayland gate
 * (vsock CID 2, WAYLAND_PORT; or the unix socket $SOMMELIER_HOST_SOCKET for tests), prove the
 * container's token (WaylandConnectRequest), wait for EMPTY, then relay waypipe's bytes both ways
 * until both sides are done. */

#define SOMMELIER_CONNECT_TIMEOUT_MS 10000

/* Serves client (waypipe's connection). When the host cannot be reached or refuses (an ErrorReply,
 * with its message), why is written to refusal_fd (a packet pipe to the parent, which logs each
 * distinct message once a minute).
 * Returns 0 when the relay ended cleanly, -errno otherwise (logged). */
int sommelier_conn_serve(int client, const char *token, int refusal_fd);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Listening side of the wire layer: accepts connections on sd-event and gives each one the
 * server's handlers (docs/design/wire.md). */

#include "wire-conn.h"

typedef struct WireServer WireServer;

/* Server: accepts on a listening socket (taken over on success), at most max_conns at a time;
 * connections beyond that are accepted and closed at once. Each connection gets the server's
 * handlers and userdata; on_accept (may be NULL) can change them or refuse the connection by
 * returning < 0. The server owns its connections: they are unreferenced after on_close. */
typedef int (*WireAcceptHandler)(WireServer *s, WireConn *c, void *userdata);
int wire_server_new(sd_event *e, int listen_fd, unsigned max_conns, WireServer **ret);
void wire_server_set_handlers(
        WireServer *s,
        WireAcceptHandler on_accept,
        WireMessageHandler on_message,
        WireCloseHandler on_close,
        void *userdata);
/* Timeouts given to every new connection (see wire_conn_set_timeouts()). */
void wire_server_set_timeouts(WireServer *s, uint64_t idle_usec, uint64_t frame_usec);
unsigned wire_server_get_n_conns(WireServer *s);
/* Closes every connection (reason -ECANCELED) and the listening socket. Returns NULL. */
WireServer *wire_server_free(WireServer *s);
static inline void wire_server_freep(WireServer **s) {
        if (*s)
                wire_server_free(*s);
}

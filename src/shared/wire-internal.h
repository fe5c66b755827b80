/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared between wire-conn.c and wire-server.c only: the connection's state, so the server can
 * keep its list of connections in them. Not for callers. */

#include "wire-conn.h"
#include "wire-server.h"

#define TIMED_OUT_IDS 64u

typedef struct WireBuf {
        struct WireBuf *next;
        uint8_t *data;
        size_t size, offset;
        int fd; /* passed with the first byte (SCM_RIGHTS), then closed; -EBADF: none */
} WireBuf;

typedef struct WireCall {
        struct WireCall *next;
        WireConn *conn;
        uint64_t id;
        sd_event_source *timer;
        WireReplyHandler cb;
        void *userdata;
} WireCall;

struct WireConn {
        unsigned n_ref;
        sd_event *event;
        sd_event_source *io;
        sd_event_source *timer;
        int fd;
        bool closed;
        int write_error; /* the peer stopped reading (EPIPE): keep reading until its EOF */

        FrameDecoder decoder;
        WireBuf *wq_head, *wq_tail;
        size_t wq_bytes, wq_max;

        uint64_t next_id;
        WireCall *calls;
        unsigned n_calls;
        /* Ids of calls that timed out: their late replies are dropped, not a protocol error. */
        uint64_t timed_out[TIMED_OUT_IDS];
        unsigned timed_out_next;

        uint64_t idle_usec, frame_usec;
        uint64_t last_activity, frame_start;

        WireMessageHandler on_message;
        WireCloseHandler on_close;
        void *userdata;

        /* Set by the server that accepted this connection (wire-server.c): the connection leaves
         * the server through server_unlink when it closes. */
        WireServer *server;
        WireConn *server_prev, *server_next;
        void (*server_unlink)(WireConn *c);
};

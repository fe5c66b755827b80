/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One stream connection between a host unix socket and a guest vsock port, with the credit
 * accounting of virtio 5.10.6.3 in both directions. Counters are u32 and wrap, as on the wire. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* What we advertise as buf_alloc: the most guest->host bytes we hold per connection when the
 * host side does not read. */
#define CONN_BUF_ALLOC (256u * 1024u)

typedef enum ConnState {
        CONN_HANDSHAKE,  /* host client accepted, waiting for its CONNECT line */
        CONN_CONNECTING, /* REQUEST queued/sent to the guest, waiting for RESPONSE */
        CONN_ESTABLISHED,
        CONN_CLOSED, /* unix side closed, only a queued RST remains */
} ConnState;

/* Control packets a connection owes the guest (at most one of each kind is ever queued). */
enum {
        PEND_REQUEST = 1u << 0,
        PEND_RESPONSE = 1u << 1,
        PEND_CREDIT_UPDATE = 1u << 2,
        PEND_CREDIT_REQUEST = 1u << 3,
        PEND_SHUTDOWN = 1u << 4,
        PEND_RST = 1u << 5,
};

typedef struct VsockConn VsockConn;

typedef struct EvTag {
        int kind;
        void *ptr;
} EvTag;

struct VsockConn {
        EvTag tag;
        int fd;
        ConnState state;
        uint32_t local_port; /* host side port (CID 2) */
        uint32_t peer_port;  /* guest port */
        bool host_initiated;
        uint64_t deadline; /* CLOCK_MONOTONIC usec for HANDSHAKE/CONNECTING, 0 otherwise */

        /* host -> guest */
        uint32_t rx_cnt;         /* payload bytes sent to the guest */
        uint32_t peer_buf_alloc; /* the guest's receive buffer */
        uint32_t peer_fwd_cnt;   /* bytes the guest has consumed */
        bool readable;           /* the unix side may have data (edge-triggered) */
        bool rdhup;              /* the unix side signalled hang-up */
        bool host_eof;

        /* guest -> host */
        uint32_t tx_cnt;       /* payload bytes received from the guest */
        uint32_t fwd_cnt;      /* of which written to the unix side */
        uint32_t fwd_cnt_sent; /* fwd_cnt last told to the guest */
        uint8_t *buf;          /* ring of CONN_BUF_ALLOC bytes, only while the unix side blocks */
        uint32_t buf_start, buf_used;
        bool writable;
        uint32_t peer_shutdown;
        bool wr_shut;

        unsigned pending;

        VsockConn *hash_next;
        VsockConn *all_prev, *all_next;
        bool in_hash;
        VsockConn *ctl_prev, *ctl_next;
        VsockConn *ready_prev, *ready_next;
        bool in_ctl, in_ready;
};

/* Bytes we may still send to the guest. 0 when the guest's numbers are inconsistent. */
uint32_t vsock_conn_peer_credit(const VsockConn *c);
/* Whether len more bytes from the guest stay within the buffer we advertised. */
bool vsock_conn_tx_fits(const VsockConn *c, uint32_t len);
/* Whether enough was forwarded since the last report that the guest should hear about it. */
bool vsock_conn_want_credit_update(const VsockConn *c);
/* Updates the guest's credit figures from a packet header. */
void vsock_conn_update_peer_credit(VsockConn *c, uint32_t buf_alloc, uint32_t fwd_cnt);

/* Ring buffer for guest data the unix side could not take yet. */
int vsock_conn_buf_append(VsockConn *c, const struct iovec *iov, unsigned n, size_t skip, size_t len);
/* Fills iov (2 entries) with the buffered data in order; returns the entry count. */
unsigned vsock_conn_buf_peek(const VsockConn *c, struct iovec iov[static 2]);
void vsock_conn_buf_consume(VsockConn *c, uint32_t n);

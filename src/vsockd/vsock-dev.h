/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The vsock device: the connection table, the RX (device->guest) and TX (guest->device) queues,
 * and the unix sockets on the host side. Single-threaded, driven by one epoll instance. */

#include <stdbool.h>
#include <stdint.h>

#include "vhost-user.h"
#include "vsock-conn.h"
#include "vsock-pkt.h"

#define VSOCK_MAX_CONNS 4096u
#define VSOCK_CONN_HASH 1024u
#define VSOCK_RST_QUEUE 256u
#define VSOCK_RX_QUEUE 0u
#define VSOCK_TX_QUEUE 1u

/* epoll tags */
enum {
        EV_VHOST_LISTEN,
        EV_VHOST,
        EV_KICK,
        EV_HYBRID_LISTEN,
        EV_CONN,
};

typedef struct VsockDev {
        int epoll_fd;
        VhostUser vu;
        uint64_t guest_cid;
        char *uds_base; /* "<path>" as seen from inside the sandbox; guest ports append "_P" */

        VsockConn *conns[VSOCK_CONN_HASH];
        unsigned n_conns;
        unsigned n_deadlines;
        VsockConn *ctl_head, *ctl_tail;
        VsockConn *ready_head, *ready_tail;
        VsockHdr rst_queue[VSOCK_RST_QUEUE];
        unsigned rst_start, rst_n;
        uint32_t next_local_port;

        VsockConn *all_head;
        EvTag kick_tags[VHOST_USER_NUM_QUEUES];
        VringChain chain;
        VringChain rx_batch[16];
} VsockDev;

/* epoll_fd < 0 creates one. Does not log. */
int vsock_dev_init(VsockDev *d, int epoll_fd, uint64_t guest_cid, const char *uds_base, bool event_idx);
void vsock_dev_done(VsockDev *d);

/* A host client connected to the hybrid socket (fd is non-blocking); takes the fd. */
int vsock_dev_add_host_client(VsockDev *d, int fd);
/* epoll events on a connection's fd. */
void vsock_dev_conn_event(VsockDev *d, VsockConn *c, uint32_t events);
/* The guest kicked queue idx. */
void vsock_dev_kick(VsockDev *d, unsigned idx);
/* One packet from the guest (header already parsed; payload in iov, exactly h->len bytes). Exposed
 * for the fuzzer. */
void vsock_dev_handle_pkt(VsockDev *d, const VsockHdr *h, const struct iovec *iov, unsigned n_iov);
/* Drains the TX queue and fills the RX queue as far as possible. */
void vsock_dev_process(VsockDev *d);
/* Closes connections whose handshake timed out. Returns the epoll timeout to use in ms (-1: none). */
int vsock_dev_check_deadlines(VsockDev *d);

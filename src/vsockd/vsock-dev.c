/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>

#include "hybrid.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"
#include "vsock-dev.h"

#define LOCAL_PORT_FIRST (1u << 30)
#define RX_BATCH 16u
#define RX_IOV_MAX 256u
/* Bytes read from one connection before the next gets its turn. */
#define RX_CONN_BUDGET (128u * 1024u)
#define FLUSH_EVERY 16u
#define RX_FLUSH_EVERY 1024u
#define MIN3(a, b, c) MIN(MIN(a, b), c)

/* Copies up to n bytes from the start of an iovec array; returns the count copied. */
static size_t iov_to_buf(const struct iovec *iov, unsigned n_iov, void *buf, size_t n) {
        size_t done = 0;

        for (unsigned i = 0; i < n_iov && done < n; i++) {
                size_t l = MIN(iov[i].iov_len, n - done);
                memcpy((uint8_t *) buf + done, iov[i].iov_base, l);
                done += l;
        }
        return done;
}

static size_t buf_to_iov(const struct iovec *iov, unsigned n_iov, const void *buf, size_t n) {
        size_t done = 0;

        for (unsigned i = 0; i < n_iov && done < n; i++) {
                size_t l = MIN(iov[i].iov_len, n - done);
                memcpy(iov[i].iov_base, (const uint8_t *) buf + done, l);
                done += l;
        }
        return done;
}

/* Appends to out[] the part of iov[] from byte skip on, at most len bytes; returns entries added. */
static unsigned iov_slice(
        const struct iovec *iov,
        unsigned n_iov,
        size_t skip,
        size_t len,
        struct iovec *out,
        unsigned out_max) {
        unsigned k = 0;

        for (unsigned i = 0; i < n_iov && len > 0 && k < out_max; i++) {
                size_t l = iov[i].iov_len;
                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                l = MIN(l - skip, len);
                out[k++] = (struct iovec){ .iov_base = (uint8_t *) iov[i].iov_base + skip, .iov_len = l };
                skip = 0;
                len -= l;
        }
        return k;
}

/* --- connection table and lists --- */

static unsigned conn_hash(uint32_t local, uint32_t peer) {
        return (local * 2654435761u ^ peer * 2246822519u) % VSOCK_CONN_HASH;
}

static VsockConn *conn_find(VsockDev *d, uint32_t local, uint32_t peer) {
        for (VsockConn *c = d->conns[conn_hash(local, peer)]; c; c = c->hash_next)
                if (c->local_port == local && c->peer_port == peer)
                        return c;
        return NULL;
}

static void conn_hash_add(VsockDev *d, VsockConn *c) {
        unsigned h = conn_hash(c->local_port, c->peer_port);

        c->hash_next = d->conns[h];
        d->conns[h] = c;
        c->in_hash = true;
}

static void conn_hash_remove(VsockDev *d, VsockConn *c) {
        if (!c->in_hash)
                return;
        for (VsockConn **p = &d->conns[conn_hash(c->local_port, c->peer_port)]; *p; p = &(*p)->hash_next)
                if (*p == c) {
                        *p = c->hash_next;
                        break;
                }
        c->in_hash = false;
}

#define LIST_ADD_TAIL(d, c, name)                            \
        do {                                                 \
                if ((c)->in_##name)                          \
                        break;                               \
                (c)->name##_next = NULL;                     \
                (c)->name##_prev = (d)->name##_tail;         \
                if ((d)->name##_tail)                        \
                        (d)->name##_tail->name##_next = (c); \
                else                                         \
                        (d)->name##_head = (c);              \
                (d)->name##_tail = (c);                      \
                (c)->in_##name = true;                       \
        } while (0)

#define LIST_REMOVE(d, c, name)                                           \
        do {                                                              \
                if (!(c)->in_##name)                                      \
                        break;                                            \
                if ((c)->name##_prev)                                     \
                        (c)->name##_prev->name##_next = (c)->name##_next; \
                else                                                      \
                        (d)->name##_head = (c)->name##_next;              \
                if ((c)->name##_next)                                     \
                        (c)->name##_next->name##_prev = (c)->name##_prev; \
                else                                                      \
                        (d)->name##_tail = (c)->name##_prev;              \
                (c)->name##_prev = (c)->name##_next = NULL;               \
                (c)->in_##name = false;                                   \
        } while (0)

static void ctl_add(VsockDev *d, VsockConn *c) {
        LIST_ADD_TAIL(d, c, ctl);
}

static void ctl_remove(VsockDev *d, VsockConn *c) {
        LIST_REMOVE(d, c, ctl);
}

static void ready_add(VsockDev *d, VsockConn *c) {
        LIST_ADD_TAIL(d, c, ready);
}

static void ready_remove(VsockDev *d, VsockConn *c) {
        LIST_REMOVE(d, c, ready);
}

static void conn_set_pending(VsockDev *d, VsockConn *c, unsigned bits) {
        c->pending |= bits;
        ctl_add(d, c);
}

static void conn_set_deadline(VsockDev *d, VsockConn *c, uint64_t deadline) {
        if (c->deadline == 0 && deadline != 0)
                d->n_deadlines++;
        else if (c->deadline != 0 && deadline == 0)
                d->n_deadlines--;
        c->deadline = deadline;
}

static void conn_free(VsockDev *d, VsockConn *c) {
        ctl_remove(d, c);
        ready_remove(d, c);
        conn_hash_remove(d, c);
        conn_set_deadline(d, c, 0);
        if (c->all_prev)
                c->all_prev->all_next = c->all_next;
        else
                d->all_head = c->all_next;
        if (c->all_next)
                c->all_next->all_prev = c->all_prev;
        d->n_conns--;
        safe_close(c->fd);
        free(c->buf);
        free(c);
}

static VsockConn *conn_new(VsockDev *d, int fd) {
        VsockConn *c;
        struct epoll_event ev = {
                .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
        };

        if (d->n_conns >= VSOCK_MAX_CONNS)
                return NULL;
        c = calloc(1, sizeof(*c));
        if (!c)
                return NULL;
        c->fd = fd;
        c->tag = (EvTag){ .kind = EV_CONN, .ptr = c };
        ev.data.ptr = &c->tag;
        if (epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, fd, &ev) < 0) {
                free(c);
                return NULL;
        }
        c->all_next = d->all_head;
        if (d->all_head)
                d->all_head->all_prev = c;
        d->all_head = c;
        d->n_conns++;
        return c;
}

/* Closes the unix side. With send_rst the guest is told (the object lives until the RST is
 * queued into the RX ring); otherwise it is freed now. */
static void conn_reset(VsockDev *d, VsockConn *c, bool send_rst) {
        c->fd = safe_close(c->fd);
        c->state = CONN_CLOSED;
        ready_remove(d, c);
        conn_set_deadline(d, c, 0);
        free(c->buf);
        c->buf = NULL;
        c->buf_used = 0;
        if (!send_rst) {
                conn_free(d, c);
                return;
        }
        c->pending = PEND_RST;
        ctl_add(d, c);
}

static void queue_rst_reply(VsockDev *d, const VsockHdr *h) {
        if (h->op == VSOCK_OP_RST || d->rst_n >= VSOCK_RST_QUEUE)
                return;
        d->rst_queue[(d->rst_start + d->rst_n++) % VSOCK_RST_QUEUE] = (VsockHdr){
                .src_cid = VSOCK_CID_HOST,
                .dst_cid = d->guest_cid,
                .src_port = h->dst_port,
                .dst_port = h->src_port,
                .type = VSOCK_TYPE_STREAM,
                .op = VSOCK_OP_RST,
        };
}

static void conn_update_ready(VsockDev *d, VsockConn *c) {
        bool want = c->state == CONN_ESTABLISHED && c->readable && !c->host_eof &&
                    !(c->peer_shutdown & VSOCK_SHUTDOWN_RCV) && vsock_conn_peer_credit(c) > 0;

        if (want)
                ready_add(d, c);
        else
                ready_remove(d, c);
}

static void conn_note_forwarded(VsockDev *d, VsockConn *c, uint32_t n) {
        c->fwd_cnt += n;
        if (vsock_conn_want_credit_update(c))
                conn_set_pending(d, c, PEND_CREDIT_UPDATE);
}

/* Called when guest->host data may be fully written: finishes half-closes. May free c. */
static void conn_maybe_finish(VsockDev *d, VsockConn *c) {
        if (c->state != CONN_ESTABLISHED || c->buf_used > 0)
                return;
        if ((c->peer_shutdown & VSOCK_SHUTDOWN_SEND) && !c->wr_shut) {
                (void) shutdown(c->fd, SHUT_WR);
                c->wr_shut = true;
        }
        /* The guest closed both directions and waits for our RST (as Linux's transport does). */
        if (c->peer_shutdown == VSOCK_SHUTDOWN_MASK)
                conn_reset(d, c, true);
}

/* Writes buffered guest data to the unix side. Returns -errno when the connection was reset. */
static int conn_flush(VsockDev *d, VsockConn *c) {
        while (c->buf_used > 0 && c->writable) {
                struct iovec iov[2];
                struct msghdr mh = { .msg_iov = iov };
                ssize_t n;

                mh.msg_iovlen = vsock_conn_buf_peek(c, iov);
                n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN) {
                                c->writable = false;
                                break;
                        }
                        conn_reset(d, c, true);
                        return -EPIPE;
                }
                vsock_conn_buf_consume(c, (uint32_t) n);
                conn_note_forwarded(d, c, (uint32_t) n);
        }
        return 0;
}

static void conn_write(VsockDev *d, VsockConn *c, const struct iovec *iov, unsigned n_iov, uint32_t len) {
        size_t done = 0;

        if (len == 0)
                return;
        if (c->buf_used == 0 && c->writable) {
                struct msghdr mh = { .msg_iov = (struct iovec *) iov, .msg_iovlen = n_iov };
                ssize_t k = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (k < 0) {
                        if (errno != EAGAIN && errno != EINTR) {
                                conn_reset(d, c, true);
                                return;
                        }
                        c->writable = false;
                } else {
                        done = (size_t) k;
                        if (done < len)
                                c->writable = false;
                }
        }
        c->tx_cnt += len;
        if (done < len && vsock_conn_buf_append(c, iov, n_iov, done, len - done) < 0) {
                conn_reset(d, c, true);
                return;
        }
        if (done > 0)
                conn_note_forwarded(d, c, (uint32_t) done);
}

static void conn_send_line(VsockConn *c, const char *line) {
        if (c->fd >= 0)
                (void) !send(c->fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
}

static void guest_connect(VsockDev *d, const VsockHdr *h) {
        VsockConn *c;
        int fd;

        fd = hybrid_connect_port(d->uds_base, h->dst_port);
        if (fd < 0) {
                log_debug_errno(
                        fd, "guest port %" PRIu32 " -> host port %" PRIu32 ": %m", h->src_port, h->dst_port);
                queue_rst_reply(d, h);
                return;
        }
        c = conn_new(d, fd);
        if (!c) {
                safe_close(fd);
                queue_rst_reply(d, h);
                return;
        }
        c->state = CONN_ESTABLISHED;
        c->local_port = h->dst_port;
        c->peer_port = h->src_port;
        c->writable = true;
        vsock_conn_update_peer_credit(c, h->buf_alloc, h->fwd_cnt);
        conn_hash_add(d, c);
        conn_set_pending(d, c, PEND_RESPONSE);
}

void vsock_dev_handle_pkt(VsockDev *d, const VsockHdr *h, const struct iovec *iov, unsigned n_iov) {
        VsockConn *c;

        if (h->src_cid != d->guest_cid)
                return; /* spoofed source: nowhere sensible to answer */
        if (h->dst_cid != VSOCK_CID_HOST) {
                queue_rst_reply(d, h);
                return;
        }

        c = conn_find(d, h->dst_port, h->src_port);
        if (c && c->state == CONN_CLOSED) {
                if (h->op != VSOCK_OP_REQUEST)
                        return; /* our RST is on its way */
                conn_free(d, c);
                c = NULL;
        }
        if (!c) {
                if (h->op == VSOCK_OP_REQUEST)
                        guest_connect(d, h);
                else
                        queue_rst_reply(d, h);
                return;
        }

        vsock_conn_update_peer_credit(c, h->buf_alloc, h->fwd_cnt);

        switch (h->op) {
        case VSOCK_OP_REQUEST:
                conn_reset(d, c, true);
                return;
        case VSOCK_OP_RESPONSE: {
                char line[32];

                if (c->state != CONN_CONNECTING) {
                        conn_reset(d, c, true);
                        return;
                }
                c->state = CONN_ESTABLISHED;
                conn_set_deadline(d, c, 0);
                (void) snprintf(line, sizeof(line), "OK %" PRIu32 "\n", c->local_port);
                if (send(c->fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t) strlen(line)) {
                        conn_reset(d, c, true);
                        return;
                }
                /* Bytes the client sent after its CONNECT line are waiting already. */
                c->readable = true;
                break;
        }
        case VSOCK_OP_RST:
                if (c->state == CONN_CONNECTING)
                        conn_send_line(c, "ERR connection refused\n");
                conn_reset(d, c, false);
                return;
        case VSOCK_OP_SHUTDOWN:
                if (c->state != CONN_ESTABLISHED) {
                        conn_reset(d, c, true);
                        return;
                }
                c->peer_shutdown |= h->flags & VSOCK_SHUTDOWN_MASK;
                conn_maybe_finish(d, c);
                if (c->state == CONN_CLOSED)
                        return;
                break;
        case VSOCK_OP_RW:
                if (c->state != CONN_ESTABLISHED || (c->peer_shutdown & VSOCK_SHUTDOWN_SEND) ||
                    !vsock_conn_tx_fits(c, h->len)) {
                        log_debug(
                                "guest port %" PRIu32 ": data outside the stream or credit, resetting",
                                c->peer_port);
                        conn_reset(d, c, true);
                        return;
                }
                conn_write(d, c, iov, n_iov, h->len);
                if (c->state == CONN_CLOSED)
                        return;
                break;
        case VSOCK_OP_CREDIT_UPDATE:
                break;
        case VSOCK_OP_CREDIT_REQUEST:
                conn_set_pending(d, c, PEND_CREDIT_UPDATE);
                break;
        default:
                conn_reset(d, c, true);
                return;
        }
        conn_update_ready(d, c);
}

/* --- host side --- */

static uint32_t alloc_local_port(VsockDev *d, uint32_t peer) {
        for (unsigned tries = 0; tries <= VSOCK_MAX_CONNS; tries++) {
                uint32_t p = d->next_local_port++;
                if (d->next_local_port < LOCAL_PORT_FIRST || d->next_local_port == UINT32_MAX)
                        d->next_local_port = LOCAL_PORT_FIRST;
                if (!conn_find(d, p, peer))
                        return p;
        }
        return 0;
}

int vsock_dev_add_host_client(VsockDev *d, int fd) {
        VsockConn *c = conn_new(d, fd);

        if (!c) {
                safe_close(fd);
                return -EBUSY;
        }
        c->state = CONN_HANDSHAKE;
        c->host_initiated = true;
        c->writable = true;
        conn_set_deadline(d, c, now_usec(CLOCK_MONOTONIC) + HYBRID_HANDSHAKE_TIMEOUT_USEC);
        return 0;
}

static void conn_handshake(VsockDev *d, VsockConn *c) {
        uint32_t port;
        int r;

        r = hybrid_read_connect(c->fd, &port);
        if (r == 0) {
                if (c->rdhup)
                        conn_free(d, c); /* gone before finishing its line */
                else
                        c->readable = false;
                return;
        }
        if (r < 0) {
                if (r == -EBADMSG)
                        conn_send_line(c, "ERR bad request\n");
                conn_free(d, c);
                return;
        }
        c->peer_port = port;
        c->local_port = alloc_local_port(d, port);
        if (c->local_port == 0) {
                conn_send_line(c, "ERR no ports\n");
                conn_free(d, c);
                return;
        }
        conn_hash_add(d, c);
        c->state = CONN_CONNECTING;
        conn_set_deadline(d, c, now_usec(CLOCK_MONOTONIC) + HYBRID_HANDSHAKE_TIMEOUT_USEC);
        conn_set_pending(d, c, PEND_REQUEST);
}

void vsock_dev_conn_event(VsockDev *d, VsockConn *c, uint32_t events) {
        if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                c->rdhup = true;
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
                c->readable = true;
        if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))
                c->writable = true;

        switch (c->state) {
        case CONN_HANDSHAKE:
                if (c->readable)
                        conn_handshake(d, c);
                return;
        case CONN_ESTABLISHED:
                if (c->writable && c->buf_used > 0) {
                        if (conn_flush(d, c) < 0)
                                return;
                        conn_maybe_finish(d, c);
                        if (c->state == CONN_CLOSED)
                                return;
                }
                conn_update_ready(d, c);
                return;
        default:
                return;
        }
}

int vsock_dev_check_deadlines(VsockDev *d) {
        uint64_t now;
        VsockConn *next;

        if (d->n_deadlines == 0)
                return -1;
        now = now_usec(CLOCK_MONOTONIC);
        for (VsockConn *c = d->all_head; c; c = next) {
                next = c->all_next;
                if (c->deadline == 0 || c->deadline > now)
                        continue;
                conn_send_line(c, "ERR timeout\n");
                if (c->state == CONN_CONNECTING)
                        conn_reset(d, c, true);
                else
                        conn_free(d, c);
        }
        return d->n_deadlines > 0 ? 1000 : -1;
}

/* --- queues --- */

static void hdr_for_conn(const VsockDev *d, const VsockConn *c, uint16_t op, VsockHdr *ret) {
        *ret = (VsockHdr){
                .src_cid = VSOCK_CID_HOST,
                .dst_cid = d->guest_cid,
                .src_port = c->local_port,
                .dst_port = c->peer_port,
                .type = VSOCK_TYPE_STREAM,
                .op = op,
                .buf_alloc = CONN_BUF_ALLOC,
                .fwd_cnt = c->fwd_cnt,
        };
}

static void handle_tx_chain(VsockDev *d, const VringChain *ch) {
        uint8_t raw[VSOCK_HDR_SIZE];
        struct iovec iov[VRING_MAX_IOV];
        unsigned n;
        VsockHdr h;
        int r;

        if (iov_to_buf(ch->out, ch->n_out, raw, sizeof(raw)) < sizeof(raw)) {
                log_debug("TX chain shorter than a vsock header, dropped");
                return;
        }
        r = vsock_hdr_parse(raw, sizeof(raw), &h);
        if (r < 0) {
                log_debug_errno(r, "invalid vsock header from the guest, dropped: %m");
                return;
        }
        if (ch->out_len - VSOCK_HDR_SIZE < h.len) {
                log_debug("vsock packet claims more payload than its buffers hold, dropped");
                return;
        }
        n = iov_slice(ch->out, ch->n_out, VSOCK_HDR_SIZE, h.len, iov, ELEMENTSOF(iov));
        vsock_dev_handle_pkt(d, &h, iov, n);
}

static void tx_drain(VsockDev *d) {
        Vring *tx = &d->vu.vrings[VSOCK_TX_QUEUE];
        unsigned count = 0;
        int r;

        for (;;) {
                r = vring_pop(tx, &d->vu.mem, &d->chain);
                if (r == -EBADMSG)
                        continue;
                if (r <= 0)
                        break;
                handle_tx_chain(d, &d->chain);
                vring_push(tx, d->chain.head, 0);
                if (++count % FLUSH_EVERY == 0)
                        vring_flush(tx);
        }
        if (r == -EIO)
                log_warning("the guest broke the TX queue, stopping it");
        vring_flush(tx);
}

static void rx_put(Vring *rx, const VringChain *ch, const VsockHdr *h) {
        uint8_t raw[VSOCK_HDR_SIZE];

        vsock_hdr_encode(h, raw);
        (void) buf_to_iov(ch->in, ch->n_in, raw, sizeof(raw));
        vring_push(rx, ch->head, VSOCK_HDR_SIZE + h->len);
}

/* Fills one RX buffer with the next queued control packet. */
static void rx_ctl(VsockDev *d, const VringChain *ch) {
        Vring *rx = &d->vu.vrings[VSOCK_RX_QUEUE];
        VsockConn *c = d->ctl_head;
        VsockHdr h;
        uint16_t op;

        if (d->rst_n > 0) {
                h = d->rst_queue[d->rst_start];
                d->rst_start = (d->rst_start + 1) % VSOCK_RST_QUEUE;
                d->rst_n--;
                rx_put(rx, ch, &h);
                return;
        }

        if (c->pending & PEND_RST) {
                hdr_for_conn(d, c, VSOCK_OP_RST, &h);
                rx_put(rx, ch, &h);
                conn_free(d, c);
                return;
        }
        if (c->pending & PEND_REQUEST) {
                op = VSOCK_OP_REQUEST;
                c->pending &= ~PEND_REQUEST;
        } else if (c->pending & PEND_RESPONSE) {
                op = VSOCK_OP_RESPONSE;
                c->pending &= ~PEND_RESPONSE;
        } else if (c->pending & PEND_CREDIT_UPDATE) {
                op = VSOCK_OP_CREDIT_UPDATE;
                c->pending &= ~PEND_CREDIT_UPDATE;
        } else if (c->pending & PEND_CREDIT_REQUEST) {
                op = VSOCK_OP_CREDIT_REQUEST;
                c->pending &= ~PEND_CREDIT_REQUEST;
        } else {
                op = VSOCK_OP_SHUTDOWN;
                c->pending &= ~PEND_SHUTDOWN;
        }
        hdr_for_conn(d, c, op, &h);
        if (op == VSOCK_OP_SHUTDOWN)
                h.flags = VSOCK_SHUTDOWN_SEND;
        c->fwd_cnt_sent = c->fwd_cnt;
        rx_put(rx, ch, &h);
        if (c->pending == 0)
                ctl_remove(d, c);
}

/* Returns unused RX chains: un-popped when possible, else as empty used buffers. */
static void rx_give_back(Vring *rx, VringChain *chains, unsigned first, unsigned n, bool can_unpop) {
        if (can_unpop) {
                vring_unpop(rx, n);
                return;
        }
        for (unsigned i = first; i < first + n; i++)
                vring_push(rx, chains[i].head, 0);
}

/* Moves data from one readable connection into RX buffers. Returns 0 when the RX ring is empty. */
static int rx_data(VsockDev *d, VsockConn *c) {
        Vring *rx = &d->vu.vrings[VSOCK_RX_QUEUE];
        struct iovec iov[RX_IOV_MAX];
        size_t caps[RX_BATCH];
        unsigned nch = 0, niov = 0;
        size_t total = 0, budget, remaining;
        bool can_unpop = true;
        uint32_t credit;
        ssize_t n;

        credit = vsock_conn_peer_credit(c);
        if (credit == 0) {
                ready_remove(d, c);
                return 1;
        }
        budget = MIN(credit, RX_CONN_BUDGET);

        while (nch < RX_BATCH && total < budget) {
                VringChain *ch = &d->rx_batch[nch];
                size_t cap;
                int r;

                r = vring_pop(rx, &d->vu.mem, ch);
                if (r == -EBADMSG) {
                        can_unpop = false;
                        break;
                }
                if (r <= 0)
                        break;
                if (ch->in_len <= VSOCK_HDR_SIZE || niov + ch->n_in > RX_IOV_MAX) {
                        /* A buffer with no room for payload is useless for data: hand it back empty. */
                        if (ch->in_len <= VSOCK_HDR_SIZE) {
                                vring_push(rx, ch->head, 0);
                                can_unpop = false;
                        } else
                                vring_unpop(rx, 1);
                        break;
                }
                cap = MIN3(ch->in_len - VSOCK_HDR_SIZE, (size_t) VSOCK_MAX_PAYLOAD, budget - total);
                if (cap == 0) {
                        vring_unpop(rx, 1);
                        break;
                }
                niov += iov_slice(ch->in, ch->n_in, VSOCK_HDR_SIZE, cap, iov + niov, RX_IOV_MAX - niov);
                caps[nch++] = cap;
                total += cap;
        }
        if (nch == 0)
                return can_unpop ? 0 : 1;

        n = readv(c->fd, iov, (int) niov);
        if (n <= 0) {
                int e = n < 0 ? errno : 0;

                rx_give_back(rx, d->rx_batch, 0, nch, can_unpop);
                if (n == 0) {
                        c->host_eof = true;
                        ready_remove(d, c);
                        conn_set_pending(d, c, PEND_SHUTDOWN);
                } else if (e == EAGAIN) {
                        c->readable = false;
                        ready_remove(d, c);
                } else if (e != EINTR)
                        conn_reset(d, c, true);
                return 1;
        }

        remaining = (size_t) n;
        for (unsigned i = 0; i < nch; i++) {
                VsockHdr h;
                size_t plen = MIN(caps[i], remaining);

                if (plen == 0) {
                        rx_give_back(rx, d->rx_batch, i, nch - i, can_unpop);
                        break;
                }
                hdr_for_conn(d, c, VSOCK_OP_RW, &h);
                h.len = (uint32_t) plen;
                rx_put(rx, &d->rx_batch[i], &h);
                remaining -= plen;
        }
        c->rx_cnt += (uint32_t) n;
        c->fwd_cnt_sent = c->fwd_cnt;
        /* A short read drained the socket; a later arrival raises a new edge. After hang-up keep
         * reading until EOF, as no further edge will come. */
        if ((size_t) n < total && !c->rdhup)
                c->readable = false;
        ready_remove(d, c);
        conn_update_ready(d, c); /* back at the tail: round robin */
        return 1;
}

static void rx_fill(VsockDev *d) {
        Vring *rx = &d->vu.vrings[VSOCK_RX_QUEUE];
        unsigned count = 0;

        for (;;) {
                if (d->rst_n > 0 || d->ctl_head) {
                        int r = vring_pop(rx, &d->vu.mem, &d->chain);
                        if (r == -EBADMSG)
                                continue;
                        if (r <= 0)
                                break;
                        if (d->chain.in_len < VSOCK_HDR_SIZE) {
                                vring_push(rx, d->chain.head, 0);
                                continue;
                        }
                        rx_ctl(d, &d->chain);
                } else if (d->ready_head) {
                        if (rx_data(d, d->ready_head) == 0)
                                break;
                } else
                        break;
                if (++count % RX_FLUSH_EVERY == 0)
                        vring_flush(rx);
        }
        vring_flush(rx);
}

void vsock_dev_process(VsockDev *d) {
        if (vring_ready(&d->vu.vrings[VSOCK_TX_QUEUE]))
                tx_drain(d);
        if (vring_ready(&d->vu.vrings[VSOCK_RX_QUEUE]))
                rx_fill(d);
}

void vsock_dev_kick(VsockDev *d, unsigned idx) {
        uint64_t v;

        if (idx < VHOST_USER_NUM_QUEUES && d->vu.vrings[idx].kick_fd >= 0)
                (void) !read(d->vu.vrings[idx].kick_fd, &v, sizeof(v));
}

static void vring_changed(VhostUser *vu, unsigned idx, void *userdata) {
        VsockDev *d = userdata;
        Vring *vr = &vu->vrings[idx];
        struct epoll_event ev = {
                .events = EPOLLIN,
                .data.ptr = &d->kick_tags[idx],
        };

        /* A replaced kick fd left epoll when it was closed; a kept one is re-added harmlessly. */
        (void) epoll_ctl(d->epoll_fd, EPOLL_CTL_DEL, vr->kick_fd, NULL);
        if (vr->kick_fd >= 0 && epoll_ctl(d->epoll_fd, EPOLL_CTL_ADD, vr->kick_fd, &ev) < 0)
                log_warning_errno(errno, "failed to watch the kick fd of vring %u: %m", idx);
}

static const VhostUserOps vhost_user_ops = {
        .vring_changed = vring_changed,
};

int vsock_dev_init(VsockDev *d, int epoll_fd, uint64_t guest_cid, const char *uds_base, bool event_idx) {
        memset(d, 0, sizeof(*d));
        d->epoll_fd = epoll_fd >= 0 ? epoll_fd : epoll_create1(EPOLL_CLOEXEC);
        if (d->epoll_fd < 0)
                return -errno;
        d->uds_base = strdup(uds_base);
        if (!d->uds_base) {
                d->epoll_fd = safe_close(d->epoll_fd);
                return -ENOMEM;
        }
        d->guest_cid = guest_cid;
        d->next_local_port = LOCAL_PORT_FIRST;
        for (unsigned i = 0; i < VHOST_USER_NUM_QUEUES; i++)
                d->kick_tags[i] = (EvTag){ .kind = EV_KICK, .ptr = (void *) (uintptr_t) i };
        vhost_user_init(&d->vu, guest_cid, event_idx, &vhost_user_ops, d);
        return 0;
}

void vsock_dev_done(VsockDev *d) {
        while (d->all_head)
                conn_free(d, d->all_head);
        vhost_user_done(&d->vu);
        free(d->uds_base);
        d->uds_base = NULL;
        d->epoll_fd = safe_close(d->epoll_fd);
}

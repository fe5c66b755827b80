/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "macro.h"
#include "vsock-conn.h"

uint32_t vsock_conn_peer_credit(const VsockConn *c) {
        uint32_t in_flight = c->rx_cnt - c->peer_fwd_cnt;

        if (in_flight >= c->peer_buf_alloc)
                return 0;
        return c->peer_buf_alloc - in_flight;
}

bool vsock_conn_tx_fits(const VsockConn *c, uint32_t len) {
        uint32_t held = c->tx_cnt - c->fwd_cnt;

        return held <= CONN_BUF_ALLOC && len <= CONN_BUF_ALLOC - held;
}

bool vsock_conn_want_credit_update(const VsockConn *c) {
        /* Half the window: the guest still has the other half to send while the update travels. */
        return c->fwd_cnt - c->fwd_cnt_sent >= CONN_BUF_ALLOC / 2;
}

void vsock_conn_update_peer_credit(VsockConn *c, uint32_t buf_alloc, uint32_t fwd_cnt) {
        c->peer_buf_alloc = buf_alloc;
        c->peer_fwd_cnt = fwd_cnt;
}

int vsock_conn_buf_append(VsockConn *c, const struct iovec *iov, unsigned n, size_t skip, size_t len) {
        if (len > CONN_BUF_ALLOC - c->buf_used)
                return -ENOBUFS;
        if (len == 0)
                return 0;
        if (!c->buf) {
                c->buf = malloc(CONN_BUF_ALLOC);
                if (!c->buf)
                        return -ENOMEM;
                c->buf_start = c->buf_used = 0;
        }
        for (unsigned i = 0; i < n && len > 0; i++) {
                const uint8_t *p = iov[i].iov_base;
                size_t l = iov[i].iov_len;

                if (skip >= l) {
                        skip -= l;
                        continue;
                }
                p += skip;
                l -= skip;
                skip = 0;
                l = MIN(l, len);
                len -= l;
                while (l > 0) {
                        uint32_t tail = (c->buf_start + c->buf_used) % CONN_BUF_ALLOC;
                        size_t chunk = MIN(l, (size_t) (CONN_BUF_ALLOC - tail));

                        memcpy(c->buf + tail, p, chunk);
                        c->buf_used += (uint32_t) chunk;
                        p += chunk;
                        l -= chunk;
                }
        }
        return len == 0 ? 0 : -EINVAL;
}

unsigned vsock_conn_buf_peek(const VsockConn *c, struct iovec iov[static 2]) {
        uint32_t first;

        if (c->buf_used == 0)
                return 0;
        first = MIN(c->buf_used, CONN_BUF_ALLOC - c->buf_start);
        iov[0] = (struct iovec){ .iov_base = c->buf + c->buf_start, .iov_len = first };
        if (first == c->buf_used)
                return 1;
        iov[1] = (struct iovec){ .iov_base = c->buf, .iov_len = c->buf_used - first };
        return 2;
}

void vsock_conn_buf_consume(VsockConn *c, uint32_t n) {
        n = MIN(n, c->buf_used);
        c->buf_start = (c->buf_start + n) % CONN_BUF_ALLOC;
        c->buf_used -= n;
        if (c->buf_used == 0) {
                /* Give the memory back: most connections never need it again. */
                free(c->buf);
                c->buf = NULL;
                c->buf_start = 0;
        }
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "netdev-stream.h"
#include "unaligned.h"

int netdev_stream_header(size_t len, uint8_t out[static NETDEV_STREAM_HEADER]) {
        if (len == 0 || len > NETDEV_FRAME_MAX)
                return -EMSGSIZE;
        unaligned_write_be32(out, (uint32_t) len);
        return 0;
}

static int check_length(NetdevStreamReader *r, uint32_t len) {
        if (len > 0 && len <= NETDEV_FRAME_MAX)
                return 0;
        r->broken = true;
        r->bad_length = len;
        return -EBADMSG;
}

int netdev_stream_feed(
        NetdevStreamReader *r, const uint8_t *data, size_t n, NetdevFrameFn fn, void *userdata) {
        int k;

        if (r->broken)
                return -EBADMSG;
        while (n > 0) {
                size_t want, take;
                uint32_t len;

                if (r->len == 0 && n >= NETDEV_STREAM_HEADER) {
                        /* Nothing pending: a frame that lies whole in data goes out from there. */
                        len = unaligned_read_be32(data);
                        if (check_length(r, len) < 0)
                                return -EBADMSG;
                        if (n - NETDEV_STREAM_HEADER >= len) {
                                k = fn(data + NETDEV_STREAM_HEADER, len, userdata);
                                if (k < 0)
                                        return k;
                                data += NETDEV_STREAM_HEADER + len;
                                n -= NETDEV_STREAM_HEADER + len;
                                continue;
                        }
                }
                /* A piece of a frame: gather it in buf, the header first. */
                if (r->len < NETDEV_STREAM_HEADER) {
                        take = MIN(NETDEV_STREAM_HEADER - r->len, n);
                        memcpy(r->buf + r->len, data, take);
                        r->len += take;
                        data += take;
                        n -= take;
                        if (r->len < NETDEV_STREAM_HEADER)
                                break;
                        if (check_length(r, unaligned_read_be32(r->buf)) < 0)
                                return -EBADMSG;
                }
                len = unaligned_read_be32(r->buf);
                want = NETDEV_STREAM_HEADER + len - r->len;
                take = MIN(want, n);
                memcpy(r->buf + r->len, data, take);
                r->len += take;
                data += take;
                n -= take;
                if (take < want)
                        break;
                r->len = 0;
                k = fn(r->buf + NETDEV_STREAM_HEADER, len, userdata);
                if (k < 0)
                        return k;
        }
        return 0;
}

int netdev_stream_outbox_queue(NetdevStreamOutbox *o, const uint8_t *frame, size_t len) {
        uint8_t header[NETDEV_STREAM_HEADER];
        int r;

        r = netdev_stream_header(len, header);
        if (r < 0)
                return r;
        if (o->len + NETDEV_STREAM_HEADER + len > sizeof(o->buf))
                return -ENOBUFS;
        if (o->start + o->len + NETDEV_STREAM_HEADER + len > sizeof(o->buf)) {
                memmove(o->buf, o->buf + o->start, o->len);
                o->start = 0;
        }
        memcpy(o->buf + o->start + o->len, header, NETDEV_STREAM_HEADER);
        memcpy(o->buf + o->start + o->len + NETDEV_STREAM_HEADER, frame, len);
        o->len += NETDEV_STREAM_HEADER + len;
        return 0;
}

size_t netdev_stream_outbox_pending(const NetdevStreamOutbox *o, const uint8_t **ret_data) {
        *ret_data = o->buf + o->start;
        return o->len;
}

void netdev_stream_outbox_consume(NetdevStreamOutbox *o, size_t n) {
        assert(n <= o->len);
        o->start += n;
        o->len -= n;
        if (o->len == 0)
                o->start = 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The stream from QEMU (the guest's frames) as slirpd reads it. The input is the stream itself; its
 * first byte seeds the chunk sizes the reader gets it in. Checked: the reader yields the same frames
 * (and the same verdict) whether it gets the stream at once or in chunks; every frame is within the
 * bound and goes through the loopback filter; the outbox frames them again into exactly the bytes
 * they came from. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "frame-filter.h"
#include "macro.h"
#include "netdev-stream.h"

typedef struct Sink {
        uint8_t *out; /* the frames re-framed, in order */
        size_t len, size;
        size_t frames;
} Sink;

static int on_frame(const uint8_t *frame, size_t len, void *userdata) {
        Sink *s = userdata;

        if (len == 0 || len > NETDEV_FRAME_MAX)
                abort();
        (void) frame_targets_host_loopback(frame, len);
        if (s->len + NETDEV_STREAM_HEADER + len > s->size)
                abort();
        if (netdev_stream_header(len, s->out + s->len) < 0)
                abort();
        memcpy(s->out + s->len + NETDEV_STREAM_HEADER, frame, len);
        s->len += NETDEV_STREAM_HEADER + len;
        s->frames++;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static NetdevStreamReader whole, chunked;
        static NetdevStreamOutbox outbox;
        Sink a = {}, b = {};
        unsigned seed;
        int ra, rb = 0;

        if (size < 1)
                return 0;
        seed = data[0];
        data++;
        size--;
        a.size = b.size = size;
        a.out = malloc(size ?: 1);
        b.out = malloc(size ?: 1);
        if (!a.out || !b.out)
                abort();

        whole = (NetdevStreamReader){};
        chunked = (NetdevStreamReader){};
        ra = netdev_stream_feed(&whole, data, size, on_frame, &a);
        for (size_t off = 0; off < size && rb == 0;) {
                size_t n = MIN(size - off, (size_t) (seed % 97) + 1);

                rb = netdev_stream_feed(&chunked, data + off, n, on_frame, &b);
                off += n;
                seed = seed * 1103515245u + 12345u;
                seed = (seed >> 16) & 0xffff;
        }
        if (ra != rb || a.frames != b.frames || a.len != b.len || memcmp(a.out, b.out, a.len) != 0)
                abort();
        /* Re-framed frames are the stream's own prefix. */
        if (memcmp(a.out, data, a.len) != 0)
                abort();
        if (ra == -EBADMSG && whole.bad_length > 0 && whole.bad_length <= NETDEV_FRAME_MAX)
                abort();

        /* The outbox frames them the same way, whatever a write takes each time. */
        outbox.start = outbox.len = 0;
        for (size_t off = 0; off < a.len;) {
                size_t len = (size_t) a.out[off] << 24 | (size_t) a.out[off + 1] << 16 |
                             (size_t) a.out[off + 2] << 8 | a.out[off + 3];
                const uint8_t *p;
                size_t n;

                if (netdev_stream_outbox_queue(&outbox, a.out + off + NETDEV_STREAM_HEADER, len) < 0)
                        abort();
                n = netdev_stream_outbox_pending(&outbox, &p);
                if (n != NETDEV_STREAM_HEADER + len || memcmp(p, a.out + off, n) != 0)
                        abort();
                netdev_stream_outbox_consume(&outbox, n / 2);
                netdev_stream_outbox_consume(&outbox, n - n / 2);
                off += NETDEV_STREAM_HEADER + len;
        }
        free(a.out);
        free(b.out);
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "udp-frame.h"

int udp_frame_header(size_t len, uint8_t out[static UDP_FRAME_HEADER]) {
        if (len > UDP_DATAGRAM_MAX)
                return -EMSGSIZE;
        out[0] = (uint8_t) (len & 0xff);
        out[1] = (uint8_t) (len >> 8);
        return 0;
}

uint8_t *udp_frame_decoder_space(UdpFrameDecoder *d, size_t *ret_size) {
        *ret_size = sizeof(d->buf) - d->len;
        return d->buf + d->len;
}

void udp_frame_decoder_advance(UdpFrameDecoder *d, size_t n) {
        d->len += n;
}

int udp_frame_decoder_next(const UdpFrameDecoder *d, const uint8_t **ret_data, size_t *ret_len) {
        size_t l;

        if (d->len < UDP_FRAME_HEADER)
                return 0;
        l = (size_t) d->buf[0] | ((size_t) d->buf[1] << 8);
        if (d->len < UDP_FRAME_HEADER + l)
                return 0;
        *ret_data = d->buf + UDP_FRAME_HEADER;
        *ret_len = l;
        return 1;
}

void udp_frame_decoder_pop(UdpFrameDecoder *d) {
        size_t l;

        if (d->len < UDP_FRAME_HEADER)
                return;
        l = UDP_FRAME_HEADER + ((size_t) d->buf[0] | ((size_t) d->buf[1] << 8));
        if (l > d->len)
                return;
        /* A datagram at most 64 KiB: the move is cheap next to the syscalls. */
        memmove(d->buf, d->buf + l, d->len - l);
        d->len -= l;
}

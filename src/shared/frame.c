/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "macro.h"
#include "unaligned.h"

#define FRAME_PAYLOAD_CHUNK (64u * 1024u)

static bool flags_ok(uint32_t flags, uint32_t kinds) {
        /* Exactly one kind bit, and one this type may travel as. */
        return (flags & ~MESSAGE_KIND_MASK) == 0 && flags != 0 && (flags & (flags - 1)) == 0 &&
               (flags & kinds);
}

void frame_header_pack(const FrameHeader *h, uint8_t out[static FRAME_HEADER_SIZE]) {
        unaligned_write_le32(out, FRAME_MAGIC);
        unaligned_write_le32(out + 4, h->type);
        unaligned_write_le64(out + 8, h->id);
        unaligned_write_le32(out + 16, h->flags);
        unaligned_write_le32(out + 20, h->length);
}

int frame_header_parse(const uint8_t in[static FRAME_HEADER_SIZE], FrameHeader *ret) {
        const MessageTypeInfo *info;
        FrameHeader h = {
                .type = unaligned_read_le32(in + 4),
                .id = unaligned_read_le64(in + 8),
                .flags = unaligned_read_le32(in + 16),
                .length = unaligned_read_le32(in + 20),
        };

        if (unaligned_read_le32(in) != FRAME_MAGIC)
                return -EBADMSG;
        info = message_type_lookup(h.type);
        if (!info || !flags_ok(h.flags, info->kinds))
                return -EBADMSG;
        if (h.length > MESSAGE_SIZE_MAX || h.length > info->max_size)
                return -EMSGSIZE;
        *ret = h;
        return 0;
}

void frame_done(Frame *f) {
        if (!f)
                return;
        free(f->payload);
        *f = (Frame){};
}

void frame_decoder_done(FrameDecoder *d) {
        if (!d)
                return;
        free(d->payload);
        *d = (FrameDecoder) FRAME_DECODER_INIT;
}

size_t frame_decoder_wanted(const FrameDecoder *d) {
        if (d->header_len < FRAME_HEADER_SIZE)
                return FRAME_HEADER_SIZE - d->header_len;
        return d->header.length - d->payload_len; /* > 0: a complete frame is handed out at once */
}

bool frame_decoder_busy(const FrameDecoder *d) {
        return d->header_len > 0;
}

int frame_decoder_eof(const FrameDecoder *d) {
        if (d->error < 0)
                return d->error;
        return frame_decoder_busy(d) ? -EBADMSG : 0;
}

static int decoder_fail(FrameDecoder *d, int error) {
        free(d->payload);
        d->payload = NULL;
        d->payload_alloc = 0;
        d->error = error;
        return error;
}

int frame_decoder_feed(FrameDecoder *d, const uint8_t *buf, size_t n, size_t *ret_consumed, Frame *ret) {
        size_t used = 0, k;
        int r;

        *ret_consumed = 0;
        if (d->error < 0)
                return d->error;

        if (d->header_len < FRAME_HEADER_SIZE) {
                k = MIN(n, FRAME_HEADER_SIZE - d->header_len);
                if (k > 0)
                        memcpy(d->header_buf + d->header_len, buf, k);
                d->header_len += k;
                used += k;
                if (d->header_len < FRAME_HEADER_SIZE) {
                        *ret_consumed = used;
                        return 0;
                }
                r = frame_header_parse(d->header_buf, &d->header);
                if (r < 0) {
                        *ret_consumed = used;
                        return decoder_fail(d, r);
                }
                d->payload_len = 0;
                d->payload_alloc = 0;
        }

        k = MIN(n - used, (size_t) d->header.length - d->payload_len);
        if (k > 0 && d->payload_len + k > d->payload_alloc) {
                /* Memory follows the bytes actually received (doubling, capped by the length the
                 * type allows), so a peer announcing a large frame and stalling costs little. */
                size_t want =
                        MAX(d->payload_len + k,
                            MIN(MAX(d->payload_alloc * 2, FRAME_PAYLOAD_CHUNK), (size_t) d->header.length));
                uint8_t *p = realloc(d->payload, want);

                if (!p) {
                        *ret_consumed = used;
                        return decoder_fail(d, -ENOMEM);
                }
                d->payload = p;
                d->payload_alloc = want;
        }
        if (k > 0) {
                memcpy(d->payload + d->payload_len, buf + used, k);
                d->payload_len += k;
                used += k;
        }
        *ret_consumed = used;
        if (d->payload_len < d->header.length)
                return 0;

        *ret = (Frame){
                .header = d->header,
                .payload = TAKE_PTR(d->payload),
        };
        d->header_len = 0;
        d->payload_len = 0;
        d->payload_alloc = 0;
        return 1;
}

int frame_encode(
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        uint8_t **ret,
        size_t *ret_size) {
        const MessageTypeInfo *info;
        uint8_t *buf;
        size_t len;

        info = message_type_lookup(type);
        if (!info || !msg || msg->descriptor != info->descriptor || !flags_ok(flags, info->kinds))
                return -EINVAL;
        if (info->validate(msg) < 0)
                return -EINVAL;
        len = protobuf_c_message_get_packed_size(msg);
        if (len > info->max_size || len > MESSAGE_SIZE_MAX)
                return -EMSGSIZE;

        buf = malloc(FRAME_HEADER_SIZE + len);
        if (!buf)
                return -ENOMEM;
        frame_header_pack(
                &(FrameHeader){ .type = type, .flags = flags, .id = id, .length = (uint32_t) len }, buf);
        if (protobuf_c_message_pack(msg, buf + FRAME_HEADER_SIZE) != len) {
                free(buf);
                return -EINVAL;
        }
        *ret = buf;
        *ret_size = FRAME_HEADER_SIZE + len;
        return 0;
}

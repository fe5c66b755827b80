/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Framing for every Bistro stream (docs/design/wire.md): a fixed 24-byte little-endian header,
 * then a protobuf-c payload of the header's message type.
 *
 *   offset 0  u32 magic   FRAME_MAGIC ("BIS" + version byte 1)
 *          4  u32 type    bistro.MessageType
 *          8  u64 id      request id; a response carries the id of its request
 *         16  u32 flags   exactly one MESSAGE_KIND_* bit; no other bit may be set
 *         20  u32 length  payload bytes, <= the type's cap (<= MESSAGE_SIZE_MAX)
 *
 * The header is checked completely (magic, known type, kind allowed for the type, length within
 * the type's cap) before a payload byte is allocated. Nothing here logs. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "message-type.h"

#define FRAME_MAGIC UINT32_C(0x01534942) /* "BIS\1" on the wire */
#define FRAME_HEADER_SIZE 24u

#define FRAME_REQUEST MESSAGE_KIND_REQUEST
#define FRAME_RESPONSE MESSAGE_KIND_RESPONSE
#define FRAME_EVENT MESSAGE_KIND_EVENT

typedef struct FrameHeader {
        uint32_t type;
        uint32_t flags;
        uint64_t id;
        uint32_t length;
} FrameHeader;

void frame_header_pack(const FrameHeader *h, uint8_t out[static FRAME_HEADER_SIZE]);
/* Parses and checks a header: -EBADMSG for a bad magic, unknown type or bad flags, -EMSGSIZE for
 * a length above the type's cap. */
int frame_header_parse(const uint8_t in[static FRAME_HEADER_SIZE], FrameHeader *ret);

/* A decoded frame: the payload is owned (free with frame_done()); NULL when length is 0. */
typedef struct Frame {
        FrameHeader header;
        uint8_t *payload;
} Frame;

void frame_done(Frame *f);

/* Incremental decoder: accepts any split of the byte stream, down to one byte per call. */
typedef struct FrameDecoder {
        uint8_t header_buf[FRAME_HEADER_SIZE];
        size_t header_len;
        FrameHeader header;
        uint8_t *payload;
        size_t payload_len;
        size_t payload_alloc; /* grows with the bytes received, never beyond header.length */
        int error;            /* sticky: after an error the stream cannot be resynchronised */
} FrameDecoder;

#define FRAME_DECODER_INIT \
        { .header_len = 0 }

void frame_decoder_done(FrameDecoder *d);

/* Consumes bytes from buf. Returns 1 when a frame is complete (moved into *ret, which the caller
 * must frame_done()), 0 when all n bytes were consumed and more are needed, or a negative error:
 * -EBADMSG, -EMSGSIZE (from the header), -ENOMEM. *ret_consumed (always set) says how many bytes
 * were used; call again with the rest after a frame. Errors are sticky. */
int frame_decoder_feed(FrameDecoder *d, const uint8_t *buf, size_t n, size_t *ret_consumed, Frame *ret);

/* How many more bytes finish the current header or payload (never 0): reading exactly this much
 * never reads past the end of a frame. */
size_t frame_decoder_wanted(const FrameDecoder *d);

/* True when a frame is partially received. */
bool frame_decoder_busy(const FrameDecoder *d);

/* The peer closed the stream: 0 at a frame boundary, -EBADMSG inside a frame (truncated). */
int frame_decoder_eof(const FrameDecoder *d);

/* Packs msg as a frame of the given type, kind and id into a new buffer. Returns -EINVAL when the
 * type is unknown, msg has another descriptor, the kind is not allowed for the type or msg does
 * not pass the type's validator (we never send what we would refuse to read), -EMSGSIZE when the
 * payload exceeds the type's cap. */
int frame_encode(
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        uint8_t **ret,
        size_t *ret_size);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared body of the fuzz-wire-<file> targets: the input is a byte stream from a hostile peer. It
 * goes through the frame decoder; every frame whose type belongs to the proto file under test is
 * unpacked and validated; whatever passes must survive re-encoding and decoding unchanged in
 * validity (a validator that depends on bytes re-packing drops would be a bug). */

#include <errno.h>
#include <stdlib.h>

#include "frame.h"
#include "fuzz.h"
#include "message-type.h"

static inline bool fuzz_wire_type_in(const MessageTypeInfo *table, size_t n, uint32_t type) {
        for (size_t i = 0; i < n; i++)
                if (table[i].type == type)
                        return true;
        return false;
}

static inline void fuzz_wire_roundtrip(const Frame *f, const ProtobufCMessage *m) {
        FrameDecoder d = FRAME_DECODER_INIT;
        Frame g = {};
        ProtobufCMessage *m2 = NULL;
        uint8_t *buf = NULL;
        size_t size, used;
        int r;

        if (message_validate(f->header.type, m) != 0)
                abort();
        r = frame_encode(f->header.type, f->header.flags, f->header.id, m, &buf, &size);
        if (r == -EMSGSIZE)
                return;
        if (r < 0)
                abort();
        if (frame_decoder_feed(&d, buf, size, &used, &g) != 1 || used != size)
                abort();
        if (g.header.type != f->header.type || g.header.id != f->header.id ||
            g.header.flags != f->header.flags)
                abort();
        if (wire_unpack(g.header.type, g.payload, g.header.length, &m2) != 0)
                abort();
        message_free(m2);
        frame_done(&g);
        frame_decoder_done(&d);
        free(buf);
}

static inline int fuzz_wire_run(const MessageTypeInfo *table, size_t n, const uint8_t *data, size_t size) {
        FrameDecoder d = FRAME_DECODER_INIT;
        size_t off = 0;

        while (off < size) {
                Frame f = {};
                size_t used;
                int r;

                r = frame_decoder_feed(&d, data + off, size - off, &used, &f);
                if (r < 0 || r == 0)
                        break;
                off += used;
                if (fuzz_wire_type_in(table, n, f.header.type)) {
                        ProtobufCMessage *m = NULL;

                        if (wire_unpack(f.header.type, f.payload, f.header.length, &m) == 0) {
                                fuzz_wire_roundtrip(&f, m);
                                message_free(m);
                        }
                }
                frame_done(&f);
        }
        (void) frame_decoder_eof(&d);
        frame_decoder_done(&d);
        return 0;
}

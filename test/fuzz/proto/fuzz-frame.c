/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The frame decoder alone. The first input byte picks the chunk size the stream is fed in, so
 * every split of a header and payload gets exercised; the decoder must agree with itself when fed
 * the same bytes all at once. */
#include <stdlib.h>

#include "frame.h"
#include "fuzz.h"

static int decode(const uint8_t *data, size_t size, size_t chunk, unsigned *ret_frames, size_t *ret_used) {
        FrameDecoder d = FRAME_DECODER_INIT;
        size_t off = 0;
        unsigned frames = 0;
        int r = 0;

        while (off < size) {
                size_t n = chunk == 0 ? size - off : (size - off < chunk ? size - off : chunk), used;
                Frame f = {};

                r = frame_decoder_feed(&d, data + off, n, &used, &f);
                if (used > n)
                        abort();
                off += used;
                if (r < 0)
                        break;
                if (r == 1) {
                        if (f.header.length > MESSAGE_SIZE_MAX ||
                            (f.header.length > 0) != (f.payload != NULL))
                                abort();
                        frames++;
                        frame_done(&f);
                }
                if (frame_decoder_wanted(&d) == 0)
                        abort();
        }
        if (r >= 0)
                r = frame_decoder_eof(&d);
        frame_decoder_done(&d);
        *ret_frames = frames;
        *ret_used = off;
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        unsigned frames_a, frames_b;
        size_t used_a, used_b;
        int ra, rb;

        if (size < 1)
                return 0;
        ra = decode(data + 1, size - 1, 1 + data[0] % 32, &frames_a, &used_a);
        rb = decode(data + 1, size - 1, 0, &frames_b, &used_b);
        if (ra != rb || frames_a != frames_b || used_a != used_b)
                abort();
        return 0;
}

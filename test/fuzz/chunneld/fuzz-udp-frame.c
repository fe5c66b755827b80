/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chunneld's UDP stream decoder (udp-frame.h): the stream comes from port-listener in the VM, i.e.
 * from a container's UDP service. The first byte picks the read size, so every split of the stream
 * is reached; the datagrams must not depend on it, and each must be the length its header said. */

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "udp-frame.h"

static uint64_t run(const uint8_t *data, size_t size, size_t chunk, unsigned *ret_n) {
        static UdpFrameDecoder d;
        uint64_t h = 1469598103934665603u;
        size_t off = 0;
        unsigned n = 0;

        memset(&d, 0, sizeof(d));
        while (off < size) {
                size_t space, k;
                uint8_t *p = udp_frame_decoder_space(&d, &space);
                const uint8_t *dg;
                size_t len;

                if (!p || space == 0)
                        abort();
                k = size - off < chunk ? size - off : chunk;
                if (k > space)
                        k = space;
                memcpy(p, data + off, k);
                udp_frame_decoder_advance(&d, k);
                off += k;
                while (udp_frame_decoder_next(&d, &dg, &len) > 0) {
                        if (len > UDP_DATAGRAM_MAX)
                                abort();
                        for (size_t i = 0; i < len; i++)
                                h = (h ^ dg[i]) * 1099511628211u;
                        h = (h ^ len) * 1099511628211u;
                        n++;
                        udp_frame_decoder_pop(&d);
                }
        }
        *ret_n = n;
        return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        unsigned n1, n2;
        uint64_t h1, h2;

        if (size < 1)
                return 0;
        h1 = run(data + 1, size - 1, 1 + data[0] % 97, &n1);
        h2 = run(data + 1, size - 1, size, &n2);
        if (h1 != h2 || n1 != n2)
                abort();
        return 0;
}

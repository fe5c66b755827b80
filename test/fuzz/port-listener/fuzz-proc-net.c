/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* port-listener's /proc/net/tcp{,6} parser (proc-net.h): the file comes from a container's
 * network namespace. The first byte picks the chunk size, so every split of the file is reached;
 * the result must not depend on it. */

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proc-net.h"

typedef struct Sum {
        unsigned n;
        uint64_t h;
} Sum;

static int check(const ProcNetSocket *s, void *userdata) {
        Sum *sum = userdata;
        unsigned f = proc_net_listener_families(s);

        if (f & ~(PROC_NET_IPV4 | PROC_NET_IPV6))
                abort();
        if (f && (s->port == 0 || s->state != PROC_NET_STATE_LISTEN))
                abort();
        if (!s->ipv6 && (f & PROC_NET_IPV6))
                abort();
        sum->n++;
        sum->h = sum->h * 1000003u ^ ((uint64_t) s->port << 8 | s->state) ^ f << 24;
        return 0;
}

static void run(const uint8_t *data, size_t size, size_t chunk, Sum *sum, ProcNetParser *p) {
        for (size_t off = 0; off < size; off += chunk) {
                size_t n = size - off < chunk ? size - off : chunk;

                if (proc_net_feed(p, (const char *) data + off, n, check, sum) < 0)
                        abort();
        }
        if (proc_net_finish(p, check, sum) < 0)
                abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        ProcNetParser a = PROC_NET_PARSER_INIT, b = PROC_NET_PARSER_INIT;
        Sum sa = {}, sb = {};
        size_t chunk;

        if (size < 1)
                return 0;
        chunk = data[0] % 64 + 1;
        run(data + 1, size - 1, chunk, &sa, &a);
        run(data + 1, size - 1, size, &sb, &b);
        if (sa.n != sb.n || sa.h != sb.h || a.n_malformed != b.n_malformed || a.n_sockets != sb.n)
                abort();
        return 0;
}

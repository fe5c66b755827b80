/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Wayland filter's cost on recorded traffic (tools/wayland-record.py's format): each recording
 * goes through a fresh filter as it was read, chunk by chunk, again and again for about a second,
 * alternating with the baseline, which appends the same chunks to a Buffer unchanged (what the
 * gate would do without a filter). Prints MB/s and messages/s of both, and the ratio.
 *
 *   build/bench/wayland-filter-bench [--seconds S] RECORDING... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "fd-util.h"
#include "macro.h"
#include "time-util.h"
#include "wayland-filter.h"

#define ROUNDS 5

typedef struct Recording {
        char *data;
        size_t size;
        size_t bytes;    /* the Wayland bytes in it */
        size_t messages; /* whole messages in it */
} Recording;

static void count_messages(Recording *rec) {
        Buffer stream[2] = {};

        for (size_t off = 1; rec->size - off >= 3;) {
                const uint8_t *p = (const uint8_t *) rec->data + off;
                size_t len = MIN((size_t) (p[1] | p[2] << 8), rec->size - off - 3);

                if (buffer_append(&stream[p[0] & 1], p + 3, len) < 0)
                        exit(EXIT_FAILURE);
                rec->bytes += len;
                off += 3 + len;
        }
        for (unsigned d = 0; d < 2; d++) {
                for (size_t off = 0; stream[d].size - off >= 8;) {
                        uint32_t word;

                        memcpy(&word, stream[d].data + off + 4, 4);
                        if ((word >> 16) < 8)
                                break;
                        off += word >> 16;
                        rec->messages++;
                }
                buffer_done(&stream[d]);
        }
}

/* One pass over the recording, through the filter or not; returns the bytes sent on. */
static size_t one_pass(const Recording *rec, bool filter, Buffer out[2]) {
        _cleanup_(wayland_filter_freep) WaylandFilter *f = NULL;
        size_t sent;

        if (filter && wayland_filter_new("penguin", WINDOW_MARK_TITLE, &f) < 0)
                exit(EXIT_FAILURE);
        out[0].size = out[1].size = 0;
        for (size_t off = 1; rec->size - off >= 3;) {
                const uint8_t *p = (const uint8_t *) rec->data + off;
                size_t len = MIN((size_t) (p[1] | p[2] << 8), rec->size - off - 3);
                Buffer *o = &out[p[0] & 1];
                int r;

                if (!filter)
                        r = buffer_append(o, p + 3, len);
                else if (p[0] & 1)
                        r = wayland_filter_server(f, p + 3, len, o);
                else
                        r = wayland_filter_client(f, p + 3, len, o);
                if (r < 0) {
                        fprintf(stderr, "the recording was refused: %s (%s)\n", strerror(-r),
                                f ? wayland_filter_violation(f) : "");
                        exit(EXIT_FAILURE);
                }
                off += 3 + len;
        }
        sent = out[0].size + out[1].size;
        return sent;
}

/* Passes per second-ish, in nanoseconds per pass. */
static double time_passes(const Recording *rec, bool filter, unsigned passes, Buffer out[2]) {
        uint64_t t0 = now_usec(CLOCK_MONOTONIC);

        for (unsigned i = 0; i < passes; i++)
                (void) one_pass(rec, filter, out);
        return (double) (now_usec(CLOCK_MONOTONIC) - t0) * 1000.0 / passes;
}

static int compare_double(const void *a, const void *b) {
        double x = *(const double *) a, y = *(const double *) b;

        return x < y ? -1 : x > y;
}

int main(int argc, char *argv[]) {
        double seconds = 1.0;
        int first = 1;

        if (argc > 2 && streq(argv[1], "--seconds")) {
                seconds = atof(argv[2]);
                first = 3;
        }
        if (first >= argc || seconds <= 0) {
                fprintf(stderr, "usage: %s [--seconds S] RECORDING...\n", argv[0]);
                return 2;
        }

        for (int a = first; a < argc; a++) {
                Recording rec = {};
                Buffer out[2] = {};
                double filt[ROUNDS], base[ROUNDS];
                unsigned passes;
                size_t sent;
                int r;

                r = read_file(argv[a], 64u * 1024u * 1024u, &rec.data, &rec.size);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", argv[a], strerror(-r));
                        return 1;
                }
                count_messages(&rec);
                sent = one_pass(&rec, true, out);

                /* Enough passes for about `seconds` of filtering per round. */
                passes = (unsigned) MAX(1.0, seconds * 1e9 / time_passes(&rec, true, 3, out) / ROUNDS);
                for (unsigned i = 0; i < ROUNDS; i++) {
                        filt[i] = time_passes(&rec, true, passes, out);
                        base[i] = time_passes(&rec, false, passes, out);
                }
                qsort(filt, ROUNDS, sizeof(double), compare_double);
                qsort(base, ROUNDS, sizeof(double), compare_double);

                printf("%s: %zu bytes, %zu messages, %zu bytes sent on through the filter\n", argv[a],
                       rec.bytes, rec.messages, sent);
                printf("  filter:   %8.1f MB/s  %6.2f M messages/s  (median of %d x %u passes; min-max %.1f-%.1f "
                       "MB/s)\n",
                       rec.bytes / filt[ROUNDS / 2] * 1e3, rec.messages / filt[ROUNDS / 2] * 1e3, ROUNDS,
                       passes, rec.bytes / filt[ROUNDS - 1] * 1e3, rec.bytes / filt[0] * 1e3);
                printf("  baseline: %8.1f MB/s  (the same chunks appended unchanged)\n",
                       rec.bytes / base[ROUNDS / 2] * 1e3);
                printf("  ratio:    %8.2fx the baseline's time\n", filt[ROUNDS / 2] / base[ROUNDS / 2]);
                buffer_done(&out[0]);
                buffer_done(&out[1]);
                free(rec.data);
        }
        return 0;
}

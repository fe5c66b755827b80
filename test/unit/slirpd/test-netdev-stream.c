/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "netdev-stream.h"

#define MAX_FRAMES 16u

typedef struct Collected {
        size_t n;
        size_t len[MAX_FRAMES];
        uint8_t data[MAX_FRAMES][NETDEV_FRAME_MAX];
        int fail_at; /* return -EIO for this frame (-1: never) */
} Collected;

static int collect(const uint8_t *frame, size_t len, void *userdata) {
        Collected *c = userdata;

        assert_true(c->n < MAX_FRAMES);
        if ((int) c->n == c->fail_at)
                return -EIO;
        c->len[c->n] = len;
        memcpy(c->data[c->n], frame, len);
        c->n++;
        return 0;
}

/* A stream of frames of the given lengths (frame i filled with i + 1), framed by the outbox. */
static size_t make_stream(const size_t *lens, size_t n, uint8_t *out, size_t out_size) {
        NetdevStreamOutbox *o = calloc(1, sizeof(*o));
        uint8_t frame[NETDEV_FRAME_MAX];
        const uint8_t *p;
        size_t total;

        assert_non_null(o);
        for (size_t i = 0; i < n; i++) {
                memset(frame, (int) (i + 1), lens[i]);
                assert_int_equal(netdev_stream_outbox_queue(o, frame, lens[i]), 0);
        }
        total = netdev_stream_outbox_pending(o, &p);
        assert_true(total <= out_size);
        memcpy(out, p, total);
        free(o);
        return total;
}

static void check_frames(const Collected *c, const size_t *lens, size_t n) {
        assert_int_equal(c->n, n);
        for (size_t i = 0; i < n; i++) {
                assert_int_equal(c->len[i], lens[i]);
                for (size_t k = 0; k < lens[i]; k++)
                        assert_int_equal(c->data[i][k], (uint8_t) (i + 1));
        }
}

static void test_header(void **state) {
        uint8_t h[NETDEV_STREAM_HEADER];

        assert_int_equal(netdev_stream_header(0x1234, h), -EMSGSIZE); /* above the bound */
        assert_int_equal(netdev_stream_header(1514, h), 0);
        assert_memory_equal(h, "\x00\x00\x05\xea", 4);
        assert_int_equal(netdev_stream_header(NETDEV_FRAME_MAX, h), 0);
        assert_int_equal(netdev_stream_header(NETDEV_FRAME_MAX + 1, h), -EMSGSIZE);
        assert_int_equal(netdev_stream_header(0, h), -EMSGSIZE);
}

/* Three frames split in two at every byte boundary, then fed one byte at a time. */
static void test_split_everywhere(void **state) {
        static const size_t lens[] = { 60, 1, NETDEV_FRAME_MAX };
        uint8_t stream[3 * (NETDEV_STREAM_HEADER + NETDEV_FRAME_MAX)];
        size_t total = make_stream(lens, ELEMENTSOF(lens), stream, sizeof(stream));
        Collected *c = calloc(1, sizeof(*c));
        NetdevStreamReader *r = calloc(1, sizeof(*r));

        assert_non_null(c);
        assert_non_null(r);
        for (size_t cut = 0; cut <= total; cut++) {
                memset(c, 0, sizeof(*c));
                memset(r, 0, sizeof(*r));
                c->fail_at = -1;
                assert_int_equal(netdev_stream_feed(r, stream, cut, collect, c), 0);
                assert_int_equal(netdev_stream_feed(r, stream + cut, total - cut, collect, c), 0);
                check_frames(c, lens, ELEMENTSOF(lens));
                assert_int_equal(r->len, 0);
        }
        memset(c, 0, sizeof(*c));
        memset(r, 0, sizeof(*r));
        c->fail_at = -1;
        for (size_t i = 0; i < total; i++)
                assert_int_equal(netdev_stream_feed(r, stream + i, 1, collect, c), 0);
        check_frames(c, lens, ELEMENTSOF(lens));
        free(c);
        free(r);
}

/* Many frames in one chunk, and a partial one at its end completed by the next chunk. */
static void test_many_in_one_chunk(void **state) {
        static const size_t lens[] = { 14, 42, 100, 1514, 64, 64, 1500, 15, 1518, 60 };
        uint8_t stream[ELEMENTSOF(lens) * (NETDEV_STREAM_HEADER + NETDEV_FRAME_MAX)];
        size_t total = make_stream(lens, ELEMENTSOF(lens), stream, sizeof(stream));
        Collected *c = calloc(1, sizeof(*c));
        NetdevStreamReader r = {};

        assert_non_null(c);
        c->fail_at = -1;
        assert_int_equal(netdev_stream_feed(&r, stream, total - 30, collect, c), 0);
        assert_int_equal(c->n, ELEMENTSOF(lens) - 1);
        assert_int_equal(netdev_stream_feed(&r, stream + total - 30, 30, collect, c), 0);
        check_frames(c, lens, ELEMENTSOF(lens));
        free(c);
}

static void test_bad_lengths(void **state) {
        static const uint8_t zero[] = { 0, 0, 0, 0 };
        static const uint8_t one_past[] = { 0, 0, 0x05, 0xef }; /* 1519 */
        static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff };
        Collected *c = calloc(1, sizeof(*c));
        NetdevStreamReader r = {};
        uint8_t good[NETDEV_STREAM_HEADER + 60];

        assert_non_null(c);
        c->fail_at = -1;
        assert_int_equal(netdev_stream_feed(&r, zero, sizeof(zero), collect, c), -EBADMSG);
        assert_true(r.broken);
        assert_int_equal(r.bad_length, 0);
        /* Sticky: a good frame afterwards is refused too. */
        assert_int_equal(netdev_stream_header(60, good), 0);
        memset(good + NETDEV_STREAM_HEADER, 1, 60);
        assert_int_equal(netdev_stream_feed(&r, good, sizeof(good), collect, c), -EBADMSG);
        assert_int_equal(c->n, 0);

        r = (NetdevStreamReader){};
        assert_int_equal(netdev_stream_feed(&r, one_past, sizeof(one_past), collect, c), -EBADMSG);
        assert_int_equal(r.bad_length, NETDEV_FRAME_MAX + 1);

        /* The bad header arrives in pieces, after a good frame in the same chunk. */
        r = (NetdevStreamReader){};
        {
                uint8_t s[sizeof(good) + 4];

                memcpy(s, good, sizeof(good));
                memcpy(s + sizeof(good), huge, 4);
                assert_int_equal(netdev_stream_feed(&r, s, sizeof(good) + 2, collect, c), 0);
                assert_int_equal(c->n, 1);
                assert_int_equal(netdev_stream_feed(&r, s + sizeof(good) + 2, 2, collect, c), -EBADMSG);
                assert_int_equal(r.bad_length, 0xffffffffu);
        }
        free(c);
}

static void test_callback_error_stops(void **state) {
        static const size_t lens[] = { 60, 60, 60 };
        uint8_t stream[3 * (NETDEV_STREAM_HEADER + 60)];
        size_t total = make_stream(lens, ELEMENTSOF(lens), stream, sizeof(stream));
        Collected *c = calloc(1, sizeof(*c));
        NetdevStreamReader r = {};

        assert_non_null(c);
        c->fail_at = 1;
        assert_int_equal(netdev_stream_feed(&r, stream, total, collect, c), -EIO);
        assert_int_equal(c->n, 1);
        free(c);
}

typedef struct Count {
        size_t n;
        size_t last_len;
} Count;

static int count(const uint8_t *frame, size_t len, void *userdata) {
        Count *c = userdata;

        c->n++;
        c->last_len = len;
        return 0;
}

/* The outbox: frames go out whole or not at all, whatever the writes take, and its output parses. */
static void test_outbox(void **state) {
        NetdevStreamOutbox *o = calloc(1, sizeof(*o));
        NetdevStreamReader r = {};
        uint8_t frame[NETDEV_FRAME_MAX];
        const size_t full = NETDEV_STREAM_HEADER + NETDEV_FRAME_MAX, first = 2 * full + 5;
        const uint8_t *p;
        size_t n, queued = 0;
        Count c = {};
        int k;

        assert_non_null(o);
        assert_int_equal(netdev_stream_outbox_pending(o, &p), 0);
        assert_int_equal(netdev_stream_outbox_queue(o, frame, 0), -EMSGSIZE);
        assert_int_equal(netdev_stream_outbox_queue(o, frame, NETDEV_FRAME_MAX + 1), -EMSGSIZE);
        memset(frame, 7, sizeof(frame));
        /* Fill it up: the frame that does not fit is refused whole. */
        while ((k = netdev_stream_outbox_queue(o, frame, NETDEV_FRAME_MAX)) == 0)
                queued++;
        assert_int_equal(k, -ENOBUFS);
        assert_int_equal(queued, NETDEV_OUTBOX_MAX / full);
        assert_int_equal(netdev_stream_outbox_pending(o, &p), queued * full);
        /* A write that stops inside the third frame, then room for a small one at the end. */
        assert_int_equal(netdev_stream_feed(&r, p, first, count, &c), 0);
        assert_int_equal(c.n, 2);
        netdev_stream_outbox_consume(o, first);
        assert_int_equal(netdev_stream_outbox_queue(o, frame, 60), 0);
        n = netdev_stream_outbox_pending(o, &p);
        assert_int_equal(n, queued * full - first + NETDEV_STREAM_HEADER + 60);
        assert_int_equal(netdev_stream_feed(&r, p, n, count, &c), 0);
        assert_int_equal(c.n, queued + 1);
        assert_int_equal(c.last_len, 60);
        assert_int_equal(r.len, 0);
        netdev_stream_outbox_consume(o, n);
        assert_int_equal(netdev_stream_outbox_pending(o, &p), 0);
        free(o);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_header),
                cmocka_unit_test(test_split_everywhere),
                cmocka_unit_test(test_many_in_one_chunk),
                cmocka_unit_test(test_bad_lengths),
                cmocka_unit_test(test_callback_error_stops),
                cmocka_unit_test(test_outbox),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "udp-frame.h"

static void test_header(void **state) {
        uint8_t h[UDP_FRAME_HEADER];

        assert_int_equal(udp_frame_header(0x1234, h), 0);
        assert_int_equal(h[0], 0x34);
        assert_int_equal(h[1], 0x12);
        assert_int_equal(udp_frame_header(65535, h), 0);
        assert_int_equal(h[0], 0xff);
        assert_int_equal(h[1], 0xff);
        assert_int_equal(udp_frame_header(65536, h), -EMSGSIZE);
}

/* Feeds stream one byte at a time: datagrams come out whole, in order, never early. */
static void test_split(void **state) {
        static const uint8_t stream[] = { 3, 0, 'a', 'b', 'c', 0, 0, 1, 0, 'z' };
        UdpFrameDecoder *d = calloc(1, sizeof(*d));
        const uint8_t *data;
        size_t len, got = 0;
        const char *want[] = { "abc", "", "z" };

        for (size_t i = 0; i < sizeof(stream); i++) {
                size_t space;
                uint8_t *p = udp_frame_decoder_space(d, &space);

                assert_true(space > 0);
                *p = stream[i];
                udp_frame_decoder_advance(d, 1);
                while (udp_frame_decoder_next(d, &data, &len) > 0) {
                        assert_true(got < 3);
                        assert_int_equal(len, strlen(want[got]));
                        assert_memory_equal(data, want[got], len);
                        got++;
                        udp_frame_decoder_pop(d);
                }
        }
        assert_int_equal(got, 3);
        assert_int_equal(d->len, 0);
        free(d);
}

/* A maximal datagram fills the buffer exactly and still comes out. */
static void test_max(void **state) {
        UdpFrameDecoder *d = calloc(1, sizeof(*d));
        const uint8_t *data;
        size_t space, len;
        uint8_t *p = udp_frame_decoder_space(d, &space);

        assert_int_equal(space, UDP_FRAME_HEADER + UDP_DATAGRAM_MAX);
        assert_int_equal(udp_frame_header(UDP_DATAGRAM_MAX, p), 0);
        memset(p + 2, 0x5a, UDP_DATAGRAM_MAX);
        udp_frame_decoder_advance(d, space);
        assert_int_equal(udp_frame_decoder_next(d, &data, &len), 1);
        assert_int_equal(len, UDP_DATAGRAM_MAX);
        assert_int_equal(data[UDP_DATAGRAM_MAX - 1], 0x5a);
        udp_frame_decoder_pop(d);
        assert_int_equal(udp_frame_decoder_next(d, &data, &len), 0);
        free(d);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_header),
                cmocka_unit_test(test_split),
                cmocka_unit_test(test_max),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <string.h>

#include "frame-filter.h"

static size_t ipv4_frame(uint8_t *f, const char *dst) {
        memset(f, 0, 64);
        f[12] = 0x08;
        f[13] = 0x00;
        f[14] = 0x45;
        assert_int_equal(inet_pton(AF_INET, dst, f + 14 + 16), 1);
        return 64;
}

static size_t ipv6_frame(uint8_t *f, const char *dst) {
        memset(f, 0, 80);
        f[12] = 0x86;
        f[13] = 0xdd;
        f[14] = 0x60;
        assert_int_equal(inet_pton(AF_INET6, dst, f + 14 + 24), 1);
        return 80;
}

static void test_ipv4(void **state) {
        static const char *const refused[] = { "127.0.0.1", "127.1.2.3", "0.0.0.0", "0.1.2.3" };
        static const char *const passed[] = { "10.0.2.2", "10.0.2.3", "203.0.113.2", "128.0.0.1",
                                              "1.0.0.0" };
        uint8_t f[80];

        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
                assert_true(frame_targets_host_loopback(f, ipv4_frame(f, refused[i])));
        for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++)
                assert_false(frame_targets_host_loopback(f, ipv4_frame(f, passed[i])));
        /* Too short to hold the destination: libslirp drops it anyway. */
        assert_false(frame_targets_host_loopback(f, 14 + 19));
        assert_true(frame_targets_host_loopback(f, ipv4_frame(f, "127.0.0.1")));
        assert_false(frame_targets_host_loopback(f, 14 + 19));
        /* ARP for 127.0.0.1 is not IP: libslirp answers only for its own addresses. */
        f[13] = 0x06;
        assert_false(frame_targets_host_loopback(f, 64));
}

static void test_ipv6(void **state) {
        static const char *const refused[] = { "::1", "::", "::ffff:127.0.0.1", "::ffff:0.0.0.0",
                                               "::127.0.0.1" };
        static const char *const passed[] = { "fec0::2",          "fec0::3", "2001:db8:b157::2",
                                              "::ffff:192.0.2.1", "fe80::1", "::2:0:0:1" };
        uint8_t f[80];

        for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
                assert_true(frame_targets_host_loopback(f, ipv6_frame(f, refused[i])));
        for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++)
                assert_false(frame_targets_host_loopback(f, ipv6_frame(f, passed[i])));
        assert_false(frame_targets_host_loopback(f, 13));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ipv4),
                cmocka_unit_test(test_ipv6),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

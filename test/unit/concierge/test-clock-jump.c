/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "clock-jump.h"

#define SEC UINT64_C(1000000)

static void test_steady(void **state) {
        ClockSample a = { 100 * SEC, 150 * SEC, 1700000000 * SEC };
        ClockSample b = { 105 * SEC, 155 * SEC, 1700000005 * SEC };

        assert_false(clock_jumped(&a, &b, 2 * SEC));
        /* Small drift (NTP slewing) is not a jump. */
        b.realtime_usec += SEC / 2;
        assert_false(clock_jumped(&a, &b, 2 * SEC));
}

static void test_suspend(void **state) {
        /* 10 minutes of suspend: boottime and realtime move, monotonic does not. */
        ClockSample a = { 100 * SEC, 150 * SEC, 1700000000 * SEC };
        ClockSample b = { 105 * SEC, 755 * SEC, 1700000605 * SEC };

        assert_true(clock_jumped(&a, &b, 2 * SEC));
}

static void test_clock_set(void **state) {
        ClockSample a = { 100 * SEC, 150 * SEC, 1700000000 * SEC };
        ClockSample fwd = { 105 * SEC, 155 * SEC, 1700003605 * SEC };
        ClockSample back = { 105 * SEC, 155 * SEC, 1699996405 * SEC };

        assert_true(clock_jumped(&a, &fwd, 2 * SEC));
        assert_true(clock_jumped(&a, &back, 2 * SEC));
}

static void test_real_clocks(void **state) {
        ClockSample a, b;

        clock_sample(&a);
        clock_sample(&b);
        assert_true(a.monotonic_usec > 0 && a.boottime_usec >= a.monotonic_usec);
        assert_false(clock_jumped(&a, &b, 2 * SEC));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_steady),
                cmocka_unit_test(test_suspend),
                cmocka_unit_test(test_clock_set),
                cmocka_unit_test(test_real_clocks),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The growable Buffer: appends, reservations, consumption from the front, overflow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "buffer.h"

static void test_append_consume(void **state) {
        Buffer b = {};
        uint8_t *w;

        assert_int_equal(buffer_append(&b, "", 0), 0);
        assert_int_equal(b.size, 0);
        for (unsigned i = 0; i < 1000; i++)
                assert_int_equal(buffer_append(&b, "abcdefgh", 8), 0);
        assert_int_equal(b.size, 8000);
        assert_true(b.allocated >= 8000);
        assert_memory_equal(b.data + 7992, "abcdefgh", 8);

        buffer_consume(&b, 3);
        assert_int_equal(b.size, 7997);
        assert_memory_equal(b.data, "defgh", 5);

        w = buffer_reserve(&b, 4);
        assert_non_null(w);
        memcpy(w, "wxyz", 4);
        assert_int_equal(b.size, 7997); /* reserved bytes count only once committed */
        buffer_commit(&b, 4);
        assert_memory_equal(b.data + b.size - 4, "wxyz", 4);

        buffer_consume(&b, SIZE_MAX);
        assert_int_equal(b.size, 0);
        buffer_done(&b);
        assert_null(b.data);
        assert_int_equal(b.allocated, 0);
}

static void test_overflow(void **state) {
        Buffer b = {};

        assert_int_equal(buffer_append(&b, "x", 1), 0);
        assert_null(buffer_reserve(&b, SIZE_MAX));
        assert_int_equal(buffer_append(&b, "x", SIZE_MAX - 1), -ENOMEM);
        assert_int_equal(b.size, 1);
        buffer_done(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_append_consume),
                cmocka_unit_test(test_overflow),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

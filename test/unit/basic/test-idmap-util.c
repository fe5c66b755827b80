/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "idmap-util.h"

static void test_shift(void **state) {
        IdMap m;
        uint32_t x;

        idmap_shift(&m, 100000, 65536);
        assert_int_equal(m.n, 1);
        assert_int_equal(idmap_to_outer(&m, 0, &x), 0);
        assert_int_equal(x, 100000);
        assert_int_equal(idmap_to_outer(&m, 65535, &x), 0);
        assert_int_equal(x, 165535);
        assert_int_equal(idmap_to_outer(&m, 65536, &x), -ERANGE);
        assert_int_equal(idmap_to_inner(&m, 101000, &x), 0);
        assert_int_equal(x, 1000);
        assert_int_equal(idmap_to_inner(&m, 1000, &x), -ERANGE);
        assert_int_equal(idmap_to_inner(&m, 165536, &x), -ERANGE);
}

static void test_shift_except(void **state) {
        IdMap m, s;
        uint32_t x;

        assert_int_equal(idmap_shift_except(&m, 100000, 65536, 1000, 1000), 0);
        assert_int_equal(m.n, 3);
        assert_int_equal(m.ranges[0].inner, 0);
        assert_int_equal(m.ranges[0].outer, 100000);
        assert_int_equal(m.ranges[0].count, 1000);
        assert_int_equal(m.ranges[1].inner, 1000);
        assert_int_equal(m.ranges[1].outer, 1000);
        assert_int_equal(m.ranges[1].count, 1);
        assert_int_equal(m.ranges[2].inner, 1001);
        assert_int_equal(m.ranges[2].outer, 101001);
        assert_int_equal(m.ranges[2].count, 64535);
        /* Every inner id maps, and back. */
        for (uint32_t i = 0; i < 65536; i++) {
                uint32_t o, back;

                assert_int_equal(idmap_to_outer(&m, i, &o), 0);
                assert_int_equal(idmap_to_inner(&m, o, &back), 0);
                assert_int_equal(back, i);
        }
        assert_int_equal(idmap_to_outer(&m, 1000, &x), 0);
        assert_int_equal(x, 1000);
        /* The container's id 1000 outside the passthrough is no one's. */
        assert_int_equal(idmap_to_inner(&m, 101000, &x), -ERANGE);
        assert_int_equal(idmap_to_outer(&m, 65536, &x), -ERANGE);
        /* The last id as the passthrough: no range above it. */
        assert_int_equal(idmap_shift_except(&m, 100000, 65536, 65535, 1000), 0);
        assert_int_equal(m.n, 2);
        /* Root is never passed through, nor an id outside the range. */
        assert_int_equal(idmap_shift_except(&m, 100000, 65536, 0, 1000), -EINVAL);
        assert_int_equal(idmap_shift_except(&m, 100000, 65536, 65536, 1000), -EINVAL);

        idmap_shift(&s, 100000, 65536);
        assert_true(idmap_equal(&s, &s));
        assert_int_equal(idmap_shift_except(&m, 100000, 65536, 1000, 1000), 0);
        assert_false(idmap_equal(&s, &m));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shift),
                cmocka_unit_test(test_shift_except),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "macro.h"
#include "strv.h"

static void test_empty(void **state) {
        char *empty[] = { NULL };

        /* NULL is the empty vector everywhere. */
        assert_int_equal(strv_length(NULL), 0);
        assert_int_equal(strv_length(empty), 0);
        assert_false(strv_contains(NULL, "a"));
        assert_false(strv_contains(empty, "a"));
        assert_null(strv_free(NULL));
}

static void test_extend(void **state) {
        _cleanup_strv_free_ char **l = NULL;
        char s[] = "two";

        assert_int_equal(strv_extend(&l, "one"), 0);
        assert_non_null(l);
        assert_int_equal(strv_length(l), 1);
        assert_null(l[1]);
        assert_int_equal(strv_extend(&l, s), 0);
        /* A copy: changing the source does not change the vector. */
        s[0] = 'X';
        assert_string_equal(l[1], "two");
        assert_int_equal(strv_extend(&l, ""), 0);
        assert_int_equal(strv_length(l), 3);
        assert_string_equal(l[0], "one");
        assert_string_equal(l[2], "");
        assert_null(l[3]);
}

static void test_consume(void **state) {
        _cleanup_strv_free_ char **l = NULL;
        char *s = strdup("owned");

        assert_non_null(s);
        assert_int_equal(strv_consume(&l, s), 0);
        assert_ptr_equal(l[0], s); /* taken, not copied */
        assert_null(l[1]);
        /* strdup() failing upstream shows up as NULL: -ENOMEM, the vector unchanged. */
        assert_int_equal(strv_consume(&l, NULL), -ENOMEM);
        assert_int_equal(strv_length(l), 1);
}

static void test_contains(void **state) {
        char *l[] = { (char *) "alpha", (char *) "beta", (char *) "", NULL };

        assert_true(strv_contains(l, "alpha"));
        assert_true(strv_contains(l, "beta")); /* the last non-empty one */
        assert_true(strv_contains(l, ""));
        /* Whole strings only: neither a prefix nor an extension matches. */
        assert_false(strv_contains(l, "alph"));
        assert_false(strv_contains(l, "alphax"));
        assert_false(strv_contains(l, "bet"));
        assert_false(strv_contains(l, "gamma"));
}

static void test_copy_n(void **state) {
        char *l[] = { (char *) "a", (char *) "b", (char *) "c", NULL };
        _cleanup_strv_free_ char **all = NULL, **two = NULL, **none = NULL;

        all = strv_copy_n(l, 3);
        assert_non_null(all);
        assert_int_equal(strv_length(all), 3);
        assert_ptr_not_equal(all[0], l[0]); /* deep copy */
        assert_string_equal(all[2], "c");
        assert_null(all[3]);

        two = strv_copy_n(l, 2);
        assert_non_null(two);
        assert_int_equal(strv_length(two), 2);
        assert_string_equal(two[1], "b");
        assert_null(two[2]);

        none = strv_copy_n(l, 0);
        assert_non_null(none);
        assert_int_equal(strv_length(none), 0);
}

static void test_many(void **state) {
        _cleanup_strv_free_ char **l = NULL;
        char buf[16];

        /* Growth by realloc keeps every element and the terminator. */
        for (int i = 0; i < 1000; i++) {
                (void) snprintf(buf, sizeof(buf), "%d", i);
                assert_int_equal(strv_extend(&l, buf), 0);
        }
        assert_int_equal(strv_length(l), 1000);
        assert_string_equal(l[0], "0");
        assert_string_equal(l[999], "999");
        assert_null(l[1000]);
        assert_true(strv_contains(l, "500"));
        assert_false(strv_contains(l, "1000"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_empty),   cmocka_unit_test(test_extend),
                cmocka_unit_test(test_consume), cmocka_unit_test(test_contains),
                cmocka_unit_test(test_copy_n),  cmocka_unit_test(test_many),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

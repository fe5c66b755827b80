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
#include "waypipe-bundle.h"

static void test_argv(void **state) {
        _cleanup_strv_free_ char **argv = NULL;
        char **args = STRV_MAKE("-n", "-s", "/run/user/1000/w.sock", "client");

        assert_int_equal(waypipe_bundle_argv("/opt/bistro/lib/waypipe", args, &argv), 0);
        assert_int_equal(strv_length(argv), 8);
        assert_string_equal(argv[0], "/opt/bistro/lib/waypipe/ld-linux-x86-64.so.2");
        assert_string_equal(argv[1], "--library-path");
        assert_string_equal(argv[2], "/opt/bistro/lib/waypipe");
        assert_string_equal(argv[3], "/opt/bistro/lib/waypipe/waypipe");
        assert_string_equal(argv[4], "-n");
        assert_string_equal(argv[5], "-s");
        assert_string_equal(argv[6], "/run/user/1000/w.sock");
        assert_string_equal(argv[7], "client");
        assert_null(argv[8]);
}

static void test_no_args(void **state) {
        _cleanup_strv_free_ char **a = NULL, **b = NULL;
        char *empty[] = { NULL };

        /* NULL and an empty vector both mean waypipe alone; one slash between dir and file. */
        assert_int_equal(waypipe_bundle_argv("/b/", NULL, &a), 0);
        assert_int_equal(strv_length(a), 4);
        assert_string_equal(a[0], "/b/ld-linux-x86-64.so.2");
        assert_string_equal(a[2], "/b/");
        assert_string_equal(a[3], "/b/waypipe");
        assert_int_equal(waypipe_bundle_argv("/b", empty, &b), 0);
        assert_int_equal(strv_length(b), 4);
        assert_string_equal(b[3], "/b/waypipe");
}

static void test_refused(void **state) {
        char **argv = NULL;

        /* A relative directory would follow the working directory of whoever execs it. */
        assert_int_equal(waypipe_bundle_argv("bundle", NULL, &argv), -EINVAL);
        assert_int_equal(waypipe_bundle_argv("", NULL, &argv), -EINVAL);
        assert_int_equal(waypipe_bundle_argv(NULL, NULL, &argv), -EINVAL);
        assert_null(argv);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_argv),
                cmocka_unit_test(test_no_args),
                cmocka_unit_test(test_refused),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro files' command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>

#include "bistro-files-args.h"
#include "macro.h"
#include "main-func.h"

#define PARSE(a, ...)                                                                       \
        ({                                                                                  \
                const char *_argv[] = { "files", __VA_ARGS__ __VA_OPT__(, ) NULL };         \
                bistro_files_parse_argv((int) ELEMENTSOF(_argv) - 1, (char **) _argv, (a)); \
        })

static void test_defaults(void **state) {
        FilesArgs a;

        assert_int_equal(PARSE(&a), 1);
        assert_string_equal(a.vm, "termina");
        assert_string_equal(a.container, "penguin");
        assert_null(a.mountpoint);
        assert_false(a.unmount);
}

static void test_options(void **state) {
        FilesArgs a;

        assert_int_equal(
                PARSE(&a, "--vm", "dev", "--container", "web", "--mountpoint", "/mnt/x y", "--unmount"), 1);
        assert_string_equal(a.vm, "dev");
        assert_string_equal(a.container, "web");
        assert_string_equal(a.mountpoint, "/mnt/x y");
        assert_true(a.unmount);
        assert_int_equal(PARSE(&a, "--vm=dev"), 1);
        assert_string_equal(a.vm, "dev");
        assert_int_equal(PARSE(&a, "--help"), 0);
}

static void test_bad(void **state) {
        FilesArgs a;

        assert_int_equal(PARSE(&a, "--bogus"), -EUSAGE);
        assert_int_equal(PARSE(&a, "--vm"), -EUSAGE);
        assert_int_equal(PARSE(&a, "extra"), -EUSAGE);
        assert_int_equal(PARSE(&a, "--container", "../x"), -EUSAGE);
        assert_int_equal(PARSE(&a, "--container", ""), -EUSAGE);
        assert_int_equal(PARSE(&a, "--vm", "-x"), -EUSAGE);
        /* The mountpoint must read back from mountinfo as given. */
        assert_int_equal(PARSE(&a, "--mountpoint", "relative"), -EUSAGE);
        assert_int_equal(PARSE(&a, "--mountpoint", "/a/../b"), -EUSAGE);
        assert_int_equal(PARSE(&a, "--mountpoint", "/a//b"), -EUSAGE);
        assert_int_equal(PARSE(&a, "--mountpoint", "/a/"), -EUSAGE);
        assert_int_equal(PARSE(&a, "--mountpoint", "/a/./b"), -EUSAGE);
        assert_int_equal(PARSE(&a, "--mountpoint", "/"), -EUSAGE);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_options),
                cmocka_unit_test(test_bad),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

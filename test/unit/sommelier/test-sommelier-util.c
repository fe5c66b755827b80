/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "macro.h"
#include "sommelier-util.h"
#include "strv.h"
#include "waypipe-bundle.h"

static void test_runtime_dir_ok(void **state) {
        struct stat st = { .st_mode = S_IFDIR | 0700, .st_uid = 1000 };

        assert_true(sommelier_runtime_dir_ok(&st, 1000));
        assert_false(sommelier_runtime_dir_ok(&st, 1001));
        st.st_mode = S_IFDIR | 0750;
        assert_false(sommelier_runtime_dir_ok(&st, 1000));
        st.st_mode = S_IFDIR | 01700;
        assert_false(sommelier_runtime_dir_ok(&st, 1000));
        st.st_mode = S_IFLNK | 0700;
        assert_false(sommelier_runtime_dir_ok(&st, 1000));
        st.st_mode = S_IFREG | 0700;
        assert_false(sommelier_runtime_dir_ok(&st, 1000));
}

static void test_waypipe_argv(void **state) {
        const char *want[] = {
                "/opt/bistro/lib/waypipe/ld-linux-x86-64.so.2",
                "--library-path",
                "/opt/bistro/lib/waypipe",
                "/opt/bistro/lib/waypipe/waypipe",
                "-n",
                "-s",
                "/run/user/1000/bistro-waypipe.sock",
                "--display",
                "wayland-0",
                "server",
                "--",
                "/opt/bistro/bin/sommelier",
                "--hold",
        };
        _cleanup_strv_free_ char **argv = NULL;

        assert_int_equal(
                sommelier_waypipe_argv(
                        WAYPIPE_BUNDLE_GUEST_DIR, "/run/user/1000/bistro-waypipe.sock", SOMMELIER_PATH,
                        &argv),
                0);
        assert_int_equal(strv_length(argv), ELEMENTSOF(want));
        for (size_t i = 0; i < ELEMENTSOF(want); i++)
                assert_string_equal(argv[i], want[i]);
        /* never --video: the bundle's video libraries are stand-ins */
        for (size_t i = 0; argv[i]; i++)
                assert_null(strstr(argv[i], "video"));
        assert_int_equal(
                sommelier_waypipe_argv("relative", "/run/user/1/bistro-waypipe.sock", SOMMELIER_PATH, &argv),
                -EINVAL);
        assert_int_equal(
                sommelier_waypipe_argv("/x", "bistro-waypipe.sock", SOMMELIER_PATH, &argv), -EINVAL);
        assert_int_equal(sommelier_waypipe_argv("/x", "/run/user/1/s", "sommelier", &argv), -EINVAL);
}

static void test_backoff(void **state) {
        const RestartBackoff *p = &sommelier_backoff;
        usec_t b = 0;

        b = restart_backoff_next(p, b, 0);
        assert_int_equal(b, 1 * USEC_PER_SEC);
        b = restart_backoff_next(p, b, USEC_PER_SEC);
        assert_int_equal(b, 2 * USEC_PER_SEC);
        for (int i = 0; i < 10; i++)
                b = restart_backoff_next(p, b, 0);
        assert_int_equal(b, 30 * USEC_PER_SEC);
        /* a run of 10 s starts over */
        assert_int_equal(restart_backoff_next(p, b, 10 * USEC_PER_SEC - 1), 30 * USEC_PER_SEC);
        assert_int_equal(restart_backoff_next(p, b, 10 * USEC_PER_SEC), 1 * USEC_PER_SEC);
}

static void test_refusal_log(void **state) {
        RefusalLog l = {};
        usec_t t = 1000 * USEC_PER_SEC;
        char m[16];

        assert_true(refusal_log_should(&l, "no Wayland session on the host", t));
        assert_false(refusal_log_should(&l, "no Wayland session on the host", t + 1));
        assert_true(refusal_log_should(&l, "unknown container", t + 2));
        assert_false(
                refusal_log_should(&l, "no Wayland session on the host", t + REFUSAL_INTERVAL_USEC - 1));
        assert_true(refusal_log_should(&l, "no Wayland session on the host", t + REFUSAL_INTERVAL_USEC));
        /* more distinct messages than slots: the oldest is forgotten, nothing grows */
        for (int i = 0; i < REFUSAL_SLOTS; i++) {
                snprintf(m, sizeof(m), "m%d", i);
                assert_true(refusal_log_should(&l, m, t + 3));
        }
        assert_true(refusal_log_should(&l, "unknown container", t + 4));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_runtime_dir_ok),
                cmocka_unit_test(test_waypipe_argv),
                cmocka_unit_test(test_backoff),
                cmocka_unit_test(test_refusal_log),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>

#include "fd-util.h"
#include "log.h"

/* Captures stderr into a pipe for the duration of f(). */
static size_t capture(void (*f)(void), char *buf, size_t n) {
        int p[2], saved;
        ssize_t k;

        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
        saved = dup(STDERR_FILENO);
        assert_true(dup2(p[1], STDERR_FILENO) >= 0);
        f();
        assert_true(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        close(p[1]);
        k = read(p[0], buf, n - 1);
        close(p[0]);
        buf[k > 0 ? k : 0] = 0;
        return k > 0 ? (size_t) k : 0;
}

static int ret_value;
static void log_enoent(void) {
        ret_value = log_error_errno(ENOENT, "open '%s': %m", "x");
}
static void log_filtered(void) {
        ret_value = log_debug_errno(-EPERM, "hidden");
}

static void test_errno_return(void **state) {
        char buf[512];

        log_set_ident("t");
        log_set_max_level(LOG_INFO);
        capture(log_enoent, buf, sizeof(buf));
        assert_int_equal(ret_value, -ENOENT); /* positive in, negative out */
        assert_non_null(strstr(buf, "open 'x': No such file or directory"));
        assert_non_null(strstr(buf, "t["));

        /* Below the level: nothing printed, the error still propagates. */
        assert_int_equal(capture(log_filtered, buf, sizeof(buf)), 0);
        assert_int_equal(ret_value, -EPERM);
}

static void test_levels(void **state) {
        assert_int_equal(log_level_from_string("debug"), LOG_DEBUG);
        assert_int_equal(log_level_from_string("error"), LOG_ERR);
        assert_int_equal(log_level_from_string("loud"), -EINVAL);
        setenv("BISTRO_LOG_LEVEL", "warning", 1);
        log_parse_environment();
        assert_int_equal(log_get_max_level(), LOG_WARNING);
        setenv("BISTRO_LOG_LEVEL", "bogus", 1);
        log_parse_environment();
        assert_int_equal(log_get_max_level(), LOG_WARNING);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_errno_return),
                cmocka_unit_test(test_levels),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

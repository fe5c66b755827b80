/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "process-util.h"

static void test_self(void **state) {
        assert_true(pid_is_alive(getpid()));
        assert_int_equal(pid_get_state(getpid()), 'R');
}

static void test_start_time(void **state) {
        uint64_t a = 0, b = 0, c = 0;
        char old[17] = {};

        assert_int_equal(pid_get_start_time(getpid(), &a), 0);
        assert_int_equal(pid_get_start_time(getpid(), &b), 0);
        assert_true(a > 0 && a == b);
        /* A command name with spaces and ')' does not shift the fields. */
        assert_int_equal(prctl(PR_GET_NAME, old), 0);
        assert_int_equal(prctl(PR_SET_NAME, "x) 1 2 3 (y"), 0);
        assert_int_equal(pid_get_start_time(getpid(), &c), 0);
        assert_int_equal(prctl(PR_SET_NAME, old), 0);
        assert_true(c == a);
        /* pid 1 started no later than we did. */
        assert_int_equal(pid_get_start_time(1, &b), 0);
        assert_true(b <= a);
        assert_int_equal(pid_get_start_time(1 << 23, &b), -ESRCH);
        assert_int_equal(pid_get_start_time(0, &b), -EINVAL);
}

static void test_bad_pids(void **state) {
        assert_false(pid_is_alive(0));
        assert_false(pid_is_alive(-1));
        assert_int_equal(pid_get_state(0), -EINVAL);
        /* Above pid_max (at most 2^22): never a process. */
        assert_int_equal(pid_get_state(1 << 23), -ESRCH);
        assert_false(pid_is_alive(1 << 23));
}

/* An exited child not yet reaped still answers kill(pid, 0), but it is not alive. */
static void test_zombie(void **state) {
        int status;
        pid_t pid;

        pid = fork(); /* a test of process state needs a real child */
        assert_true(pid >= 0);
        if (pid == 0)
                _exit(0);
        for (int i = 0; i < 500 && pid_get_state(pid) != 'Z'; i++)
                usleep(10000);
        assert_int_equal(pid_get_state(pid), 'Z');
        assert_int_equal(kill(pid, 0), 0);
        assert_false(pid_is_alive(pid));
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_int_equal(pid_get_state(pid), -ESRCH);
}

/* A command name with ") Z (" in it must not be read as a state. */
static void test_tricky_comm(void **state) {
        char old[17] = {};

        assert_int_equal(prctl(PR_GET_NAME, old), 0);
        assert_int_equal(prctl(PR_SET_NAME, "a) Z (b"), 0);
        assert_int_equal(pid_get_state(getpid()), 'R');
        assert_true(pid_is_alive(getpid()));
        assert_int_equal(prctl(PR_SET_NAME, old), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_self),        cmocka_unit_test(test_start_time),
                cmocka_unit_test(test_bad_pids),    cmocka_unit_test(test_zombie),
                cmocka_unit_test(test_tricky_comm),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

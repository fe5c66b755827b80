/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "string-util.h"
#include "tremplin-fast.h"

static size_t n_cached(const RunningCache *c) {
        size_t n = 0;

        for (size_t i = 0; i < RUNNING_CACHE_MAX; i++)
                n += c->entries[i].pidfd >= 0;
        return n;
}

static void test_reports(void **state) {
        RunningCache c;
        int p[2], status;
        pid_t child;

        running_cache_init(&c);
        assert_int_equal(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);

        /* A live process is cached under its name; reporting it again changes nothing. */
        assert_int_equal(running_report(p[1], "penguin", getpid()), 0);
        assert_int_equal(running_report(p[1], "penguin", getpid()), 0);
        running_cache_read_reports(&c, p[0]);
        assert_int_equal(n_cached(&c), 1);
        assert_string_equal(c.entries[0].name, "penguin");
        assert_int_equal(c.entries[0].pid, getpid());

        /* A process that is gone by the time the main process reads the report is not cached. */
        child = fork();
        assert_true(child >= 0);
        if (child == 0)
                _exit(0);
        assert_int_equal(running_report(p[1], "gone", child), 0);
        assert_int_equal(waitpid(child, &status, 0), child);
        running_cache_read_reports(&c, p[0]);
        assert_int_equal(n_cached(&c), 1);

        /* Names are validated on both sides. */
        assert_int_equal(running_report(p[1], "../x", getpid()), -EINVAL);
        assert_int_equal(running_report(p[1], "", getpid()), -EINVAL);
        assert_int_equal(running_report(p[1], "ok", 0), -EINVAL);
        /* A torn or foreign record (fewer bytes than one) is ignored. */
        assert_int_equal(loop_write(p[1], "junk", 4), 0);
        running_cache_read_reports(&c, p[0]);
        assert_int_equal(n_cached(&c), 1);

        running_cache_done(&c);
        assert_int_equal(n_cached(&c), 0);
        safe_close(p[0]);
        safe_close(p[1]);
}

/* fast_start_try() only ever peeks unless it answers: a request it does not take stays whole. */
static void test_not_taken_stays_unread(void **state) {
        RunningCache c;
        char buf[64];
        int sp[2];

        running_cache_init(&c);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
        /* Nothing yet: wait for more. */
        assert_int_equal(fast_start_try(&c, sp[0]), -EAGAIN);
        /* Not a frame: a worker answers it (with an error). */
        assert_int_equal(loop_write(sp[1], "not a bistro frame at all, 32 b", 32), 0);
        assert_int_equal(fast_start_try(&c, sp[0]), 0);
        assert_int_equal(recv(sp[0], buf, sizeof(buf), MSG_DONTWAIT), 32);
        /* EOF: a worker sees it. */
        safe_close(sp[1]);
        assert_int_equal(fast_start_try(&c, sp[0]), 0);
        safe_close(sp[0]);
        running_cache_done(&c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_reports),
                cmocka_unit_test(test_not_taken_stays_unread),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>

#include "macro.h"
#include "spawn-util.h"

static void test_fork_wait_status(void **state) {
        pid_t pid = 0;
        int r;

        r = safe_fork("t-exit", FORK_WAIT, &pid);
        if (r == 0)
                _exit(42);
        assert_int_equal(r, -EPROTO);
        assert_true(pid > 0);
        r = safe_fork("t-exit0", FORK_WAIT, NULL);
        if (r == 0)
                _exit(0);
        assert_int_equal(r, 1);
        r = safe_fork("t-status", 0, &pid);
        if (r == 0)
                _exit(42);
        assert_int_equal(r, 1);
        assert_int_equal(wait_for_terminate(pid), 42);
        r = safe_fork("t-sig", FORK_WAIT, NULL);
        if (r == 0) {
                raise(SIGKILL);
                _exit(0);
        }
        assert_int_equal(r, -EPROTO);
        r = safe_fork("t-sig", 0, &pid);
        if (r == 0) {
                raise(SIGKILL);
                _exit(0);
        }
        assert_int_equal(wait_for_terminate(pid), 128 + SIGKILL);
        /* Without FORK_WAIT the pid must be asked for. */
        assert_int_equal(safe_fork("t", 0, NULL), -EINVAL);
}

static void test_fork_close_fds(void **state) {
        int keep = open("/dev/null", O_RDONLY | O_CLOEXEC), drop = open("/dev/null", O_RDONLY | O_CLOEXEC);
        int r;

        assert_true(keep >= 0 && drop >= 0);
        r = safe_fork_full("t-fds", FORK_CLOSE_ALL_FDS | FORK_WAIT, &keep, 1, NULL);
        if (r == 0) {
                /* keep survives, drop is closed, stdio untouched. */
                if (fcntl(keep, F_GETFD) < 0)
                        _exit(1);
                if (fcntl(drop, F_GETFD) >= 0 || errno != EBADF)
                        _exit(2);
                if (fcntl(2, F_GETFD) < 0)
                        _exit(3);
                _exit(0);
        }
        assert_int_equal(r, 1);
        close(keep);
        close(drop);
}

static void test_fork_flags(void **state) {
        sigset_t ss, old;
        int r;

        sigemptyset(&ss);
        sigaddset(&ss, SIGUSR1);
        assert_int_equal(sigprocmask(SIG_BLOCK, &ss, &old), 0);
        r = safe_fork(
                "t-flags",
                FORK_RESET_SIGNALS | FORK_DEATHSIG | FORK_NEW_SESSION | FORK_NULL_STDIO | FORK_WAIT, NULL);
        if (r == 0) {
                sigset_t cur;
                int sig = 0;

                if (sigprocmask(SIG_SETMASK, NULL, &cur) < 0 || sigismember(&cur, SIGUSR1))
                        _exit(1);
                if (prctl(PR_GET_PDEATHSIG, &sig) < 0 || sig != SIGKILL)
                        _exit(2);
                if (getsid(0) != getpid())
                        _exit(3);
                if (write(1, "x", 1) != 1) /* /dev/null takes it */
                        _exit(4);
                _exit(0);
        }
        assert_int_equal(r, 1);
        assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
}

static void test_fork_too_many_fds(void **state) {
        int fds[100] = { 0 };

        assert_int_equal(safe_fork_full("t", FORK_WAIT, fds, ELEMENTSOF(fds), NULL), -E2BIG);
}

static void test_capture(void **state) {
        _cleanup_free_ char *out = NULL;
        SpawnOptions o = { .stdin_fd = -1, .stdout_fd = -1, .merge_stderr = true };
        char *argv[] = { (char *) "sh", (char *) "-c", (char *) "echo out; echo err >&2; exit 3", NULL };

        assert_int_equal(spawn_capture(argv, &o, &out), 3);
        assert_string_equal(out, "out\nerr\n");
}

static void test_capture_bounded(void **state) {
        _cleanup_free_ char *out = NULL;
        SpawnOptions o = { .stdin_fd = -1, .stdout_fd = -1, .max_output = 10 };
        char *argv[] = { (char *) "sh", (char *) "-c", (char *) "head -c 100000 /dev/zero | tr '\\0' a",
                         NULL };

        /* The child is not blocked by a full pipe: the rest is read and dropped. */
        assert_int_equal(spawn_capture(argv, &o, &out), 0);
        assert_int_equal(strlen(out), 10);
        assert_string_equal(out, "aaaaaaaaaa");
}

static void test_capture_timeout(void **state) {
        SpawnOptions o = { .stdin_fd = -1, .stdout_fd = -1, .timeout = 200 * USEC_PER_MSEC };
        char *argv[] = { (char *) "sleep", (char *) "30", NULL };
        usec_t t0 = now_usec(CLOCK_MONOTONIC);

        assert_int_equal(spawn_capture(argv, &o, NULL), -ETIMEDOUT);
        assert_true(now_usec(CLOCK_MONOTONIC) - t0 < 10 * USEC_PER_SEC);
}

typedef struct Lines {
        char *l[16];
        size_t n;
} Lines;

static void collect_line(char *line, void *userdata) {
        Lines *ls = userdata;

        assert_true(ls->n < ELEMENTSOF(ls->l));
        ls->l[ls->n] = strdup(line);
        assert_non_null(ls->l[ls->n]);
        ls->n++;
}

static void lines_free(Lines *ls) {
        for (size_t i = 0; i < ls->n; i++)
                free(ls->l[i]);
        ls->n = 0;
}

static void test_capture_lines(void **state) {
        _cleanup_free_ char *out = NULL;
        Lines ls = {};
        SpawnOptions o = { .stdin_fd = -1,
                           .stdout_fd = -1,
                           .merge_stderr = true,
                           .max_output = 8,
                           .on_line = collect_line,
                           .userdata = &ls };
        char *argv[] = { (char *) "sh", (char *) "-c",
                         (char *) "printf 'a\\nbb\\n\\n0123456789\\n'; echo err >&2; printf tail; exit 4",
                         NULL };
        char *argv2[] = { (char *) "sh", (char *) "-c", (char *) "printf 'first\\npart'; exec sleep 30",
                          NULL };

        assert_int_equal(spawn_capture(argv, &o, &out), 4);
        assert_string_equal(out, ""); /* everything went to on_line */
        assert_int_equal(ls.n, 7);
        assert_string_equal(ls.l[0], "a");
        assert_string_equal(ls.l[1], "bb");
        assert_string_equal(ls.l[2], "");
        assert_string_equal(ls.l[3], "01234567"); /* longer than max_output: in pieces */
        assert_string_equal(ls.l[4], "89");
        assert_string_equal(ls.l[5], "err");
        assert_string_equal(ls.l[6], "tail"); /* unterminated, at EOF */
        lines_free(&ls);

        /* Lines come as they are written, and what is left before the timeout too. */
        o.timeout = 500 * USEC_PER_MSEC;
        assert_int_equal(spawn_capture(argv2, &o, NULL), -ETIMEDOUT);
        assert_int_equal(ls.n, 2);
        assert_string_equal(ls.l[0], "first");
        assert_string_equal(ls.l[1], "part");
        lines_free(&ls);
}

static void test_capture_close_all_fds(void **state) {
        _cleanup_close_ int fd = open("/dev/null", O_RDONLY); /* inherited: no O_CLOEXEC */
        _cleanup_free_ char *cmd = NULL;
        SpawnOptions o = { .stdin_fd = -1, .stdout_fd = -1 };

        assert_true(fd >= 0);
        assert_true(asprintf(&cmd, "test -e /proc/self/fd/%d", fd) > 0);
        char *argv[] = { (char *) "sh", (char *) "-c", cmd, NULL };

        assert_int_equal(spawn_capture(argv, &o, NULL), 0);
        o.close_all_fds = true;
        assert_int_equal(spawn_capture(argv, &o, NULL), 1);
}

static void test_capture_missing(void **state) {
        char *argv[] = { (char *) "no-such-program-bistro", NULL };

        assert_int_equal(spawn_capture(argv, NULL, NULL), 127);
}

static void test_wait_timeout(void **state) {
        pid_t pid = 0;
        int r = safe_fork("t-sleep", 0, &pid);

        if (r == 0) {
                pause();
                _exit(0);
        }
        assert_int_equal(r, 1);
        assert_int_equal(wait_for_terminate_timeout(pid, 50 * USEC_PER_MSEC), -ETIMEDOUT);
        /* Reaped: */
        assert_int_equal(kill(pid, 0), -1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_fork_wait_status), cmocka_unit_test(test_fork_close_fds),
                cmocka_unit_test(test_fork_flags),       cmocka_unit_test(test_fork_too_many_fds),
                cmocka_unit_test(test_capture),          cmocka_unit_test(test_capture_bounded),
                cmocka_unit_test(test_capture_timeout),  cmocka_unit_test(test_capture_missing),
                cmocka_unit_test(test_capture_lines),    cmocka_unit_test(test_capture_close_all_fds),
                cmocka_unit_test(test_wait_timeout),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "sandbox.h"
#include "spawn-util.h"

/* Enough for the children below to check and exit; nothing else. */
static const int few_syscalls[] = {
        SCMP_SYS(exit), SCMP_SYS(exit_group), SCMP_SYS(newfstatat), SCMP_SYS(fstat), SCMP_SYS(close),
};
static const int unix_only[] = { AF_UNIX };

static void test_bad_inner_dir(void **state) {
        SandboxOptions o = { .dir = "/", .inner_dir = "relative" };
        char *msg = NULL;

        /* Refused before anything irreversible, so it can run in this process. */
        assert_int_equal(sandbox_enter(&o, &msg), -EINVAL);
        assert_non_null(msg);
        assert_non_null(strstr(msg, "relative"));
        free(msg);
}

static void test_seccomp_kills(void **state) {
        SandboxOptions o = {
                .syscalls = few_syscalls,
                .n_syscalls = ELEMENTSOF(few_syscalls),
                .socket_families = unix_only,
                .n_socket_families = ELEMENTSOF(unix_only),
        };
        pid_t pid = 0;
        int r;

        r = safe_fork("t-seccomp", FORK_NULL_STDIO, &pid);
        if (r == 0) {
                if (sandbox_seccomp(&o, NULL) < 0)
                        _exit(1);
                if (socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0) < 0)
                        _exit(2);
                (void) socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* must kill */
                _exit(3);
        }
        assert_int_equal(r, 1);
        /* Also under a sanitizer, where other calls are only logged: a single allowed family keeps
         * its kill rule for every other one. */
        assert_int_equal(wait_for_terminate(pid), 128 + SIGSYS);
}

static void test_enter_fails_closed(void **state) {
        SandboxOptions o = { .dir = "/nonexistent-dir-for-test-sandbox", .inner_dir = "/sock" };
        int r;

        /* Fails (at unshare() without user namespaces, else at opening dir), with a message. */
        r = safe_fork("t-enter-fail", FORK_NULL_STDIO | FORK_WAIT, NULL);
        if (r == 0) {
                char *msg = NULL;

                _exit(sandbox_enter(&o, &msg) < 0 && msg ? 0 : 1);
        }
        assert_int_equal(r, 1);
}

static void test_enter(void **state) {
        char dir[] = "/tmp/test-sandbox-XXXXXX", file[64];
        SandboxOptions o = {
                .inner_dir = "/vm",
                .keep_network = true,
                .chdir_inner = true,
                .syscalls = few_syscalls,
                .n_syscalls = ELEMENTSOF(few_syscalls),
                .socket_families = unix_only,
                .n_socket_families = ELEMENTSOF(unix_only),
        };
        pid_t pid = 0;
        int fd, r;

        assert_non_null(mkdtemp(dir));
        (void) snprintf(file, sizeof(file), "%s/f", dir);
        fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        o.dir = dir;
        r = safe_fork("t-enter", FORK_NULL_STDIO, &pid);
        if (r == 0) {
                struct stat st;
                char *msg = NULL;

                r = sandbox_enter(&o, &msg);
                if (r == -EPERM || r == -EACCES || r == -EINVAL || r == -ENOSPC)
                        _exit(77); /* no unprivileged user namespaces here */
                if (r < 0)
                        _exit(1);
                /* dir is the working directory and the only thing there. */
                if (stat("f", &st) < 0 || stat("/vm/f", &st) < 0)
                        _exit(2);
                if (stat("/etc", &st) >= 0 || errno != ENOENT)
                        _exit(3);
                _exit(0);
        }
        assert_int_equal(r, 1);
        r = wait_for_terminate(pid);
        (void) unlink(file);
        (void) rmdir(dir);
        if (r == 77)
                skip();
        assert_int_equal(r, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bad_inner_dir),
                cmocka_unit_test(test_seccomp_kills),
                cmocka_unit_test(test_enter_fails_closed),
                cmocka_unit_test(test_enter),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

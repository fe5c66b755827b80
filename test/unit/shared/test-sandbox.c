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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* Host files bound at their own paths, a symlink followed, a missing one left out; no dir at all. */
static void test_enter_files(void **state) {
        static const int file_syscalls[] = {
                SCMP_SYS(exit),  SCMP_SYS(exit_group), SCMP_SYS(newfstatat), SCMP_SYS(fstat),
                SCMP_SYS(close), SCMP_SYS(openat),     SCMP_SYS(read),       SCMP_SYS(getdents64),
        };
        char dir[] = "/tmp/test-sandbox-XXXXXX", file[64], link[64], missing[64];
        const char *files[3];
        SandboxOptions o = {
                .keep_network = true,
                .syscalls = file_syscalls,
                .n_syscalls = ELEMENTSOF(file_syscalls),
                .socket_families = unix_only,
                .n_socket_families = ELEMENTSOF(unix_only),
        };
        pid_t pid = 0;
        int fd, r;

        assert_non_null(mkdtemp(dir));
        (void) snprintf(file, sizeof(file), "%s/target", dir);
        (void) snprintf(link, sizeof(link), "%s/link", dir);
        (void) snprintf(missing, sizeof(missing), "%s/missing", dir);
        fd = open(file, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "nameserver 127.0.0.53\n", 22), 22);
        close(fd);
        assert_int_equal(symlink(file, link), 0);
        files[0] = link;
        files[1] = missing;
        files[2] = "/nonexistent-dir-for-test-sandbox/resolv.conf";
        o.files = files;
        o.n_files = ELEMENTSOF(files);
        r = safe_fork("t-enter-files", FORK_NULL_STDIO, &pid);
        if (r == 0) {
                struct stat st;
                char buf[64] = {};
                char *msg = NULL;

                r = sandbox_enter(&o, &msg);
                if (r == -EPERM || r == -EACCES || r == -EINVAL || r == -ENOSPC)
                        _exit(77); /* no unprivileged user namespaces here */
                if (r < 0)
                        _exit(1);
                /* The link's path holds the target's content, as a plain read-only file. */
                if (lstat(link, &st) < 0 || !S_ISREG(st.st_mode))
                        _exit(2);
                fd = open(link, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || read(fd, buf, sizeof(buf) - 1) != 22 ||
                    strcmp(buf, "nameserver 127.0.0.53\n") != 0)
                        _exit(3);
                close(fd);
                if (open(link, O_WRONLY | O_CLOEXEC) >= 0)
                        _exit(4);
                /* Nothing else: not the target, not the missing files, not /etc. */
                if (stat(file, &st) >= 0 || stat(missing, &st) >= 0 || stat("/etc", &st) >= 0 ||
                    stat("/nonexistent-dir-for-test-sandbox", &st) >= 0)
                        _exit(5);
                _exit(0);
        }
        assert_int_equal(r, 1);
        r = wait_for_terminate(pid);
        (void) unlink(link);
        (void) unlink(file);
        (void) rmdir(dir);
        if (r == 77)
                return; /* as test_enter: nothing to check without user namespaces */
        assert_int_equal(r, 0);
}

/* Bad file paths are refused before anything irreversible. */
static void test_bad_files(void **state) {
        static const char *const bad[] = { "relative", "/", "/etc/../tmp/x" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                SandboxOptions o = { .files = &bad[i], .n_files = 1 };
                char *msg = NULL;

                assert_int_equal(sandbox_enter(&o, &msg), -EINVAL);
                assert_non_null(msg);
                free(msg);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bad_inner_dir),      cmocka_unit_test(test_seccomp_kills),
                cmocka_unit_test(test_enter_fails_closed), cmocka_unit_test(test_enter),
                cmocka_unit_test(test_enter_files),        cmocka_unit_test(test_bad_files),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

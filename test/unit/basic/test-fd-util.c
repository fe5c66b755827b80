/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"

static char tmpdir[] = "/tmp/test-fd-util.XXXXXX";

static void test_loop_read_write(void **state) {
        int p[2];
        char buf[16];

        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        assert_int_equal(loop_write(p[1], "hello", 5), 0);
        p[1] = safe_close(p[1]);
        /* Short only at EOF. */
        assert_int_equal(loop_read(p[0], buf, sizeof(buf)), 5);
        assert_memory_equal(buf, "hello", 5);
        assert_int_equal(loop_read(p[0], buf, sizeof(buf)), 0);
        safe_close(p[0]);
        assert_int_equal(loop_read(-1, buf, 1), -EBADF);
        assert_int_equal(loop_write(-1, buf, 1), -EBADF);
}

static void test_flags(void **state) {
        _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

        assert_true(fd >= 0);
        assert_int_equal(fd_nonblock(fd, true), 0);
        assert_true(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_int_equal(fd_nonblock(fd, false), 0);
        assert_false(fcntl(fd, F_GETFL) & O_NONBLOCK);
        assert_int_equal(fd_cloexec(fd, false), 0);
        assert_false(fcntl(fd, F_GETFD) & FD_CLOEXEC);
        assert_int_equal(fd_cloexec(fd, true), 0);
        assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
}

static void test_files(void **state) {
        _cleanup_free_ char *p = NULL, *deep = NULL, *data = NULL;
        size_t n;

        assert_non_null(mkdtemp(tmpdir));
        assert_true(asprintf(&p, "%s/f", tmpdir) > 0);
        assert_int_equal(write_file_atomic(p, "content\n", 0600), 0);
        assert_int_equal(read_file(p, 100, &data, &n), 0);
        assert_string_equal(data, "content\n");
        assert_int_equal(n, 8);
        free(TAKE_PTR(data));
        /* Too large for the cap: refused, never truncated silently. */
        assert_int_equal(read_file(p, 4, &data, &n), -EFBIG);
        assert_null(data);
        assert_int_equal(read_file("/nonexistent/x", 4, &data, NULL), -ENOENT);

        assert_true(asprintf(&deep, "%s/a/b/c", tmpdir) > 0);
        assert_int_equal(mkdir_p(deep, 0700), 0);
        assert_int_equal(mkdir_p(deep, 0700), 0); /* idempotent */
        struct stat st;
        assert_int_equal(stat(deep, &st), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(mkdir_p("", 0700), -EINVAL);
        assert_int_equal(system(NULL) != 0, 1);
        char cmd[128];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
        assert_int_equal(system(cmd), 0);
}

static void test_write_file_atomic_full(void **state) {
        char dir[] = "/tmp/test-fd-util-full.XXXXXX";
        _cleanup_free_ char *p = NULL, *stale = NULL, *sibling = NULL, *data = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        char cmd[128];

        assert_non_null(mkdtemp(dir));
        assert_true(asprintf(&p, "%s/tok", dir) > 0);
        assert_true(asprintf(&stale, "%s/.tok.tmp.%d", dir, (int) getpid()) > 0);
        assert_true(asprintf(&sibling, "%s/tok.tmp.%d", dir, (int) getpid()) > 0);

        /* A file named like a visible temp name is someone else's: never touched. */
        assert_int_equal(write_file_atomic(sibling, "other\n", 0600), 0);
        /* A stale temp file with a wider mode is replaced, not reused. */
        fd = open(stale, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(fchmod(fd, 0644), 0);
        fd = safe_close(fd);

        /* Our own ids: allowed unprivileged too. */
        assert_int_equal(write_file_atomic_full(p, "secret", 0400, getuid(), getgid()), 0);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0400);
        assert_int_equal(st.st_uid, getuid());
        assert_int_equal(st.st_gid, getgid());
        assert_int_equal(access(stale, F_OK), -1);
        assert_int_equal(read_file(sibling, 100, &data, NULL), 0);
        assert_string_equal(data, "other\n");
        free(TAKE_PTR(data));

        if (geteuid() == 0) {
                assert_int_equal(write_file_atomic_full(p, "s2", 0400, 100000, 100001), 0);
                assert_int_equal(stat(p, &st), 0);
                assert_int_equal(st.st_uid, 100000);
                assert_int_equal(st.st_gid, 100001);
                /* -1 keeps that id: only the group changes. */
                assert_int_equal(write_file_atomic_full(p, "s3", 0400, (uid_t) -1, 100002), 0);
                assert_int_equal(stat(p, &st), 0);
                assert_int_equal(st.st_uid, 0);
                assert_int_equal(st.st_gid, 100002);
        } else {
                /* Not allowed: the error, the old file intact, no temp file left. */
                assert_int_equal(write_file_atomic_full(p, "s2", 0400, getuid() + 1, (gid_t) -1), -EPERM);
                assert_int_equal(access(stale, F_OK), -1);
                assert_int_equal(stat(p, &st), 0);
                assert_int_equal(st.st_size, 6);
        }
        assert_int_equal(write_file_atomic_full("", "x", 0600, (uid_t) -1, (gid_t) -1), -EINVAL);

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_loop_read_write),
                cmocka_unit_test(test_flags),
                cmocka_unit_test(test_files),
                cmocka_unit_test(test_write_file_atomic_full),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

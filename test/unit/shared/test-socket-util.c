/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "fd-util.h"
#include "macro.h"
#include "socket-util.h"

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *) NULL)->sun_path)

static char dir[] = "/tmp/test-socket-util-XXXXXX";

static int setup(void **state) {
        return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state) {
        char cmd[64];

        (void) snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        return system(cmd) == 0 ? 0 : -1;
}

static void path_in_dir(char *buf, size_t size, const char *name) {
        assert_true((size_t) snprintf(buf, size, "%s/%s", dir, name) < size);
}

static void test_sockaddr_limits(void **state) {
        struct sockaddr_un sa;
        char path[SUN_PATH_SIZE + 2];

        assert_int_equal(sockaddr_un_set_path(&sa, ""), -EINVAL);

        /* The longest path that fits with its NUL: sun_path - 1 bytes. */
        memset(path, 'a', sizeof(path));
        path[0] = '/';
        path[SUN_PATH_SIZE - 1] = 0;
        assert_int_equal(
                sockaddr_un_set_path(&sa, path),
                (int) (offsetof(struct sockaddr_un, sun_path) + SUN_PATH_SIZE));
        assert_int_equal(sa.sun_family, AF_UNIX);
        assert_memory_equal(sa.sun_path, path, SUN_PATH_SIZE);

        /* One more byte leaves no room for the NUL. */
        path[SUN_PATH_SIZE - 1] = 'a';
        path[SUN_PATH_SIZE] = 0;
        assert_int_equal(sockaddr_un_set_path(&sa, path), -ENAMETOOLONG);
        path[SUN_PATH_SIZE + 1] = 0;
        path[SUN_PATH_SIZE] = 'a';
        assert_int_equal(sockaddr_un_set_path(&sa, path), -ENAMETOOLONG);

        assert_int_equal(
                sockaddr_un_set_path(&sa, "/x"), (int) (offsetof(struct sockaddr_un, sun_path) + 3));
        assert_string_equal(sa.sun_path, "/x");
}

static void test_listen_connect(void **state) {
        _cleanup_close_ int l = -EBADF, c = -EBADF, a = -EBADF;
        char path[256];
        struct stat st;
        uid_t uid = (uid_t) -1;

        path_in_dir(path, sizeof(path), "s");
        /* A stale socket file is replaced; the mode is the one asked for. */
        l = unix_listen(path, 4, 0600);
        assert_true(l >= 0);
        assert_true(fcntl(l, F_GETFD) & FD_CLOEXEC);
        safe_close(l);
        l = unix_listen(path, 4, 0640);
        assert_true(l >= 0);
        assert_int_equal(lstat(path, &st), 0);
        assert_true(S_ISSOCK(st.st_mode));
        assert_int_equal(st.st_mode & 07777, 0640);

        c = unix_connect(path);
        assert_true(c >= 0);
        assert_true(fcntl(c, F_GETFD) & FD_CLOEXEC);
        assert_false(fcntl(c, F_GETFL) & O_NONBLOCK);
        a = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        assert_true(a >= 0);
        assert_int_equal(unix_peer_uid(a, &uid), 0);
        assert_int_equal(uid, geteuid());
        assert_int_equal(write(c, "x", 1), 1);
        {
                char b = 0;
                assert_int_equal(read(a, &b, 1), 1);
                assert_int_equal(b, 'x');
        }
}

static void test_connect_nonblock(void **state) {
        _cleanup_close_ int l = -EBADF, c = -EBADF;
        char path[256];

        path_in_dir(path, sizeof(path), "nb");
        l = unix_listen(path, 4, 0600);
        assert_true(l >= 0);
        c = unix_connect_nonblock(path);
        assert_true(c >= 0);
        assert_true(fcntl(c, F_GETFL) & O_NONBLOCK);
        assert_true(fcntl(c, F_GETFD) & FD_CLOEXEC);
}

static void test_connect_errors(void **state) {
        _cleanup_close_ int l = -EBADF;
        char path[256], toolong[SUN_PATH_SIZE + 1];

        path_in_dir(path, sizeof(path), "missing");
        assert_int_equal(unix_connect(path), -ENOENT);
        assert_int_equal(unix_connect_nonblock(path), -ENOENT);

        /* A socket file nobody listens on any more. */
        path_in_dir(path, sizeof(path), "closed");
        l = unix_listen(path, 4, 0600);
        assert_true(l >= 0);
        l = safe_close(l);
        assert_int_equal(unix_connect(path), -ECONNREFUSED);

        memset(toolong, 'a', sizeof(toolong) - 1);
        toolong[0] = '/';
        toolong[sizeof(toolong) - 1] = 0;
        assert_int_equal(unix_connect(toolong), -ENAMETOOLONG);
        assert_int_equal(unix_listen(toolong, 1, 0600), -ENAMETOOLONG);
        assert_int_equal(unix_connect(""), -EINVAL);

        /* Listening where the directory does not exist fails with bind's error. */
        path_in_dir(path, sizeof(path), "nodir/s");
        assert_int_equal(unix_listen(path, 1, 0600), -ENOENT);
}

static void test_peer_uid_not_unix(void **state) {
        _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        uid_t uid = 12345;

        assert_true(fd >= 0);
        assert_int_equal(unix_peer_uid(fd, &uid), -ENOTSOCK);
        assert_int_equal(uid, 12345);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_sockaddr_limits),   cmocka_unit_test(test_listen_connect),
                cmocka_unit_test(test_connect_nonblock),  cmocka_unit_test(test_connect_errors),
                cmocka_unit_test(test_peer_uid_not_unix),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* time-util, path-util, fileio, rm-rf, unaligned. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "alloc-util.h"
#include "fileio.h"
#include "macro.h"
#include "path-util.h"
#include "string-util.h"
#include "rm-rf.h"
#include "time-util.h"
#include "unaligned.h"

static void test_time(void **state) {
        struct timespec ts;
        usec_t a = now_usec(CLOCK_MONOTONIC), b;

        assert_true(a > 0);
        b = now_usec(CLOCK_MONOTONIC);
        assert_true(b >= a);
        assert_true(now_msec(CLOCK_MONOTONIC) >= a / USEC_PER_MSEC);
        timespec_store_usec(&ts, 1500001);
        assert_int_equal(ts.tv_sec, 1);
        assert_int_equal(ts.tv_nsec, 500001000);
        assert_int_equal(timespec_load_usec(&ts), 1500001);
        ts.tv_sec = -1;
        assert_int_equal(timespec_load_usec(&ts), 0);
        assert_int_equal(deadline_poll_timeout_ms(0), 0);
        assert_int_equal(deadline_poll_timeout_ms(USEC_INFINITY), -1);
        /* Rounded up: a deadline 1 us away is 1 ms, never a busy 0. */
        assert_int_equal(deadline_poll_timeout_ms(now_usec(CLOCK_MONOTONIC) + 10 * USEC_PER_SEC) > 9000, 1);
}

static void test_restart_backoff(void **state) {
        const RestartBackoff p = { .min = 3, .max = 20, .stable = 100 };
        usec_t b = 0, seen[6];

        for (size_t i = 0; i < ELEMENTSOF(seen); i++)
                seen[i] = b = restart_backoff_next(&p, b, 99);
        /* doubled, capped at max (not a doubling past it) */
        assert_int_equal(seen[0], 3);
        assert_int_equal(seen[1], 6);
        assert_int_equal(seen[2], 12);
        assert_int_equal(seen[3], 20);
        assert_int_equal(seen[5], 20);
        assert_int_equal(restart_backoff_next(&p, b, 100), 3);
        assert_int_equal(restart_backoff_next(&p, 1, 0), 3);
}

static void test_unaligned(void **state) {
        uint8_t buf[9] = { 0 };

        unaligned_write_le32(buf + 1, 0x11223344);
        assert_int_equal(buf[1], 0x44);
        assert_int_equal(buf[4], 0x11);
        assert_int_equal(unaligned_read_le32(buf + 1), 0x11223344);
        unaligned_write_le64(buf + 1, 0x0102030405060708ull);
        assert_int_equal(buf[1], 0x08);
        assert_int_equal(buf[8], 0x01);
        assert_true(unaligned_read_le64(buf + 1) == 0x0102030405060708ull);
        unaligned_write_le16(buf, 0xabcd);
        assert_int_equal(unaligned_read_le16(buf), 0xabcd);
        unaligned_write_be32(buf, 0x11223344);
        assert_int_equal(buf[0], 0x11);
        assert_int_equal(unaligned_read_be32(buf), 0x11223344);
}

static void test_path_join(void **state) {
        struct {
                const char *a, *b, *want;
        } cases[] = {
                { "/a", "b", "/a/b" }, { "/a/", "b", "/a/b" },  { "/a//", "/b", "/a/b" },
                { "/", "b", "/b" },    { "a", "b/c", "a/b/c" }, { "/a", "", "/a/" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *p = path_join(cases[i].a, cases[i].b);
                assert_string_equal(p, cases[i].want);
        }
        assert_true(path_is_normalized_absolute("/a/b"));
        assert_true(path_is_normalized_absolute("/"));
        assert_false(path_is_normalized_absolute("a/b"));
        assert_false(path_is_normalized_absolute("/a/../b"));
        assert_false(path_is_normalized_absolute("/a/./b"));
        assert_false(path_is_normalized_absolute("/a//b"));
        assert_true(path_is_normalized_absolute("/a/..b/.c"));
}

static void test_find_executable(void **state) {
        _cleanup_free_ char *p = NULL, *self = NULL, *dir = NULL;
        const char *old = getenv("PATH");
        _cleanup_free_ char *saved = old ? strdup(old) : NULL;

        assert_int_equal(find_executable("sh", &p), 0);
        assert_true(p[0] == '/');
        free(p);
        p = NULL;
        assert_int_equal(find_executable("no-such-program-bistro", &p), -ENOENT);
        assert_int_equal(find_executable("/etc/passwd", &p), -ENOENT); /* not executable */
        assert_int_equal(find_executable("", &p), -EINVAL);
        /* A directory on PATH named like the program does not count. */
        setenv("PATH", "/:/usr/bin", 1);
        assert_int_equal(find_executable("tmp", &p), -ENOENT);
        setenv("PATH", ":::", 1);
        assert_int_equal(find_executable("sh", &p), -ENOENT);
        if (saved)
                setenv("PATH", saved, 1);
        assert_int_equal(self_exe_path(&self), 0);
        assert_int_equal(self_exe_dir(&dir), 0);
        assert_true(startswith(self, dir));
        assert_int_equal(self[strlen(dir)], '/');
}

static void test_write_string_file_and_rm_rf(void **state) {
        char tmp[] = "/tmp/test-time-path.XXXXXX";
        _cleanup_free_ char *f = NULL, *link = NULL, *sub = NULL, *outside = NULL;
        char buf[16] = { 0 };
        int fd;

        assert_non_null(mkdtemp(tmp));
        f = path_join(tmp, "f");
        assert_int_equal(write_string_file(f, "x", 0), -ENOENT); /* no CREATE: must exist */
        assert_int_equal(write_string_file(f, "hello", WRITE_STRING_FILE_CREATE), 0);
        assert_int_equal(write_string_file(f, "hi", WRITE_STRING_FILE_CREATE), 0); /* truncates */
        fd = open(f, O_RDONLY | O_CLOEXEC);
        assert_int_equal(read(fd, buf, sizeof(buf)), 2);
        close(fd);
        link = path_join(tmp, "l");
        assert_int_equal(symlink(f, link), 0);
        assert_int_equal(write_string_file(link, "x", WRITE_STRING_FILE_NOFOLLOW), -ELOOP);

        /* rm -rf never follows a symlink out of the tree. */
        outside = strdup("/tmp/test-time-path-outside.XXXXXX");
        assert_non_null(mkdtemp(outside));
        sub = path_join(tmp, "d/e/f");
        {
                _cleanup_free_ char *d = path_join(tmp, "d"), *e = path_join(tmp, "d/e"),
                                    *ol = path_join(tmp, "d/out"), *keep = path_join(outside, "keep");
                assert_int_equal(mkdir(d, 0700), 0);
                assert_int_equal(mkdir(e, 0700), 0);
                assert_int_equal(write_string_file(sub, "x", WRITE_STRING_FILE_CREATE), 0);
                assert_int_equal(write_string_file(keep, "x", WRITE_STRING_FILE_CREATE), 0);
                assert_int_equal(symlink(outside, ol), 0);
                fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                assert_int_equal(rm_rf_at(fd, "d"), 0);
                assert_int_equal(access(d, F_OK), -1);
                assert_int_equal(access(keep, F_OK), 0);
                assert_int_equal(rm_rf_at(fd, "d"), 0); /* missing is fine */
                close(fd);
                assert_int_equal(rm_rf(outside), 0);
        }
        fd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_int_equal(rm_rf_children(fd), 0);
        assert_int_equal(access(f, F_OK), -1);
        assert_int_equal(access(tmp, F_OK), 0);
        assert_int_equal(rmdir(tmp), 0);
}

static void test_alloc(void **state) {
        _cleanup_free_ char *s = memdup_str("abc", 2), *t = NULL;
        _cleanup_free_ int *v = NULL;

        assert_string_equal(s, "ab");
        assert_null(malloc_multiply(SIZE_MAX / 2 + 1, 2));
        assert_int_equal(errno, ENOMEM);
        v = new (int, 4);
        assert_non_null(v);
        assert_int_equal(free_and_strdup(&t, "x"), 0);
        assert_string_equal(t, "x");
        assert_int_equal(free_and_strdup(&t, NULL), 0);
        assert_null(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_time),
                cmocka_unit_test(test_restart_backoff),
                cmocka_unit_test(test_unaligned),
                cmocka_unit_test(test_path_join),
                cmocka_unit_test(test_find_executable),
                cmocka_unit_test(test_write_string_file_and_rm_rf),
                cmocka_unit_test(test_alloc),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "macro.h"
#include "rm-rf.h"
#include "vmm-console.h"

#define CAP CONSOLE_LOG_MAX_MIN /* 8 KiB: the rotation happens at 4 KiB */

typedef struct Fixture {
        char dir[64], log[128], rotated[128];
        ConsoleLog *c;
        int qemu_fd;
        uint64_t sent; /* bytes written so far: byte i is 'a' + i % 23 */
} Fixture;

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));

        assert_non_null(f);
        (void) snprintf(f->dir, sizeof(f->dir), "/tmp/test-vmm-console-XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        (void) snprintf(f->log, sizeof(f->log), "%s/console.log", f->dir);
        (void) snprintf(f->rotated, sizeof(f->rotated), "%s/console.log.1", f->dir);
        f->qemu_fd = -EBADF;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;

        console_log_free(f->c);
        safe_close(f->qemu_fd);
        assert_int_equal(rm_rf(f->dir), 0);
        free(f);
        return 0;
}

/* What QEMU would do: n bytes of the pattern into the socket; then vmm copies them. */
static void guest_writes(Fixture *f, size_t n) {
        while (n > 0) {
                char buf[4096];
                size_t k = MIN(n, sizeof(buf));

                for (size_t i = 0; i < k; i++)
                        buf[i] = (char) ('a' + (f->sent + i) % 23);
                assert_int_equal(loop_write(f->qemu_fd, buf, k), 0);
                console_log_drain(f->c);
                f->sent += k;
                n -= k;
        }
}

static off_t file_size(const char *p) {
        struct stat st;

        return stat(p, &st) < 0 ? -errno : st.st_size;
}

/* The two files, older first, are exactly the last bytes the guest wrote. */
static void assert_tail(Fixture *f) {
        _cleanup_free_ char *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        uint64_t start;

        if (file_size(f->rotated) >= 0)
                assert_int_equal(read_file(f->rotated, CAP, &a, &na), 0);
        assert_int_equal(read_file(f->log, CAP, &b, &nb), 0);
        assert_true(na + nb <= CAP);
        start = f->sent - na - nb;
        for (size_t i = 0; i < na; i++)
                assert_int_equal(a[i], 'a' + (start + i) % 23);
        for (size_t i = 0; i < nb; i++)
                assert_int_equal(b[i], 'a' + (start + na + i) % 23);
}

static void test_rotation_at_the_limit(void **state) {
        Fixture *f = *state;

        /* A stale rotated file of an earlier boot goes. */
        assert_int_equal(write_file_atomic(f->rotated, "old boot\n", 0600), 0);
        assert_int_equal(console_log_new(f->log, CAP, &f->c, &f->qemu_fd), 0);
        assert_int_equal(file_size(f->rotated), -ENOENT);
        assert_int_equal(file_size(f->log), 0);

        /* Exactly half the cap stays in console.log... */
        guest_writes(f, CAP / 2);
        assert_int_equal(file_size(f->log), CAP / 2);
        assert_int_equal(file_size(f->rotated), -ENOENT);
        /* ...one byte more starts a new one. */
        guest_writes(f, 1);
        assert_int_equal(file_size(f->rotated), CAP / 2);
        assert_int_equal(file_size(f->log), 1);
        assert_tail(f);
        guest_writes(f, CAP / 2 - 1);
        assert_int_equal(file_size(f->rotated), CAP / 2);
        assert_int_equal(file_size(f->log), CAP / 2);
        assert_tail(f);
}

static void test_flood_stays_under_the_cap(void **state) {
        Fixture *f = *state;

        assert_int_equal(console_log_new(f->log, CAP, &f->c, &f->qemu_fd), 0);
        for (unsigned i = 0; i < 200; i++) {
                guest_writes(f, 1000 + i * 7);
                assert_true(file_size(f->log) + MAX(file_size(f->rotated), 0) <= (off_t) CAP);
        }
        assert_true(f->sent > 40 * CAP);
        assert_tail(f);
}

static void test_default_cap(void **state) {
        Fixture *f = *state;

        /* 8 MiB for the pair: console.log turns over at 4 MiB. */
        assert_int_equal(console_log_new(f->log, CONSOLE_LOG_MAX_DEFAULT, &f->c, &f->qemu_fd), 0);
        guest_writes(f, CONSOLE_LOG_MAX_DEFAULT / 2);
        assert_int_equal(file_size(f->rotated), -ENOENT);
        guest_writes(f, CONSOLE_LOG_MAX_DEFAULT + 12345);
        assert_int_equal(file_size(f->rotated), CONSOLE_LOG_MAX_DEFAULT / 2);
        assert_int_equal(file_size(f->log), 12345);
}

static void test_qemu_gone(void **state) {
        Fixture *f = *state;

        assert_int_equal(console_log_new(f->log, CAP, &f->c, &f->qemu_fd), 0);
        assert_int_equal(loop_write(f->qemu_fd, "last words\n", 11), 0);
        f->sent = 11;
        f->qemu_fd = safe_close(f->qemu_fd);
        /* What was queued before QEMU died is still copied; EOF ends the drain. */
        console_log_drain(f->c);
        assert_int_equal(file_size(f->log), 11);
}

static void test_bad_cap(void **state) {
        Fixture *f = *state;
        int fd = -EBADF;

        assert_int_equal(console_log_new(f->log, CAP - 1, &f->c, &fd), -EINVAL);
        assert_null(f->c);
        assert_int_equal(fd, -EBADF);
        assert_int_equal(file_size(f->log), -ENOENT);
        assert_int_equal(console_log_new("/nonexistent/dir/console.log", CAP, &f->c, &fd), -ENOENT);
        assert_null(f->c);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_rotation_at_the_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_flood_stays_under_the_cap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_default_cap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_qemu_gone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bad_cap, setup, teardown),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

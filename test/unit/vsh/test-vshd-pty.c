/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The container pty helpers: the idmap parser, and a pty from a devpts instance given by a
 * directory fd (here this machine's /dev/pts; the container's in the VM). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>
#include <cmocka.h>

#include "vshd.h"

static void test_idmap_lookup(void **state) {
        const char *lxc = "u 0 1065536 65536\ng 0 1065536 65536";
        uint32_t v = 7;

        /* What tremplin writes and liblxc returns: the container's root and tty group. */
        assert_int_equal(vshd_idmap_lookup(lxc, 'u', 0, &v), 0);
        assert_int_equal(v, 1065536);
        assert_int_equal(vshd_idmap_lookup(lxc, 'g', 5, &v), 0);
        assert_int_equal(v, 1065541);
        assert_int_equal(vshd_idmap_lookup(lxc, 'u', 65535, &v), 0);
        assert_int_equal(v, 1065536 + 65535);
        v = 7;
        assert_int_equal(vshd_idmap_lookup(lxc, 'u', 65536, &v), -ESRCH);
        assert_int_equal(v, 7); /* written only on success */

        /* Several ranges, a trailing newline, spaces and tabs. */
        assert_int_equal(
                vshd_idmap_lookup("u 0 100000 1000\nu  1000\t1000 1\ng 0 200000 10\n", 'u', 1000, &v), 0);
        assert_int_equal(v, 1000);
        assert_int_equal(
                vshd_idmap_lookup("u 0 100000 1000\nu 1000 1000 1\ng 0 200000 10\n", 'g', 9, &v), 0);
        assert_int_equal(v, 200009);
        assert_int_equal(vshd_idmap_lookup("u 0 100000 1000\n\nu 1000 1000 1\n", 'u', 999, &v), 0);
        assert_int_equal(v, 100999);

        /* No map of a kind: the VM's own ids (a container without a user namespace). */
        assert_int_equal(vshd_idmap_lookup("", 'u', 1000, &v), 0);
        assert_int_equal(v, 1000);
        assert_int_equal(vshd_idmap_lookup(NULL, 'g', 5, &v), 0);
        assert_int_equal(v, 5);
        assert_int_equal(vshd_idmap_lookup("u 0 100000 10", 'g', 5, &v), 0);
        assert_int_equal(v, 5);

        /* The ends of the id space. */
        assert_int_equal(vshd_idmap_lookup("u 0 0 4294967295", 'u', 4294967294u, &v), 0);
        assert_int_equal(v, 4294967294u);
        assert_int_equal(vshd_idmap_lookup("u 4294967295 0 1", 'u', 4294967295u, &v), 0);
        assert_int_equal(v, 0);

        /* Malformed. */
        static const char *const bad[] = {
                "x 0 100000 10",          "u 0 100000",          "u 0 100000 10 4",
                "u -1 100000 10",         "u 0 100000 1O",       "uu 0 100000 10",
                "u 0 4294967295 2",       "u 4294967295 0 2",    "u 0 4294967296 1",
                "u 0 100000 10\ng 0 x 1", "u  0 100000 10 junk",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                v = 7;
                assert_int_equal(vshd_idmap_lookup(bad[i], 'u', 0, &v), -EBADMSG);
                assert_int_equal(v, 7);
        }
        /* A line longer than any real one. */
        char longline[300];
        memset(longline, ' ', sizeof(longline) - 1);
        longline[0] = 'u';
        longline[sizeof(longline) - 1] = 0;
        assert_int_equal(vshd_idmap_lookup(longline, 'u', 0, &v), -EBADMSG);
}

static int open_devpts(void) {
        int fd = open("/dev/pts", O_PATH | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || faccessat(fd, "ptmx", R_OK | W_OK, 0) < 0) {
                if (fd >= 0)
                        close(fd);
                return -1;
        }
        return fd;
}

static void test_pty_open_in(void **state) {
        struct winsize w = { .ws_row = 33, .ws_col = 101 }, got = {};
        char name[64], link[PATH_MAX], proc[64];
        int devpts, master = -1, slave = -1, r, flags;
        struct stat st;
        ssize_t n;

        devpts = open_devpts();
        if (devpts < 0)
                skip(); /* no usable devpts here (a sandbox without /dev/pts/ptmx) */
        r = vshd_pty_open_in(devpts, &w, &master, &slave);
        if (r == -EACCES || r == -EPERM) {
                close(devpts);
                skip();
        }
        assert_int_equal(r, 0);
        close(devpts);

        /* The slave is the master's peer, a terminal with the size already set, not our
         * controlling terminal, both close-on-exec. */
        assert_true(isatty(slave));
        assert_int_equal(ptsname_r(master, name, sizeof(name)), 0);
        (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", slave);
        n = readlink(proc, link, sizeof(link) - 1);
        assert_true(n > 0);
        link[n] = 0;
        assert_string_equal(link, name);
        assert_int_equal(ioctl(slave, TIOCGWINSZ, &got), 0);
        assert_int_equal(got.ws_row, 33);
        assert_int_equal(got.ws_col, 101);
        assert_int_equal(fstat(slave, &st), 0);
        assert_int_equal(st.st_uid, geteuid());
        flags = fcntl(master, F_GETFD);
        assert_true(flags >= 0 && (flags & FD_CLOEXEC));
        flags = fcntl(slave, F_GETFD);
        assert_true(flags >= 0 && (flags & FD_CLOEXEC));

        /* Bytes both ways (the slave is unlocked). */
        assert_int_equal(write(master, "hi\n", 3), 3);
        char buf[16] = {};
        struct termios t;
        assert_int_equal(tcgetattr(slave, &t), 0);
        assert_true(read(slave, buf, sizeof(buf)) >= 2);
        assert_memory_equal(buf, "hi", 2);
        close(master);
        close(slave);
}

static void test_pty_open_in_refuses(void **state) {
        char dir[] = "/tmp/test-vshd-pty-XXXXXX", path[PATH_MAX];
        struct winsize w = { .ws_row = 24, .ws_col = 80 };
        int fd, master = -1, slave = -1;

        assert_non_null(mkdtemp(dir));
        fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);

        /* No ptmx. */
        assert_int_equal(vshd_pty_open_in(fd, &w, &master, &slave), -ENOENT);
        /* A symlink to the real one is not followed. */
        (void) snprintf(path, sizeof(path), "%s/ptmx", dir);
        assert_int_equal(symlink("/dev/ptmx", path), 0);
        assert_int_equal(vshd_pty_open_in(fd, &w, &master, &slave), -ELOOP);
        assert_int_equal(unlink(path), 0);
        /* A file named ptmx that is not the ptmx device on devpts. */
        int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        assert_true(f >= 0);
        close(f);
        assert_int_equal(vshd_pty_open_in(fd, &w, &master, &slave), -ENOTTY);
        assert_int_equal(master, -1);
        assert_int_equal(slave, -1);

        assert_int_equal(unlink(path), 0);
        close(fd);
        assert_int_equal(rmdir(dir), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_idmap_lookup),
                cmocka_unit_test(test_pty_open_in),
                cmocka_unit_test(test_pty_open_in_refuses),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}

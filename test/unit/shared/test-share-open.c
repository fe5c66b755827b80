/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Which host paths a container may have opened on the host: a real directory tree with the tricks a
 * container can play in a share (symlinks out, programs, launchers, FIFOs). */
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
#include <cmocka.h>
#include <unistd.h>

#include "macro.h"
#include "rm-rf.h"
#include "share-open.h"

static char root[] = "/tmp/test-share-open.XXXXXX";

static void touch(const char *rel, mode_t mode) {
        char p[256];
        int fd;

        (void) snprintf(p, sizeof(p), "%s/%s", root, rel);
        fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, mode);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(chmod(p, mode), 0);
}

static int setup(void **state) {
        char p[256];

        assert_non_null(mkdtemp(root));
        (void) snprintf(p, sizeof(p), "%s/dir", root);
        assert_int_equal(mkdir(p, 0755), 0);
        touch("dir/report.pdf", 0644);
        touch("run-me", 0755);
        touch("evil.desktop", 0644);
        touch("Setup.EXE", 0644);
        (void) snprintf(p, sizeof(p), "%s/shadow", root);
        assert_int_equal(symlink("/etc/shadow", p), 0);
        (void) snprintf(p, sizeof(p), "%s/up", root);
        assert_int_equal(symlink("..", p), 0);
        (void) snprintf(p, sizeof(p), "%s/inner", root);
        assert_int_equal(symlink("dir", p), 0);
        (void) snprintf(p, sizeof(p), "%s/fifo", root);
        assert_int_equal(mkfifo(p, 0644), 0);
        return 0;
}

static int teardown(void **state) {
        (void) rm_rf(root);
        return 0;
}

static void ok(const char *rest, const char *want_suffix) {
        _cleanup_free_ char *p = NULL;
        char want[256];

        assert_int_equal(share_host_path(root, rest, &p), 0);
        (void) snprintf(want, sizeof(want), "%s%s", root, want_suffix);
        assert_string_equal(p, want);
}

static void refused(const char *rest, int err) {
        char *p = NULL;

        assert_int_equal(share_host_path(root, rest, &p), err);
        assert_null(p);
}

static void test_files_and_dirs(void **state) {
        ok("", "");
        ok("dir", "/dir");
        ok("dir/report.pdf", "/dir/report.pdf");
}

static void test_tricks(void **state) {
        refused("shadow", -ELOOP);           /* a link out of the share is never followed */
        refused("inner/report.pdf", -ELOOP); /* nor one inside it: the path is checked as given */
        refused("up/etc/passwd", -ELOOP);
        refused("run-me", -EACCES);
        refused("evil.desktop", -EACCES);
        refused("Setup.EXE", -EACCES);
        refused("fifo", -EPERM);
        refused("missing.pdf", -ENOENT);
        /* share_url_split() never gives "..", but the resolution holds without it too. */
        refused("../etc/passwd", -EXDEV);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_files_and_dirs),
                cmocka_unit_test(test_tricks),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

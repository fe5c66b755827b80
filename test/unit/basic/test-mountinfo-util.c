/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mountinfo-util.h"
#include "strv.h"

static char path[] = "/tmp/test-mountinfo.XXXXXX";

static void write_file(const char *text) {
        FILE *f = fopen(path, "we");

        assert_non_null(f);
        assert_true(fputs(text, f) >= 0);
        assert_int_equal(fclose(f), 0);
}

static void test_find(void **state) {
        char *fstype = NULL, *source = NULL;

        write_file("22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/vda1 rw\n"
                   "46 22 0:41 / /home/u/Bistro/penguin rw,nosuid,nodev - fuse.sshfs bistro:termina/penguin "
                   "rw,user_id=1000\n"
                   "47 22 0:42 / /home/u/Bistro/a\\040b rw shared:5 master:2 - fuse.sshfs x\\040y rw\n");
        assert_int_equal(mountinfo_find(path, "/home/u/Bistro/penguin", &fstype, &source), 1);
        assert_string_equal(fstype, "fuse.sshfs");
        assert_string_equal(source, "bistro:termina/penguin");
        free(fstype);
        free(source);
        /* escapes undone, optional fields skipped */
        assert_int_equal(mountinfo_find(path, "/home/u/Bistro/a b", &fstype, &source), 1);
        assert_string_equal(source, "x y");
        free(fstype);
        free(source);
        assert_int_equal(mountinfo_find(path, "/home/u/Bistro", NULL, NULL), 0);
        assert_int_equal(mountinfo_find(path, "/", NULL, &source), 1);
        assert_string_equal(source, "/dev/vda1");
        free(source);

        /* Stacked: the last one is what the path shows. */
        write_file("1 0 0:1 / /m rw - tmpfs a rw\n2 1 0:2 / /m rw - fuse.sshfs b rw\n");
        assert_int_equal(mountinfo_find(path, "/m", &fstype, NULL), 1);
        assert_string_equal(fstype, "fuse.sshfs");
        free(fstype);

        /* Lines that do not parse. */
        write_file("1 0 0:1 / /m rw tmpfs a rw\n");
        assert_int_equal(mountinfo_find(path, "/m", NULL, NULL), -EBADMSG);
        write_file("1 0 0:1\n");
        assert_int_equal(mountinfo_find(path, "/m", NULL, NULL), -EBADMSG);
        assert_int_equal(mountinfo_find("/nonexistent/mountinfo", "/m", NULL, NULL), -ENOENT);
}

static void test_self(void **state) {
        /* The real file parses, and "/" is mounted. */
        assert_int_equal(mountinfo_find(NULL, "/", NULL, NULL), 1);
}

static void test_targets(void **state) {
        _cleanup_strv_free_ char **t = NULL;
        const char *text = "21 1 0:20 / / ro,relatime - squashfs /dev/dm-0 ro\n"
                           "22 21 0:5 / /dev rw - devtmpfs devtmpfs rw\n"
                           "23 21 0:21 / /mnt/with\\040space rw - tmpfs tmpfs rw\n"
                           "24 21 0:22 / /mnt/back\\134slash rw - tmpfs tmpfs rw";

        assert_int_equal(mountinfo_targets(text, &t), 0);
        assert_int_equal(strv_length(t), 4);
        assert_string_equal(t[0], "/");
        assert_string_equal(t[1], "/dev");
        assert_string_equal(t[2], "/mnt/with space");
        assert_string_equal(t[3], "/mnt/back\\slash");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_targets),
                cmocka_unit_test(test_find),
                cmocka_unit_test(test_self),
        };
        int fd = mkstemp(path), r;

        if (fd < 0)
                return 1;
        close(fd);
        r = cmocka_run_group_tests(tests, NULL, NULL);
        unlink(path);
        return r;
}

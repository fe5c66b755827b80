/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* concierge's shares: the list file (round trip, damaged lines, duplicates, the 64 limit) and the
 * path rules on real directories (symlinks resolved once, "/", the home, bistro's data dir and its
 * parents, a file, a missing path) and the default name. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "alloc-util.h"
#include "concierge-shares.h"
#include "fd-util.h"
#include "path-util.h"
#include "rm-rf.h"

static char root[] = "/tmp/test-concierge-shares-XXXXXX";

static char *sub(const char *rel) {
        char *p = path_join(root, rel);

        assert_non_null(p);
        return p;
}

static int setup(void **state) {
        assert_non_null(mkdtemp(root));
        return 0;
}

static int teardown(void **state) {
        (void) rm_rf_at(AT_FDCWD, root);
        return 0;
}

static void test_list_round_trip(void **state) {
        ShareList l = {}, m = {};
        Share s = { .name = "project",
                    .container = "penguin",
                    .host_path = (char *) "/home/u/src/my project" };
        _cleanup_free_ char *text = NULL, *again = NULL;

        assert_int_equal(share_list_add(&l, &s), 0);
        assert_int_equal(share_list_add(&l, &s), -EEXIST);
        s = (Share){ .name = "Photos",
                     .container = "other",
                     .read_only = true,
                     .host_path = (char *) "/data/Photos" };
        assert_int_equal(share_list_add(&l, &s), 0);
        text = share_list_format(&l);
        assert_string_equal(
                text, "project\tpenguin\trw\t/home/u/src/my project\nPhotos\tother\tro\t/data/Photos\n");
        assert_int_equal(share_list_parse(text, &m), 0);
        assert_int_equal(m.n, 2);
        again = share_list_format(&m);
        assert_string_equal(text, again);
        assert_true(m.items[1].read_only);
        assert_int_equal(share_list_remove(&m, "project"), 0);
        assert_int_equal(share_list_remove(&m, "project"), -ENOENT);
        assert_int_equal(m.n, 1);
        assert_string_equal(m.items[0].name, "Photos");
        share_list_clear(&l);
        share_list_clear(&m);
}

static void test_list_damaged(void **state) {
        ShareList l = {};

        /* Kept: the good line. Dropped: a bad name, a bad container, a bad mode, a relative path, a
         * ".." path, too few fields, a repeated name, a tab in the path. */
        assert_int_equal(
                share_list_parse(
                        "ok\tpenguin\trw\t/a\n"
                        ".hidden\tpenguin\trw\t/b\n"
                        "n1\t-bad\trw\t/b\n"
                        "n2\tpenguin\trx\t/b\n"
                        "n3\tpenguin\trw\tb\n"
                        "n4\tpenguin\trw\t/a/../etc\n"
                        "n5\tpenguin\t/b\n"
                        "ok\tpenguin\tro\t/c\n"
                        "ok2\tpenguin\tro\t/with\ttab\n",
                        &l),
                0);
        assert_int_equal(l.n, 1);
        assert_string_equal(l.items[0].host_path, "/a");
        assert_false(l.items[0].read_only);
        share_list_clear(&l);
}

static void test_list_limit(void **state) {
        ShareList l = {};
        Share s = { .container = "penguin", .host_path = (char *) "/x" };

        for (unsigned i = 0; i < SHARES_MAX; i++) {
                (void) snprintf(s.name, sizeof(s.name), "s%u", i);
                assert_int_equal(share_list_add(&l, &s), 0);
        }
        strcpy(s.name, "one-more");
        assert_int_equal(share_list_add(&l, &s), -ENOSPC);
        share_list_clear(&l);
}

static void test_path_rules(void **state) {
        _cleanup_free_ char *home = sub("home"), *proj = sub("home/proj"), *link = sub("home/link"),
                            *file = sub("home/file"), *data = sub("home/.local/share/bistro"),
                            *vms = sub("home/.local/share/bistro/vms"), *local = sub("home/.local");
        SharePathRules rules = { .uid = getuid(), .home = home, .data_dir = data };
        char *resolved = NULL, *err = NULL, name[SHARE_NAME_MAX + 1];
        struct stat st;

        assert_int_equal(mkdir_p(proj, 0755), 0);
        assert_int_equal(mkdir_p(vms, 0700), 0);
        assert_int_equal(symlink(proj, link), 0);
        assert_int_equal(write_file_atomic(file, "x", 0644), 0);

        /* A symlink is resolved here, once. */
        assert_int_equal(share_path_check(link, &rules, &resolved, &st, &err), 0);
        assert_string_equal(resolved, proj);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(share_default_name(resolved, name, sizeof(name)), 0);
        assert_string_equal(name, "proj");
        resolved = mfree(resolved);

        assert_int_equal(share_path_check("/", &rules, &resolved, &st, &err), -EPERM);
        assert_non_null(strstr(err, "'/'"));
        err = mfree(err);
        assert_int_equal(share_path_check(home, &rules, &resolved, &st, &err), -EPERM);
        assert_non_null(strstr(err, "whole home"));
        err = mfree(err);
        /* bistro's data, inside it, and a folder above it. */
        assert_int_equal(share_path_check(data, &rules, &resolved, &st, &err), -EPERM);
        err = mfree(err);
        assert_int_equal(share_path_check(vms, &rules, &resolved, &st, &err), -EPERM);
        err = mfree(err);
        assert_int_equal(share_path_check(local, &rules, &resolved, &st, &err), -EPERM);
        assert_non_null(strstr(err, "bistro's data"));
        err = mfree(err);
        assert_int_equal(share_path_check(file, &rules, &resolved, &st, &err), -ENOTDIR);
        assert_non_null(strstr(err, "not a directory"));
        err = mfree(err);
        assert_int_equal(share_path_check("/nonexistent-share-dir", &rules, &resolved, &st, &err), -ENOENT);
        err = mfree(err);
        assert_int_equal(share_path_check("relative", &rules, &resolved, &st, &err), -EINVAL);
        err = mfree(err);
        assert_null(resolved);

        /* A name the folder cannot give. */
        assert_int_equal(share_default_name("/x/.hidden", name, sizeof(name)), -EINVAL);
        assert_int_equal(share_default_name("/x/with space", name, sizeof(name)), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_list_round_trip),
                cmocka_unit_test(test_list_damaged),
                cmocka_unit_test(test_list_limit),
                cmocka_unit_test(test_path_rules),
        };
        return cmocka_run_group_tests(tests, setup, teardown);
}

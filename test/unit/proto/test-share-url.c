/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Share URLs: what garcon sends for a shared file, and what the host accepts back. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "macro.h"
#include "proto-validate.h"
#include "share-url.h"
#include "url-util.h"

static void split_ok(const char *url, const char *name, const char *rest) {
        _cleanup_free_ char *n = NULL, *r = NULL;

        assert_int_equal(share_url_split(url, &n, &r), 0);
        assert_string_equal(n, name);
        assert_string_equal(r, rest);
        assert_true(share_url_ok(url));
}

static void split_bad(const char *url) {
        _cleanup_free_ char *n = NULL, *r = NULL;

        assert_int_equal(share_url_split(url, &n, &r), -EINVAL);
        assert_null(n);
        assert_false(share_url_ok(url));
}

static void test_split(void **state) {
        split_ok("file:///mnt/shared/docs", "docs", "");
        split_ok("file:///mnt/shared/docs/", "docs", "");
        split_ok("file:///mnt/shared/docs/a/b.pdf", "docs", "a/b.pdf");
        split_ok("file:///mnt/shared/docs/a%20b%25.pdf", "docs", "a b%.pdf");
        split_ok("file:///mnt/shared/my.proj/%C3%A9t%C3%A9", "my.proj", "\xc3\xa9t\xc3\xa9");
        /* Decoding happens before the checks: encoded dots and slashes are caught too. */
        split_bad("file:///mnt/shared/docs/%2E%2E/etc/shadow");
        split_bad("file:///mnt/shared/docs/a/%2e%2e%2f%2e%2e/x");
        split_bad("file:///mnt/shared/docs/../x");
        split_bad("file:///mnt/shared/docs/./x");
        split_bad("file:///mnt/shared/docs//x");
        split_bad("file:///mnt/shared/docs/x//");
        split_bad("file:///mnt/shared/");
        split_bad("file:///mnt/shared//docs");
        split_bad("file:///mnt/shared/..");
        split_bad("file:///mnt/shared/.hidden/x"); /* not a share name */
        split_bad("file:///mnt/shared/-x");
        split_bad("file:///mnt/shared/docs/a%00b");
        split_bad("file:///mnt/shared/docs/a%0");
        split_bad("file:///mnt/shared/docs/a%zz");
        split_bad("file:///mnt/shared/docs/a b");
        split_bad("file:///mnt/shared/docs/\x7f");
        split_bad("file:///etc/passwd");
        split_bad("file:///mnt/sharedx/docs");
        split_bad("FILE:///mnt/shared/docs");
        split_bad("https://example.org/");
        split_bad("");
        split_bad(NULL);
}

static void test_from_path(void **state) {
        _cleanup_free_ char *u = NULL, *v = NULL, *n = NULL, *r = NULL;

        assert_int_equal(share_url_from_path("/mnt/shared/docs/a b/%c\xc3\xa9.pdf", &u), 1);
        assert_string_equal(u, "file:///mnt/shared/docs/a%20b/%25c%C3%A9.pdf");
        /* What garcon builds, the host takes back to the same path. */
        assert_int_equal(share_url_split(u, &n, &r), 0);
        assert_string_equal(n, "docs");
        assert_string_equal(r, "a b/%c\xc3\xa9.pdf");
        assert_int_equal(share_url_from_path("/mnt/shared/docs", &v), 1);
        assert_string_equal(v, "file:///mnt/shared/docs");
        assert_int_equal(share_url_from_path("/mnt/shared", &u), 0);
        assert_int_equal(share_url_from_path("/mnt/shared/", &u), 0);
        assert_int_equal(share_url_from_path("/mnt/sharedx/a", &u), 0);
        assert_int_equal(share_url_from_path("/etc/passwd", &u), 0);
}

static void test_too_long(void **state) {
        _cleanup_free_ char *path = NULL, *u = NULL;
        size_t n = PROTO_URL_MAX;

        path = malloc(n + 1);
        assert_non_null(path);
        memset(path, 'a', n);
        memcpy(path, "/mnt/shared/x/", 14);
        path[n] = 0;
        assert_int_equal(share_url_from_path(path, &u), -E2BIG);
        assert_null(u);
}

static void test_url_decode(void **state) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        assert_int_equal(url_decode("a%41%6a", 7, &a), 3);
        assert_string_equal(a, "aAj");
        /* Only n bytes are read. */
        assert_int_equal(url_decode("ab%41", 2, &b), 2);
        assert_string_equal(b, "ab");
        assert_int_equal(url_decode("%4", 2, &a), -EINVAL);
        assert_int_equal(url_decode("%", 1, &a), -EINVAL);
        assert_int_equal(url_decode("%00", 3, &a), -EINVAL);
        assert_int_equal(url_decode("%g0", 3, &a), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_split),
                cmocka_unit_test(test_from_path),
                cmocka_unit_test(test_too_long),
                cmocka_unit_test(test_url_decode),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* token-store: the container tokens on disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fileio.h"
#include "macro.h"
#include "rm-rf.h"
#include "token-store.h"

static char base[] = "/tmp/test-token-store-XXXXXX";
static char dir[sizeof(base) + 16];

#define T1 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define T2 "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

static int setup(void **state) {
        assert_non_null(mkdtemp(base));
        snprintf(dir, sizeof(dir), "%s/tokens", base);
        return 0;
}

static int teardown(void **state) {
        (void) rm_rf(base);
        return 0;
}

static void test_put_get_find_remove(void **state) {
        TokenBuf t;
        NameBuf name;
        char path[256];
        struct stat st;

        assert_int_equal(token_store_get(dir, "vm", "penguin", t), -ENOENT);
        assert_int_equal(token_store_put(dir, "vm", "penguin", T1), 0);
        assert_int_equal(token_store_put(dir, "vm", "other", T2), 0);
        assert_int_equal(token_store_get(dir, "vm", "penguin", t), 0);
        assert_string_equal(t, T1);
        snprintf(path, sizeof(path), "%s/vm/penguin", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((int) (st.st_mode & 0777), 0600);
        snprintf(path, sizeof(path), "%s/vm", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal((int) (st.st_mode & 0777), 0700);

        assert_int_equal(token_store_find(dir, "vm", T2, name), 0);
        assert_string_equal(name, "other");
        assert_int_equal(token_store_find(dir, "vm", T1, name), 0);
        assert_string_equal(name, "penguin");
        assert_int_equal(token_store_find(dir, "vm2", T1, name), -ENOENT); /* per VM */

        /* Replaced atomically. */
        assert_int_equal(token_store_put(dir, "vm", "penguin", T2 "x"), 0);
        assert_int_equal(token_store_get(dir, "vm", "penguin", t), 0);
        assert_string_equal(t, T2 "x");

        assert_int_equal(token_store_remove(dir, "vm", "penguin"), 0);
        assert_int_equal(token_store_remove(dir, "vm", "penguin"), 0); /* missing is fine */
        assert_int_equal(token_store_get(dir, "vm", "penguin", t), -ENOENT);
        assert_int_equal(token_store_remove(dir, "vm", NULL), 0);
        assert_int_equal(token_store_get(dir, "vm", "other", t), -ENOENT);
}

static void test_bad_names_and_tokens(void **state) {
        TokenBuf t;
        NameBuf name;

        assert_int_equal(token_store_put(dir, "../vm", "c", T1), -EINVAL);
        assert_int_equal(token_store_put(dir, "vm", "a/b", T1), -EINVAL);
        assert_int_equal(token_store_put(dir, "vm", "..", T1), -EINVAL);
        assert_int_equal(token_store_put(dir, "vm", "", T1), -EINVAL);
        assert_int_equal(token_store_put(dir, "vm", ".hidden", T1), -EINVAL);
        assert_int_equal(token_store_get(dir, "vm", "../../etc", t), -EINVAL);
        assert_int_equal(token_store_remove(dir, "..", NULL), -EINVAL);
        assert_int_equal(token_store_put(dir, "vm", "c", "short"), -EINVAL);
        assert_int_equal(token_store_put(dir, "vm", "c", T1 "\n"), -EINVAL);
        assert_int_equal(token_store_put(dir, "vm", "c", T1 "/"), -EINVAL);
        assert_int_equal(token_store_find(dir, "vm", "bad token", name), -EINVAL);
}

static void test_compare(void **state) {
        NameBuf name;

        assert_int_equal(token_store_put(dir, "cmp", "c", T1), 0);
        /* A prefix, an extension, one byte off at the start or the end: none is the token. */
        assert_int_equal(token_store_find(dir, "cmp", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", name), -ENOENT);
        assert_int_equal(token_store_find(dir, "cmp", T1 "A", name), -ENOENT);
        assert_int_equal(token_store_find(dir, "cmp", "BAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", name), -ENOENT);
        assert_int_equal(token_store_find(dir, "cmp", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", name), -ENOENT);
        assert_int_equal(token_store_find(dir, "cmp", "aAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", name), -ENOENT);
        assert_int_equal(token_store_find(dir, "cmp", T1, name), 0);
        assert_string_equal(name, "c");
        /* A corrupt file is no token and does not match anything. */
        {
                char path[256];

                snprintf(path, sizeof(path), "%s/cmp/broken", dir);
                assert_int_equal(write_string_file(path, "not a token!", WRITE_STRING_FILE_CREATE), 0);
                assert_int_equal(token_store_find(dir, "cmp", T1, name), 0);
                assert_string_equal(name, "c");
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_put_get_find_remove),
                cmocka_unit_test(test_bad_names_and_tokens),
                cmocka_unit_test(test_compare),
        };

        return cmocka_run_group_tests(tests, setup, teardown);
}

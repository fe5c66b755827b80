/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc-util.h"
#include "concierge-container.h"
#include "fd-util.h"
#include "macro.h"

static char dir[] = "/tmp/test-concierge-container.XXXXXX";

static uint64_t size_of(const char *text) {
        _cleanup_free_ char *p = NULL;

        assert_true(asprintf(&p, "%s/image.json", dir) > 0);
        assert_int_equal(write_file_atomic(p, text, 0600), 0);
        return image_json_unpacked_size(p);
}

static void test_image_json_unpacked_size(void **state) {
        _cleanup_free_ char *big = NULL, *missing = NULL;
        char cmd[128];

        assert_non_null(mkdtemp(dir));
        /* What image/containers/common.sh writes. */
        assert_int_equal(
                size_of("{\n  \"name\": \"debian\",\n  \"size\": 1234,\n  \"sha256\": \"ab\",\n"
                        "  \"unpacked_size\": 169307142,\n  \"created\": \"2024-01-01T00:00:00Z\"\n}\n"),
                169307142);
        assert_int_equal(size_of("{\"unpacked_size\":0}"), 0);
        assert_int_equal(size_of("{\"unpacked_size\": 68719476736}"), IMAGE_UNPACKED_SIZE_MAX);
        /* Out of range, wrong types, not where it belongs, not JSON, cut short, trailing garbage: 0. */
        static const char *const bad[] = {
                "{\"unpacked_size\": 68719476737}",
                "{\"unpacked_size\": 99999999999999999999999}",
                "{\"unpacked_size\": -5}",
                "{\"unpacked_size\": 1.5}",
                "{\"unpacked_size\": \"123\"}",
                "{\"unpacked_size\": null}",
                "{\"inputs\": {\"unpacked_size\": 5}}",
                "{\"name\": \"\\\"unpacked_size\\\": 7\"}",
                "[{\"unpacked_size\": 5}]",
                "\"unpacked_size\": 5",
                "{\"unpacked_size\": 5",
                "{\"unpacked_size\": 5} x",
                "",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                assert_int_equal(size_of(bad[i]), 0);
        /* Too large a file is not read at all. */
        big = malloc(70000);
        assert_non_null(big);
        memset(big, ' ', 69999);
        memcpy(big, "{\"unpacked_size\": 5}", 20);
        big[69999] = 0;
        assert_int_equal(size_of(big), 0);
        assert_true(asprintf(&missing, "%s/missing.json", dir) > 0);
        assert_int_equal(image_json_unpacked_size(missing), 0);

        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_image_json_unpacked_size),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "macro.h"
#include "string-util.h"

static void test_safe_atou64(void **state) {
        uint64_t v = 7;

        assert_int_equal(safe_atou64("0", &v), 0);
        assert_int_equal(v, 0);
        assert_int_equal(safe_atou64("18446744073709551615", &v), 0);
        assert_true(v == UINT64_MAX);
        assert_int_equal(safe_atou64("18446744073709551616", &v), -ERANGE);
        v = 5;
        assert_int_equal(safe_atou64("-1", &v), -EINVAL);
        assert_int_equal(safe_atou64(" 1", &v), -EINVAL);
        assert_int_equal(safe_atou64("1x", &v), -EINVAL);
        assert_int_equal(safe_atou64("", &v), -EINVAL);
        assert_int_equal(safe_atou64(NULL, &v), -EINVAL);
        assert_int_equal(v, 5); /* untouched on failure */
}

static void test_safe_atou32(void **state) {
        uint32_t v;

        assert_int_equal(safe_atou32("4294967295", &v), 0);
        assert_true(v == UINT32_MAX);
        assert_int_equal(safe_atou32("4294967296", &v), -ERANGE);
}

static void test_safe_atoi(void **state) {
        int v;

        assert_int_equal(safe_atoi("-42", &v), 0);
        assert_int_equal(v, -42);
        assert_int_equal(safe_atoi("2147483648", &v), -ERANGE);
        assert_int_equal(safe_atoi("4a", &v), -EINVAL);
}

static void test_parse_size(void **state) {
        uint64_t v;

        assert_int_equal(parse_size("1024", &v), 0);
        assert_true(v == 1024);
        assert_int_equal(parse_size("512M", &v), 0);
        assert_true(v == 512ull << 20);
        assert_int_equal(parse_size("20G", &v), 0);
        assert_true(v == 20ull << 30);
        assert_int_equal(parse_size("2GiB", &v), 0);
        assert_true(v == 2ull << 30);
        assert_int_equal(parse_size("3k", &v), 0);
        assert_true(v == 3072);
        assert_int_equal(parse_size("1MB", &v), 0);
        assert_true(v == 1ull << 20);
        assert_int_equal(parse_size("G", &v), -EINVAL);
        assert_int_equal(parse_size("1X", &v), -EINVAL);
        assert_int_equal(parse_size("99999999999T", &v), -ERANGE);
        assert_int_equal(parse_size("", &v), -EINVAL);
}

static void test_utf8(void **state) {
        assert_true(utf8_is_valid("plain"));
        assert_true(utf8_is_valid("caf\xc3\xa9"));
        assert_true(utf8_is_valid("\xf0\x9f\x8d\xb7"));
        assert_false(utf8_is_valid("\xc3"));             /* truncated */
        assert_false(utf8_is_valid("\xc0\xaf"));         /* overlong '/' */
        assert_false(utf8_is_valid("\xed\xa0\x80"));     /* surrogate */
        assert_false(utf8_is_valid("\xf4\x90\x80\x80")); /* above U+10FFFF */
        assert_false(utf8_is_valid("\xff"));
        assert_false(utf8_is_valid(NULL));
}

static void test_name_is_valid(void **state) {
        assert_true(name_is_valid("termina", 64));
        assert_true(name_is_valid("penguin-2_x.y", 64));
        assert_false(name_is_valid("", 64));
        assert_false(name_is_valid("..", 64));
        assert_false(name_is_valid(".hidden", 64));
        assert_false(name_is_valid("-opt", 64));
        assert_false(name_is_valid("a/b", 64));
        assert_false(name_is_valid("a\nb", 64));
        assert_false(name_is_valid("a b", 64));
        assert_false(name_is_valid("abcdef", 5));
        assert_false(name_is_valid(NULL, 5));
}

static void test_strscpy(void **state) {
        char buf[4];

        assert_string_equal(strscpy(buf, "abcdef", sizeof(buf)), "abc");
        assert_string_equal(strscpy(buf, "x", sizeof(buf)), "x");
        assert_true(startswith("CONNECT 5", "CONNECT "));
        assert_false(startswith("CONN", "CONNECT "));
}

static void test_format_bytes(void **state) {
        char buf[32];

        format_bytes(0, buf, sizeof(buf));
        assert_string_equal(buf, "0 B");
        format_bytes(1023, buf, sizeof(buf));
        assert_string_equal(buf, "1023 B");
        format_bytes(1536, buf, sizeof(buf));
        assert_string_equal(buf, "1.5 KiB");
        format_bytes(UINT64_C(169307142), buf, sizeof(buf));
        assert_string_equal(buf, "161.5 MiB");
        format_bytes(UINT64_MAX, buf, sizeof(buf));
        assert_string_equal(buf, "16777216.0 TiB");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format_bytes),  cmocka_unit_test(test_safe_atou64),
                cmocka_unit_test(test_safe_atou32),   cmocka_unit_test(test_safe_atoi),
                cmocka_unit_test(test_parse_size),    cmocka_unit_test(test_utf8),
                cmocka_unit_test(test_name_is_valid), cmocka_unit_test(test_strscpy),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "image-manifest.h"
#include "macro.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static const char good[] = "format 1\n"
                           "image_version 0.1.0+20261129\n"
                           "kernel_release 6.1.0-56-cloud-amd64\n"
                           "kernel_package linux-image-6.1.0-56-cloud-amd64 6.1.192-2\n"
                           "vmlinuz_sha256 " H64 "\n"
                           "initramfs_sha256 " H64 "\n"
                           "rootfs_sha256 " H64 "\n"
                           "rootfs_size 1052672\n"
                           "verity_algorithm sha256\n"
                           "verity_block_size 4096\n"
                           "verity_data_blocks 256\n"
                           "verity_hash_offset 1048576\n"
                           "verity_salt 00ff\n"
                           "verity_root_hash " H64 "\n";

static int parse(const char *s, char **err) {
        ImageManifest m;

        return image_manifest_parse(s, strlen(s), &m, err);
}

/* Replaces the first occurrence of from with to in good; returns a malloc'ed copy. */
static char *edit(const char *from, const char *to) {
        const char *p = strstr(good, from);
        char *s;

        assert_non_null(p);
        assert_true(asprintf(&s, "%.*s%s%s", (int) (p - good), good, to, p + strlen(from)) > 0);
        return s;
}

static void expect_error(const char *text, const char *needle) {
        _cleanup_free_ char *err = NULL;

        assert_true(parse(text, &err) < 0);
        assert_non_null(err);
        if (!strstr(err, needle))
                fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_parse_good(void **state) {
        _cleanup_free_ char *err = NULL, *cmdline = NULL;
        ImageManifest m;

        assert_int_equal(image_manifest_parse(good, strlen(good), &m, &err), 0);
        assert_null(err);
        assert_int_equal(m.format, 1);
        assert_string_equal(m.image_version, "0.1.0+20261129");
        assert_string_equal(m.kernel_release, "6.1.0-56-cloud-amd64");
        assert_string_equal(m.kernel_package, "linux-image-6.1.0-56-cloud-amd64 6.1.192-2");
        assert_int_equal(m.vmlinuz_sha256[0], 0x01);
        assert_int_equal(m.vmlinuz_sha256[31], 0xef);
        assert_true(m.rootfs_size == 1052672);
        assert_true(m.verity_data_blocks == 256);
        assert_int_equal(m.verity_salt_size, 2);
        assert_int_equal(m.verity_salt[1], 0xff);
        assert_int_equal(image_manifest_kernel_cmdline(&m, &cmdline), 0);
        assert_string_equal(
                cmdline, "bistro.roothash=" H64 " bistro.verity_blocks=256 bistro.verity_salt=00ff");
}

static void test_truncated(void **state) {
        _cleanup_free_ char *cut = strndup(good, strlen(good) - 10);
        size_t last_line = strlen(good) - strlen("verity_root_hash " H64 "\n");
        _cleanup_free_ char *lines = strndup(good, last_line);

        expect_error("", "truncated");
        expect_error(cut, "manifest: truncated");
        expect_error(lines, "no 'verity_root_hash' line");
}

static void test_bad_lines(void **state) {
        _cleanup_free_ char *a = edit("format 1", "format 2");
        _cleanup_free_ char *b = edit("rootfs_size", "rootfs_sizes");
        _cleanup_free_ char *c = edit("verity_salt 00ff", "verity_salt 00FF");
        _cleanup_free_ char *d = edit("rootfs_size 1052672", "rootfs_size 01052672");
        _cleanup_free_ char *e = edit("rootfs_size 1052672", "rootfs_size -1");
        _cleanup_free_ char *f = edit("verity_block_size 4096", "verity_block_size 512");
        _cleanup_free_ char *g = edit("verity_hash_offset 1048576", "verity_hash_offset 1048577");
        _cleanup_free_ char *h = edit("rootfs_size 1052672", "rootfs_size 1048576");
        _cleanup_free_ char *i = edit("image_version 0.1.0", "image_version 0.1 .0");
        _cleanup_free_ char *j = edit("verity_algorithm sha256", "verity_algorithm sha1");
        _cleanup_free_ char *k = edit("vmlinuz_sha256 0123", "vmlinuz_sha256 123");
        _cleanup_free_ char *l = edit("image_version 0.1.0", "image_version 0.1.0\t");
        _cleanup_free_ char *n = edit("rootfs_size 1052672", "rootfs_size 99999999999999999999999");
        _cleanup_free_ char *dup = NULL, *late = NULL, *big = NULL;

        expect_error(a, "unsupported format");
        expect_error(b, "unknown key 'rootfs_sizes'");
        expect_error(c, "invalid value for 'verity_salt'");
        expect_error(d, "invalid value for 'rootfs_size'");
        expect_error(e, "invalid value for 'rootfs_size'");
        expect_error(f, "unsupported verity_block_size");
        expect_error(g, "verity_hash_offset");
        expect_error(h, "no room for the hash tree");
        expect_error(i, "image_version");
        expect_error(j, "unsupported verity_algorithm");
        expect_error(k, "vmlinuz_sha256");
        expect_error(l, "control");
        expect_error(n, "rootfs_size");

        assert_true(asprintf(&dup, "%srootfs_size 1\n", good) > 0);
        expect_error(dup, "duplicate key 'rootfs_size'");
        assert_true(asprintf(&late, "image_version 1\n%s", good) > 0);
        expect_error(late, "'format' must come first");

        big = malloc(IMAGE_MANIFEST_MAX + 2);
        assert_non_null(big);
        memset(big, 'a', IMAGE_MANIFEST_MAX + 1);
        big[IMAGE_MANIFEST_MAX] = '\n';
        big[IMAGE_MANIFEST_MAX + 1] = 0;
        expect_error(big, "larger than");
}

static void test_embedded_nul(void **state) {
        _cleanup_free_ char *err = NULL;
        char buf[sizeof(good)];
        ImageManifest m;

        memcpy(buf, good, sizeof(good));
        buf[3] = 0;
        assert_true(image_manifest_parse(buf, sizeof(good) - 1, &m, &err) < 0);
        assert_non_null(err);
}

static void test_keys_and_signatures(void **state) {
        _cleanup_free_ char *err = NULL, *line = NULL, *sigline = NULL;
        uint8_t pk[32];
        ImageKey key, again;
        ImageSignature sig = {}, sig2;

        for (size_t i = 0; i < sizeof(pk); i++)
                pk[i] = (uint8_t) i;
        assert_int_equal(image_key_from_public(pk, &key), 0);
        assert_int_equal(strlen(key.id), IMAGE_KEY_ID_LEN);
        assert_int_equal(image_key_format(&key, &line), 0);
        assert_int_equal(image_key_parse(line, strlen(line), &again, &err), 0);
        assert_memory_equal(again.public_key, pk, 32);
        assert_string_equal(again.id, key.id);

        assert_true(image_key_parse("ed25519 00\n", 11, &again, &err) < 0);
        line[strlen(line) - 1] = ' '; /* no final newline */
        assert_true(image_key_parse(line, strlen(line), &again, &err) < 0);

        memcpy(sig.key_id, key.id, sizeof(sig.key_id));
        memset(sig.signature, 0xab, sizeof(sig.signature));
        assert_int_equal(image_signature_format(&sig, &sigline), 0);
        assert_int_equal(image_signature_parse(sigline, strlen(sigline), &sig2, &err), 0);
        assert_string_equal(sig2.key_id, key.id);
        assert_memory_equal(sig2.signature, sig.signature, 64);

        free(err);
        err = NULL;
        assert_true(image_signature_parse(sigline, strlen(sigline) - 1, &sig2, &err) < 0);
        assert_non_null(strstr(err, "manifest.sig: truncated"));
        sigline[10] = 'X';
        assert_true(image_signature_parse(sigline, strlen(sigline), &sig2, &err) < 0);
        assert_non_null(strstr(err, "malformed"));
}

static void test_hex(void **state) {
        uint8_t b[2];
        char s[5];

        assert_int_equal(image_unhex("a0ff", 4, b, 2), 0);
        assert_int_equal(b[0], 0xa0);
        image_hex(b, 2, s);
        assert_string_equal(s, "a0ff");
        assert_true(image_unhex("a0f", 3, b, 2) < 0);
        assert_true(image_unhex("a0fg", 4, b, 2) < 0);
        assert_true(image_unhex("A0FF", 4, b, 2) < 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse_good),          cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_bad_lines),           cmocka_unit_test(test_embedded_nul),
                cmocka_unit_test(test_keys_and_signatures), cmocka_unit_test(test_hex),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "fd-util.h"
#include "image-verify.h"
#include "macro.h"

typedef struct Fixture {
        char dir[64];
        char img[128];
        uint8_t secret[64];
        ImageKey key;
        char *manifest;
} Fixture;

static void path(const Fixture *f, const char *name, char *buf, size_t size) {
        snprintf(buf, size, "%s/%s", f->img, name);
}

static void write_bytes(const Fixture *f, const char *name, const void *data, size_t size) {
        char p[256];
        int fd;

        path(f, name, p, sizeof(p));
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(loop_write(fd, data, size), 0);
        close(fd);
}

static void sha_hex(const void *data, size_t size, char out[65]) {
        uint8_t h[32];

        crypto_hash_sha256(h, data, size);
        image_hex(h, 32, out);
}

static void sign_manifest(Fixture *f, const char *text) {
        _cleanup_free_ char *line = NULL;
        ImageSignature sig;

        write_bytes(f, "manifest", text, strlen(text));
        assert_int_equal(image_sign(f->secret, &f->key, text, strlen(text), &sig), 0);
        assert_int_equal(image_signature_format(&sig, &line), 0);
        write_bytes(f, "manifest.sig", line, strlen(line));
}

static int setup(void **state) {
        Fixture *f = calloc(1, sizeof(Fixture));
        char sk[256], pk[256], a[65], b[65], c[65];
        uint8_t kernel[5000], initrd[3000], rootfs[8192 + 4096];
        _cleanup_free_ char *err = NULL;

        assert_non_null(f);
        strcpy(f->dir, "/tmp/test-image-verify.XXXXXX");
        assert_non_null(mkdtemp(f->dir));
        snprintf(f->img, sizeof(f->img), "%s/img", f->dir);
        assert_int_equal(mkdir(f->img, 0755), 0);
        snprintf(sk, sizeof(sk), "%s/secret.key", f->dir);
        snprintf(pk, sizeof(pk), "%s/public.pub", f->dir);
        assert_int_equal(image_secret_key_generate(sk, pk, &err), 0);
        assert_int_equal(image_secret_key_load(sk, f->secret, &f->key, &err), 0);

        randombytes_buf(kernel, sizeof(kernel));
        randombytes_buf(initrd, sizeof(initrd));
        randombytes_buf(rootfs, sizeof(rootfs));
        write_bytes(f, "vmlinuz", kernel, sizeof(kernel));
        write_bytes(f, "initramfs.img", initrd, sizeof(initrd));
        write_bytes(f, "rootfs.img", rootfs, sizeof(rootfs));
        sha_hex(kernel, sizeof(kernel), a);
        sha_hex(initrd, sizeof(initrd), b);
        sha_hex(rootfs, sizeof(rootfs), c);
        assert_true(
                asprintf(
                        &f->manifest,
                        "format 1\nimage_version test\nkernel_release 6.1.0-test\n"
                        "kernel_package linux-image-test 1\nvmlinuz_sha256 %s\ninitramfs_sha256 %s\n"
                        "rootfs_sha256 %s\nrootfs_size %zu\nverity_algorithm sha256\n"
                        "verity_block_size 4096\nverity_data_blocks 2\nverity_hash_offset 8192\n"
                        "verity_salt ab\nverity_root_hash %s\n",
                        a, b, c, sizeof(rootfs), c) > 0);
        sign_manifest(f, f->manifest);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        Fixture *f = *state;
        char cmd[128];

        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
        assert_int_equal(system(cmd), 0);
        free(f->manifest);
        free(f);
        return 0;
}

static void expect_refused(const Fixture *f, const ImageKey *keys, size_t n, const char *needle) {
        _cleanup_free_ char *err = NULL;
        ImageManifest m;

        assert_true(image_verify(f->img, keys, n, &m, &err) < 0);
        assert_non_null(err);
        if (!strstr(err, needle))
                fail_msg("error '%s' does not mention '%s'", err, needle);
}

static void test_good(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *err = NULL;
        ImageManifest m;

        assert_int_equal(image_verify(f->img, &f->key, 1, &m, &err), 0);
        assert_null(err);
        assert_string_equal(m.image_version, "test");
}

static void test_flipped_byte(void **state) {
        Fixture *f = *state;
        char p[256];
        uint8_t b;
        int fd;

        path(f, "rootfs.img", p, sizeof(p));
        fd = open(p, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &b, 1, 5000), 1);
        b ^= 0x01;
        assert_int_equal(pwrite(fd, &b, 1, 5000), 1);
        close(fd);
        expect_refused(f, &f->key, 1, "rootfs.img: sha256 mismatch");

        write_bytes(f, "initramfs.img", "x", 1);
        expect_refused(f, &f->key, 1, "initramfs.img: sha256 mismatch");
}

static void test_rootfs_size(void **state) {
        Fixture *f = *state;
        char p[256];

        path(f, "rootfs.img", p, sizeof(p));
        assert_int_equal(truncate(p, 4096), 0);
        expect_refused(f, &f->key, 1, "rootfs.img: size 4096 bytes, manifest says 12288");
}

static void test_wrong_key(void **state) {
        Fixture *f = *state;
        uint8_t pk[32], sk[64];
        ImageKey other;

        crypto_sign_keypair(pk, sk);
        image_key_from_public(pk, &other);
        expect_refused(f, &other, 1, "which is not trusted");
        expect_refused(f, NULL, 0, "no trusted image keys");
}

static void test_wrong_signature(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *line = NULL;
        ImageSignature sig;

        assert_int_equal(image_sign(f->secret, &f->key, "something else", 14, &sig), 0);
        assert_int_equal(image_signature_format(&sig, &line), 0);
        write_bytes(f, "manifest.sig", line, strlen(line));
        expect_refused(f, &f->key, 1, "manifest: signature does not verify with trusted key");
}

static void test_edited_manifest(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *edited = strdup(f->manifest);

        /* Valid syntax, old signature. */
        edited[strlen("format 1\nimage_version ")] = 'b';
        write_bytes(f, "manifest", edited, strlen(edited));
        expect_refused(f, &f->key, 1, "signature does not verify");
}

static void test_truncated_manifest(void **state) {
        Fixture *f = *state;

        write_bytes(f, "manifest", f->manifest, strlen(f->manifest) - 20);
        expect_refused(f, &f->key, 1, "manifest: truncated");
        write_bytes(f, "manifest.sig", "ed25519 00", 10);
        write_bytes(f, "manifest", f->manifest, strlen(f->manifest));
        expect_refused(f, &f->key, 1, "manifest.sig: truncated");
}

static void test_not_regular(void **state) {
        Fixture *f = *state;
        char p[256];

        path(f, "vmlinuz", p, sizeof(p));
        assert_int_equal(unlink(p), 0);
        assert_int_equal(symlink("/etc/passwd", p), 0);
        expect_refused(f, &f->key, 1, "vmlinuz: cannot open");
        assert_int_equal(unlink(p), 0);
        assert_int_equal(mkfifo(p, 0600), 0);
        expect_refused(f, &f->key, 1, "vmlinuz: cannot open: not a regular file");
        assert_int_equal(unlink(p), 0);
        expect_refused(f, &f->key, 1, "vmlinuz: cannot open");
}

static void test_keys(void **state) {
        Fixture *f = *state;
        _cleanup_free_ ImageKey *keys = NULL;
        _cleanup_free_ char *err = NULL;
        char sk[256], pk[256], d[256];
        struct stat st;
        size_t n;

        snprintf(sk, sizeof(sk), "%s/secret.key", f->dir);
        snprintf(pk, sizeof(pk), "%s/public.pub", f->dir);
        assert_int_equal(stat(sk, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        /* Never overwrites a key. */
        assert_true(image_secret_key_generate(sk, pk, &err) < 0);
        assert_int_equal(chmod(sk, 0644), 0);
        assert_true(image_secret_key_load(sk, f->secret, &f->key, &err) < 0);
        assert_non_null(strstr(err, "accessible by others"));

        assert_int_equal(image_keys_load_dir(f->dir, &keys, &n, &err), 0);
        assert_int_equal(n, 1);
        assert_string_equal(keys[0].id, f->key.id);
        free(keys);
        keys = NULL;
        snprintf(d, sizeof(d), "%s/none", f->dir);
        assert_int_equal(image_keys_load_dir(d, &keys, &n, &err), 0);
        assert_int_equal(n, 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_good, setup, teardown),
                cmocka_unit_test_setup_teardown(test_flipped_byte, setup, teardown),
                cmocka_unit_test_setup_teardown(test_rootfs_size, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_key, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_signature, setup, teardown),
                cmocka_unit_test_setup_teardown(test_edited_manifest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_truncated_manifest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_regular, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
        };
        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}

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

#define H63 "000000000000000000000000000000000000000000000000000000000000000"

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

/* Limits and near misses: a comparison that looks at only part of a digest, signature or key
 * must fail these. */

/* Replaces the 64 hex digits after "key " in the fixture's manifest, re-signs it. */
static void set_digest_hex(Fixture *f, const char *key, size_t byte, uint8_t xor_mask) {
        _cleanup_free_ char *text = strdup(f->manifest);
        char find[64], *p;
        uint8_t d[32];

        assert_non_null(text);
        snprintf(find, sizeof(find), "\n%s ", key);
        p = strstr(text, find);
        assert_non_null(p);
        p += strlen(find);
        assert_int_equal(image_unhex(p, 64, d, 32), 0);
        d[byte] ^= xor_mask;
        {
                char hex[65];
                image_hex(d, 32, hex);
                memcpy(p, hex, 64);
        }
        sign_manifest(f, text);
}

static void test_digest_first_and_last_byte(void **state) {
        Fixture *f = *state;
        static const struct {
                const char *key, *file;
        } files[] = {
                { "vmlinuz_sha256", "vmlinuz" },
                { "initramfs_sha256", "initramfs.img" },
                { "rootfs_sha256", "rootfs.img" },
        };

        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                char want[64];

                snprintf(want, sizeof(want), "%s: sha256 mismatch", files[i].file);
                /* The manifest's digest differs from the file's only in its last byte (one bit),
                 * then only in its first. Signed correctly: only the digest check can refuse. */
                set_digest_hex(f, files[i].key, 31, 0x01);
                expect_refused(f, &f->key, 1, want);
                set_digest_hex(f, files[i].key, 0, 0x80);
                expect_refused(f, &f->key, 1, want);
        }
        sign_manifest(f, f->manifest);
        {
                _cleanup_free_ char *err = NULL;
                ImageManifest m;
                assert_int_equal(image_verify(f->img, &f->key, 1, &m, &err), 0);
        }
}

static void flip_file_byte(const Fixture *f, const char *name, off_t off_from_end_or_start, bool from_end) {
        char p[256];
        struct stat st;
        uint8_t b;
        int fd;

        path(f, name, p, sizeof(p));
        fd = open(p, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        off_t off = from_end ? st.st_size - 1 - off_from_end_or_start : off_from_end_or_start;
        assert_int_equal(pread(fd, &b, 1, off), 1);
        b ^= 0x01;
        assert_int_equal(pwrite(fd, &b, 1, off), 1);
        close(fd);
}

static void test_file_first_and_last_byte(void **state) {
        Fixture *f = *state;
        static const char *const names[] = { "vmlinuz", "initramfs.img", "rootfs.img" };

        /* The last byte of each file is hashed too (a read loop that drops a tail fails this). */
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                char want[64];

                snprintf(want, sizeof(want), "%s: sha256 mismatch", names[i]);
                flip_file_byte(f, names[i], 0, true);
                expect_refused(f, &f->key, 1, want);
                flip_file_byte(f, names[i], 0, true);
                flip_file_byte(f, names[i], 0, false);
                expect_refused(f, &f->key, 1, want);
                flip_file_byte(f, names[i], 0, false);
        }
        {
                _cleanup_free_ char *err = NULL;
                ImageManifest m;
                assert_int_equal(image_verify(f->img, &f->key, 1, &m, &err), 0);
        }
}

static void write_signature_with(Fixture *f, size_t byte, uint8_t xor_mask) {
        _cleanup_free_ char *line = NULL;
        ImageSignature sig;

        assert_int_equal(image_sign(f->secret, &f->key, f->manifest, strlen(f->manifest), &sig), 0);
        sig.signature[byte] ^= xor_mask;
        assert_int_equal(image_signature_format(&sig, &line), 0);
        write_bytes(f, "manifest.sig", line, strlen(line));
}

static void test_signature_first_and_last_byte(void **state) {
        Fixture *f = *state;

        write_signature_with(f, 63, 0x01);
        expect_refused(f, &f->key, 1, "signature does not verify");
        write_signature_with(f, 0, 0x01);
        expect_refused(f, &f->key, 1, "signature does not verify");
        write_signature_with(f, 32, 0x01); /* the start of S, after R */
        expect_refused(f, &f->key, 1, "signature does not verify");
        write_signature_with(f, 0, 0);
        {
                _cleanup_free_ char *err = NULL;
                ImageManifest m;
                assert_int_equal(image_verify(f->img, &f->key, 1, &m, &err), 0);
        }
}

static void test_manifest_last_byte(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *edited = strdup(f->manifest);
        size_t n = strlen(edited);

        /* The last hex digit of the last line (before its newline): still a valid manifest, but
         * not the one that was signed. */
        assert_int_equal(edited[n - 1], '\n');
        edited[n - 2] = edited[n - 2] == '0' ? '1' : '0';
        write_bytes(f, "manifest", edited, n);
        expect_refused(f, &f->key, 1, "signature does not verify");
        /* And the first byte that can change without breaking the syntax: "format 1" stays,
         * the image_version's first character changes. */
        memcpy(edited, f->manifest, n);
        edited[strlen("format 1\nimage_version ")] ^= 0x01;
        write_bytes(f, "manifest", edited, n);
        expect_refused(f, &f->key, 1, "signature does not verify");
}

static void test_key_near_misses(void **state) {
        Fixture *f = *state;
        ImageKey k[2];

        /* A trusted key whose id differs only in its last character, then only in its first. */
        k[0] = f->key;
        k[0].id[IMAGE_KEY_ID_LEN - 1] = k[0].id[IMAGE_KEY_ID_LEN - 1] == '0' ? '1' : '0';
        expect_refused(f, k, 1, "which is not trusted");
        k[0] = f->key;
        k[0].id[0] = k[0].id[0] == '0' ? '1' : '0';
        expect_refused(f, k, 1, "which is not trusted");

        /* The right id with a public key that differs only in its last byte, then its first. */
        k[0] = f->key;
        k[0].public_key[31] ^= 0x01;
        expect_refused(f, k, 1, "signature does not verify");
        k[0] = f->key;
        k[0].public_key[0] ^= 0x01;
        expect_refused(f, k, 1, "signature does not verify");

        /* The right key found after another one. */
        {
                uint8_t pk[32], sk[64];
                _cleanup_free_ char *err = NULL;
                ImageManifest m;

                crypto_sign_keypair(pk, sk);
                image_key_from_public(pk, &k[0]);
                k[1] = f->key;
                assert_int_equal(image_verify(f->img, k, 2, &m, &err), 0);
        }
}

static void test_size_limits(void **state) {
        Fixture *f = *state;
        _cleanup_free_ char *err = NULL, *big = NULL;
        char p[256];
        ImageManifest m;

        /* manifest: 4096 bytes are read (and then fail to parse), 4097 are too large. */
        big = malloc(IMAGE_MANIFEST_MAX + 1);
        assert_non_null(big);
        memset(big, 'x', IMAGE_MANIFEST_MAX + 1);
        big[IMAGE_MANIFEST_MAX - 1] = '\n';
        assert_true(image_manifest_parse(big, IMAGE_MANIFEST_MAX, &m, &err) < 0);
        assert_null(strstr(err, "larger than"));
        free(err);
        err = NULL;
        big[IMAGE_MANIFEST_MAX] = '\n';
        assert_int_equal(image_manifest_parse(big, IMAGE_MANIFEST_MAX + 1, &m, &err), -EFBIG);
        free(err);
        err = NULL;
        write_bytes(f, "manifest", big, IMAGE_MANIFEST_MAX);
        expect_refused(f, &f->key, 1, "manifest: line 1");
        write_bytes(f, "manifest", big, IMAGE_MANIFEST_MAX + 1);
        expect_refused(f, &f->key, 1, "manifest: larger than 4096 bytes");
        sign_manifest(f, f->manifest);

        /* manifest.sig: IMAGE_SIGNATURE_MAX bytes are read, one more is too large. */
        memset(big, ' ', IMAGE_SIGNATURE_MAX + 1);
        write_bytes(f, "manifest.sig", big, IMAGE_SIGNATURE_MAX);
        expect_refused(f, &f->key, 1, "manifest.sig");
        {
                char *e = NULL;
                assert_true(image_verify(f->img, &f->key, 1, &m, &e) < 0);
                assert_null(strstr(e, "larger than"));
                free(e);
        }
        write_bytes(f, "manifest.sig", big, IMAGE_SIGNATURE_MAX + 1);
        expect_refused(f, &f->key, 1, "manifest.sig: larger than 256 bytes");
        sign_manifest(f, f->manifest);

        /* vmlinuz: a sparse file of exactly IMAGE_KERNEL_MAX bytes is hashed (and matches when
         * the manifest says so); one byte more is refused before reading. */
        {
                static uint8_t zero[65536];
                crypto_hash_sha256_state h;
                uint8_t d[32];
                char hex[65];
                _cleanup_free_ char *text = strdup(f->manifest);
                char *q;

                crypto_hash_sha256_init(&h);
                for (uint64_t i = 0; i < IMAGE_KERNEL_MAX / sizeof(zero); i++)
                        crypto_hash_sha256_update(&h, zero, sizeof(zero));
                crypto_hash_sha256_final(&h, d);
                image_hex(d, 32, hex);
                q = strstr(text, "vmlinuz_sha256 ") + strlen("vmlinuz_sha256 ");
                memcpy(q, hex, 64);
                sign_manifest(f, text);
                path(f, "vmlinuz", p, sizeof(p));
                assert_int_equal(truncate(p, 0), 0);
                assert_int_equal(truncate(p, (off_t) IMAGE_KERNEL_MAX), 0);
                assert_int_equal(image_verify(f->img, &f->key, 1, &m, &err), 0);
                assert_int_equal(truncate(p, (off_t) IMAGE_KERNEL_MAX + 1), 0);
                expect_refused(f, &f->key, 1, "vmlinuz: larger than");
        }
}

static void test_manifest_field_limits(void **state) {
        Fixture *f = *state;
        char v65[66], v129[130], salt[2 * IMAGE_SALT_MAX + 3];
        ImageManifest m;

        /* Replaces "key value" in the fixture's manifest and parses the result. */
#define PARSE_WITH(key, value)                                                                            \
        ({                                                                                                \
                const char *_p = strstr(f->manifest, "\n" key " ") + strlen(key) + 2;                     \
                const char *_e = strchr(_p, '\n');                                                        \
                _cleanup_free_ char *_t = NULL, *_err = NULL;                                             \
                assert_true(                                                                              \
                        asprintf(&_t, "%.*s%s%s", (int) (_p - f->manifest), f->manifest, value, _e) > 0); \
                image_manifest_parse(_t, strlen(_t), &m, &_err);                                          \
        })

        memset(v65, 'v', 65);
        v65[64] = 0;
        assert_int_equal(PARSE_WITH("image_version", v65), 0);
        assert_int_equal(strlen(m.image_version), 64);
        assert_int_equal(PARSE_WITH("kernel_release", v65), 0);
        v65[64] = 'v';
        v65[65] = 0;
        assert_true(PARSE_WITH("image_version", v65) < 0);
        assert_true(PARSE_WITH("kernel_release", v65) < 0);
        memset(v129, 'k', 129);
        v129[128] = 0;
        assert_int_equal(PARSE_WITH("kernel_package", v129), 0);
        v129[128] = 'k';
        v129[129] = 0;
        assert_true(PARSE_WITH("kernel_package", v129) < 0);

        memset(salt, 'a', sizeof(salt));
        salt[2 * IMAGE_SALT_MAX] = 0;
        assert_int_equal(PARSE_WITH("verity_salt", salt), 0);
        assert_int_equal(m.verity_salt_size, IMAGE_SALT_MAX);
        salt[2 * IMAGE_SALT_MAX] = 'a';
        salt[2 * IMAGE_SALT_MAX + 1] = 'a';
        salt[2 * IMAGE_SALT_MAX + 2] = 0;
        assert_true(PARSE_WITH("verity_salt", salt) < 0);
        assert_true(PARSE_WITH("verity_salt", "abc") < 0);

        /* Digests: 64 hex digits exactly. */
        assert_true(PARSE_WITH("rootfs_sha256", H63) < 0);
        assert_true(PARSE_WITH("rootfs_sha256", H63 "00") < 0);
#undef PARSE_WITH
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
                cmocka_unit_test_setup_teardown(test_digest_first_and_last_byte, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_first_and_last_byte, setup, teardown),
                cmocka_unit_test_setup_teardown(test_signature_first_and_last_byte, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_last_byte, setup, teardown),
                cmocka_unit_test_setup_teardown(test_key_near_misses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_size_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_manifest_field_limits, setup, teardown),
        };
        if (sodium_init() < 0)
                return 1;
        return cmocka_run_group_tests(tests, NULL, NULL);
}

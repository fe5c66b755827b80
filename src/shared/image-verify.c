/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fd-util.h"
#include "image-verify.h"
#include "path-util.h"
#include "macro.h"
#include "string-util.h"

static int sodium_ready(void) {
        return sodium_init() < 0 ? -EIO : 0;
}

/* Opens a regular file without following a final symlink or blocking on a FIFO. */
static int open_regular(int dirfd, const char *name, struct stat *st) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NOFOLLOW | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, st) < 0)
                return -errno;
        if (!S_ISREG(st->st_mode))
                return -EBADFD;
        return TAKE_FD(fd);
}

static const char *why(int r) {
        return r == -EBADFD ? "not a regular file" : strerror(-r);
}

/* Reads a whole small file, at most max bytes; *ret is NUL-terminated. */
static int read_small(
        int dirfd, const char *name, size_t max, char **ret, size_t *ret_size, char **reterr_message) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *buf = NULL;
        struct stat st;
        ssize_t n;

        fd = open_regular(dirfd, name, &st);
        if (fd < 0)
                return set_error_message(reterr_message, fd, "%s: cannot open: %s", name, why(fd));
        if ((uint64_t) st.st_size > max)
                return set_error_message(reterr_message, -EFBIG, "%s: larger than %zu bytes", name, max);
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        n = loop_read(fd, buf, max + 1);
        if (n < 0)
                return set_error_message(
                        reterr_message, (int) n, "%s: read error: %s", name, strerror((int) -n));
        if ((size_t) n > max)
                return set_error_message(reterr_message, -EFBIG, "%s: larger than %zu bytes", name, max);
        buf[n] = 0;
        *ret = TAKE_PTR(buf);
        *ret_size = (size_t) n;
        return 0;
}

static int hash_file(
        int dirfd,
        const char *name,
        uint64_t max,
        const uint64_t *want_size,
        const uint8_t want[32],
        char **reterr_message) {
        _cleanup_close_ int fd = -EBADF;
        crypto_hash_sha256_state h;
        uint8_t digest[32], buf[65536];
        uint64_t total = 0;
        struct stat st;

        fd = open_regular(dirfd, name, &st);
        if (fd < 0)
                return set_error_message(reterr_message, fd, "%s: cannot open: %s", name, why(fd));
        if (want_size && (uint64_t) st.st_size != *want_size)
                return set_error_message(
                        reterr_message, -EBADMSG, "%s: size %" PRIu64 " bytes, manifest says %" PRIu64, name,
                        (uint64_t) st.st_size, *want_size);
        if ((uint64_t) st.st_size > max)
                return set_error_message(
                        reterr_message, -EFBIG, "%s: larger than %" PRIu64 " bytes", name, max);
        crypto_hash_sha256_init(&h);
        for (;;) {
                ssize_t n = loop_read(fd, buf, sizeof(buf));

                if (n < 0)
                        return set_error_message(
                                reterr_message, (int) n, "%s: read error: %s", name, strerror((int) -n));
                if (n == 0)
                        break;
                total += (uint64_t) n;
                if (total > max)
                        return set_error_message(
                                reterr_message, -EFBIG, "%s: larger than %" PRIu64 " bytes", name, max);
                crypto_hash_sha256_update(&h, buf, (unsigned long long) n);
        }
        if (want_size && total != *want_size)
                return set_error_message(reterr_message, -EBADMSG, "%s: size changed while reading", name);
        crypto_hash_sha256_final(&h, digest);
        if (sodium_memcmp(digest, want, 32) != 0)
                return set_error_message(reterr_message, -EBADMSG, "%s: sha256 mismatch", name);
        return 0;
}

int image_trusted_keys_dir(char **ret) {
        const char *cfg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
        char *s;

        if (cfg && cfg[0] == '/')
                s = path_join(cfg, "bistro/trusted-image-keys");
        else if (home && home[0] == '/')
                s = path_join(home, ".config/bistro/trusted-image-keys");
        else
                return -ENXIO;
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int image_key_load(const char *path, ImageKey *ret, char **reterr_message) {
        _cleanup_free_ char *data = NULL, *err = NULL;
        size_t size;
        int r;

        if (!path || !ret)
                return -EINVAL;
        r = sodium_ready();
        if (r < 0)
                return set_error_message(reterr_message, r, "libsodium failed to initialize");
        r = read_small(AT_FDCWD, path, IMAGE_KEY_FILE_MAX, &data, &size, reterr_message);
        if (r < 0)
                return r;
        r = image_key_parse(data, size, ret, &err);
        if (r < 0)
                return set_error_message(reterr_message, r, "%s: %s", path, err ? err : "bad key");
        return 0;
}

int image_keys_load_dir(const char *dir, ImageKey **ret, size_t *ret_n, char **reterr_message) {
        _cleanup_free_ ImageKey *keys = NULL;
        struct dirent **names = NULL;
        size_t n = 0;
        int count, r = 0;

        if (!dir || !ret || !ret_n)
                return -EINVAL;
        count = scandir(dir, &names, NULL, alphasort);
        if (count < 0) {
                if (errno == ENOENT) {
                        *ret = NULL;
                        *ret_n = 0;
                        return 0;
                }
                return set_error_message(reterr_message, -errno, "%s: %m", dir);
        }
        keys = calloc(IMAGE_TRUSTED_KEYS_MAX, sizeof(ImageKey));
        if (!keys)
                r = -ENOMEM;
        for (int i = 0; i < count; i++) {
                const char *d = names[i]->d_name;
                size_t l = strlen(d);

                if (r >= 0 && d[0] != '.' && l > 4 && streq(d + l - 4, ".pub")) {
                        _cleanup_free_ char *p = NULL;

                        if (n >= IMAGE_TRUSTED_KEYS_MAX)
                                r = set_error_message(
                                        reterr_message, -E2BIG, "%s: more than %d keys", dir,
                                        IMAGE_TRUSTED_KEYS_MAX);
                        else if (!(p = path_join(dir, d)))
                                r = -ENOMEM;
                        else {
                                r = image_key_load(p, &keys[n], reterr_message);
                                if (r >= 0)
                                        n++;
                        }
                }
                free(names[i]);
        }
        free(names);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(keys);
        *ret_n = n;
        return 0;
}

static int write_new_file(const char *path, const char *data, mode_t mode, bool exclusive) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | (exclusive ? O_EXCL : O_TRUNC), mode);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, data, strlen(data));
        if (r < 0)
                return r;
        if (fsync(fd) < 0)
                return -errno;
        return 0;
}

int image_secret_key_generate(const char *secret_path, const char *public_path, char **reterr_message) {
        uint8_t pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES], seed[crypto_sign_SEEDBYTES];
        char hex[2 * crypto_sign_SEEDBYTES + 1], line[128];
        _cleanup_free_ char *pub = NULL;
        ImageKey key;
        int r;

        if (!secret_path || !public_path)
                return -EINVAL;
        r = sodium_ready();
        if (r < 0)
                return set_error_message(reterr_message, r, "libsodium failed to initialize");
        crypto_sign_keypair(pk, sk);
        crypto_sign_ed25519_sk_to_seed(seed, sk);
        image_hex(seed, sizeof(seed), hex);
        snprintf(line, sizeof(line), "ed25519-secret %s\n", hex);
        r = write_new_file(secret_path, line, 0600, true);
        sodium_memzero(line, sizeof(line));
        sodium_memzero(hex, sizeof(hex));
        sodium_memzero(seed, sizeof(seed));
        sodium_memzero(sk, sizeof(sk));
        if (r < 0)
                return set_error_message(
                        reterr_message, r, "%s: cannot create: %s", secret_path, strerror(-r));
        image_key_from_public(pk, &key);
        r = image_key_format(&key, &pub);
        if (r < 0)
                return r;
        r = write_new_file(public_path, pub, 0644, false);
        if (r < 0)
                return set_error_message(
                        reterr_message, r, "%s: cannot write: %s", public_path, strerror(-r));
        return 0;
}

int image_secret_key_load(
        const char *path, uint8_t secret[64], ImageKey *ret_public, char **reterr_message) {
        _cleanup_free_ char *data = NULL;
        uint8_t seed[32], pk[32];
        struct stat st;
        size_t size;
        int r;

        if (!path || !secret || !ret_public)
                return -EINVAL;
        r = sodium_ready();
        if (r < 0)
                return set_error_message(reterr_message, r, "libsodium failed to initialize");
        if (stat(path, &st) < 0)
                return set_error_message(reterr_message, -errno, "%s: %m", path);
        if (st.st_mode & 0077)
                return set_error_message(
                        reterr_message, -EPERM, "%s: secret key is accessible by others (chmod 600)", path);
        r = read_small(AT_FDCWD, path, IMAGE_KEY_FILE_MAX, &data, &size, reterr_message);
        if (r < 0)
                return r;
        if (size != strlen("ed25519-secret ") + 64 + 1 || !startswith(data, "ed25519-secret ") ||
            data[size - 1] != '\n' || image_unhex(data + 15, 64, seed, sizeof(seed)) < 0) {
                sodium_memzero(data, size);
                return set_error_message(
                        reterr_message, -EBADMSG,
                        "%s: not an Ed25519 secret key ('ed25519-secret <64 hex>')", path);
        }
        sodium_memzero(data, size);
        crypto_sign_seed_keypair(pk, secret, seed);
        sodium_memzero(seed, sizeof(seed));
        return image_key_from_public(pk, ret_public);
}

int image_sign(
        const uint8_t secret[64],
        const ImageKey *public_key,
        const void *data,
        size_t size,
        ImageSignature *ret) {
        if (!secret || !public_key || (!data && size) || !ret)
                return -EINVAL;
        if (sodium_ready() < 0)
                return -EIO;
        if (crypto_sign_detached(ret->signature, NULL, data, size, secret) != 0)
                return -EIO;
        memcpy(ret->key_id, public_key->id, sizeof(ret->key_id));
        return 0;
}

int image_verify(
        const char *dir, const ImageKey *keys, size_t n_keys, ImageManifest *ret, char **reterr_message) {
        _cleanup_free_ char *manifest = NULL, *sigtext = NULL;
        _cleanup_close_ int dfd = -EBADF;
        const ImageKey *key = NULL;
        ImageSignature sig;
        ImageManifest m;
        size_t msize, ssize;
        int r;

        if (!dir || (!keys && n_keys))
                return -EINVAL;
        r = sodium_ready();
        if (r < 0)
                return set_error_message(reterr_message, r, "libsodium failed to initialize");
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return set_error_message(reterr_message, -errno, "%s: %m", dir);

        r = read_small(dfd, "manifest", IMAGE_MANIFEST_MAX, &manifest, &msize, reterr_message);
        if (r < 0)
                return r;
        r = image_manifest_parse(manifest, msize, &m, reterr_message);
        if (r < 0)
                return r;

        r = read_small(dfd, "manifest.sig", IMAGE_SIGNATURE_MAX, &sigtext, &ssize, reterr_message);
        if (r < 0)
                return r;
        r = image_signature_parse(sigtext, ssize, &sig, reterr_message);
        if (r < 0)
                return r;
        if (n_keys == 0)
                return set_error_message(
                        reterr_message, -ENOKEY, "manifest: no trusted image keys (signed by key %s)",
                        sig.key_id);
        for (size_t i = 0; i < n_keys; i++)
                if (streq(keys[i].id, sig.key_id)) {
                        key = &keys[i];
                        break;
                }
        if (!key)
                return set_error_message(
                        reterr_message, -EKEYREJECTED,
                        "manifest: signed by key %s, which is not trusted (trusted: %s%s)", sig.key_id,
                        keys[0].id, n_keys > 1 ? ", ..." : "");
        if (crypto_sign_verify_detached(
                    sig.signature, (const unsigned char *) manifest, msize, key->public_key) != 0)
                return set_error_message(
                        reterr_message, -EKEYREJECTED,
                        "manifest: signature does not verify with trusted key %s", key->id);

        /* Only now is the manifest trusted; its digests protect the rest. */
        r = hash_file(dfd, "vmlinuz", IMAGE_KERNEL_MAX, NULL, m.vmlinuz_sha256, reterr_message);
        if (r < 0)
                return r;
        r = hash_file(dfd, "initramfs.img", IMAGE_INITRAMFS_MAX, NULL, m.initramfs_sha256, reterr_message);
        if (r < 0)
                return r;
        r = hash_file(dfd, "rootfs.img", IMAGE_ROOTFS_MAX, &m.rootfs_size, m.rootfs_sha256, reterr_message);
        if (r < 0)
                return r;
        if (ret)
                *ret = m;
        return 0;
}

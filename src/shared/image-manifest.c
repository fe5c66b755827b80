/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "image-manifest.h"
#include "macro.h"
#include "string-util.h"

int image_unhex(const char *s, size_t len, uint8_t *ret, size_t size) {
        if (len != 2 * size)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                int v;

                if (c >= '0' && c <= '9')
                        v = c - '0';
                else if (c >= 'a' && c <= 'f')
                        v = c - 'a' + 10;
                else
                        return -EINVAL;
                if (i % 2 == 0)
                        ret[i / 2] = (uint8_t) (v << 4);
                else
                        ret[i / 2] |= (uint8_t) v;
        }
        return 0;
}

void image_hex(const uint8_t *data, size_t size, char *ret) {
        static const char digits[] = "0123456789abcdef";

        for (size_t i = 0; i < size; i++) {
                ret[2 * i] = digits[data[i] >> 4];
                ret[2 * i + 1] = digits[data[i] & 15];
        }
        ret[2 * size] = 0;
}

/* Strict decimal: no sign, no leading zeros, no spaces. */
static int parse_u64(const char *s, size_t len, uint64_t *ret) {
        uint64_t v = 0;

        if (len == 0 || len > 20 || (len > 1 && s[0] == '0'))
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                if (v > (UINT64_MAX - (uint64_t) (s[i] - '0')) / 10)
                        return -ERANGE;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        *ret = v;
        return 0;
}

/* A version or release: one token of [A-Za-z0-9.+~_:-]. */
static bool token_ok(const char *s, size_t len, size_t max, bool allow_space) {
        if (len == 0 || len > max)
                return false;
        for (size_t i = 0; i < len; i++) {
                char c = s[i];
                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      strchr(".+~_:-", c) || (allow_space && c == ' ' && i > 0 && i + 1 < len)))
                        return false;
        }
        return true;
}

enum {
        K_FORMAT,
        K_IMAGE_VERSION,
        K_KERNEL_RELEASE,
        K_KERNEL_PACKAGE,
        K_VMLINUZ_SHA256,
        K_INITRAMFS_SHA256,
        K_ROOTFS_SHA256,
        K_ROOTFS_SIZE,
        K_VERITY_ALGORITHM,
        K_VERITY_BLOCK_SIZE,
        K_VERITY_DATA_BLOCKS,
        K_VERITY_HASH_OFFSET,
        K_VERITY_SALT,
        K_VERITY_ROOT_HASH,
        _K_MAX,
};

static const char *const keys[_K_MAX] = {
        [K_FORMAT] = "format",
        [K_IMAGE_VERSION] = "image_version",
        [K_KERNEL_RELEASE] = "kernel_release",
        [K_KERNEL_PACKAGE] = "kernel_package",
        [K_VMLINUZ_SHA256] = "vmlinuz_sha256",
        [K_INITRAMFS_SHA256] = "initramfs_sha256",
        [K_ROOTFS_SHA256] = "rootfs_sha256",
        [K_ROOTFS_SIZE] = "rootfs_size",
        [K_VERITY_ALGORITHM] = "verity_algorithm",
        [K_VERITY_BLOCK_SIZE] = "verity_block_size",
        [K_VERITY_DATA_BLOCKS] = "verity_data_blocks",
        [K_VERITY_HASH_OFFSET] = "verity_hash_offset",
        [K_VERITY_SALT] = "verity_salt",
        [K_VERITY_ROOT_HASH] = "verity_root_hash",
};

static int parse_value(ImageManifest *m, int k, const char *v, size_t len) {
        uint64_t u;

        switch (k) {
        case K_FORMAT:
                if (parse_u64(v, len, &u) < 0 || u != 1)
                        return -EPROTONOSUPPORT;
                m->format = 1;
                return 0;
        case K_IMAGE_VERSION:
        case K_KERNEL_RELEASE:
        case K_KERNEL_PACKAGE: {
                char *dst = k == K_IMAGE_VERSION    ? m->image_version
                            : k == K_KERNEL_RELEASE ? m->kernel_release
                                                    : m->kernel_package;
                size_t max =
                        k == K_KERNEL_PACKAGE ? sizeof(m->kernel_package) - 1 : sizeof(m->image_version) - 1;

                if (!token_ok(v, len, max, k == K_KERNEL_PACKAGE))
                        return -EINVAL;
                memcpy(dst, v, len);
                dst[len] = 0;
                return 0;
        }
        case K_VMLINUZ_SHA256:
                return image_unhex(v, len, m->vmlinuz_sha256, 32);
        case K_INITRAMFS_SHA256:
                return image_unhex(v, len, m->initramfs_sha256, 32);
        case K_ROOTFS_SHA256:
                return image_unhex(v, len, m->rootfs_sha256, 32);
        case K_VERITY_ROOT_HASH:
                return image_unhex(v, len, m->verity_root_hash, 32);
        case K_ROOTFS_SIZE:
                if (parse_u64(v, len, &u) < 0 || u == 0 || u > IMAGE_ROOTFS_MAX)
                        return -EINVAL;
                m->rootfs_size = u;
                return 0;
        case K_VERITY_ALGORITHM:
                return len == 6 && memcmp(v, "sha256", 6) == 0 ? 0 : -EPROTONOSUPPORT;
        case K_VERITY_BLOCK_SIZE:
                if (parse_u64(v, len, &u) < 0 || u != 4096)
                        return -EPROTONOSUPPORT;
                m->verity_block_size = 4096;
                return 0;
        case K_VERITY_DATA_BLOCKS:
                if (parse_u64(v, len, &u) < 0 || u == 0 || u > IMAGE_ROOTFS_MAX / 4096)
                        return -EINVAL;
                m->verity_data_blocks = u;
                return 0;
        case K_VERITY_HASH_OFFSET:
                if (parse_u64(v, len, &u) < 0 || u == 0 || u > IMAGE_ROOTFS_MAX)
                        return -EINVAL;
                m->verity_hash_offset = u;
                return 0;
        case K_VERITY_SALT:
                if (len % 2 || len / 2 > IMAGE_SALT_MAX)
                        return -EINVAL;
                m->verity_salt_size = len / 2;
                return image_unhex(v, len, m->verity_salt, len / 2);
        }
        return -EINVAL;
}

int image_manifest_parse(const char *data, size_t size, ImageManifest *ret, char **reterr_message) {
        ImageManifest m = {};
        bool seen[_K_MAX] = {};
        size_t pos = 0;
        unsigned line = 0;

        if (!data || !ret)
                return -EINVAL;
        if (size > IMAGE_MANIFEST_MAX)
                return set_error_message(
                        reterr_message, -EFBIG, "manifest: larger than %d bytes", IMAGE_MANIFEST_MAX);
        if (size == 0)
                return set_error_message(reterr_message, -EBADMSG, "manifest: truncated (empty)");
        if (data[size - 1] != '\n')
                return set_error_message(
                        reterr_message, -EBADMSG, "manifest: truncated (last line has no newline)");

        while (pos < size) {
                const char *l = data + pos, *nl, *sp;
                size_t len, klen;
                int k, r;

                line++;
                nl = memchr(l, '\n', size - pos);
                len = (size_t) (nl - l);
                pos += len + 1;
                for (size_t i = 0; i < len; i++)
                        if ((unsigned char) l[i] < 0x20 || (unsigned char) l[i] > 0x7e)
                                return set_error_message(
                                        reterr_message, -EBADMSG,
                                        "manifest: line %u: control or non-ASCII character", line);
                sp = memchr(l, ' ', len);
                if (!sp)
                        return set_error_message(
                                reterr_message, -EBADMSG, "manifest: line %u: expected 'key value'", line);
                klen = (size_t) (sp - l);
                for (k = 0; k < _K_MAX; k++)
                        if (strlen(keys[k]) == klen && memcmp(keys[k], l, klen) == 0)
                                break;
                if (k == _K_MAX)
                        return set_error_message(
                                reterr_message, -EBADMSG, "manifest: line %u: unknown key '%.*s'", line,
                                (int) MIN(klen, (size_t) 32), l);
                if (seen[k])
                        return set_error_message(
                                reterr_message, -EBADMSG, "manifest: line %u: duplicate key '%s'", line,
                                keys[k]);
                seen[k] = true;
                if (k != K_FORMAT && !seen[K_FORMAT])
                        return set_error_message(
                                reterr_message, -EBADMSG, "manifest: line %u: 'format' must come first",
                                line);
                r = parse_value(&m, k, sp + 1, len - klen - 1);
                if (r == -EPROTONOSUPPORT)
                        return set_error_message(
                                reterr_message, r, "manifest: line %u: unsupported %s '%.*s'", line, keys[k],
                                (int) MIN(len - klen - 1, (size_t) 32), sp + 1);
                if (r < 0)
                        return set_error_message(
                                reterr_message, -EBADMSG, "manifest: line %u: invalid value for '%s'", line,
                                keys[k]);
        }
        for (int k = 0; k < _K_MAX; k++)
                if (!seen[k])
                        return set_error_message(
                                reterr_message, -EBADMSG, "manifest: truncated or incomplete (no '%s' line)",
                                keys[k]);

        /* The verity layout must describe the file: data blocks, then the hash tree right after. */
        if (m.verity_hash_offset != m.verity_data_blocks * m.verity_block_size)
                return set_error_message(
                        reterr_message, -EBADMSG,
                        "manifest: verity_hash_offset is not verity_data_blocks * %" PRIu32,
                        m.verity_block_size);
        if (m.rootfs_size <= m.verity_hash_offset)
                return set_error_message(
                        reterr_message, -EBADMSG, "manifest: rootfs_size leaves no room for the hash tree");

        *ret = m;
        return 0;
}

int image_manifest_kernel_cmdline(const ImageManifest *m, char **ret) {
        char root[65], salt[2 * IMAGE_SALT_MAX + 1];
        char *s;

        if (!m || !ret || m->verity_salt_size > IMAGE_SALT_MAX)
                return -EINVAL;
        image_hex(m->verity_root_hash, 32, root);
        image_hex(m->verity_salt, m->verity_salt_size, salt);
        if (asprintf(
                    &s, "bistro.roothash=%s bistro.verity_blocks=%" PRIu64 " bistro.verity_salt=%s", root,
                    m->verity_data_blocks, salt) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* One line "<word> <hex>\n" (or "<word> <id> <hex>\n" with id_len > 0), nothing else. */
static int parse_key_line(
        const char *data,
        size_t size,
        const char *word,
        size_t id_len,
        char *id,
        uint8_t *bin,
        size_t bin_size) {
        size_t wl = strlen(word), need = wl + 1 + (id_len ? id_len + 1 : 0) + 2 * bin_size + 1;
        const char *p = data;

        if (size != need || data[size - 1] != '\n')
                return -EBADMSG;
        if (memcmp(p, word, wl) != 0 || p[wl] != ' ')
                return -EBADMSG;
        p += wl + 1;
        if (id_len) {
                uint8_t tmp[IMAGE_KEY_ID_LEN / 2];

                if (id_len != IMAGE_KEY_ID_LEN || p[id_len] != ' ' ||
                    image_unhex(p, id_len, tmp, sizeof(tmp)) < 0)
                        return -EBADMSG;
                memcpy(id, p, id_len);
                id[id_len] = 0;
                p += id_len + 1;
        }
        if (image_unhex(p, 2 * bin_size, bin, bin_size) < 0)
                return -EBADMSG;
        return 0;
}

int image_key_from_public(const uint8_t public_key[32], ImageKey *ret) {
        uint8_t h[crypto_hash_sha256_BYTES];

        if (!public_key || !ret)
                return -EINVAL;
        memcpy(ret->public_key, public_key, 32);
        crypto_hash_sha256(h, public_key, 32);
        image_hex(h, IMAGE_KEY_ID_LEN / 2, ret->id);
        return 0;
}

int image_key_parse(const char *data, size_t size, ImageKey *ret, char **reterr_message) {
        uint8_t pk[32];

        if (!data || !ret)
                return -EINVAL;
        if (parse_key_line(data, size, "ed25519", 0, NULL, pk, sizeof(pk)) < 0)
                return set_error_message(
                        reterr_message, -EBADMSG,
                        "not an Ed25519 public key line ('ed25519 <64 hex digits>')");
        return image_key_from_public(pk, ret);
}

int image_key_format(const ImageKey *key, char **ret) {
        char hex[65];
        char *s;

        if (!key || !ret)
                return -EINVAL;
        image_hex(key->public_key, 32, hex);
        if (asprintf(&s, "ed25519 %s\n", hex) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int image_signature_parse(const char *data, size_t size, ImageSignature *ret, char **reterr_message) {
        if (!data || !ret)
                return -EINVAL;
        if (size > IMAGE_SIGNATURE_MAX)
                return set_error_message(
                        reterr_message, -EFBIG, "manifest.sig: larger than %d bytes", IMAGE_SIGNATURE_MAX);
        if (size == 0 || data[size - 1] != '\n')
                return set_error_message(reterr_message, -EBADMSG, "manifest.sig: truncated");
        if (parse_key_line(
                    data, size, "ed25519", IMAGE_KEY_ID_LEN, ret->key_id, ret->signature,
                    sizeof(ret->signature)) < 0)
                return set_error_message(
                        reterr_message, -EBADMSG,
                        "manifest.sig: malformed (expected 'ed25519 <key id> <signature>')");
        return 0;
}

int image_signature_format(const ImageSignature *sig, char **ret) {
        char hex[129];
        char *s;

        if (!sig || !ret)
                return -EINVAL;
        image_hex(sig->signature, 64, hex);
        if (asprintf(&s, "ed25519 %s %s\n", sig->key_id, hex) < 0)
                return -ENOMEM;
        *ret = s;
        return 0;
}

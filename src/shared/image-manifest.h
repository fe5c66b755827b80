/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The Termina image manifest, its Ed25519 signature and public keys: strict parsers for files a
 * user or an attacker may have edited, and the formatter the image builder's signer uses.
 *
 * manifest:      "key value\n" lines, every known key exactly once, nothing else (see
 *                docs/design/termina.md). At most IMAGE_MANIFEST_MAX bytes.
 * manifest.sig:  "ed25519 <key id: 16 hex> <signature: 128 hex>\n"
 * *.pub:         "ed25519 <public key: 64 hex>\n"
 * secret key:    "ed25519-secret <seed: 64 hex>\n" (mode 0600)
 * A key id is the first 8 bytes of sha256(public key), in hex.
 *
 * Functions that can fail on bad input return a negative errno and, when reterr_message is not NULL, a
 * malloc'ed message naming the file and what is wrong ("manifest: line 3: ..."). */

#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "string-util.h"

#define IMAGE_MANIFEST_MAX 4096
#define IMAGE_SIGNATURE_MAX 256
#define IMAGE_KEY_FILE_MAX 256
#define IMAGE_ROOTFS_MAX (UINT64_C(4) << 30)
#define IMAGE_KERNEL_MAX (UINT64_C(64) << 20)
#define IMAGE_INITRAMFS_MAX (UINT64_C(256) << 20)
#define IMAGE_SALT_MAX 128
#define IMAGE_KEY_ID_LEN 16

typedef struct ImageManifest {
        unsigned format;
        char image_version[65];
        char kernel_release[65];
        char kernel_package[129];
        uint8_t vmlinuz_sha256[32];
        uint8_t initramfs_sha256[32];
        uint8_t rootfs_sha256[32];
        uint64_t rootfs_size;
        uint32_t verity_block_size;
        uint64_t verity_data_blocks;
        uint64_t verity_hash_offset;
        uint8_t verity_salt[IMAGE_SALT_MAX];
        size_t verity_salt_size;
        uint8_t verity_root_hash[32];
} ImageManifest;

typedef struct ImageKey {
        uint8_t public_key[32];
        char id[IMAGE_KEY_ID_LEN + 1];
} ImageKey;

typedef struct ImageSignature {
        char key_id[IMAGE_KEY_ID_LEN + 1];
        uint8_t signature[64];
} ImageSignature;

int image_manifest_parse(const char *data, size_t size, ImageManifest *ret, char **reterr_message);
/* "bistro.roothash=... bistro.verity_blocks=... bistro.verity_salt=..." for stage 1. */
int image_manifest_kernel_cmdline(const ImageManifest *m, char **ret);

int image_key_parse(const char *data, size_t size, ImageKey *ret, char **reterr_message);
int image_key_from_public(const uint8_t public_key[32], ImageKey *ret);
int image_key_format(const ImageKey *key, char **ret);
int image_signature_parse(const char *data, size_t size, ImageSignature *ret, char **reterr_message);
int image_signature_format(const ImageSignature *sig, char **ret);

/* Lowercase hex, exactly 2*size digits; returns -EINVAL otherwise. */
int image_unhex(const char *s, size_t len, uint8_t *ret, size_t size);
void image_hex(const uint8_t *data, size_t size, char *ret);

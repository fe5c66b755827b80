/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Host-side checks of a Termina image directory before anything boots it: the manifest's Ed25519
 * signature against trusted public keys, then the size and sha256 of vmlinuz, initramfs.img and
 * rootfs.img. Also key generation and signing for the image builder (bistro-image).
 *
 * Callers link libsodium (meson: libsodium_dep). Errors: negative errno plus, when reterr_message is
 * not NULL, a malloc'ed message naming the file and the mismatch. */

#include <stddef.h>
#include <stdint.h>

#include "image-manifest.h"

#define IMAGE_TRUSTED_KEYS_MAX 64

/* ${XDG_CONFIG_HOME:-$HOME/.config}/bistro/trusted-image-keys, malloc'ed. */
int image_trusted_keys_dir(char **ret);
int image_key_load(const char *path, ImageKey *ret, char **reterr_message);
/* Every *.pub in dir; a missing or empty dir yields zero keys, not an error. */
int image_keys_load_dir(const char *dir, ImageKey **ret, size_t *ret_n, char **reterr_message);

/* Writes a new secret key (mode 0600, never overwrites) and its public key. */
int image_secret_key_generate(const char *secret_path, const char *public_path, char **reterr_message);
/* secret: libsodium's 64-byte Ed25519 secret key. */
int image_secret_key_load(const char *path, uint8_t secret[64], ImageKey *ret_public, char **reterr_message);
int image_sign(
        const uint8_t secret[64],
        const ImageKey *public_key,
        const void *data,
        size_t size,
        ImageSignature *ret);

/* Checks dir/manifest, dir/manifest.sig and the three files; fills ret on success. */
int image_verify(
        const char *dir, const ImageKey *keys, size_t n_keys, ImageManifest *ret, char **reterr_message);

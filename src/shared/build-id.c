/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "build-id.h"
#include "config.h"
#include "macro.h"
#include "path-lookup.h"
#include "path-util.h"

int build_id_of_file(const char *path, char **ret) {
        _cleanup_free_ char *canonical = NULL, *hex = NULL;
        crypto_generichash_state st;
        uint8_t digest[BUILD_ID_HEX_LEN / 2];
        char meta[96];
        struct stat s;

        canonical = realpath(path, NULL);
        if (!canonical)
                return -errno;
        if (stat(canonical, &s) < 0)
                return -errno;
        if (!S_ISREG(s.st_mode))
                return -ENOEXEC;
        hex = malloc(BUILD_ID_HEX_LEN + 1);
        if (!hex)
                return -ENOMEM;
        (void) snprintf(
                meta, sizeof(meta), "%lld %lld.%09ld", (long long) s.st_size, (long long) s.st_mtim.tv_sec,
                (long) s.st_mtim.tv_nsec);
        if (crypto_generichash_init(&st, NULL, 0, sizeof(digest)) < 0)
                return -EIO;
        /* NUL separators: no two different (version, path, meta) triples hash the same input. */
        (void) crypto_generichash_update(&st, (const uint8_t *) BISTRO_VERSION, strlen(BISTRO_VERSION) + 1);
        (void) crypto_generichash_update(&st, (const uint8_t *) canonical, strlen(canonical) + 1);
        (void) crypto_generichash_update(&st, (const uint8_t *) meta, strlen(meta) + 1);
        (void) crypto_generichash_final(&st, digest, sizeof(digest));
        for (size_t i = 0; i < sizeof(digest); i++)
                (void) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
        *ret = TAKE_PTR(hex);
        return 0;
}

int build_id_self(char **ret) {
        _cleanup_free_ char *self = NULL;
        int r;

        r = self_exe_path(&self);
        if (r < 0)
                return r;
        return build_id_of_file(self, ret);
}

int build_id_concierge(char **ret, char **ret_path) {
        _cleanup_free_ char *path = NULL, *id = NULL;
        int r;

        r = bistro_find_program("concierge", "BISTRO_CONCIERGE", &path);
        if (r < 0)
                return r;
        r = build_id_of_file(path, &id);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(id);
        if (ret_path)
                *ret_path = TAKE_PTR(path);
        return 0;
}

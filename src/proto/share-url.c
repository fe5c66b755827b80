/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "macro.h"
#include "proto-validate.h"
#include "share-url.h"
#include "url-util.h"

int share_url_from_path(const char *path, char **ret) {
        const char *rest;
        char *enc, *url;
        int n;

        if (strncmp(path, SHARE_MOUNT_DIR "/", strlen(SHARE_MOUNT_DIR "/")) != 0)
                return 0;
        rest = path + strlen(SHARE_MOUNT_DIR "/");
        if (rest[0] == '\0' || rest[0] == '/')
                return 0;
        n = url_encode_path(rest, &enc);
        if (n < 0)
                return n;
        if ((size_t) n + strlen(SHARE_URL_PREFIX) > PROTO_URL_MAX) {
                free(enc);
                return -E2BIG;
        }
        url = malloc(strlen(SHARE_URL_PREFIX) + (size_t) n + 1);
        if (!url) {
                free(enc);
                return -ENOMEM;
        }
        strcpy(url, SHARE_URL_PREFIX);
        strcat(url, enc);
        free(enc);
        *ret = url;
        return 1;
}

/* Every '/'-separated component of p is non-empty and neither "." nor "..". */
static bool components_ok(const char *p) {
        for (;;) {
                size_t k = strcspn(p, "/");

                if (k == 0 || (k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.'))
                        return false;
                if (p[k] == '\0')
                        return true;
                p += k + 1;
        }
}

int share_url_split(const char *url, char **ret_name, char **ret_rest) {
        _cleanup_free_ char *path = NULL;
        char *slash, *name, *rest;
        size_t n;
        int r;

        if (!url)
                return -EINVAL;
        n = strnlen(url, PROTO_URL_MAX + 1);
        if (n > PROTO_URL_MAX || strncmp(url, SHARE_URL_PREFIX, strlen(SHARE_URL_PREFIX)) != 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (url[i] <= 0x20 || url[i] >= 0x7F)
                        return -EINVAL;
        r = url_decode(url + strlen(SHARE_URL_PREFIX), n - strlen(SHARE_URL_PREFIX), &path);
        if (r < 0)
                return r;
        /* One trailing '/' (a directory) is fine; nothing else may be empty. */
        if (r > 0 && path[r - 1] == '/')
                path[r - 1] = '\0';
        if (!components_ok(path))
                return -EINVAL;
        slash = strchr(path, '/');
        if (slash)
                *slash = '\0';
        if (!proto_share_name_ok(path))
                return -EINVAL;
        name = strdup(path);
        rest = strdup(slash ? slash + 1 : "");
        if (!name || !rest) {
                free(name);
                free(rest);
                return -ENOMEM;
        }
        *ret_name = name;
        *ret_rest = rest;
        return 0;
}

bool share_url_ok(const char *url) {
        _cleanup_free_ char *name = NULL, *rest = NULL;

        return share_url_split(url, &name, &rest) == 0;
}

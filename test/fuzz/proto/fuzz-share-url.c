/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Share URLs as a container can send them (OpenUrl): whatever share_url_split() accepts must be a
 * valid share name and a path below it without "..", ".", empty components or NULs, and garcon's
 * encoding of that path must come back to the same split. */
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "fuzz.h"
#include "macro.h"
#include "proto-validate.h"
#include "share-url.h"

static void check_rest(const char *rest) {
        const char *p = rest;

        if (!rest[0])
                return;
        for (;;) {
                size_t k = strcspn(p, "/");

                if (k == 0 || (k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.'))
                        abort();
                if (!p[k])
                        return;
                p += k + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_free_ char *url = NULL, *name = NULL, *rest = NULL, *path = NULL, *again = NULL,
                            *name2 = NULL, *rest2 = NULL;

        url = malloc(size + 1);
        if (!url)
                return 0;
        memcpy(url, data, size);
        url[size] = 0;
        if (share_url_split(url, &name, &rest) < 0) {
                if (share_url_ok(url))
                        abort();
                return 0;
        }
        if (!proto_share_name_ok(name) || strchr(name, '/'))
                abort();
        check_rest(rest);
        if (asprintf(&path, SHARE_MOUNT_DIR "/%s%s%s", name, rest[0] ? "/" : "", rest) < 0)
                return 0;
        if (share_url_from_path(path, &again) == 1) {
                if (share_url_split(again, &name2, &rest2) < 0 || strcmp(name, name2) || strcmp(rest, rest2))
                        abort();
        }
        return 0;
}

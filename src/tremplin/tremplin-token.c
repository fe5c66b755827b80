/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "tremplin-layout.h"
#include "tremplin-token.h"

int token_write(const char *name, const char *token, uint32_t base) {
        char path[PATH_MAX];
        int r;

        r = mkdir_p(TOKEN_DIR, 0711);
        if (r < 0)
                return r;
        (void) snprintf(path, sizeof(path), TOKEN_DIR "/%s", name);
        /* Readable by every process of the container (garcon runs as its default user; the token names
         * the container, not a user in it), writable by none. No other container sees the file: it is
         * in the VM's /run, bound into this container alone. */
        return write_file_atomic_full(path, token, 0444, (uid_t) base, (gid_t) base);
}

void token_remove(const char *name) {
        char path[PATH_MAX];

        (void) snprintf(path, sizeof(path), TOKEN_DIR "/%s", name);
        (void) unlink(path);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "alloc-util.h"
#include "macro.h"

void *memdup(const void *p, size_t n) {
        void *q = malloc(n ?: 1);

        if (q && n)
                memcpy(q, p, n);
        return q;
}

char *memdup_str(const void *p, size_t n) {
        char *q;

        if (n == SIZE_MAX)
                return NULL;
        q = malloc(n + 1);
        if (!q)
                return NULL;
        if (n)
                memcpy(q, p, n);
        q[n] = 0;
        return q;
}

int free_and_strdup(char **dst, const char *src) {
        char *c = NULL;

        if (src) {
                c = strdup(src);
                if (!c)
                        return -ENOMEM;
        }
        free(*dst);
        *dst = c;
        return 0;
}

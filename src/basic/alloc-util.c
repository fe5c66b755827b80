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

/* The x* helpers below abort on OOM. They remain only until vmm and vsockd follow the -ENOMEM policy
 * of alloc-util.h; new code must not use them. */
void oom(const char *file, int line) {
        fprintf(stderr, "Out of memory at %s:%d\n", file, line);
        abort();
}

void *xmalloc(size_t n) {
        void *p = malloc(n ?: 1);
        if (!p)
                OOM();
        return p;
}

void *xcalloc(size_t n, size_t size) {
        void *p = calloc(n ?: 1, size ?: 1);
        if (!p)
                OOM();
        return p;
}

char *xstrdup(const char *s) {
        char *p = strdup(s);
        if (!p)
                OOM();
        return p;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "macro.h"

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

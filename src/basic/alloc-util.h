/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Allocation helpers. The OOM policy, one for every program: an allocation failure is -ENOMEM,
 * propagated like any other error and logged once at the program layer with log_oom(); nothing
 * aborts on OOM (a daemon serving several VMs must not die because one request was too big, and a
 * size that comes from a peer is bounded before it is allocated anyway). */

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* n * size, or SIZE_MAX-safe NULL with errno = ENOMEM on overflow. */
static inline void *malloc_multiply(size_t n, size_t size) {
        if (size && n > SIZE_MAX / size) {
                errno = ENOMEM;
                return NULL;
        }
        return malloc(n * size ?: 1);
}
static inline void *reallocarray_safe(void *p, size_t n, size_t size) {
        if (size && n > SIZE_MAX / size) {
                errno = ENOMEM;
                return NULL;
        }
        return realloc(p, n * size ?: 1);
}

/* "new" is C++'s operator to clang-format. */
/* clang-format off */
#define new(t, n) ((t *) malloc_multiply((n), sizeof(t)))
#define new0(t, n) ((t *) calloc((n) ?: 1, sizeof(t)))
/* clang-format on */

/* Copies p (n bytes) into a fresh buffer; NULL on OOM. */
/* Frees p and returns NULL, for `x = mfree(x);`. */
static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

void *memdup(const void *p, size_t n);
/* A NUL-terminated copy of the first n bytes of p. */
char *memdup_str(const void *p, size_t n);

/* strdup() into *dst, freeing what was there; -ENOMEM. NULL src stores NULL. */
int free_and_strdup(char **dst, const char *src);

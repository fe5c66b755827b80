/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"

uint8_t *buffer_reserve(Buffer *b, size_t n) {
        size_t need, a;
        uint8_t *p;

        /* No object may be larger than PTRDIFF_MAX (glibc's malloc() refuses it too). */
        if (n > PTRDIFF_MAX - b->size)
                return NULL;
        need = b->size + n;
        if (need <= b->allocated)
                return b->data + b->size;

        a = b->allocated ?: 256;
        while (a < need)
                a = a > PTRDIFF_MAX / 2 ? need : a * 2;
        p = realloc(b->data, a);
        if (!p)
                return NULL;
        b->data = p;
        b->allocated = a;
        return b->data + b->size;
}

int buffer_append(Buffer *b, const void *p, size_t n) {
        uint8_t *w;

        if (n == 0)
                return 0;
        w = buffer_reserve(b, n);
        if (!w)
                return -ENOMEM;
        memcpy(w, p, n);
        buffer_commit(b, n);
        return 0;
}

void buffer_consume(Buffer *b, size_t n) {
        if (n >= b->size) {
                b->size = 0;
                return;
        }
        memmove(b->data, b->data + n, b->size - n);
        b->size -= n;
}

void buffer_done(Buffer *b) {
        free(b->data);
        *b = (Buffer){};
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A growable byte buffer: bytes are appended at the end and consumed from the front. Used where
 * output of unknown size is produced piecewise (the Wayland filter's output, relay queues). */

#include <stddef.h>
#include <stdint.h>

typedef struct Buffer {
        uint8_t *data;
        size_t size;      /* bytes in use, from data[0] */
        size_t allocated; /* bytes allocated at data */
} Buffer;

/* Room for n more bytes after the ones in use; returns where they go, or NULL (-ENOMEM, also when
 * the total would exceed PTRDIFF_MAX). The bytes count only after buffer_commit(b, n). */
uint8_t *buffer_reserve(Buffer *b, size_t n);
static inline void buffer_commit(Buffer *b, size_t n) {
        b->size += n;
}
/* Appends n bytes; 0 or -ENOMEM (the buffer is unchanged then). */
int buffer_append(Buffer *b, const void *p, size_t n);
/* Drops the first n bytes (all of them when n >= size). */
void buffer_consume(Buffer *b, size_t n);
/* Frees the memory and leaves an empty buffer. */
void buffer_done(Buffer *b);

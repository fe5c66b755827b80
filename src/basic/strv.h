/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* NULL-terminated string vectors. */

/* A NULL-terminated vector of the arguments, on the stack (for execv() and friends). */
#define STRV_MAKE(...) ((char **) ((const char *[]){ __VA_ARGS__, NULL }))
char **strv_free(char **l);
static inline void strv_freep(char ***l) {
        strv_free(*l);
}
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
/* Appends a copy of s; -ENOMEM. */
int strv_extend(char ***l, const char *s);
/* Appends s and takes ownership of it (freed on failure too). */
int strv_consume(char ***l, char *s);
char **strv_copy_n(char *const *l, size_t n);
bool strv_contains(char *const *l, const char *s);

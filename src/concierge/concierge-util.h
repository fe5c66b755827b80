/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small helpers of concierge's own. */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "macro.h"

/* For a message that may be missing (an allocation failed): never print "(null)". */
static inline const char *strnull(const char *s) {
        return s ?: "(no details)";
}

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* *ret = a formatted, malloc'd string, or NULL on OOM (a message then goes missing, never a wrong
 * one). ret may be NULL: nothing is done. */
_printf_(2, 3) static inline void strprintf(char **ret, const char *format, ...) {
        va_list ap;

        if (!ret)
                return;
        va_start(ap, format);
        if (vasprintf(ret, format, ap) < 0)
                *ret = NULL;
        va_end(ap);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto-validate.h"
#include "tremplin-error.h"

char *error_text_sanitize(const char *s, size_t max) {
        char *out = strdup(s ?: "");

        if (out)
                proto_text_sanitize(out, max, true);
        return out;
}

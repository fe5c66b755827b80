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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* tremplin's one error form: a negative errno plus, where the user needs more, a message in
 * *reterr_message (malloc'd, set only on failure; the pointer may be NULL). The message travels
 * whole (up to ERROR_TEXT_MAX bytes) in the ErrorReply. */

#include <stddef.h>

#include "macro.h"
#include "string-util.h"

/* What an ErrorReply message may hold (PROTO_ERROR_MESSAGE_MAX). */
#define ERROR_TEXT_MAX 4096u

/* A copy of s fit for an ErrorReply: valid UTF-8 of at most max bytes, cut on a character
 * boundary; invalid UTF-8 bytes, C0 controls but '\n' and '\t', DEL and C1 controls (U+0080..U+009F)
 * each become one '?'. NULL on OOM. */
char *error_text_sanitize(const char *s, size_t max);

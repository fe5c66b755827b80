/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* JSON from an untrusted peer (QEMU's QMP, an image's metadata), on json-c: one strict parser for
 * every caller, so that none matches JSON as text. Does not log. */

#include <stddef.h>
#include <json-c/json.h>

/* Nesting depth json-c may build for one document. */
#define JSON_DEPTH_MAX 32

/* text[0..len) as one JSON object: -EBADMSG unless it is valid UTF-8 without NUL, at most max
 * bytes, strict JSON and exactly one object (whitespace around it is fine, nesting at most
 * JSON_DEPTH_MAX). *ret is owned by the caller (json_object_put()). */
int json_parse_object(const char *text, size_t len, size_t max, json_object **ret);

/* o's value when it is a JSON string without NUL (json-c keeps "\u0000" inside), else NULL. */
const char *json_string_no_nul(json_object *o);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>

#include "json-util.h"
#include "string-util.h"

int json_parse_object(const char *text, size_t len, size_t max, json_object **ret) {
        json_tokener *tok;
        json_object *o;
        size_t end;

        if (!text || len > max || len > INT32_MAX || memchr(text, '\0', len) || !utf8_is_valid_n(text, len))
                return -EBADMSG;
        tok = json_tokener_new_ex(JSON_DEPTH_MAX);
        if (!tok)
                return -ENOMEM;
        json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
        o = json_tokener_parse_ex(tok, text, (int) len);
        end = json_tokener_get_parse_end(tok);
        /* A complete value needs no more input: "continue" means the text is cut short. */
        if (!o || json_tokener_get_error(tok) != json_tokener_success) {
                json_tokener_free(tok);
                json_object_put(o);
                return -EBADMSG;
        }
        json_tokener_free(tok);
        for (; end < len; end++)
                if (!strchr(" \t\r\n", text[end])) {
                        json_object_put(o);
                        return -EBADMSG;
                }
        if (!json_object_is_type(o, json_type_object)) {
                json_object_put(o);
                return -EBADMSG;
        }
        *ret = o;
        return 0;
}

const char *json_string_no_nul(json_object *o) {
        const char *s;

        if (!o || !json_object_is_type(o, json_type_string))
                return NULL;
        s = json_object_get_string(o);
        if (!s || strlen(s) != (size_t) json_object_get_string_len(o))
                return NULL;
        return s;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "macro.h"
#include "proto-validate.h"

PROTO_VALIDATOR(validate_error_reply, Bistro__ErrorReply)
static int validate_error_reply_impl(const Bistro__ErrorReply *m) {
        PROTO_CHECK(m->error < 0 && m->error >= -4095);
        PROTO_CHECK(proto_text_ok(m->message, PROTO_ERROR_MESSAGE_MAX, true));
        return 0;
}

PROTO_VALIDATOR(validate_empty, Bistro__Empty)
static int validate_empty_impl(const Bistro__Empty *m) {
        return 0;
}

const MessageTypeInfo common_message_types[] = {
        { BISTRO__MESSAGE_TYPE__ERROR_REPLY, "ERROR_REPLY", &bistro__error_reply__descriptor,
          validate_error_reply, MESSAGE_KIND_RESPONSE, 8192 },
        { BISTRO__MESSAGE_TYPE__EMPTY, "EMPTY", &bistro__empty__descriptor, validate_empty,
          MESSAGE_KIND_RESPONSE, 1024 },
};
const size_t common_message_types_count = ELEMENTSOF(common_message_types);

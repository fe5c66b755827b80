/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QMP line reader and parser (qmp-client.h): concierge and vmm run them on what QEMU sends,
 * and QEMU runs the guest. The input is a byte stream as it would come from the socket; the first
 * byte picks the chunk size, so every split of the stream is reached. */

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "macro.h"
#include "proto-validate.h"
#include "qmp-client.h"

static void check_message(const char *line, size_t len) {
        QmpMessage m;

        if (qmp_message_parse(line, len, &m) < 0)
                return;
        switch (m.kind) {
        case QMP_KIND_GREETING:
                if (!m.value)
                        abort();
                break;
        case QMP_KIND_EVENT:
                if (!m.name || strlen(m.name) == 0 || strlen(m.name) > QMP_NAME_MAX)
                        abort();
                break;
        case QMP_KIND_ERROR: {
                char *s = strdup(m.desc);

                if (!m.name || !s)
                        abort();
                (void) qmp_error_class_to_errno(m.name);
                proto_text_sanitize(s, PROTO_ERROR_MESSAGE_MAX, true);
                if (!proto_text_ok(s, PROTO_ERROR_MESSAGE_MAX, true))
                        abort();
                free(s);
                break;
        }
        case QMP_KIND_RETURN:
                /* Serialising back must work on anything the parser built. */
                if (!json_object_to_json_string_ext(m.root, JSON_C_TO_STRING_PLAIN))
                        abort();
                break;
        default:
                abort();
        }
        qmp_message_done(&m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        QmpReader r = QMP_READER_INIT;
        size_t chunk, off = 1;

        if (size == 0)
                return 0;
        chunk = (data[0] & 0x3F) + 1;
        while (off < size) {
                size_t n, room;
                char *line, *p;
                int k;

                if (qmp_reader_space(&r, &p, &room) < 0)
                        abort();
                n = MIN(MIN(chunk, size - off), room);
                memcpy(p, data + off, n);
                qmp_reader_advance(&r, n);
                off += n;
                while ((k = qmp_reader_next(&r, &line, &n)) != 0) {
                        if (k < 0)
                                continue;
                        if (n > QMP_LINE_MAX || strlen(line) > n)
                                abort();
                        check_message(line, n);
                }
        }
        qmp_reader_done(&r);
        return 0;
}

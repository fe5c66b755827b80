/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "macro.h"
#include "message-type.h"

static const struct {
        const MessageTypeInfo *table;
        const size_t *count;
} tables[] = {
        { common_message_types, &common_message_types_count },
        { concierge_message_types, &concierge_message_types_count },
        { maitred_message_types, &maitred_message_types_count },
        { vsh_message_types, &vsh_message_types_count },
        { container_message_types, &container_message_types_count },
};

const MessageTypeInfo *message_type_lookup(uint32_t type) {
        for (size_t t = 0; t < ELEMENTSOF(tables); t++)
                for (size_t i = 0; i < *tables[t].count; i++)
                        if (tables[t].table[i].type == type)
                                return &tables[t].table[i];
        return NULL;
}

const char *message_type_to_string(uint32_t type) {
        const MessageTypeInfo *info = message_type_lookup(type);

        return info ? info->name : NULL;
}

int message_validate(uint32_t type, const ProtobufCMessage *m) {
        const MessageTypeInfo *info = message_type_lookup(type);

        if (!info || !m || m->descriptor != info->descriptor)
                return -EINVAL;
        return info->validate(m);
}

int wire_unpack(uint32_t type, const uint8_t *buf, size_t len, ProtobufCMessage **ret) {
        static const uint8_t empty[1];
        const MessageTypeInfo *info;
        ProtobufCMessage *m;
        int r;

        info = message_type_lookup(type);
        if (!info)
                return -EBADMSG;
        if (len > info->max_size)
                return -EMSGSIZE;

        m = protobuf_c_message_unpack(info->descriptor, NULL, len, buf ?: empty);
        if (!m)
                return -EBADMSG; /* protobuf-c does not tell garbage from ENOMEM */

        r = info->validate(m);
        if (r < 0) {
                message_free(m);
                return -EBADMSG;
        }
        *ret = m;
        return 0;
}

ProtobufCMessage *message_free(ProtobufCMessage *m) {
        if (m)
                protobuf_c_message_free_unpacked(m, NULL);
        return NULL;
}

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
        { ports_message_types, &ports_message_types_count },
        { tremplin_message_types, &tremplin_message_types_count },
        { cicerone_message_types, &cicerone_message_types_count },
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

uint32_t message_response_type(uint32_t request_type) {
        switch (request_type) {
        /* concierge */
        case BISTRO__MESSAGE_TYPE__START_VM_REQUEST:
        case BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST:
                return BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE;
        case BISTRO__MESSAGE_TYPE__LIST_VMS_REQUEST:
                return BISTRO__MESSAGE_TYPE__LIST_VMS_RESPONSE;
        case BISTRO__MESSAGE_TYPE__GET_VM_LOGS_REQUEST:
                return BISTRO__MESSAGE_TYPE__GET_VM_LOGS_RESPONSE;
        case BISTRO__MESSAGE_TYPE__CREATE_CONTAINER_REQUEST:
        case BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST:
                return BISTRO__MESSAGE_TYPE__CONTAINER_INFO_RESPONSE;
        case BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_REQUEST:
                return BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_RESPONSE;
        case BISTRO__MESSAGE_TYPE__GET_VERSION_REQUEST:
                return BISTRO__MESSAGE_TYPE__GET_VERSION_RESPONSE;
        case BISTRO__MESSAGE_TYPE__SHARE_PATH_REQUEST:
        case BISTRO__MESSAGE_TYPE__LIST_SHARES_REQUEST:
                return BISTRO__MESSAGE_TYPE__LIST_SHARES_RESPONSE;
        case BISTRO__MESSAGE_TYPE__UNSHARE_PATH_REQUEST:
        case BISTRO__MESSAGE_TYPE__EXIT_REQUEST:
        case BISTRO__MESSAGE_TYPE__STOP_VM_REQUEST:
        case BISTRO__MESSAGE_TYPE__DESTROY_VM_REQUEST:
        case BISTRO__MESSAGE_TYPE__EXPORT_VM_REQUEST:
        case BISTRO__MESSAGE_TYPE__IMPORT_VM_REQUEST:
        case BISTRO__MESSAGE_TYPE__RESIZE_VM_REQUEST:
        case BISTRO__MESSAGE_TYPE__SYNC_TIME_REQUEST:
        case BISTRO__MESSAGE_TYPE__STOP_CONTAINER_REQUEST:
        case BISTRO__MESSAGE_TYPE__DELETE_CONTAINER_REQUEST:
                return BISTRO__MESSAGE_TYPE__EMPTY;
        /* maitred and its StartupListener */
        case BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST:
                return BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_RESPONSE;
        case BISTRO__MESSAGE_TYPE__GET_KERNEL_VERSION_REQUEST:
                return BISTRO__MESSAGE_TYPE__GET_KERNEL_VERSION_RESPONSE;
        case BISTRO__MESSAGE_TYPE__CONFIGURE_NETWORK_REQUEST:
        case BISTRO__MESSAGE_TYPE__SET_TIME_REQUEST:
        case BISTRO__MESSAGE_TYPE__SET_TIMEZONE_REQUEST:
        case BISTRO__MESSAGE_TYPE__MOUNT_REQUEST:
        case BISTRO__MESSAGE_TYPE__SHUTDOWN_REQUEST:
        case BISTRO__MESSAGE_TYPE__VM_READY_REQUEST:
                return BISTRO__MESSAGE_TYPE__EMPTY;
        /* vshd */
        case BISTRO__MESSAGE_TYPE__SETUP_CONNECTION_REQUEST:
                return BISTRO__MESSAGE_TYPE__SETUP_CONNECTION_RESPONSE;
        /* ContainerListener and garcon */
        case BISTRO__MESSAGE_TYPE__CONTAINER_READY_REQUEST:
        case BISTRO__MESSAGE_TYPE__CONTAINER_SHUTDOWN_REQUEST:
        case BISTRO__MESSAGE_TYPE__OPEN_URL_REQUEST:
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_LIST_REQUEST:
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_ICONS_REQUEST:
        case BISTRO__MESSAGE_TYPE__LAUNCH_APPLICATION_REQUEST:
        case BISTRO__MESSAGE_TYPE__GARCON_OPEN_SFTP_REQUEST: /* then raw sftp */
        case BISTRO__MESSAGE_TYPE__WAYLAND_CONNECT_REQUEST:  /* then raw waypipe */
                return BISTRO__MESSAGE_TYPE__EMPTY;
        case BISTRO__MESSAGE_TYPE__GARCON_HELLO_REQUEST:
                return BISTRO__MESSAGE_TYPE__GARCON_HELLO_RESPONSE;
        /* cicerone's control socket */
        case BISTRO__MESSAGE_TYPE__CICERONE_VM_STARTED_REQUEST:
        case BISTRO__MESSAGE_TYPE__CICERONE_VM_STOPPED_REQUEST:
        case BISTRO__MESSAGE_TYPE__CICERONE_LAUNCH_APPLICATION_REQUEST:
        case BISTRO__MESSAGE_TYPE__CICERONE_OPEN_SFTP_REQUEST: /* with the sftp fd (SCM_RIGHTS) */
                return BISTRO__MESSAGE_TYPE__EMPTY;
        /* tremplin */
        case BISTRO__MESSAGE_TYPE__TREMPLIN_CREATE_CONTAINER_REQUEST:
        case BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST:
        case BISTRO__MESSAGE_TYPE__TREMPLIN_GET_CONTAINER_INFO_REQUEST:
                return BISTRO__MESSAGE_TYPE__TREMPLIN_CONTAINER_INFO_RESPONSE;
        case BISTRO__MESSAGE_TYPE__TREMPLIN_LIST_CONTAINERS_REQUEST:
                return BISTRO__MESSAGE_TYPE__TREMPLIN_LIST_CONTAINERS_RESPONSE;
        case BISTRO__MESSAGE_TYPE__TREMPLIN_STOP_CONTAINER_REQUEST:
        case BISTRO__MESSAGE_TYPE__TREMPLIN_DELETE_CONTAINER_REQUEST:
        case BISTRO__MESSAGE_TYPE__TREMPLIN_SET_TIMEZONE_REQUEST:
        case BISTRO__MESSAGE_TYPE__TREMPLIN_ADD_SHARE_REQUEST:
        case BISTRO__MESSAGE_TYPE__TREMPLIN_REMOVE_SHARE_REQUEST:
                return BISTRO__MESSAGE_TYPE__EMPTY;
        /* port forwarding: port-listener, chunneld, and concierge for vmc */
        case BISTRO__MESSAGE_TYPE__LIST_FORWARDS_REQUEST:
        case BISTRO__MESSAGE_TYPE__LIST_PORTS_REQUEST:
                return BISTRO__MESSAGE_TYPE__LIST_FORWARDS_RESPONSE;
        case BISTRO__MESSAGE_TYPE__WATCH_PORTS_REQUEST:
        case BISTRO__MESSAGE_TYPE__FORWARD_CONNECT_REQUEST:
        case BISTRO__MESSAGE_TYPE__ADD_FORWARD_REQUEST:
        case BISTRO__MESSAGE_TYPE__REMOVE_FORWARD_REQUEST:
        case BISTRO__MESSAGE_TYPE__PORT_FORWARD_REQUEST:
                return BISTRO__MESSAGE_TYPE__EMPTY;
        default:
                return BISTRO__MESSAGE_TYPE__MESSAGE_TYPE_INVALID;
        }
}

int message_validate(uint32_t type, const ProtobufCMessage *m) {
        const MessageTypeInfo *info = message_type_lookup(type);

        if (!info || !m || m->descriptor != info->descriptor)
                return -EINVAL;
        return info->validate(m);
}

static int read_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *ret) {
        uint64_t v = 0;

        for (unsigned shift = 0; shift < 64; shift += 7) {
                uint8_t b;

                if (*i >= n)
                        return -EBADMSG;
                b = p[(*i)++];
                v |= (uint64_t) (b & 0x7F) << shift;
                if (!(b & 0x80)) {
                        *ret = v;
                        return 0;
                }
        }
        return -EBADMSG;
}

/* protobuf-c allocates per element of a repeated field: 2 bytes on the wire can cost ~80 bytes of
 * heap. Walk the encoding first (the schema's nesting, no allocation) and refuse messages with
 * more than PROTO_FIELDS_MAX fields in all, which bounds that amplification. */
static int prescan(
        const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n, unsigned depth, size_t *budget) {
        size_t i = 0;
        int r;

        if (depth > 16)
                return -EBADMSG;
        while (i < n) {
                uint64_t tag, v;

                r = read_varint(p, n, &i, &tag);
                if (r < 0)
                        return r;
                /* Field 0 and numbers above 2^29-1 do not exist; protobuf-c accepts some spellings of
                 * them and then cannot read back what it writes. */
                if ((tag >> 3) == 0 || (tag >> 3) > 0x1FFFFFFF)
                        return -EBADMSG;
                if (*budget == 0)
                        return -EBADMSG;
                (*budget)--;
                switch (tag & 7) {
                case 0:
                        r = read_varint(p, n, &i, &v);
                        if (r < 0)
                                return r;
                        break;
                case 1:
                        if (n - i < 8)
                                return -EBADMSG;
                        i += 8;
                        break;
                case 5:
                        if (n - i < 4)
                                return -EBADMSG;
                        i += 4;
                        break;
                case 2: {
                        const ProtobufCFieldDescriptor *field;

                        r = read_varint(p, n, &i, &v);
                        if (r < 0)
                                return r;
                        if (v > n - i)
                                return -EBADMSG;
                        field = (tag >> 3) <= UINT32_MAX ? protobuf_c_message_descriptor_get_field(
                                                                   desc, (unsigned) (tag >> 3))
                                                         : NULL;
                        if (field && field->type == PROTOBUF_C_TYPE_MESSAGE) {
                                r = prescan(field->descriptor, p + i, (size_t) v, depth + 1, budget);
                                if (r < 0)
                                        return r;
                        }
                        i += (size_t) v;
                        break;
                }
                default: /* groups are not proto3 */
                        return -EBADMSG;
                }
        }
        return 0;
}

int wire_unpack(uint32_t type, const uint8_t *buf, size_t len, ProtobufCMessage **ret) {
        static const uint8_t empty[1];
        size_t budget = PROTO_FIELDS_MAX;
        const MessageTypeInfo *info;
        ProtobufCMessage *m;
        int r;

        info = message_type_lookup(type);
        if (!info)
                return -EBADMSG;
        if (len > info->max_size)
                return -EMSGSIZE;

        r = prescan(info->descriptor, buf ?: empty, len, 0, &budget);
        if (r < 0)
                return r;

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

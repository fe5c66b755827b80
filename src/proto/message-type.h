/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The table of every message type that may appear in a frame header (bistro.MessageType in
 * proto/common.proto): its protobuf-c descriptor, its validator, which frame kinds may carry it
 * and its size cap. The wire layer unpacks and validates any payload through it. */

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "cicerone.pb-c.h"
#include "common.pb-c.h"
#include "concierge.pb-c.h"
#include "container.pb-c.h"
#include "maitred.pb-c.h"
#include "ports.pb-c.h"
#include "tremplin.pb-c.h"
#include "vsh.pb-c.h"

/* Frame kinds; the frame header's flags field holds exactly one of them. */
#define MESSAGE_KIND_REQUEST 0x1u  /* expects exactly one RESPONSE with the same id */
#define MESSAGE_KIND_RESPONSE 0x2u /* answers the REQUEST with the same id */
#define MESSAGE_KIND_EVENT 0x4u    /* one-way; id is 0 or the request it relates to */
#define MESSAGE_KIND_MASK 0x7u

/* Hard cap of any payload; per-type caps in the table are lower. Checked before allocating. */
#define MESSAGE_SIZE_MAX (4u * 1024u * 1024u)

/* Field limits shared by the validators and by code that fills messages. */
#define PROTO_NAME_MAX 64u /* VM and container names */
#define PROTO_IMAGE_NAME_MAX 128u
#define PROTO_PATH_MAX 4095u
#define PROTO_ERROR_MESSAGE_MAX 4096u
#define PROTO_TOKEN_MIN 16u
#define PROTO_TOKEN_MAX 128u
#define PROTO_ARGV_MAX 256u
#define PROTO_ARG_MAX 4096u
#define PROTO_VSH_DATA_MAX (32u * 1024u)
#define PROTO_LIST_MAX 1024u
/* Fields (all nesting levels, repeated elements counted one by one) in one message: bounds the
 * heap protobuf-c allocates for a small, hostile payload. */
#define PROTO_FIELDS_MAX 65536u

typedef int (*MessageValidateFn)(const ProtobufCMessage *m);

typedef struct MessageTypeInfo {
        uint32_t type;
        const char *name;
        const ProtobufCMessageDescriptor *descriptor;
        /* Checks every field after unpack; returns 0 or -EBADMSG. Never crashes on any unpacked
         * message of the right descriptor. */
        MessageValidateFn validate;
        uint32_t kinds;    /* MESSAGE_KIND_* bits allowed for this type */
        uint32_t max_size; /* payload cap in bytes, <= MESSAGE_SIZE_MAX */
} MessageTypeInfo;

/* Per proto file tables, defined next to their validators. */
extern const MessageTypeInfo common_message_types[];
extern const size_t common_message_types_count;
extern const MessageTypeInfo concierge_message_types[];
extern const size_t concierge_message_types_count;
extern const MessageTypeInfo maitred_message_types[];
extern const size_t maitred_message_types_count;
extern const MessageTypeInfo vsh_message_types[];
extern const size_t vsh_message_types_count;
extern const MessageTypeInfo container_message_types[];
extern const size_t container_message_types_count;
extern const MessageTypeInfo tremplin_message_types[];
extern const size_t tremplin_message_types_count;
extern const MessageTypeInfo ports_message_types[];
extern const size_t ports_message_types_count;
extern const MessageTypeInfo cicerone_message_types[];
extern const size_t cicerone_message_types_count;

/* NULL for a type number nobody defined. */
const MessageTypeInfo *message_type_lookup(uint32_t type);
/* "START_VM_REQUEST" or NULL. */
const char *message_type_to_string(uint32_t type);
/* The type of the successful response to a request type, as each service's .proto documents it
 * ("-> EMPTY"); ERROR_REPLY can always answer too. BISTRO__MESSAGE_TYPE__MESSAGE_TYPE_INVALID (0)
 * for a type that is no request. Blocking callers pass it as the reply type they expect. */
uint32_t message_response_type(uint32_t request_type);

/* Validates an in-memory message of the given type (e.g. before sending it). Returns 0,
 * -EINVAL if type is unknown or m has another descriptor, -EBADMSG if a field is invalid. */
int message_validate(uint32_t type, const ProtobufCMessage *m);

/* Unpacks len bytes as a message of the given type and validates it. On success *ret owns the
 * message (free with message_free()). Returns -EBADMSG for an unknown type, undecodable bytes,
 * more than PROTO_FIELDS_MAX fields or an invalid field, -EMSGSIZE when len exceeds the type's cap, -ENOMEM.
 * Never crashes; does not log. */
int wire_unpack(uint32_t type, const uint8_t *buf, size_t len, ProtobufCMessage **ret);

/* Frees a message returned by wire_unpack(); NULL is fine. Returns NULL. */
ProtobufCMessage *message_free(ProtobufCMessage *m);
static inline void message_freep(ProtobufCMessage **m) {
        message_free(*m);
}
#define _cleanup_message_ __attribute__((cleanup(message_freep)))

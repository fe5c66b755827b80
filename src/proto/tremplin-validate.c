/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "macro.h"
#include "proto-validate.h"

#define UNPACKED_SIZE_MAX (UINT64_C(64) << 30)
#define IMAGE_CHUNK_MAX (64u * 1024u)
/* The uids a user tremplin creates may get: Debian's UID_MIN..UID_MAX (login.defs). */
#define TREMPLIN_USER_UID_MIN 1000u
#define TREMPLIN_USER_UID_END 60000u

static int container_info_validate(const Bistro__Tremplin__ContainerInfo *m) {
        PROTO_CHECK(m);
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(proto_enum_ok(&bistro__tremplin__container_state__descriptor, m->state));
        PROTO_CHECK(proto_image_name_ok(m->image));
        PROTO_CHECK(proto_ip_ok(m->ipv4_address, AF_INET, true));
        PROTO_CHECK(proto_ip_ok(m->ipv6_address, AF_INET6, true));
        PROTO_CHECK(m->init_pid >= 0);
        return 0;
}

PROTO_VALIDATOR(validate_create, Bistro__Tremplin__CreateContainerRequest)
static int validate_create_impl(const Bistro__Tremplin__CreateContainerRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(proto_image_name_ok(m->image));
        PROTO_CHECK(m->unpacked_size <= UNPACKED_SIZE_MAX);
        return 0;
}

PROTO_VALIDATOR(validate_image_chunk, Bistro__Tremplin__ImageChunk)
static int validate_image_chunk_impl(const Bistro__Tremplin__ImageChunk *m) {
        PROTO_CHECK(m->data.len <= IMAGE_CHUNK_MAX);
        PROTO_CHECK(m->data.len == 0 || m->data.data);
        return 0;
}

static int share_mount_validate(const Bistro__Tremplin__ShareMount *m) {
        PROTO_CHECK(m);
        PROTO_CHECK(proto_share_name_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_start, Bistro__Tremplin__StartContainerRequest)
static int validate_start_impl(const Bistro__Tremplin__StartContainerRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        PROTO_CHECK(m->n_shares <= PROTO_SHARES_MAX);
        for (size_t i = 0; i < m->n_shares; i++) {
                PROTO_CHECK(share_mount_validate(m->shares[i]) == 0);
                /* One mount per name: a second one would hide the first. */
                for (size_t j = 0; j < i; j++)
                        PROTO_CHECK(strcmp(m->shares[i]->name, m->shares[j]->name) != 0);
        }
        PROTO_CHECK(proto_token_ok(m->token));
        PROTO_CHECK(m->user && (m->user[0] == '\0' || proto_user_ok(m->user)));
        /* A uid only means something with a user; 0 is "the default". */
        PROTO_CHECK(
                m->uid == 0 ||
                (m->user[0] != '\0' && m->uid >= TREMPLIN_USER_UID_MIN && m->uid < TREMPLIN_USER_UID_END));
        return 0;
}

PROTO_VALIDATOR(validate_add_share, Bistro__Tremplin__AddShareRequest)
static int validate_add_share_impl(const Bistro__Tremplin__AddShareRequest *m) {
        PROTO_CHECK(proto_name_ok(m->container));
        return share_mount_validate(m->share);
}

PROTO_VALIDATOR(validate_remove_share, Bistro__Tremplin__RemoveShareRequest)
static int validate_remove_share_impl(const Bistro__Tremplin__RemoveShareRequest *m) {
        PROTO_CHECK(proto_name_ok(m->container));
        PROTO_CHECK(proto_share_name_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_stop, Bistro__Tremplin__StopContainerRequest)
static int validate_stop_impl(const Bistro__Tremplin__StopContainerRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_delete, Bistro__Tremplin__DeleteContainerRequest)
static int validate_delete_impl(const Bistro__Tremplin__DeleteContainerRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_get_info, Bistro__Tremplin__GetContainerInfoRequest)
static int validate_get_info_impl(const Bistro__Tremplin__GetContainerInfoRequest *m) {
        PROTO_CHECK(proto_name_ok(m->name));
        return 0;
}

PROTO_VALIDATOR(validate_list, Bistro__Tremplin__ListContainersRequest)
static int validate_list_impl(const Bistro__Tremplin__ListContainersRequest *m) {
        return 0;
}

#define TZIF_MAX (64u * 1024u)

PROTO_VALIDATOR(validate_set_timezone, Bistro__Tremplin__SetTimezoneRequest)
static int validate_set_timezone_impl(const Bistro__Tremplin__SetTimezoneRequest *m) {
        PROTO_CHECK(proto_timezone_ok(m->name));
        PROTO_CHECK(m->tzif.len <= TZIF_MAX);
        PROTO_CHECK(m->tzif.len == 0 || (m->tzif.len >= 44 && memcmp(m->tzif.data, "TZif", 4) == 0));
        return 0;
}

PROTO_VALIDATOR(validate_info_response, Bistro__Tremplin__ContainerInfoResponse)
static int validate_info_response_impl(const Bistro__Tremplin__ContainerInfoResponse *m) {
        PROTO_CHECK(!m->user_created || m->user_ready);
        return container_info_validate(m->container);
}

PROTO_VALIDATOR(validate_list_response, Bistro__Tremplin__ListContainersResponse)
static int validate_list_response_impl(const Bistro__Tremplin__ListContainersResponse *m) {
        PROTO_CHECK(m->n_containers <= PROTO_LIST_MAX);
        for (size_t i = 0; i < m->n_containers; i++)
                PROTO_CHECK(container_info_validate(m->containers[i]) == 0);
        return 0;
}

#define ENTRY(t, k, n, d, v) \
        { BISTRO__MESSAGE_TYPE__TREMPLIN_##t, "TREMPLIN_" #t, &bistro__tremplin__##d##__descriptor, v, k, n }

const MessageTypeInfo tremplin_message_types[] = {
        ENTRY(CREATE_CONTAINER_REQUEST,
              MESSAGE_KIND_REQUEST,
              4096,
              create_container_request,
              validate_create),
        /* 64 shares of 64-byte names fit. */
        ENTRY(START_CONTAINER_REQUEST, MESSAGE_KIND_REQUEST, 16384, start_container_request, validate_start),
        ENTRY(ADD_SHARE_REQUEST, MESSAGE_KIND_REQUEST, 4096, add_share_request, validate_add_share),
        ENTRY(REMOVE_SHARE_REQUEST, MESSAGE_KIND_REQUEST, 4096, remove_share_request, validate_remove_share),
        ENTRY(STOP_CONTAINER_REQUEST, MESSAGE_KIND_REQUEST, 4096, stop_container_request, validate_stop),
        ENTRY(DELETE_CONTAINER_REQUEST,
              MESSAGE_KIND_REQUEST,
              4096,
              delete_container_request,
              validate_delete),
        ENTRY(GET_CONTAINER_INFO_REQUEST,
              MESSAGE_KIND_REQUEST,
              4096,
              get_container_info_request,
              validate_get_info),
        ENTRY(LIST_CONTAINERS_REQUEST, MESSAGE_KIND_REQUEST, 4096, list_containers_request, validate_list),
        ENTRY(SET_TIMEZONE_REQUEST,
              MESSAGE_KIND_REQUEST,
              TZIF_MAX + 1024,
              set_timezone_request,
              validate_set_timezone),
        ENTRY(IMAGE_CHUNK, MESSAGE_KIND_EVENT, IMAGE_CHUNK_MAX + 64, image_chunk, validate_image_chunk),
        ENTRY(CONTAINER_INFO_RESPONSE,
              MESSAGE_KIND_RESPONSE,
              4096,
              container_info_response,
              validate_info_response),
        ENTRY(LIST_CONTAINERS_RESPONSE,
              MESSAGE_KIND_RESPONSE,
              PROTO_LIST_MAX * 512,
              list_containers_response,
              validate_list_response),
};
const size_t tremplin_message_types_count = ELEMENTSOF(tremplin_message_types);

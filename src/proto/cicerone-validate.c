/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cicerone's control socket (proto/cicerone.proto): only the user's own processes reach it, but it
 * is checked like every other socket. */
#include <errno.h>
#include <string.h>

#include "macro.h"
#include "proto-validate.h"
#include "string-util.h"

#define DESKTOP_ID_MAX 255u
#define URIS_MAX 64u
#define WAIT_MS_MAX 300000u

PROTO_VALIDATOR(validate_vm_started, Bistro__Cicerone__VmStartedRequest)
static int validate_vm_started_impl(const Bistro__Cicerone__VmStartedRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        PROTO_CHECK(m->n_shares <= PROTO_SHARES_MAX);
        for (size_t i = 0; i < m->n_shares; i++)
                PROTO_CHECK(proto_shared_dir_ok(m->shares[i]));
        return 0;
}

PROTO_VALIDATOR(validate_vm_stopped, Bistro__Cicerone__VmStoppedRequest)
static int validate_vm_stopped_impl(const Bistro__Cicerone__VmStoppedRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        return 0;
}

PROTO_VALIDATOR(validate_launch, Bistro__Cicerone__LaunchApplicationRequest)
static int validate_launch_impl(const Bistro__Cicerone__LaunchApplicationRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        PROTO_CHECK(proto_name_ok(m->container_name));
        PROTO_CHECK(name_is_valid(m->desktop_file_id, DESKTOP_ID_MAX));
        PROTO_CHECK(m->n_uris <= URIS_MAX);
        for (size_t i = 0; i < m->n_uris; i++)
                PROTO_CHECK(proto_url_ok(m->uris[i]));
        PROTO_CHECK(m->wait_ms <= WAIT_MS_MAX);
        return 0;
}

PROTO_VALIDATOR(validate_open_sftp, Bistro__Cicerone__OpenSftpRequest)
static int validate_open_sftp_impl(const Bistro__Cicerone__OpenSftpRequest *m) {
        PROTO_CHECK(proto_name_ok(m->vm_name));
        PROTO_CHECK(proto_name_ok(m->container_name));
        PROTO_CHECK(m->wait_ms <= WAIT_MS_MAX);
        return 0;
}

#define ENTRY(t, n, d, v)                                                                                 \
        {                                                                                                 \
                BISTRO__MESSAGE_TYPE__CICERONE_##t, "CICERONE_" #t, &bistro__cicerone__##d##__descriptor, \
                        v, MESSAGE_KIND_REQUEST, n                                                        \
        }

const MessageTypeInfo cicerone_message_types[] = {
        ENTRY(VM_STARTED_REQUEST,
              1024 + PROTO_SHARES_MAX * (PROTO_PATH_MAX + 256),
              vm_started_request,
              validate_vm_started),
        ENTRY(VM_STOPPED_REQUEST, 1024, vm_stopped_request, validate_vm_stopped),
        ENTRY(LAUNCH_APPLICATION_REQUEST, 1024 * 1024, launch_application_request, validate_launch),
        ENTRY(OPEN_SFTP_REQUEST, 1024, open_sftp_request, validate_open_sftp),
};
const size_t cicerone_message_types_count = ELEMENTSOF(cicerone_message_types);

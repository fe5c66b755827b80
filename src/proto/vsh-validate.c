/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>

#include "macro.h"
#include "proto-validate.h"

#define ENV_MAX 256u
#define WINDOW_MAX 1000u
#define ERROR_MAX 1024u

static bool window_ok(uint32_t rows, uint32_t cols) {
        return rows >= 1 && rows <= WINDOW_MAX && cols >= 1 && cols <= WINDOW_MAX;
}

static int data_validate(const Bistro__Vsh__DataMessage *m, bool from_host) {
        PROTO_CHECK(m);
        if (from_host)
                PROTO_CHECK(m->stream == BISTRO__VSH__STREAM__STREAM_STDIN);
        else
                PROTO_CHECK(
                        m->stream == BISTRO__VSH__STREAM__STREAM_STDOUT ||
                        m->stream == BISTRO__VSH__STREAM__STREAM_STDERR);
        PROTO_CHECK(m->data.len <= PROTO_VSH_DATA_MAX);
        PROTO_CHECK(m->data.len == 0 || m->data.data);
        return 0;
}

PROTO_VALIDATOR(validate_setup_connection, Bistro__Vsh__SetupConnectionRequest)
static int validate_setup_connection_impl(const Bistro__Vsh__SetupConnectionRequest *m) {
        PROTO_CHECK(m->container && (m->container[0] == '\0' || proto_name_ok(m->container)));
        PROTO_CHECK(m->user && (m->user[0] == '\0' || proto_user_ok(m->user)));
        PROTO_CHECK(m->cwd && (m->cwd[0] == '\0' || proto_abs_path_ok(m->cwd, false)));
        PROTO_CHECK(proto_argv_ok(m->argv, m->n_argv, PROTO_ARGV_MAX, true));
        PROTO_CHECK(m->n_env <= ENV_MAX);
        for (size_t i = 0; i < m->n_env; i++)
                PROTO_CHECK(proto_env_ok(m->env[i]));
        if (m->tty)
                PROTO_CHECK(window_ok(m->window_rows, m->window_cols));
        else
                PROTO_CHECK(m->window_rows == 0 && m->window_cols == 0);
        return 0;
}

PROTO_VALIDATOR(validate_setup_connection_response, Bistro__Vsh__SetupConnectionResponse)
static int validate_setup_connection_response_impl(const Bistro__Vsh__SetupConnectionResponse *m) {
        switch (m->status) {
        case BISTRO__VSH__CONNECTION_STATUS__CONNECTION_STATUS_READY:
                PROTO_CHECK(m->pid > 0);
                PROTO_CHECK(m->error && m->error[0] == '\0');
                break;
        case BISTRO__VSH__CONNECTION_STATUS__CONNECTION_STATUS_FAILED:
                PROTO_CHECK(m->pid == 0);
                PROTO_CHECK(proto_text_ok(m->error, ERROR_MAX, true));
                break;
        default:
                return -EBADMSG;
        }
        return 0;
}

PROTO_VALIDATOR(validate_host_message, Bistro__Vsh__HostMessage)
static int validate_host_message_impl(const Bistro__Vsh__HostMessage *m) {
        switch (m->msg_case) {
        case BISTRO__VSH__HOST_MESSAGE__MSG_DATA:
                return data_validate(m->data, true);
        case BISTRO__VSH__HOST_MESSAGE__MSG_RESIZE:
                PROTO_CHECK(m->resize && window_ok(m->resize->rows, m->resize->cols));
                return 0;
        case BISTRO__VSH__HOST_MESSAGE__MSG_SIGNAL:
                PROTO_CHECK(m->signal);
                PROTO_CHECK(proto_enum_ok(&bistro__vsh__signal__descriptor, m->signal->signal));
                PROTO_CHECK(m->signal->signal != BISTRO__VSH__SIGNAL__SIGNAL_UNKNOWN);
                return 0;
        default:
                return -EBADMSG;
        }
}

PROTO_VALIDATOR(validate_guest_message, Bistro__Vsh__GuestMessage)
static int validate_guest_message_impl(const Bistro__Vsh__GuestMessage *m) {
        switch (m->msg_case) {
        case BISTRO__VSH__GUEST_MESSAGE__MSG_DATA:
                return data_validate(m->data, false);
        case BISTRO__VSH__GUEST_MESSAGE__MSG_STATUS:
                PROTO_CHECK(m->status);
                switch (m->status->result_case) {
                case BISTRO__VSH__EXIT_STATUS__RESULT_EXIT_CODE:
                        PROTO_CHECK(m->status->exit_code <= 255);
                        return 0;
                case BISTRO__VSH__EXIT_STATUS__RESULT_KILLED_BY_SIGNAL:
                        PROTO_CHECK(m->status->killed_by_signal >= 1 && m->status->killed_by_signal <= 64);
                        return 0;
                default:
                        return -EBADMSG;
                }
        default:
                return -EBADMSG;
        }
}

#define ENTRY(t, k, n, d, v) \
        { BISTRO__MESSAGE_TYPE__##t, #t, &bistro__vsh__##d##__descriptor, v, k, n }

const MessageTypeInfo vsh_message_types[] = {
        ENTRY(SETUP_CONNECTION_REQUEST,
              MESSAGE_KIND_REQUEST,
              256 * 1024,
              setup_connection_request,
              validate_setup_connection),
        ENTRY(SETUP_CONNECTION_RESPONSE,
              MESSAGE_KIND_RESPONSE,
              4096,
              setup_connection_response,
              validate_setup_connection_response),
        ENTRY(HOST_MESSAGE,
              MESSAGE_KIND_EVENT,
              PROTO_VSH_DATA_MAX + 64,
              host_message,
              validate_host_message),
        ENTRY(GUEST_MESSAGE,
              MESSAGE_KIND_EVENT,
              PROTO_VSH_DATA_MAX + 64,
              guest_message,
              validate_guest_message),
};
const size_t vsh_message_types_count = ELEMENTSOF(vsh_message_types);

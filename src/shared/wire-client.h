/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The blocking side of the wire layer, for CLIs and for jobs that run outside an event loop:
 * poll() on one fd, one call at a time (docs/design/wire.md). */

#include <stdarg.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "common.pb-c.h"
#include "frame.h"
#include "macro.h"

/* Blocking helpers for CLIs (poll(), no event loop). timeout_ms < 0 waits forever.
 *
 * wire_send_sync() writes one frame completely. wire_recv_sync() reads exactly one frame (never a
 * byte more, so the fd can be handed on) and unpacks and validates it; *ret_msg is owned by the
 * caller (message_free()). */
int wire_send_sync(
        int fd, uint32_t type, uint32_t flags, uint64_t id, const ProtobufCMessage *msg, int timeout_ms);
int wire_recv_sync(int fd, int timeout_ms, FrameHeader *ret_header, ProtobufCMessage **ret_msg);

/* Fills reply for error (a negative errno; anything out of range becomes -EIO) and the printf-style
 * message (NULL: none), sanitised rather than refused, so that the error always reaches the peer.
 * *ret_text owns the message (free() it after sending). 0 or -ENOMEM. */
int wire_error_reply_fill(
        Bistro__ErrorReply *reply, char **ret_text, int error, const char *format, va_list ap)
        _printf_(4, 0);

/* Answers request id with an ErrorReply (wire_error_reply_fill()), as wire_reply_error() does on a
 * connection: for servers that handle one request on a blocking fd. */
int wire_reply_error_sync(int fd, uint64_t id, int error, int timeout_ms, const char *format, ...)
        _printf_(5, 6);

/* The largest errno an ErrorReply may carry (as the validator of proto/common.proto). */
#define WIRE_ERRNO_MAX 4095

/* Events received while waiting for the response (e.g. PROGRESS); msg is borrowed. Return < 0 to
 * abort the call with that error. */
typedef int (*WireEventHandler)(uint32_t type, uint64_t id, const ProtobufCMessage *msg, void *userdata);

/* Sends a request and waits for its response, which must be of expected_type (the caller casts
 * *ret_msg to it; message_response_type(type) gives the documented one) or an ErrorReply.
 *
 * timeout_ms (< 0: none) bounds the whole call: the deadline is fixed when the call starts, and
 * events do not move it, so a peer that floods events gets -ETIMEDOUT in time. idle_ms (0: none),
 * only in wire_call_sync_full(), also ends the call when no frame arrives for that long: for CLIs
 * that talk to their own concierge, whose PROGRESS events show it is still working.
 *
 * Returns 0 with *ret_type = expected_type and *ret_msg the response. When the peer answers with an
 * ErrorReply, returns its errno (see wire_error_reply_to_errno()) AND sets *ret_type to ERROR_REPLY
 * and *ret_msg to the ErrorReply, so the caller can take its message. A response of another type,
 * any request from the peer or a response with another id is -EBADMSG, reported the same way: a
 * local ErrorReply in *ret_msg says what arrived instead of what ("protocol error: ..."), never the
 * peer's message. Other failures, with *ret_msg NULL: -EBADMSG (an invalid frame or message),
 * -EMSGSIZE (a frame over the size cap), -ETIMEDOUT, -ECONNRESET (EOF), -EINVAL (expected_type is 0
 * or ERROR_REPLY), send/recv errors. */
int wire_call_sync(
        int fd,
        uint32_t type,
        const ProtobufCMessage *msg,
        uint32_t expected_type,
        int timeout_ms,
        uint32_t *ret_type,
        ProtobufCMessage **ret_msg);
int wire_call_sync_full(
        int fd,
        uint32_t type,
        const ProtobufCMessage *msg,
        uint32_t expected_type,
        int timeout_ms,
        int idle_ms,
        WireEventHandler on_event,
        void *userdata,
        uint32_t *ret_type,
        ProtobufCMessage **ret_msg);

/* As wire_call_sync(), for a response that passes a file descriptor alongside (SCM_RIGHTS on a unix
 * socket, with the response's first bytes; wire_reply_fd() on the other side): on success *ret_fd is
 * that descriptor (O_CLOEXEC, the caller's). A response of expected_type without one is -EBADMSG;
 * descriptors that come with anything else (events, an ErrorReply, extra ones) are closed, so a peer
 * cannot make us hold its descriptors. *ret_fd is -EBADF on failure. */
int wire_call_sync_fd(
        int fd,
        uint32_t type,
        const ProtobufCMessage *msg,
        uint32_t expected_type,
        int timeout_ms,
        int *ret_fd,
        uint32_t *ret_type,
        ProtobufCMessage **ret_msg);

/* The errno and message of an ErrorReply from a peer, for every caller that gets one: returns
 * its error when it is in -WIRE_ERRNO_MAX..-1 and -EIO otherwise (0, positive, INT_MIN, or e NULL
 * or not an ErrorReply). When ret_message is given, *ret_message is a malloc'd copy of the message
 * that passes proto_text_ok() (sanitised, cut to PROTO_ERROR_MESSAGE_MAX; strerror() when empty),
 * or NULL when e is no ErrorReply; -ENOMEM if that copy fails. */
int wire_error_reply_to_errno(const Bistro__ErrorReply *e, char **ret_message);

/* The message of an ErrorReply (validated by wire_unpack(), borrowed), or NULL when msg is not
 * one. */
const char *wire_error_message(const ProtobufCMessage *msg);

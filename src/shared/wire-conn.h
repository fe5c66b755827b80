/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Message connections on sd-event (docs/design/wire.md). A WireConn owns a connected stream
 * socket (unix or vsock) and speaks frames (frame.h) of validated protobuf-c messages:
 * incoming requests and events go to on_message, responses are matched to wire_call()s by id.
 * Any protocol error (bad frame, invalid message, response nobody asked for) closes that
 * connection only and reports the reason through on_close. Nothing here logs above debug.
 *
 * Callbacks may call wire_conn_close() and drop references on the connection they run for. */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>
#include <protobuf-c/protobuf-c.h>

#include "frame.h"
#include "macro.h"

typedef struct WireConn WireConn;

#define WIRE_WRITE_QUEUE_MAX_DEFAULT (8u * 1024u * 1024u)
#define WIRE_FRAME_TIMEOUT_USEC_DEFAULT (60u * 1000000u) /* one frame must arrive within this */
#define WIRE_CALLS_MAX 1024u

/* A request or event from the peer. msg is validated and borrowed: it is freed when the handler
 * returns. Return < 0 to close the connection with that reason. */
typedef int (*WireMessageHandler)(
        WireConn *c,
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        void *userdata);
/* The connection is closed: reason 0 for a clean EOF at a frame boundary, else a negative errno
 * (-EBADMSG, -EMSGSIZE: protocol error; -ETIMEDOUT: idle or frame timeout; -ECONNRESET, ...). */
typedef void (*WireCloseHandler)(WireConn *c, int reason, void *userdata);
/* The answer to a wire_call(): error 0 and the reply (type, msg); or error < 0 with msg the
 * ErrorReply the peer sent (type ERROR_REPLY, error its wire_error_reply_to_errno(), see
 * wire_error_message()), or msg NULL for a local failure (-ETIMEDOUT, or the connection's close
 * reason, -ECONNRESET for a clean close). Called exactly once per successful wire_call(). */
typedef void (*WireReplyHandler)(
        WireConn *c, int error, uint32_t type, const ProtobufCMessage *msg, void *userdata);

/* Takes ownership of fd (only on success) and makes it non-blocking. The returned reference
 * belongs to the caller. */
int wire_conn_new(sd_event *e, int fd, WireConn **ret);
/* Dropping the last reference of an open connection closes it without calling any callback. */
WireConn *wire_conn_ref(WireConn *c);
WireConn *wire_conn_unref(WireConn *c);
static inline void wire_conn_unrefp(WireConn **c) {
        if (*c)
                wire_conn_unref(*c);
}

void wire_conn_set_handlers(
        WireConn *c, WireMessageHandler on_message, WireCloseHandler on_close, void *userdata);
void wire_conn_set_userdata(WireConn *c, void *userdata);
void *wire_conn_get_userdata(WireConn *c);
/* Bytes of frames queued but not yet written beyond which wire_send() fails with -ENOBUFS. */
void wire_conn_set_write_queue_max(WireConn *c, size_t bytes);
size_t wire_conn_get_write_queued(WireConn *c);
/* idle_usec: close with -ETIMEDOUT after that long without any byte in or out while no call is
 * pending (0: never). frame_usec: close when a started frame is not complete after that long
 * (0: never; default WIRE_FRAME_TIMEOUT_USEC_DEFAULT). */
int wire_conn_set_timeouts(WireConn *c, uint64_t idle_usec, uint64_t frame_usec);
int wire_conn_get_fd(WireConn *c);
bool wire_conn_is_closed(WireConn *c);

/* Takes the socket out of the connection, which is then closed (on_close with 0, pending calls
 * -ECONNRESET) without closing the socket: for protocols that switch to raw bytes after a reply
 * (cicerone's GarconOpenSftp). Bytes the peer sent after the last frame and that were already read
 * are lost, so it is only for protocols where the peer says nothing more until we speak. -EBUSY when
 * a frame is half read or unsent frames are queued; -ENOTCONN once closed. */
int wire_conn_detach_fd(WireConn *c);

/* Closes the socket, fails pending calls, calls on_close (once). Safe to call repeatedly. */
void wire_conn_close(WireConn *c, int reason);

/* Queues a frame. msg must pass its type's validator. Returns -ENOBUFS when the write queue is
 * over its cap (the peer does not read: throttle or close), -EPIPE once the peer stopped
 * reading, -ENOTCONN after close, -EINVAL,
 * -EMSGSIZE from frame_encode(). */
int wire_send(WireConn *c, uint32_t type, uint32_t flags, uint64_t id, const ProtobufCMessage *msg);
int wire_reply(WireConn *c, uint64_t id, uint32_t type, const ProtobufCMessage *msg);
/* As wire_reply(), passing a copy of fd alongside the response's first byte (SCM_RIGHTS: unix
 * sockets only; wire_call_sync_fd() takes it). The copy is closed once sent or when the connection
 * closes; the caller keeps fd. */
int wire_reply_fd(WireConn *c, uint64_t id, uint32_t type, const ProtobufCMessage *msg, int fd);
/* Answers request id with an ErrorReply (error is a negative errno; message may be NULL). */
int wire_reply_error(WireConn *c, uint64_t id, int error, const char *format, ...) _printf_(4, 5);
int wire_send_event(WireConn *c, uint32_t type, uint64_t id, const ProtobufCMessage *msg);

/* Sends a request with a fresh id and calls cb with the reply, the peer's error or -ETIMEDOUT
 * after timeout_usec (0: no timeout). Late replies to timed-out calls are dropped silently; other
 * replies with unknown ids are a protocol error. */
int wire_call(
        WireConn *c,
        uint32_t type,
        const ProtobufCMessage *msg,
        uint64_t timeout_usec,
        WireReplyHandler cb,
        void *userdata,
        uint64_t *ret_id);

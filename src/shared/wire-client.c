/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"
#include "fd-util.h"
#include "macro.h"
#include "time-util.h"
#include "message-type.h"
#include "proto-validate.h"
#include "socket-util.h"
#include "wire-client.h"

#define READ_CHUNK (64u * 1024u)

static int send_all(int fd, const uint8_t *p, size_t n, int64_t deadline) {
        while (n > 0) {
                ssize_t k = send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
                int r;

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        r = fd_wait_until(fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

static int64_t deadline_from(int timeout_ms) {
        return timeout_ms < 0 ? -1 : (int64_t) now_msec(CLOCK_MONOTONIC) + timeout_ms;
}

static int send_all_frame(
        int fd, uint32_t type, uint32_t flags, uint64_t id, const ProtobufCMessage *msg, int64_t deadline) {
        _cleanup_free_ uint8_t *data = NULL;
        size_t size;
        int r;

        r = frame_encode(type, flags, id, msg, &data, &size);
        if (r < 0)
                return r;
        return send_all(fd, data, size, deadline);
}

int wire_send_sync(
        int fd, uint32_t type, uint32_t flags, uint64_t id, const ProtobufCMessage *msg, int timeout_ms) {
        return send_all_frame(fd, type, flags, id, msg, deadline_from(timeout_ms));
}

int wire_error_reply_fill(
        Bistro__ErrorReply *reply, char **ret_text, int error, const char *format, va_list ap) {
        char *text = NULL;

        if (format) {
                if (vasprintf(&text, format, ap) < 0)
                        return -ENOMEM;
                /* Sanitised rather than refused: the error must reach the peer. */
                proto_text_sanitize(text, PROTO_ERROR_MESSAGE_MAX, true);
        }
        *reply = (Bistro__ErrorReply) BISTRO__ERROR_REPLY__INIT;
        reply->error = error >= 0 || error < -WIRE_ERRNO_MAX ? -EIO : error;
        reply->message = text ?: (char *) "";
        *ret_text = text;
        return 0;
}

int wire_reply_error_sync(int fd, uint64_t id, int error, int timeout_ms, const char *format, ...) {
        _cleanup_free_ char *text = NULL;
        Bistro__ErrorReply reply;
        va_list ap;
        int r;

        va_start(ap, format);
        r = wire_error_reply_fill(&reply, &text, error, format, ap);
        va_end(ap);
        if (r < 0)
                return r;
        return wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__ERROR_REPLY, FRAME_RESPONSE, id, &reply.base, timeout_ms);
}

/* recv() that also takes a file descriptor passed with these bytes (SCM_RIGHTS) into *fds (when
 * fds is given and *fds is unset; any other is closed at once, so that a peer cannot leave us fds). */
static ssize_t recv_some_with_fd(int fd, void *buf, size_t size, int *fds) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int) * 4)];
        } control = {};
        struct iovec iov = { .iov_base = buf, .iov_len = size };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = &control,
                .msg_controllen = sizeof(control),
        };
        ssize_t n;

        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n < 0)
                return n;
        {
                int passed = -EBADF;
                size_t got = 0;

                (void) cmsg_take_fds(&mh, &passed, &got, 1);
                if (got > 0 && fds && *fds < 0)
                        *fds = passed;
                else if (got > 0)
                        safe_close(passed);
        }
        return n;
}

/* Reads one frame; with ret_fd, also the file descriptor passed alongside it (-EBADF when none). */
static int recv_frame(
        int fd, int64_t deadline, FrameHeader *ret_header, ProtobufCMessage **ret_msg, int *ret_fd) {
        _cleanup_close_ int passed = -EBADF;
        FrameDecoder d = FRAME_DECODER_INIT;
        uint8_t buf[READ_CHUNK];
        int r;

        for (;;) {
                size_t want = MIN(frame_decoder_wanted(&d), sizeof(buf)), used;
                Frame f = {};
                ssize_t n;

                n = ret_fd ? recv_some_with_fd(fd, buf, want, &passed) : recv(fd, buf, want, MSG_DONTWAIT);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN) {
                                r = -errno;
                                break;
                        }
                        r = fd_wait_until(fd, POLLIN, deadline);
                        if (r < 0)
                                break;
                        continue;
                }
                if (n == 0) {
                        r = frame_decoder_busy(&d) ? -EBADMSG : -ECONNRESET;
                        break;
                }
                r = frame_decoder_feed(&d, buf, (size_t) n, &used, &f);
                if (r < 0)
                        break;
                if (r == 0)
                        continue;
                /* wanted() guarantees nothing beyond this frame was read. */
                r = wire_unpack(f.header.type, f.payload, f.header.length, ret_msg);
                if (r >= 0) {
                        *ret_header = f.header;
                        if (ret_fd)
                                *ret_fd = TAKE_FD(passed);
                }
                frame_done(&f);
                break;
        }
        frame_decoder_done(&d);
        return r;
}

int wire_recv_sync(int fd, int timeout_ms, FrameHeader *ret_header, ProtobufCMessage **ret_msg) {
        return recv_frame(fd, deadline_from(timeout_ms), ret_header, ret_msg, NULL);
}

static uint64_t sync_next_id(void) {
        static uint64_t next = 0;

        /* Unique per process is enough: one synchronous call at a time per fd. */
        return __atomic_add_fetch(&next, 1, __ATOMIC_RELAXED);
}

int wire_error_reply_to_errno(const Bistro__ErrorReply *e, char **ret_message) {
        int error;

        if (ret_message)
                *ret_message = NULL;
        if (!e || e->base.descriptor != &bistro__error_reply__descriptor)
                return -EIO;
        /* wire_unpack() already refuses these, but a hand-built or foreign message must not turn
         * into success (0, > 0) or an errno nobody can print (INT_MIN). */
        error = e->error < 0 && e->error >= -WIRE_ERRNO_MAX ? e->error : -EIO;
        if (ret_message) {
                char *m = strdup(e->message && e->message[0] ? e->message : strerror(-error));

                if (!m)
                        return -ENOMEM;
                proto_text_sanitize(m, PROTO_ERROR_MESSAGE_MAX, true);
                *ret_message = m;
        }
        return error;
}

/* A local ErrorReply that explains a protocol error, so that callers, which already print the
 * message of the peer's ErrorReply, show this one the same way. Freed by message_free(). */
static int protocol_error(int error, ProtobufCMessage **ret_msg, uint32_t *ret_type, const char *format, ...)
        _printf_(4, 5);
static int protocol_error(
        int error, ProtobufCMessage **ret_msg, uint32_t *ret_type, const char *format, ...) {
        Bistro__ErrorReply *e;
        va_list ap;
        int k;

        e = malloc(sizeof(*e));
        if (!e)
                return error;
        bistro__error_reply__init(e);
        va_start(ap, format);
        k = vasprintf(&e->message, format, ap);
        va_end(ap);
        if (k < 0) {
                free(e);
                return error;
        }
        proto_text_sanitize(e->message, PROTO_ERROR_MESSAGE_MAX, true);
        e->error = error;
        log_debug("wire: %s", e->message);
        *ret_type = BISTRO__MESSAGE_TYPE__ERROR_REPLY;
        *ret_msg = &e->base;
        return error;
}

static const char *type_name(uint32_t type, char buf[static 16]) {
        const char *n = message_type_to_string(type);

        if (n)
                return n;
        (void) snprintf(buf, 16, "type %" PRIu32, type);
        return buf;
}

static int call_sync(
        int fd,
        uint32_t type,
        const ProtobufCMessage *msg,
        uint32_t expected_type,
        int timeout_ms,
        int idle_ms,
        WireEventHandler on_event,
        void *userdata,
        int *ret_fd,
        uint32_t *ret_type,
        ProtobufCMessage **ret_msg) {
        uint64_t id = sync_next_id();
        int64_t deadline = deadline_from(timeout_ms);
        int r;

        if (fd < 0 || !ret_type || !ret_msg || idle_ms < 0 ||
            expected_type == BISTRO__MESSAGE_TYPE__MESSAGE_TYPE_INVALID ||
            expected_type == BISTRO__MESSAGE_TYPE__ERROR_REPLY)
                return -EINVAL;
        *ret_type = BISTRO__MESSAGE_TYPE__MESSAGE_TYPE_INVALID;
        *ret_msg = NULL;
        r = send_all_frame(fd, type, FRAME_REQUEST, id, msg, deadline);
        if (r < 0)
                return r;

        for (;;) {
                _cleanup_message_ ProtobufCMessage *m = NULL;
                _cleanup_close_ int passed = -EBADF;
                int64_t frame_deadline = deadline;
                char b1[16], b2[16], b3[16];
                FrameHeader h;

                /* The deadline is fixed when the call starts: events never move it, so a peer that
                 * keeps sending them still gets -ETIMEDOUT. Only the optional silence bound restarts
                 * with every frame. */
                if (idle_ms > 0) {
                        int64_t idle_deadline = (int64_t) now_msec(CLOCK_MONOTONIC) + idle_ms;

                        if (frame_deadline < 0 || idle_deadline < frame_deadline)
                                frame_deadline = idle_deadline;
                }
                r = recv_frame(fd, frame_deadline, &h, &m, ret_fd ? &passed : NULL);
                if (r < 0)
                        return r;
                if (h.flags == FRAME_EVENT) {
                        r = on_event ? on_event(h.type, h.id, m, userdata) : 0;
                        if (r < 0)
                                return r;
                        continue;
                }
                if (h.flags != FRAME_RESPONSE || h.id != id)
                        return protocol_error(
                                -EBADMSG, ret_msg, ret_type,
                                "protocol error: expected the response to %s, got %s %s (id %" PRIu64 ")",
                                type_name(type, b1), h.flags == FRAME_REQUEST ? "a request" : "a response",
                                type_name(h.type, b2), h.id);
                if (h.type == BISTRO__MESSAGE_TYPE__ERROR_REPLY) {
                        *ret_type = h.type;
                        *ret_msg = TAKE_PTR(m);
                        return wire_error_reply_to_errno((const Bistro__ErrorReply *) *ret_msg, NULL);
                }
                /* Never hand out a message of another type than the one the caller casts it to. */
                if (h.type != expected_type)
                        return protocol_error(
                                -EBADMSG, ret_msg, ret_type,
                                "protocol error: %s answered with %s instead of %s", type_name(type, b1),
                                type_name(h.type, b2), type_name(expected_type, b3));
                if (ret_fd && passed < 0)
                        return protocol_error(
                                -EBADMSG, ret_msg, ret_type,
                                "protocol error: %s answered without the file descriptor it passes",
                                type_name(type, b1));
                *ret_type = h.type;
                *ret_msg = TAKE_PTR(m);
                if (ret_fd)
                        *ret_fd = TAKE_FD(passed);
                return 0;
        }
}

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
        ProtobufCMessage **ret_msg) {
        return call_sync(
                fd, type, msg, expected_type, timeout_ms, idle_ms, on_event, userdata, NULL, ret_type,
                ret_msg);
}

int wire_call_sync_fd(
        int fd,
        uint32_t type,
        const ProtobufCMessage *msg,
        uint32_t expected_type,
        int timeout_ms,
        int *ret_fd,
        uint32_t *ret_type,
        ProtobufCMessage **ret_msg) {
        if (!ret_fd)
                return -EINVAL;
        *ret_fd = -EBADF;
        return call_sync(fd, type, msg, expected_type, timeout_ms, 0, NULL, NULL, ret_fd, ret_type, ret_msg);
}

int wire_call_sync(
        int fd,
        uint32_t type,
        const ProtobufCMessage *msg,
        uint32_t expected_type,
        int timeout_ms,
        uint32_t *ret_type,
        ProtobufCMessage **ret_msg) {
        return wire_call_sync_full(
                fd, type, msg, expected_type, timeout_ms, 0, NULL, NULL, ret_type, ret_msg);
}

const char *wire_error_message(const ProtobufCMessage *msg) {
        if (!msg || msg->descriptor != &bistro__error_reply__descriptor)
                return NULL;
        return ((const Bistro__ErrorReply *) msg)->message;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "proto-validate.h"
#include "socket-util.h"
#include "wire-client.h"
#include "wire-internal.h"

#define READ_CHUNK (64u * 1024u)

/* The loop's time of this iteration (cached by sd-event), not a clock read. */
static uint64_t loop_now_usec(sd_event *e) {
        uint64_t t = 0;

        (void) sd_event_now(e, CLOCK_MONOTONIC, &t);
        return t;
}

static void wire_buf_free_all(WireBuf *b) {
        while (b) {
                WireBuf *next = b->next;

                safe_close(b->fd);
                free(b->data);
                free(b);
                b = next;
        }
}

static void call_free(WireCall *call) {
        sd_event_source_disable_unref(call->timer);
        free(call);
}

static WireCall *call_unlink(WireConn *c, uint64_t id) {
        for (WireCall **p = &c->calls; *p; p = &(*p)->next)
                if ((*p)->id == id) {
                        WireCall *call = *p;

                        *p = call->next;
                        c->n_calls--;
                        return call;
                }
        return NULL;
}

static void conn_update_timer(WireConn *c);

static int conn_io_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata);
static int conn_timer_handler(sd_event_source *s, uint64_t usec, void *userdata);

int wire_conn_new(sd_event *e, int fd, WireConn **ret) {
        WireConn *c;
        int r;

        if (!e || fd < 0 || !ret)
                return -EINVAL;
        r = fd_nonblock(fd, true);
        if (r < 0)
                return r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        *c = (WireConn){
                .n_ref = 1,
                .event = sd_event_ref(e),
                .fd = fd,
                .decoder = FRAME_DECODER_INIT,
                .wq_max = WIRE_WRITE_QUEUE_MAX_DEFAULT,
                .next_id = 1,
                .frame_usec = WIRE_FRAME_TIMEOUT_USEC_DEFAULT,
        };
        c->last_activity = loop_now_usec(e);

        r = sd_event_add_io(e, &c->io, fd, EPOLLIN, conn_io_handler, c);
        if (r < 0)
                goto fail;
        r = sd_event_add_time(e, &c->timer, CLOCK_MONOTONIC, UINT64_MAX, 0, conn_timer_handler, c);
        if (r < 0)
                goto fail;
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);

        *ret = c;
        return 0;
fail:
        c->fd = -EBADF; /* the caller keeps the fd on failure */
        wire_conn_unref(c);
        return r;
}

WireConn *wire_conn_ref(WireConn *c) {
        if (c)
                c->n_ref++;
        return c;
}

static void conn_free(WireConn *c) {
        /* The last reference can only go once the connection is closed or never was opened. */
        c->io = sd_event_source_disable_unref(c->io);
        c->timer = sd_event_source_disable_unref(c->timer);
        c->fd = safe_close(c->fd);
        while (c->calls) {
                WireCall *call = c->calls;

                c->calls = call->next;
                call_free(call);
        }
        wire_buf_free_all(c->wq_head);
        frame_decoder_done(&c->decoder);
        sd_event_unref(c->event);
        free(c);
}

WireConn *wire_conn_unref(WireConn *c) {
        if (!c)
                return NULL;
        if (--c->n_ref > 0)
                return NULL;
        /* Dropping the last reference of an open connection closes it without any callback. */
        conn_free(c);
        return NULL;
}

void wire_conn_set_handlers(
        WireConn *c, WireMessageHandler on_message, WireCloseHandler on_close, void *userdata) {
        c->on_message = on_message;
        c->on_close = on_close;
        c->userdata = userdata;
}

void wire_conn_set_userdata(WireConn *c, void *userdata) {
        c->userdata = userdata;
}

void *wire_conn_get_userdata(WireConn *c) {
        return c->userdata;
}

void wire_conn_set_write_queue_max(WireConn *c, size_t bytes) {
        c->wq_max = bytes;
}

size_t wire_conn_get_write_queued(WireConn *c) {
        return c->wq_bytes;
}

int wire_conn_set_timeouts(WireConn *c, uint64_t idle_usec, uint64_t frame_usec) {
        c->idle_usec = idle_usec;
        c->frame_usec = frame_usec;
        c->last_activity = loop_now_usec(c->event);
        conn_update_timer(c);
        return 0;
}

int wire_conn_get_fd(WireConn *c) {
        return c->fd;
}

int wire_conn_detach_fd(WireConn *c) {
        int fd;

        if (!c || c->closed)
                return -ENOTCONN;
        /* A frame half read or half written would be lost with the connection. */
        if (frame_decoder_busy(&c->decoder) || c->wq_head)
                return -EBUSY;
        c->io = sd_event_source_disable_unref(c->io);
        fd = TAKE_FD(c->fd);
        wire_conn_close(c, 0);
        return fd;
}

bool wire_conn_is_closed(WireConn *c) {
        return c->closed;
}

void wire_conn_close(WireConn *c, int reason) {
        if (!c || c->closed)
                return;
        c->closed = true;
        wire_conn_ref(c);
        /* Leave the server first (dropping its reference; ours keeps c alive), so on_close may
         * free the server. */
        if (c->server)
                c->server_unlink(c);

        log_debug_errno(reason, "wire: closing connection (fd %d): %m", c->fd);
        c->io = sd_event_source_disable_unref(c->io);
        c->timer = sd_event_source_disable_unref(c->timer);
        c->fd = safe_close(c->fd);
        wire_buf_free_all(c->wq_head);
        c->wq_head = c->wq_tail = NULL;
        c->wq_bytes = 0;
        frame_decoder_done(&c->decoder);

        /* Every pending call gets exactly one answer, even when the connection goes away. */
        while (c->calls) {
                WireCall *call = c->calls;

                c->calls = call->next;
                c->n_calls--;
                if (call->cb)
                        call->cb(c, reason < 0 ? reason : -ECONNRESET, 0, NULL, call->userdata);
                call_free(call);
        }

        if (c->on_close)
                c->on_close(c, reason, c->userdata);
        wire_conn_unref(c);
}

static void conn_update_timer(WireConn *c) {
        uint64_t deadline = UINT64_MAX;

        if (c->closed || !c->timer)
                return;
        if (c->idle_usec > 0 && c->n_calls == 0)
                deadline = c->last_activity + c->idle_usec;
        if (c->frame_usec > 0 && frame_decoder_busy(&c->decoder))
                deadline = MIN(deadline, c->frame_start + c->frame_usec);
        if (deadline == UINT64_MAX) {
                (void) sd_event_source_set_enabled(c->timer, SD_EVENT_OFF);
                return;
        }
        (void) sd_event_source_set_time(c->timer, deadline);
        (void) sd_event_source_set_enabled(c->timer, SD_EVENT_ONESHOT);
}

static int conn_timer_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        WireConn *c = userdata;
        uint64_t now = loop_now_usec(c->event);

        if ((c->idle_usec > 0 && c->n_calls == 0 && now >= c->last_activity + c->idle_usec) ||
            (c->frame_usec > 0 && frame_decoder_busy(&c->decoder) &&
             now >= c->frame_start + c->frame_usec)) {
                wire_conn_close(c, -ETIMEDOUT);
                return 0;
        }
        conn_update_timer(c);
        return 0;
}

static bool id_timed_out(WireConn *c, uint64_t id) {
        for (unsigned i = 0; i < TIMED_OUT_IDS; i++)
                if (c->timed_out[i] == id)
                        return true;
        return false;
}

static int conn_dispatch(WireConn *c, Frame *f) {
        ProtobufCMessage *msg = NULL;
        int r;

        r = wire_unpack(f->header.type, f->payload, f->header.length, &msg);
        if (r < 0)
                return log_debug_errno(
                        r, "wire: invalid %s payload: %m", message_type_to_string(f->header.type));

        if (f->header.flags == FRAME_RESPONSE) {
                WireCall *call = call_unlink(c, f->header.id);

                if (!call) {
                        bool late = f->header.id != 0 && id_timed_out(c, f->header.id);

                        message_free(msg);
                        return late ? 0
                                    : log_debug_errno(
                                              SYNTHETIC_ERRNO(EBADMSG), "wire: response to unknown id");
                }
                if (call->cb) {
                        int error = 0;

                        if (f->header.type == BISTRO__MESSAGE_TYPE__ERROR_REPLY)
                                error = wire_error_reply_to_errno((const Bistro__ErrorReply *) msg, NULL);
                        call->cb(c, error, f->header.type, msg, call->userdata);
                }
                call_free(call);
                message_free(msg);
                conn_update_timer(c);
                return 0;
        }

        if (c->on_message)
                r = c->on_message(c, f->header.type, f->header.flags, f->header.id, msg, c->userdata);
        else if (f->header.flags == FRAME_REQUEST)
                r = wire_reply_error(c, f->header.id, -EOPNOTSUPP, "no handler");
        else
                r = 0;
        message_free(msg);
        return r < 0 ? r : 0;
}

static int conn_read(WireConn *c) {
        uint8_t buf[READ_CHUNK];
        size_t off = 0;
        ssize_t n;
        int r;

        n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                return -errno;
        }
        if (n == 0) {
                wire_conn_close(c, frame_decoder_eof(&c->decoder));
                return 0;
        }

        c->last_activity = loop_now_usec(c->event);
        while ((size_t) n > off && !c->closed) {
                bool was_busy = frame_decoder_busy(&c->decoder);
                Frame f = {};
                size_t used;

                r = frame_decoder_feed(&c->decoder, buf + off, (size_t) n - off, &used, &f);
                if (r < 0)
                        return r;
                if (!was_busy && used > 0)
                        c->frame_start = c->last_activity;
                off += used;
                if (r == 0)
                        break;
                r = conn_dispatch(c, &f);
                frame_done(&f);
                if (r < 0)
                        return r;
        }
        conn_update_timer(c);
        return 0;
}

/* send(), with b's descriptor alongside its first byte. */
static ssize_t buf_send(int fd, WireBuf *b) {
        union {
                struct cmsghdr h;
                uint8_t buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = b->data + b->offset, .iov_len = b->size - b->offset };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (b->fd < 0)
                return send(fd, iov.iov_base, iov.iov_len, MSG_DONTWAIT | MSG_NOSIGNAL);
        cmsg_put_fds(&mh, &control, &b->fd, 1);
        n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
                b->fd = safe_close(b->fd); /* the peer has it now */
        return n;
}

static int conn_flush(WireConn *c) {
        while (c->wq_head) {
                WireBuf *b = c->wq_head;
                ssize_t n;

                n = buf_send(c->fd, b);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                break;
                        if (errno != EPIPE && errno != ECONNRESET)
                                return -errno;
                        /* The peer is gone or half-closed; what it sent before may still be unread,
                         * so drop our output and let the read side find its EOF. */
                        c->write_error = -errno;
                        wire_buf_free_all(c->wq_head);
                        c->wq_head = c->wq_tail = NULL;
                        c->wq_bytes = 0;
                        break;
                }
                c->last_activity = loop_now_usec(c->event);
                b->offset += (size_t) n;
                c->wq_bytes -= (size_t) n;
                if (b->offset < b->size)
                        break;
                c->wq_head = b->next;
                if (!c->wq_head)
                        c->wq_tail = NULL;
                safe_close(b->fd);
                free(b->data);
                free(b);
        }
        return sd_event_source_set_io_events(c->io, c->wq_head ? EPOLLIN | EPOLLOUT : EPOLLIN);
}

static int conn_io_handler(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        WireConn *c = wire_conn_ref(userdata);
        int r = 0;

        /* Read first: a peer that answered and closed must have its answer read before a write
         * to it fails. */
        if (revents & (EPOLLIN | EPOLLHUP | EPOLLERR))
                r = conn_read(c);
        if (r >= 0 && !c->closed && (revents & EPOLLOUT))
                r = conn_flush(c);
        if (r < 0)
                wire_conn_close(c, r);
        else if (!c->closed)
                conn_update_timer(c);
        wire_conn_unref(c);
        return 0;
}

static int conn_queue(
        WireConn *c, uint32_t type, uint32_t flags, uint64_t id, const ProtobufCMessage *msg, int pass_fd) {
        _cleanup_close_ int copy = -EBADF;
        _cleanup_free_ uint8_t *data = NULL;
        WireBuf *b;
        size_t size;
        int r;

        if (!c)
                return -EINVAL;
        if (c->closed)
                return -ENOTCONN;
        if (c->write_error < 0)
                return c->write_error;
        r = frame_encode(type, flags, id, msg, &data, &size);
        if (r < 0)
                return r;
        if (size > c->wq_max || c->wq_bytes > c->wq_max - size)
                return -ENOBUFS;

        if (pass_fd >= 0) {
                copy = fcntl(pass_fd, F_DUPFD_CLOEXEC, 3);
                if (copy < 0)
                        return -errno;
        }
        b = malloc(sizeof(*b));
        if (!b)
                return -ENOMEM;
        *b = (WireBuf){ .data = TAKE_PTR(data), .size = size, .fd = TAKE_FD(copy) };
        if (c->wq_tail)
                c->wq_tail->next = b;
        else
                c->wq_head = b;
        c->wq_tail = b;
        c->wq_bytes += size;
        /* Written from the event loop, so write errors surface in one place (conn_io_handler). */
        return sd_event_source_set_io_events(c->io, EPOLLIN | EPOLLOUT);
}

int wire_send(WireConn *c, uint32_t type, uint32_t flags, uint64_t id, const ProtobufCMessage *msg) {
        return conn_queue(c, type, flags, id, msg, -EBADF);
}

int wire_reply_fd(WireConn *c, uint64_t id, uint32_t type, const ProtobufCMessage *msg, int fd) {
        if (fd < 0)
                return -EBADF;
        return conn_queue(c, type, FRAME_RESPONSE, id, msg, fd);
}

int wire_reply(WireConn *c, uint64_t id, uint32_t type, const ProtobufCMessage *msg) {
        return wire_send(c, type, FRAME_RESPONSE, id, msg);
}

int wire_reply_error(WireConn *c, uint64_t id, int error, const char *format, ...) {
        _cleanup_free_ char *text = NULL;
        Bistro__ErrorReply reply;
        va_list ap;
        int r;

        va_start(ap, format);
        r = wire_error_reply_fill(&reply, &text, error, format, ap);
        va_end(ap);
        if (r < 0)
                return r;
        return wire_send(c, BISTRO__MESSAGE_TYPE__ERROR_REPLY, FRAME_RESPONSE, id, &reply.base);
}

int wire_send_event(WireConn *c, uint32_t type, uint64_t id, const ProtobufCMessage *msg) {
        return wire_send(c, type, FRAME_EVENT, id, msg);
}

static int call_timeout_handler(sd_event_source *s, uint64_t usec, void *userdata) {
        WireCall *call = userdata;
        WireConn *c = wire_conn_ref(call->conn);

        (void) call_unlink(c, call->id);
        c->timed_out[c->timed_out_next++ % TIMED_OUT_IDS] = call->id;
        if (call->cb)
                call->cb(c, -ETIMEDOUT, 0, NULL, call->userdata);
        call_free(call);
        conn_update_timer(c);
        wire_conn_unref(c);
        return 0;
}

int wire_call(
        WireConn *c,
        uint32_t type,
        const ProtobufCMessage *msg,
        uint64_t timeout_usec,
        WireReplyHandler cb,
        void *userdata,
        uint64_t *ret_id) {
        WireCall *call;
        uint64_t id;
        int r;

        if (!c || !cb)
                return -EINVAL;
        if (c->closed)
                return -ENOTCONN;
        if (c->n_calls >= WIRE_CALLS_MAX)
                return -EBUSY;

        id = c->next_id++;
        if (id == 0)
                id = c->next_id++;
        call = calloc(1, sizeof(*call));
        if (!call)
                return -ENOMEM;
        *call = (WireCall){ .conn = c, .id = id, .cb = cb, .userdata = userdata };
        if (timeout_usec > 0) {
                r = sd_event_add_time_relative(
                        c->event, &call->timer, CLOCK_MONOTONIC, timeout_usec, 0, call_timeout_handler,
                        call);
                if (r < 0) {
                        call_free(call);
                        return r;
                }
        }
        r = wire_send(c, type, FRAME_REQUEST, id, msg);
        if (r < 0) {
                call_free(call);
                return r;
        }
        call->next = c->calls;
        c->calls = call;
        c->n_calls++;
        conn_update_timer(c);
        if (ret_id)
                *ret_id = id;
        return 0;
}

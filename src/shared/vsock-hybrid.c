/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc-util.h"
#include "common.pb-c.h"
#include "fd-util.h"
#include "frame.h"
#include "macro.h"
#include "message-type.h"
#include "socket-util.h"
#include "string-util.h"
#include "time-util.h"
#include "vsock-hybrid.h"
#include "wire-client.h"

/* The answer line, newline and NUL included: longer is -EBADMSG. */
#define REPLY_LINE_MAX 64

static void format_connect_line(char buf[static 32], uint32_t port) {
        (void) snprintf(buf, 32, "CONNECT %u\n", port);
}

/* 0 for "OK ...", -ECONNABORTED for "ERR ..." (nothing listens on the guest port), else -EBADMSG. */
static int parse_reply_line(const char *line) {
        if (startswith(line, "OK "))
                return 0;
        if (startswith(line, "ERR"))
                return -ECONNABORTED;
        return -EBADMSG;
}

int vsock_hybrid_connect(const char *path, uint32_t port, int timeout_ms) {
        _cleanup_close_ int fd = -EBADF;
        char cmd[32], line[REPLY_LINE_MAX];
        int64_t deadline = timeout_ms < 0 ? -1 : (int64_t) now_msec(CLOCK_MONOTONIC) + timeout_ms;
        size_t n = 0;
        int r;

        fd = unix_connect(path);
        if (fd < 0)
                return fd;
        format_connect_line(cmd, port);
        r = loop_write(fd, cmd, strlen(cmd));
        if (r < 0)
                return r;

        /* One byte at a time: what follows the line is the guest's stream. */
        for (;;) {
                ssize_t k;

                if (n + 1 >= sizeof(line))
                        return -EBADMSG;
                r = fd_wait_until(fd, POLLIN, deadline);
                if (r < 0)
                        return r;
                k = read(fd, line + n, 1);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return n == 0 ? -ECONNABORTED : -EBADMSG;
                if (line[n++] == '\n')
                        break;
        }
        line[n] = 0;
        r = parse_reply_line(line);
        if (r < 0)
                return r;
        return TAKE_FD(fd);
}

/* ---- the non-blocking dial ---- */

enum {
        DIAL_CONNECTING,
        DIAL_LINE_OUT,
        DIAL_LINE_IN,
        DIAL_REQ_OUT,
        DIAL_REQ_IN
};

struct VsockHybridDial {
        int fd;
        int state;
        sd_event_source *io, *timer;
        char line[32];
        uint8_t *req;
        size_t req_len;
        const uint8_t *out;
        size_t out_len, out_off;
        FrameDecoder dec;
        VsockHybridDialDone done;
        void *userdata;
};

VsockHybridDial *vsock_hybrid_dial_cancel(VsockHybridDial *d) {
        if (!d)
                return NULL;
        sd_event_source_disable_unref(d->io);
        sd_event_source_disable_unref(d->timer);
        safe_close(d->fd);
        free(d->req);
        frame_decoder_done(&d->dec);
        free(d);
        return NULL;
}

static void dial_finish(VsockHybridDial *d, int error, const char *message) {
        VsockHybridDialDone done = d->done;
        void *userdata = d->userdata;
        int fd = -EBADF;

        if (error >= 0)
                fd = TAKE_FD(d->fd);
        vsock_hybrid_dial_cancel(d);
        done(fd, error, message, userdata);
}

static void dial_set_out(VsockHybridDial *d, int state, const void *p, size_t n) {
        d->state = state;
        d->out = p;
        d->out_len = n;
        d->out_off = 0;
        (void) sd_event_source_set_io_events(d->io, EPOLLOUT);
}

/* 1: the reply is complete (EMPTY); < 0: failed (message set for an ErrorReply). */
static int dial_read_reply(VsockHybridDial *d, char **ret_message) {
        uint8_t buf[512];

        for (;;) {
                size_t want = MIN(frame_decoder_wanted(&d->dec), sizeof(buf)), used = 0;
                _cleanup_message_ ProtobufCMessage *m = NULL;
                Frame f = {};
                uint32_t type;
                ssize_t n;
                int r;

                /* Exactly what finishes the frame: the raw stream follows it. */
                n = read(d->fd, buf, want);
                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                if (n == 0)
                        return -ECONNRESET;
                r = frame_decoder_feed(&d->dec, buf, (size_t) n, &used, &f);
                if (r < 0)
                        return r;
                if (r == 0)
                        continue;
                if (f.header.flags != FRAME_RESPONSE || f.header.id != 1) {
                        frame_done(&f);
                        return -EBADMSG;
                }
                type = f.header.type;
                r = wire_unpack(type, f.payload, f.header.length, &m);
                frame_done(&f);
                if (r < 0)
                        return r;
                if (type == BISTRO__MESSAGE_TYPE__EMPTY)
                        return 1;
                if (type != BISTRO__MESSAGE_TYPE__ERROR_REPLY)
                        return -EBADMSG;
                return wire_error_reply_to_errno((const Bistro__ErrorReply *) m, ret_message);
        }
}

static int on_dial_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        VsockHybridDial *d = userdata;
        _cleanup_free_ char *message = NULL;
        int r = 0;

        switch (d->state) {
        case DIAL_CONNECTING: {
                int err = 0;
                socklen_t l = sizeof(err);

                if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                        err = errno;
                if (err != 0) {
                        r = -err;
                        break;
                }
                dial_set_out(d, DIAL_LINE_OUT, d->line, strlen(d->line));
                return 0;
        }
        case DIAL_LINE_OUT:
        case DIAL_REQ_OUT: {
                ssize_t n = send(fd, d->out + d->out_off, d->out_len - d->out_off, MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        r = -errno;
                        break;
                }
                d->out_off += (size_t) n;
                if (d->out_off < d->out_len)
                        return 0;
                d->state = d->state == DIAL_LINE_OUT ? DIAL_LINE_IN : DIAL_REQ_IN;
                (void) sd_event_source_set_io_events(d->io, EPOLLIN);
                return 0;
        }
        case DIAL_LINE_IN: {
                char line[REPLY_LINE_MAX];
                ssize_t n;
                char *nl;

                /* Peek, then take only the line: what follows is the guest's. */
                n = recv(fd, line, sizeof(line) - 1, MSG_PEEK);
                if (n < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        r = -errno;
                        break;
                }
                if (n == 0) {
                        r = -ECONNABORTED;
                        break;
                }
                line[n] = 0;
                nl = memchr(line, '\n', (size_t) n);
                if (!nl) {
                        if (n == sizeof(line) - 1)
                                r = -EBADMSG;
                        else
                                return 0;
                        break;
                }
                if (read(fd, line, (size_t) (nl - line + 1)) != nl - line + 1) {
                        r = -EIO;
                        break;
                }
                *nl = 0;
                r = parse_reply_line(line);
                if (r < 0)
                        break;
                if (!d->req) {
                        r = 1;
                        break;
                }
                /* The hybrid part is done: the guest's answer gets its own, longer deadline (a busy
                 * TCG guest forks port-listener's child slowly). */
                (void) sd_event_source_set_time_relative(d->timer, VSOCK_HYBRID_ANSWER_TIMEOUT_USEC);
                dial_set_out(d, DIAL_REQ_OUT, d->req, d->req_len);
                return 0;
        }
        case DIAL_REQ_IN:
                r = dial_read_reply(d, &message);
                if (r == 0)
                        return 0;
                break;
        }
        dial_finish(d, r < 0 ? r : 0, message);
        return 0;
}

static int on_dial_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        VsockHybridDial *d = userdata;

        dial_finish(
                d, -ETIMEDOUT,
                d->state <= DIAL_LINE_IN ? "timed out waiting for the VM's vsock (CONNECT)"
                                         : "timed out waiting for the guest service's answer");
        return 0;
}

int vsock_hybrid_dial_start(
        sd_event *e,
        const char *path,
        uint32_t port,
        uint32_t req_type,
        const ProtobufCMessage *req,
        uint64_t timeout_usec,
        VsockHybridDialDone done,
        void *userdata,
        VsockHybridDial **ret) {
        VsockHybridDial *d;
        int r;

        d = new0(VsockHybridDial, 1);
        if (!d)
                return -ENOMEM;
        d->fd = -EBADF;
        d->dec = (FrameDecoder) FRAME_DECODER_INIT;
        d->done = done;
        d->userdata = userdata;
        format_connect_line(d->line, port);
        if (req_type != 0) {
                r = frame_encode(req_type, FRAME_REQUEST, 1, req, &d->req, &d->req_len);
                if (r < 0)
                        goto fail;
        }
        d->fd = unix_connect_nonblock(path);
        if (d->fd < 0) {
                r = d->fd;
                goto fail;
        }
        /* Wait for writability: it also says when an in-flight connect finished. */
        d->state = DIAL_CONNECTING;
        r = sd_event_add_io(e, &d->io, d->fd, EPOLLOUT, on_dial_io, d);
        if (r < 0)
                goto fail;
        r = sd_event_add_time_relative(e, &d->timer, CLOCK_MONOTONIC, timeout_usec, 0, on_dial_timeout, d);
        if (r < 0)
                goto fail;
        if (ret)
                *ret = d;
        return 0;
fail:
        vsock_hybrid_dial_cancel(d);
        return r;
}

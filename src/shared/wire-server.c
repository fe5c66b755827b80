/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "wire-internal.h"

struct WireServer {
        sd_event *event;
        sd_event_source *io;
        int fd;
        unsigned max_conns, n_conns;
        WireConn *conns;
        uint64_t idle_usec, frame_usec;
        WireAcceptHandler on_accept;
        WireMessageHandler on_message;
        WireCloseHandler on_close;
        void *userdata;
};

static void server_unlink(WireConn *c) {
        WireServer *s = c->server;

        if (c->server_prev)
                c->server_prev->server_next = c->server_next;
        else
                s->conns = c->server_next;
        if (c->server_next)
                c->server_next->server_prev = c->server_prev;
        c->server = NULL;
        c->server_prev = c->server_next = NULL;
        s->n_conns--;
        wire_conn_unref(c);
}

static int server_accept_handler(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        WireServer *s = userdata;
        WireConn *c = NULL;
        int cfd, r;

        cfd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
                if (errno != EAGAIN && errno != EINTR)
                        log_debug_errno(errno, "wire: accept failed, ignoring: %m");
                return 0;
        }
        if (s->n_conns >= s->max_conns) {
                log_debug("wire: %u connections, refusing another", s->n_conns);
                safe_close(cfd);
                return 0;
        }
        r = wire_conn_new(s->event, cfd, &c);
        if (r < 0) {
                log_debug_errno(r, "wire: cannot set up connection, ignoring: %m");
                safe_close(cfd);
                return 0;
        }
        wire_conn_set_handlers(c, s->on_message, s->on_close, s->userdata);
        (void) wire_conn_set_timeouts(c, s->idle_usec, s->frame_usec);
        c->server = s;
        c->server_unlink = server_unlink;
        c->server_next = s->conns;
        if (s->conns)
                s->conns->server_prev = c;
        s->conns = c;
        s->n_conns++;

        if (s->on_accept) {
                r = s->on_accept(s, c, s->userdata);
                if (r < 0)
                        wire_conn_close(c, r);
        }
        return 0;
}

int wire_server_new(sd_event *e, int listen_fd, unsigned max_conns, WireServer **ret) {
        WireServer *s;
        int r;

        if (!e || listen_fd < 0 || max_conns == 0 || !ret)
                return -EINVAL;
        r = fd_nonblock(listen_fd, true);
        if (r < 0)
                return r;
        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        *s = (WireServer){
                .event = sd_event_ref(e),
                .fd = -EBADF,
                .max_conns = max_conns,
                .frame_usec = WIRE_FRAME_TIMEOUT_USEC_DEFAULT,
        };
        r = sd_event_add_io(e, &s->io, listen_fd, EPOLLIN, server_accept_handler, s);
        if (r < 0) {
                wire_server_free(s);
                return r;
        }
        s->fd = listen_fd;
        *ret = s;
        return 0;
}

void wire_server_set_handlers(
        WireServer *s,
        WireAcceptHandler on_accept,
        WireMessageHandler on_message,
        WireCloseHandler on_close,
        void *userdata) {
        s->on_accept = on_accept;
        s->on_message = on_message;
        s->on_close = on_close;
        s->userdata = userdata;
}

void wire_server_set_timeouts(WireServer *s, uint64_t idle_usec, uint64_t frame_usec) {
        s->idle_usec = idle_usec;
        s->frame_usec = frame_usec;
}

unsigned wire_server_get_n_conns(WireServer *s) {
        return s->n_conns;
}

WireServer *wire_server_free(WireServer *s) {
        if (!s)
                return NULL;
        while (s->conns)
                wire_conn_close(s->conns, -ECANCELED);
        sd_event_source_disable_unref(s->io);
        safe_close(s->fd);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}

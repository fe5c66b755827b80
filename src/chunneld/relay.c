/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "macro.h"
#include "relay.h"

/* One direction: bytes read from side `from` wait here for side 1 - from. */
typedef struct Pipe {
        uint8_t *buf;
        size_t start, end;
        bool eof;  /* read 0 from the source */
        bool shut; /* shutdown(SHUT_WR) done on the destination */
} Pipe;

struct Relay {
        int fd[2]; /* 0: client (TCP), 1: guest */
        sd_event_source *src[2];
        Pipe p[2]; /* p[i]: from fd[i] to fd[1 - i] */
        RelayDone done;
        void *userdata;
};

void tcp_reset_close(int fd) {
        struct linger l = { .l_onoff = 1, .l_linger = 0 };

        if (fd < 0)
                return;
        (void) setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        safe_close(fd);
}

Relay *relay_free(Relay *r) {
        if (!r)
                return NULL;
        for (int i = 0; i < 2; i++) {
                sd_event_source_disable_unref(r->src[i]);
                safe_close(r->fd[i]);
                free(r->p[i].buf);
        }
        free(r);
        return NULL;
}

static void relay_finish(Relay *r, bool reset) {
        RelayDone done = r->done;
        void *userdata = r->userdata;

        if (reset) {
                tcp_reset_close(r->fd[0]);
                r->fd[0] = -EBADF;
        }
        relay_free(r);
        done(userdata);
}

/* Reads from fd[i] into p[i]. < 0: the source failed. */
static int pipe_fill(Relay *r, int i) {
        Pipe *p = &r->p[i];

        while (!p->eof && p->end < RELAY_BUFFER_SIZE) {
                ssize_t n = read(r->fd[i], p->buf + p->end, RELAY_BUFFER_SIZE - p->end);

                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                if (n == 0)
                        p->eof = true;
                p->end += (size_t) n;
                /* Do not starve the other direction: one read per wake-up is enough when it was short. */
                if ((size_t) n < RELAY_BUFFER_SIZE / 4)
                        break;
        }
        return 0;
}

/* Writes p[i] to fd[1 - i]. < 0: the destination failed. */
static int pipe_flush(Relay *r, int i) {
        Pipe *p = &r->p[i];

        while (p->start < p->end) {
                ssize_t n = send(r->fd[1 - i], p->buf + p->start, p->end - p->start, MSG_NOSIGNAL);

                if (n < 0)
                        return errno == EAGAIN || errno == EINTR ? 0 : -errno;
                p->start += (size_t) n;
        }
        if (p->start == p->end)
                p->start = p->end = 0;
        if (p->eof && p->start == p->end && !p->shut) {
                p->shut = true;
                (void) shutdown(r->fd[1 - i], SHUT_WR);
        }
        return 0;
}

static void relay_update(Relay *r) {
        for (int i = 0; i < 2; i++) {
                uint32_t ev = 0;

                if (!r->p[i].eof && r->p[i].end < RELAY_BUFFER_SIZE)
                        ev |= EPOLLIN;
                if (r->p[1 - i].start < r->p[1 - i].end)
                        ev |= EPOLLOUT;
                /* Off rather than 0 events: a hung-up fd would report EPOLLHUP forever. */
                if (ev) {
                        (void) sd_event_source_set_io_events(r->src[i], ev);
                        (void) sd_event_source_set_enabled(r->src[i], SD_EVENT_ON);
                } else
                        (void) sd_event_source_set_enabled(r->src[i], SD_EVENT_OFF);
        }
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Relay *r = userdata;
        int i = fd == r->fd[0] ? 0 : 1, k;

        /* Writable: drain what waits for this side. */
        if (revents & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
                k = pipe_flush(r, 1 - i);
                if (k < 0)
                        goto fail;
        }
        if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                k = pipe_fill(r, i);
                if (k < 0)
                        goto fail;
                k = pipe_flush(r, i);
                if (k < 0)
                        goto fail;
        }
        if (r->p[0].shut && r->p[1].shut) {
                relay_finish(r, false);
                return 0;
        }
        relay_update(r);
        return 0;
fail:
        /* A reset on either side: the client gets a reset too, the guest side is closed. */
        relay_finish(r, true);
        return 0;
}

int relay_start(sd_event *e, int client, int guest, RelayDone done, void *userdata, Relay **ret) {
        Relay *r;
        int k;

        r = new0(Relay, 1);
        if (!r)
                return -ENOMEM;
        r->fd[0] = r->fd[1] = -EBADF;
        for (int i = 0; i < 2; i++) {
                r->p[i].buf = malloc(RELAY_BUFFER_SIZE);
                if (!r->p[i].buf) {
                        relay_free(r);
                        return -ENOMEM;
                }
        }
        r->done = done;
        r->userdata = userdata;
        k = sd_event_add_io(e, &r->src[0], client, EPOLLIN, on_io, r);
        if (k >= 0)
                k = sd_event_add_io(e, &r->src[1], guest, EPOLLIN, on_io, r);
        if (k < 0) {
                relay_free(r);
                return k;
        }
        (void) fd_nonblock(client, true);
        (void) fd_nonblock(guest, true);
        r->fd[0] = client;
        r->fd[1] = guest;
        *ret = r;
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "stream-relay.h"

#define RELAY_CHUNK (64u * 1024u)

typedef struct Dir {
        int in, out;
        int pipe[2]; /* splice: in -> pipe -> out */
        bool copy;   /* splice refused: read()/write() through buf */
        char buf[RELAY_CHUNK];
        size_t len, off; /* bytes in the pipe (splice) or in buf (copy) not yet written, and where */
        bool eof;        /* in is at EOF; out is shut down once len is 0 */
        bool done;
} Dir;

static int dir_fill(Dir *d) {
        ssize_t n;

        if (!d->copy) {
                n = splice(d->in, NULL, d->pipe[1], NULL, RELAY_CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n < 0 && errno == EINVAL) {
                        d->copy = true; /* this socket type has no splice_read */
                        return dir_fill(d);
                }
        } else {
                n = read(d->in, d->buf, sizeof(d->buf));
                d->off = 0;
        }
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0)
                d->eof = true;
        d->len = (size_t) n;
        return 0;
}

static int dir_drain(Dir *d) {
        ssize_t n;

        if (!d->copy)
                n = splice(d->pipe[0], NULL, d->out, NULL, d->len, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
        else
                n = send(d->out, d->buf + d->off, d->len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == ENOTSOCK && d->copy)
                n = write(d->out, d->buf + d->off, d->len);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        d->len -= (size_t) n;
        d->off += (size_t) n;
        return 0;
}

static int dir_step(Dir *d, short revents_in, short revents_out) {
        int r = 0;

        if (d->len > 0 && revents_out)
                r = dir_drain(d);
        else if (d->len == 0 && !d->eof && revents_in)
                r = dir_fill(d);
        if (r < 0)
                return r;
        if (d->eof && d->len == 0 && !d->done) {
                /* the peer may be gone already: its reading end is what failed */
                (void) shutdown(d->out, SHUT_WR);
                d->done = true;
        }
        return 0;
}

int stream_relay(int a, int b) {
        Dir d[2] = {
                { .in = a, .out = b, .pipe = { -EBADF, -EBADF } },
                { .in = b, .out = a, .pipe = { -EBADF, -EBADF } },
        };
        int r = 0;

        r = fd_nonblock(a, true);
        if (r >= 0)
                r = fd_nonblock(b, true);
        if (r < 0)
                return r;
        for (size_t i = 0; i < 2; i++)
                if (pipe2(d[i].pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
                        d[i].copy = true; /* out of pipes: copy instead */
                        d[i].pipe[0] = d[i].pipe[1] = -EBADF;
                }
        while (!d[0].done || !d[1].done) {
                struct pollfd p[4];

                for (size_t i = 0; i < 2; i++) {
                        /* An fd polled for nothing still reports errors and hangups: wait for those
                         * only on a side that has something to do. */
                        p[2 * i] = (struct pollfd){
                                .fd = !d[i].done && d[i].len == 0 && !d[i].eof ? d[i].in : -1,
                                .events = POLLIN,
                        };
                        p[2 * i + 1] = (struct pollfd){
                                .fd = !d[i].done && d[i].len > 0 ? d[i].out : -1,
                                .events = POLLOUT,
                        };
                }
                if (poll(p, 4, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        break;
                }
                for (size_t i = 0; i < 2 && r >= 0; i++)
                        r = dir_step(&d[i], p[2 * i].revents, p[2 * i + 1].revents);
                if (r < 0)
                        break;
        }
        for (size_t i = 0; i < 2; i++) {
                safe_close(d[i].pipe[0]);
                safe_close(d[i].pipe[1]);
        }
        return r;
}

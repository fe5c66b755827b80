/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ForwardConnect: connects to the container's loopback from inside its network namespace, then
 * relays bytes (TCP) or length-prefixed datagrams (UDP) until both sides are done. This process
 * serves only this connection, so switching namespaces affects nothing else. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "port-listener.h"
#include "time-util.h"
#include "unaligned.h"

#define CONNECT_TIMEOUT_MS 10000
#define RELAY_BUF (256u * 1024u)
#define UDP_PAYLOAD_MAX 65507u

/* Creates a socket of each family inside the container's network namespace (the namespace a
 * socket belongs to is fixed at creation), then returns to ours. pidfd names the container's init
 * (setns() on a pidfd: no pid reuse race between the lookup and the switch). */
static int make_sockets(int pidfd, int type, int ret_fds[static 2]) {
        _cleanup_close_ int self = -EBADF;
        int r = 0;

        self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        if (self < 0)
                return -errno;
        if (setns(pidfd, CLONE_NEWNET) < 0)
                return errno == ESRCH ? -ESRCH : -errno;
        ret_fds[0] = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        ret_fds[1] = socket(AF_INET6, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (ret_fds[0] < 0 && ret_fds[1] < 0)
                r = -errno;
        if (setns(self, CLONE_NEWNET) < 0) {
                /* Staying in the container's namespace is harmless here (this process only
                 * relays), but would be a surprise: give up. */
                r = -errno;
                ret_fds[0] = safe_close(ret_fds[0]);
                ret_fds[1] = safe_close(ret_fds[1]);
        }
        return r;
}

static bool try_other_family(int r) {
        return r == -ECONNREFUSED || r == -EADDRNOTAVAIL || r == -EAFNOSUPPORT || r == -ENETUNREACH;
}

static int connect_one(int fd, bool ipv6, uint16_t port) {
        struct sockaddr_in in = { .sin_family = AF_INET,
                                  .sin_port = htons(port),
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        struct sockaddr_in6 in6 = { .sin6_family = AF_INET6,
                                    .sin6_port = htons(port),
                                    .sin6_addr = IN6ADDR_LOOPBACK_INIT };
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + CONNECT_TIMEOUT_MS * USEC_PER_MSEC;
        int err = 0, r;
        socklen_t l = sizeof(err);

        if (fd < 0)
                return -EAFNOSUPPORT;
        if (ipv6)
                r = connect(fd, (struct sockaddr *) &in6, sizeof(in6));
        else
                r = connect(fd, (struct sockaddr *) &in, sizeof(in));
        if (r >= 0)
                return 0;
        if (errno != EINPROGRESS)
                return -errno;
        r = fd_wait_until(fd, POLLOUT, (int64_t) (deadline / USEC_PER_MSEC));
        if (r < 0)
                return r;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                return -errno;
        return -err;
}

/* The preferred family first; the other one when nothing listens there. A refusal is the more
 * useful error to report than the other family being absent. */
static int connect_loopback(int fds[static 2], bool ipv6, uint16_t port, int *ret_fd) {
        int first = ipv6 ? 1 : 0, r1, r2;

        r1 = connect_one(fds[first], first == 1, port);
        if (r1 >= 0) {
                *ret_fd = TAKE_FD(fds[first]);
                return 0;
        }
        if (!try_other_family(r1))
                return r1;
        r2 = connect_one(fds[!first], first == 0, port);
        if (r2 >= 0) {
                *ret_fd = TAKE_FD(fds[!first]);
                return 0;
        }
        return r1 == -ECONNREFUSED || r2 == -ECONNREFUSED ? -ECONNREFUSED : r1;
}

/* Close so that the peer sees a reset, not an orderly end. */
static void close_reset(int *fd) {
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };

        (void) setsockopt(*fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
        *fd = safe_close(*fd);
}

typedef struct Dir {
        int in, out;
        uint8_t *buf;
        size_t off, len;
        bool eof;  /* in said EOF */
        bool shut; /* ... and out got shutdown(SHUT_WR) once everything was written */
} Dir;

/* < 0: the stream broke on d->in (read) or d->out (write). */
static int dir_step(Dir *d, bool *ret_write_side) {
        *ret_write_side = false;
        if (!d->eof && d->len < RELAY_BUF) {
                ssize_t n = read(d->in, d->buf + d->len, RELAY_BUF - d->len);

                if (n > 0)
                        d->len += (size_t) n;
                else if (n == 0)
                        d->eof = true;
                else if (errno != EAGAIN && errno != EINTR)
                        return -errno;
        }
        if (d->len > d->off) {
                ssize_t n = write(d->out, d->buf + d->off, d->len - d->off);

                if (n > 0) {
                        d->off += (size_t) n;
                        if (d->off == d->len)
                                d->off = d->len = 0;
                        else if (d->len == RELAY_BUF && d->off >= RELAY_BUF / 2) {
                                memmove(d->buf, d->buf + d->off, d->len - d->off);
                                d->len -= d->off;
                                d->off = 0;
                        }
                } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                        *ret_write_side = true;
                        return -errno;
                }
        }
        if (d->eof && d->len == 0 && !d->shut) {
                /* The half-close passed on: the other side may still answer. */
                if (shutdown(d->out, SHUT_WR) < 0 && errno != ENOTCONN) {
                        *ret_write_side = true;
                        return -errno;
                }
                d->shut = true;
        }
        return 0;
}

/* a is the host's stream, b the container's socket; the one reset is closed and set to -EBADF. */
static int relay_tcp(int *a, int *b) {
        _cleanup_free_ uint8_t *ba = malloc(RELAY_BUF), *bb = malloc(RELAY_BUF);
        Dir d[2] = {
                { .in = *a, .out = *b, .buf = ba },
                { .in = *b, .out = *a, .buf = bb },
        };

        if (!ba || !bb)
                return log_oom();
        while (!d[0].shut || !d[1].shut) {
                struct pollfd p[2] = { { .fd = *a }, { .fd = *b } };

                for (int i = 0; i < 2; i++) {
                        int in = i, out = !i; /* p[0] is a, the in of d[0] */

                        if (!d[i].eof && d[i].len < RELAY_BUF)
                                p[in].events |= POLLIN;
                        if (d[i].len > d[i].off)
                                p[out].events |= POLLOUT;
                }
                /* Without events a hung-up fd would still wake poll() at once, for ever. */
                for (int i = 0; i < 2; i++)
                        if (p[i].events == 0)
                                p[i].fd = -1;
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                for (int i = 0; i < 2; i++) {
                        bool write_side;
                        int r = dir_step(&d[i], &write_side);

                        if (r < 0) {
                                /* A reset (or any error) on one side: reset the other too. */
                                int other = write_side ? d[i].in : d[i].out;

                                log_debug_errno(r, "Relay: a side broke, resetting the other: %m");
                                close_reset(other == *a ? a : b);
                                return 0;
                        }
                }
        }
        return 0;
}

/* UDP: host -> container datagrams arrive as u16 LE length + payload on the stream; each
 * datagram from the container goes back the same way. Datagrams that cannot be delivered are
 * dropped, as UDP would. */
static int relay_udp(int s, int u) {
        _cleanup_free_ uint8_t *in = malloc(RELAY_BUF), *out = malloc(RELAY_BUF);
        size_t in_len = 0, out_off = 0, out_len = 0;

        if (!in || !out)
                return log_oom();
        for (;;) {
                struct pollfd p[2] = { { .fd = s }, { .fd = u } };
                ssize_t n;

                if (in_len < RELAY_BUF)
                        p[0].events |= POLLIN;
                if (out_len > out_off)
                        p[0].events |= POLLOUT;
                if (RELAY_BUF - out_len >= 2 + UDP_PAYLOAD_MAX)
                        p[1].events |= POLLIN;
                else
                        p[1].fd = -1;
                if (poll(p, 2, -1) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
                        n = read(s, in + in_len, RELAY_BUF - in_len);
                        if (n == 0)
                                return 0; /* the host is done with this flow */
                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                return -errno;
                        if (n > 0)
                                in_len += (size_t) n;
                        size_t off = 0;
                        while (in_len - off >= 2) {
                                size_t dl = unaligned_read_le16(in + off);

                                if (dl > UDP_PAYLOAD_MAX)
                                        return log_debug_errno(
                                                SYNTHETIC_ERRNO(EBADMSG), "Datagram of %zu bytes.", dl);
                                if (in_len - off < 2 + dl)
                                        break;
                                if (send(u, in + off + 2, dl, MSG_DONTWAIT) < 0)
                                        log_debug_errno(errno, "UDP send: %m");
                                off += 2 + dl;
                        }
                        memmove(in, in + off, in_len - off);
                        in_len -= off;
                }
                if (p[1].revents & (POLLIN | POLLERR)) {
                        n = recv(u, out + out_len + 2, UDP_PAYLOAD_MAX, MSG_DONTWAIT);
                        if (n >= 0) {
                                unaligned_write_le16(out + out_len, (uint16_t) n);
                                out_len += 2 + (size_t) n;
                        } else if (errno != EAGAIN && errno != EINTR && errno != ECONNREFUSED)
                                return -errno;
                }
                if (out_len > out_off) {
                        n = write(s, out + out_off, out_len - out_off);
                        if (n < 0 && errno != EAGAIN && errno != EINTR)
                                return -errno;
                        if (n > 0)
                                out_off += (size_t) n;
                        if (out_off == out_len)
                                out_off = out_len = 0;
                        else if (out_off > 0) {
                                memmove(out, out + out_off, out_len - out_off);
                                out_len -= out_off;
                                out_off = 0;
                        }
                }
        }
}

int pl_forward_run(int fd, uint64_t id, const Bistro__Ports__ForwardConnectRequest *req) {
        bool udp = req->protocol == BISTRO__PORTS__PROTOCOL__PROTOCOL_UDP;
        int fds[2] = { -EBADF, -EBADF }, conn = -EBADF, r;
        _cleanup_close_ int pidfd = -EBADF;

        r = pidfd = pl_container_init_pidfd(req->container);
        if (r == -ENOENT)
                return pl_reply_error(fd, id, r, "no such container '%s'", req->container), EXIT_FAILURE;
        if (r == -ESRCH)
                return pl_reply_error(fd, id, r, "container '%s' is not running", req->container),
                       EXIT_FAILURE;
        if (r < 0)
                return pl_reply_error(fd, id, r, "cannot open container '%s'", req->container), EXIT_FAILURE;
        r = make_sockets(pidfd, udp ? SOCK_DGRAM : SOCK_STREAM, fds);
        if (r < 0)
                return pl_reply_error(fd, id, r, "cannot enter container '%s'", req->container),
                       EXIT_FAILURE;
        r = connect_loopback(fds, req->ipv6, (uint16_t) req->port, &conn);
        safe_close(fds[0]);
        safe_close(fds[1]);
        if (r < 0)
                return pl_reply_error(
                               fd, id, r, "cannot connect to %s port %u in '%s'", udp ? "UDP" : "TCP",
                               req->port, req->container),
                       EXIT_FAILURE;
        r = pl_reply_empty(fd, id);
        if (r < 0) {
                close_reset(&conn);
                return EXIT_FAILURE;
        }
        r = fd_nonblock(fd, true);
        if (r >= 0)
                r = udp ? relay_udp(fd, conn) : relay_tcp(&fd, &conn);
        if (r < 0)
                log_debug_errno(r, "Forward to %s port %u: %m", req->container, req->port);
        safe_close(conn);
        safe_close(fd);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

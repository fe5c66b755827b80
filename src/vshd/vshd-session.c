/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One vsh session (runs in its own process, forked by vshd for each connection). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "fd-util.h"
#include "frame.h"
#include "log.h"
#include "macro.h"
#include "spawn-util.h"
#include "vshd.h"
#include "wire.h"

#define OUT_HIGH (128u * 1024u)      /* stop reading the process while this much waits for the socket */
#define READ_BUF (64u * 1024u)       /* socket reads */
#define PTY_DRAIN_MS 100             /* after the exit, a pty is read until quiet this long */
#define SPAWN_TIMEOUT_MS 30000       /* the child must exec (or report why not) within this */
#define CLOSE_WAIT_MS 5000           /* after the status: wait this long for the client to close */
#define COALESCE_BELOW (16u * 1024u) /* a read shorter than this waits once for more ... */
#define COALESCE_USEC 1000           /* ... this long (see read_output()) */
#define PIPE_SIZE (1024 * 1024)
#define READ_FRAMES 4u /* frames read with one readv() */

typedef struct Session {
        int sock;
        bool tty;
        int in_fd; /* pty master or the stdin pipe's write end; -EBADF once closed */
        int out_fd;
        int err_fd;
        pid_t pid;
        int pidfd;
        bool exited;
        int status;

        uint8_t in_buf[PROTO_VSH_DATA_MAX];
        size_t in_len, in_off;
        bool in_eof; /* the client closed stdin: close it once in_buf is written */

        uint8_t rbuf[READ_BUF];
        size_t rlen, roff;
        FrameDecoder dec;

        uint8_t *obuf;
        size_t olen, ooff, oalloc;
        bool status_sent;
} Session;

static void session_done(Session *s) {
        s->sock = safe_close(s->sock);
        if (s->in_fd != s->out_fd)
                safe_close(s->in_fd);
        s->in_fd = -EBADF;
        s->out_fd = safe_close(s->out_fd);
        s->err_fd = safe_close(s->err_fd);
        s->pidfd = safe_close(s->pidfd);
        frame_decoder_done(&s->dec);
        free(s->obuf);
        s->obuf = NULL;
}

static int queue_frame(Session *s, uint32_t type, uint32_t flags, uint64_t id, const ProtobufCMessage *m) {
        _cleanup_free_ uint8_t *f = NULL;
        size_t n;
        int r;

        r = frame_encode(type, flags, id, m, &f, &n);
        if (r < 0)
                return r;
        if (s->ooff > 0 && s->ooff == s->olen)
                s->ooff = s->olen = 0;
        if (s->olen + n > s->oalloc) {
                size_t a = MAX(s->oalloc * 2, s->olen + n);
                uint8_t *p;

                if (s->ooff > 0) { /* compact first */
                        memmove(s->obuf, s->obuf + s->ooff, s->olen - s->ooff);
                        s->olen -= s->ooff;
                        s->ooff = 0;
                }
                if (s->olen + n > s->oalloc) {
                        p = realloc(s->obuf, a);
                        if (!p)
                                return -ENOMEM;
                        s->obuf = p;
                        s->oalloc = a;
                }
        }
        memcpy(s->obuf + s->olen, f, n);
        s->olen += n;
        return 0;
}

static int queue_data(Session *s, Bistro__Vsh__Stream stream, const uint8_t *p, size_t n) {
        Bistro__Vsh__GuestMessage g = BISTRO__VSH__GUEST_MESSAGE__INIT;
        Bistro__Vsh__DataMessage d = BISTRO__VSH__DATA_MESSAGE__INIT;

        d.stream = stream;
        d.data.data = (uint8_t *) p;
        d.data.len = n;
        g.msg_case = BISTRO__VSH__GUEST_MESSAGE__MSG_DATA;
        g.data = &d;
        return queue_frame(s, BISTRO__MESSAGE_TYPE__GUEST_MESSAGE, FRAME_EVENT, 0, &g.base);
}

static int queue_status(Session *s) {
        Bistro__Vsh__GuestMessage g = BISTRO__VSH__GUEST_MESSAGE__INIT;
        Bistro__Vsh__ExitStatus e = BISTRO__VSH__EXIT_STATUS__INIT;

        if (WIFSIGNALED(s->status)) {
                e.result_case = BISTRO__VSH__EXIT_STATUS__RESULT_KILLED_BY_SIGNAL;
                e.killed_by_signal = (uint32_t) WTERMSIG(s->status);
        } else {
                e.result_case = BISTRO__VSH__EXIT_STATUS__RESULT_EXIT_CODE;
                e.exit_code = (uint32_t) WEXITSTATUS(s->status) & 0xffu;
        }
        g.msg_case = BISTRO__VSH__GUEST_MESSAGE__MSG_STATUS;
        g.status = &e;
        return queue_frame(s, BISTRO__MESSAGE_TYPE__GUEST_MESSAGE, FRAME_EVENT, 0, &g.base);
}

static void signal_process(Session *s, int sig) {
        pid_t pgrp = -1;

        if (s->exited)
                return;
        if (s->tty && s->out_fd >= 0)
                pgrp = tcgetpgrp(s->out_fd);
        if (pgrp <= 0)
                pgrp = s->pid; /* the child made itself a session and process group leader */
        if (kill(-pgrp, sig) < 0 && kill(s->pid, sig) < 0)
                log_debug_errno(errno, "kill(%d, %d): %m", (int) pgrp, sig);
}

static void close_stdin(Session *s) {
        if (s->in_fd < 0)
                return;
        if (s->tty) {
                struct termios t;
                char c = 4;

                /* A pty has no half close: the line discipline's end-of-file character. */
                if (tcgetattr(s->in_fd, &t) >= 0 && t.c_cc[VEOF] != _POSIX_VDISABLE)
                        c = (char) t.c_cc[VEOF];
                if (write(s->in_fd, &c, 1) < 0)
                        log_debug_errno(errno, "Cannot write VEOF: %m");
                s->in_fd = -EBADF; /* the master stays open as out_fd */
        } else
                s->in_fd = safe_close(s->in_fd);
}

static int handle_host_message(Session *s, const Bistro__Vsh__HostMessage *m) {
        switch (m->msg_case) {
        case BISTRO__VSH__HOST_MESSAGE__MSG_DATA:
                if (s->in_eof)
                        return 0; /* data after eof: dropped */
                if (s->in_fd >= 0 && m->data->data.len > 0) {
                        memcpy(s->in_buf, m->data->data.data, m->data->data.len);
                        s->in_len = m->data->data.len;
                        s->in_off = 0;
                }
                if (m->data->eof) {
                        s->in_eof = true;
                        if (s->in_len == 0)
                                close_stdin(s);
                }
                return 0;
        case BISTRO__VSH__HOST_MESSAGE__MSG_RESIZE: {
                struct winsize w = { .ws_row = (unsigned short) m->resize->rows,
                                     .ws_col = (unsigned short) m->resize->cols };

                if (s->tty && s->out_fd >= 0 && ioctl(s->out_fd, TIOCSWINSZ, &w) < 0)
                        log_debug_errno(errno, "TIOCSWINSZ: %m");
                return 0;
        }
        case BISTRO__VSH__HOST_MESSAGE__MSG_SIGNAL:
                /* The enum's values are the signal numbers. */
                signal_process(s, (int) m->signal->signal);
                return 0;
        default:
                return -EBADMSG;
        }
}

/* Decodes and handles frames already read, until the buffer is used up or stdin data waits. */
static int process_input(Session *s) {
        while (s->roff < s->rlen && s->in_len == 0) {
                _cleanup_message_ ProtobufCMessage *m = NULL;
                Frame f = {};
                size_t used = 0;
                int r;

                r = frame_decoder_feed(&s->dec, s->rbuf + s->roff, s->rlen - s->roff, &used, &f);
                s->roff += used;
                if (r < 0)
                        return log_warning_errno(r, "Bad frame from the host: %m");
                if (r == 0)
                        break;
                if (f.header.type != BISTRO__MESSAGE_TYPE__HOST_MESSAGE) {
                        frame_done(&f);
                        return log_warning_errno(
                                SYNTHETIC_ERRNO(EBADMSG), "Unexpected message type %u from the host.",
                                f.header.type);
                }
                r = wire_unpack(f.header.type, f.payload, f.header.length, &m);
                frame_done(&f);
                if (r < 0)
                        return log_warning_errno(r, "Invalid HostMessage: %m");
                r = handle_host_message(s, (const Bistro__Vsh__HostMessage *) m);
                if (r < 0)
                        return r;
        }
        if (s->roff == s->rlen)
                s->roff = s->rlen = 0;
        return 0;
}

static void reap(Session *s) {
        int st;
        pid_t p;

        if (s->exited)
                return;
        p = waitpid(s->pid, &st, WNOHANG);
        if (p == s->pid) {
                s->exited = true;
                s->status = st;
                s->pidfd = safe_close(s->pidfd);
        } else if (p < 0 && errno == ECHILD) {
                /* Not ours to wait for (should not happen: we are the subreaper). */
                s->exited = true;
                s->status = 255 << 8;
                s->pidfd = safe_close(s->pidfd);
        }
}

static int obuf_reserve(Session *s, size_t n) {
        if (s->ooff > 0 && s->ooff == s->olen)
                s->ooff = s->olen = 0;
        if (s->olen + n <= s->oalloc)
                return 0;
        if (s->ooff > 0) {
                memmove(s->obuf, s->obuf + s->ooff, s->olen - s->ooff);
                s->olen -= s->ooff;
                s->ooff = 0;
        }
        if (s->olen + n > s->oalloc) {
                size_t a = MAX(s->oalloc * 2, s->olen + n);
                uint8_t *p = realloc(s->obuf, a);

                if (!p)
                        return -ENOMEM;
                s->obuf = p;
                s->oalloc = a;
        }
        return 0;
}

static void put_varint3(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) ((v & 0x7fu) | 0x80u);
        p[1] = (uint8_t) (((v >> 7) & 0x7fu) | 0x80u);
        p[2] = (uint8_t) (v >> 14);
}

void vshd_data_frame_prefix(uint8_t out[static VSHD_DATA_PREFIX], uint32_t stream, size_t n) {
        /* GuestMessage { data (1, len) = DataMessage { stream (1, varint), data (2, len) } }, the
         * same bytes protobuf-c writes for n in [VSHD_DATA_FAST_MIN, PROTO_VSH_DATA_MAX]: both
         * lengths then take exactly three varint bytes. */
        uint32_t dlen = 1 + 1 + 1 + 3 + (uint32_t) n;
        FrameHeader h = {
                .type = BISTRO__MESSAGE_TYPE__GUEST_MESSAGE,
                .flags = FRAME_EVENT,
                .id = 0,
                .length = 1 + 3 + dlen,
        };
        uint8_t *p = out + FRAME_HEADER_SIZE;

        frame_header_pack(&h, out);
        p[0] = 0x0a;
        put_varint3(p + 1, dlen);
        p[4] = 0x08;
        p[5] = (uint8_t) stream;
        p[6] = 0x12;
        put_varint3(p + 7, (uint32_t) n);
}

/* Reads the process's output into frames of up to 32 KiB until nothing more is there or the
 * socket's queue is full. Returns false at EOF.
 *
 * Under TCG every syscall and every copy of the stream shows, so bulk data is read with one
 * readv() of up to READ_FRAMES frames straight into the send buffer, each behind room for its
 * frame header, which is written in place afterwards (vshd_data_frame_prefix()). A short tail goes
 * through the general (validating) encoder.
 *
 * A producer that writes small pieces (busybox's 4 KiB) would otherwise cost a frame and a vsock
 * packet per piece: on one vCPU the reader is woken for each write. After a short read we sleep
 * COALESCE_USEC once so the producer can fill the pipe: at most that much latency per chunk. */
static bool read_output(Session *s, int fd, Bistro__Vsh__Stream stream) {
        const size_t seg = VSHD_DATA_PREFIX + PROTO_VSH_DATA_MAX;
        bool slept = false;

        while (s->olen - s->ooff < OUT_HIGH) {
                struct iovec iov[READ_FRAMES];
                size_t n = 0, want = READ_FRAMES * PROTO_VSH_DATA_MAX, full, tail;
                uint8_t *base;
                bool eof = false;

                if (obuf_reserve(s, READ_FRAMES * seg) < 0)
                        return false;
                base = s->obuf + s->olen;
                while (n < want) {
                        size_t i = n / PROTO_VSH_DATA_MAX, off = n % PROTO_VSH_DATA_MAX, k_iov = 0;
                        ssize_t k;

                        for (size_t j = i; j < READ_FRAMES; j++, k_iov++) {
                                size_t o = j == i ? off : 0;

                                iov[k_iov].iov_base = base + j * seg + VSHD_DATA_PREFIX + o;
                                iov[k_iov].iov_len = PROTO_VSH_DATA_MAX - o;
                        }
                        k = readv(fd, iov, (int) k_iov);
                        if (k > 0) {
                                n += (size_t) k;
                                continue;
                        }
                        if (k < 0 && errno == EINTR)
                                continue;
                        if (k < 0 && errno == EAGAIN) {
                                if (n > 0 && n < COALESCE_BELOW && !slept) {
                                        slept = true;
                                        (void) usleep(COALESCE_USEC);
                                        continue;
                                }
                                break;
                        }
                        /* EOF, or EIO: the pty's last slave is closed. */
                        eof = true;
                        break;
                }

                full = n / PROTO_VSH_DATA_MAX;
                tail = n % PROTO_VSH_DATA_MAX;
                for (size_t j = 0; j < full; j++)
                        vshd_data_frame_prefix(base + j * seg, stream, PROTO_VSH_DATA_MAX);
                if (tail >= VSHD_DATA_FAST_MIN) {
                        vshd_data_frame_prefix(base + full * seg, stream, tail);
                        s->olen += full * seg + VSHD_DATA_PREFIX + tail;
                } else {
                        s->olen += full * seg;
                        if (tail > 0) {
                                uint8_t small[VSHD_DATA_FAST_MIN];

                                memcpy(small, s->obuf + s->olen + VSHD_DATA_PREFIX, tail);
                                if (queue_data(s, stream, small, tail) < 0)
                                        return false;
                        }
                }
                if (eof)
                        return false;
                if (n < want)
                        break;
        }
        return true;
}

static void hangup(Session *s) {
        /* The client is gone: what ran for it goes too. */
        signal_process(s, SIGHUP);
        if (!s->exited && s->pid > 0)
                (void) kill(-s->pid, SIGCONT);
}

static int relay(Session *s) {
        bool out_open = s->out_fd >= 0, err_open = s->err_fd >= 0, sock_eof = false;
        int r;

        for (;;) {
                struct pollfd p[5];
                enum {
                        P_SOCK,
                        P_IN,
                        P_OUT,
                        P_ERR,
                        P_CHILD
                };
                bool can_read_output = s->olen - s->ooff < OUT_HIGH;
                int timeout = -1;

                r = process_input(s);
                if (r < 0)
                        return r;

                if (s->exited && !out_open && !err_open && !s->status_sent) {
                        r = queue_status(s);
                        if (r < 0)
                                return r;
                        s->status_sent = true;
                }
                if (s->status_sent && s->ooff == s->olen)
                        return 0;

                p[P_SOCK] = (struct pollfd){ .fd = s->sock };
                if (!sock_eof && s->in_len == 0 && s->rlen == 0)
                        p[P_SOCK].events |= POLLIN;
                if (s->ooff < s->olen)
                        p[P_SOCK].events |= POLLOUT;
                p[P_IN] = (struct pollfd){ .fd = s->in_len > 0 ? s->in_fd : -1, .events = POLLOUT };
                p[P_OUT] = (struct pollfd){ .fd = out_open && can_read_output ? s->out_fd : -1,
                                            .events = POLLIN };
                p[P_ERR] = (struct pollfd){ .fd = err_open && can_read_output ? s->err_fd : -1,
                                            .events = POLLIN };
                p[P_CHILD] = (struct pollfd){ .fd = s->exited ? -1 : s->pidfd, .events = POLLIN };
                if (s->exited && s->tty && out_open && can_read_output)
                        timeout = PTY_DRAIN_MS;

                r = poll(p, ELEMENTSOF(p), timeout);
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "poll: %m");
                }
                if (r == 0 && timeout >= 0) {
                        /* The pty stayed quiet after the exit: whatever holds it open now is a
                         * background job that does not belong to the session any more. */
                        out_open = false;
                        continue;
                }

                if (p[P_SOCK].events & POLLIN && p[P_SOCK].revents & (POLLIN | POLLHUP | POLLERR)) {
                        ssize_t n = recv(s->sock, s->rbuf, sizeof(s->rbuf), MSG_DONTWAIT);

                        if (n < 0 && errno != EAGAIN && errno != EINTR) {
                                log_debug_errno(errno, "recv: %m");
                                hangup(s);
                                return -errno;
                        }
                        if (n == 0) {
                                sock_eof = true;
                                if (frame_decoder_eof(&s->dec) < 0 || !s->status_sent) {
                                        log_info("The client closed the connection.");
                                        hangup(s);
                                        return -ECONNRESET;
                                }
                        }
                        if (n > 0) {
                                s->rlen = (size_t) n;
                                s->roff = 0;
                        }
                } else if (p[P_SOCK].revents & (POLLHUP | POLLERR)) {
                        /* Not reading (stdin is full), but the peer is gone. */
                        hangup(s);
                        return -ECONNRESET;
                }

                if (p[P_IN].revents) {
                        ssize_t n = write(s->in_fd, s->in_buf + s->in_off, s->in_len - s->in_off);

                        if (n < 0 && errno != EAGAIN && errno != EINTR) {
                                /* The process closed its stdin (EPIPE) or the pty is gone (EIO). */
                                s->in_len = s->in_off = 0;
                                if (s->in_fd != s->out_fd)
                                        s->in_fd = safe_close(s->in_fd);
                                else
                                        s->in_fd = -EBADF;
                        } else if (n > 0) {
                                s->in_off += (size_t) n;
                                if (s->in_off == s->in_len) {
                                        s->in_len = s->in_off = 0;
                                        if (s->in_eof)
                                                close_stdin(s);
                                }
                        }
                }

                if (p[P_OUT].revents)
                        out_open = read_output(s, s->out_fd, BISTRO__VSH__STREAM__STREAM_STDOUT);
                if (p[P_ERR].revents)
                        err_open = read_output(s, s->err_fd, BISTRO__VSH__STREAM__STREAM_STDERR);
                /* After reading the process: one send for all the frames that are ready. */
                if (s->ooff < s->olen && (p[P_SOCK].revents & POLLOUT || !(p[P_SOCK].events & POLLOUT))) {
                        ssize_t n = send(
                                s->sock, s->obuf + s->ooff, s->olen - s->ooff, MSG_NOSIGNAL | MSG_DONTWAIT);

                        if (n < 0 && errno != EAGAIN && errno != EINTR) {
                                log_debug_errno(errno, "send: %m");
                                hangup(s);
                                return -errno;
                        }
                        if (n > 0)
                                s->ooff += (size_t) n;
                }
                if (p[P_CHILD].revents)
                        reap(s);
        }
}

static int open_pty(const VshSetup *req, int *ret_master, int *ret_slave) {
        _cleanup_close_ int master = -EBADF, slave = -EBADF;
        struct winsize w = { .ws_row = (unsigned short) req->window_rows,
                             .ws_col = (unsigned short) req->window_cols };
        char name[128];

        master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (master < 0)
                return -errno;
        if (grantpt(master) < 0 || unlockpt(master) < 0)
                return -errno;
        if (ptsname_r(master, name, sizeof(name)) != 0)
                return -errno;
        slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (slave < 0)
                return -errno;
        /* The size is there before the process starts. */
        if (ioctl(master, TIOCSWINSZ, &w) < 0)
                return -errno;
        *ret_master = TAKE_FD(master);
        *ret_slave = TAKE_FD(slave);
        return 0;
}

/* Reads what the child reports on the error pipe: nothing (EOF) when it execed. */
static int read_spawn_error(int fd, char **reterr_message) {
        char err[VSHD_ERROR_MAX];
        size_t n = 0;

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t k;
                int r;

                r = poll(&p, 1, SPAWN_TIMEOUT_MS);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0)
                        return set_error_message(reterr_message, -errno, "poll: %m");
                if (r == 0)
                        return set_error_message(
                                reterr_message, -ETIMEDOUT, "the process did not start within %d s",
                                SPAWN_TIMEOUT_MS / 1000);
                k = read(fd, err + n, sizeof(err) - 1 - n);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                n += (size_t) k;
                if (n >= sizeof(err) - 1)
                        break;
        }
        err[n] = 0;
        return n > 0 ? set_error_message(reterr_message, -ENOEXEC, "%s", err) : 0;
}

static int spawn(Session *s, const VshSetup *req, char **reterr_message) {
        _cleanup_close_ int master = -EBADF, slave = -EBADF, epipe_r = -EBADF, epipe_w = -EBADF;
        int in[2] = { -EBADF, -EBADF }, out[2] = { -EBADF, -EBADF }, errp[2] = { -EBADF, -EBADF };
        VshdExec x = { .setup = req, .tty = req->tty, .in_container = req->container[0] != 0 };
        int ep[2], r;
        pid_t pid = 0;

        if (req->tty) {
                /* A container's comes from its own devpts (vshd_spawn_container()). */
                if (!x.in_container) {
                        r = open_pty(req, &master, &slave);
                        if (r < 0)
                                return set_error_message(
                                        reterr_message, r, "cannot allocate a pty: %s", strerror(-r));
                        x.stdio[0] = x.stdio[1] = x.stdio[2] = slave;
                }
        } else {
                if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
                        r = set_error_message(reterr_message, -errno, "cannot create pipes: %m");
                        goto fail_pipes;
                }
                /* Room for a producer to run ahead while we send (best effort). */
                (void) fcntl(in[1], F_SETPIPE_SZ, PIPE_SIZE);
                (void) fcntl(out[1], F_SETPIPE_SZ, PIPE_SIZE);
                (void) fcntl(errp[1], F_SETPIPE_SZ, PIPE_SIZE);
                x.stdio[0] = in[0];
                x.stdio[1] = out[1];
                x.stdio[2] = errp[1];
        }
        if (pipe2(ep, O_CLOEXEC) < 0) {
                r = set_error_message(reterr_message, -errno, "cannot create a pipe: %m");
                goto fail_pipes;
        }
        epipe_r = ep[0];
        epipe_w = ep[1];
        x.error_fd = epipe_w;

        if (x.in_container)
                r = vshd_spawn_container(&x, &master, &pid, reterr_message);
        else {
                /* No flags: vshd_exec_child() sets up signals, session and fds itself. */
                r = safe_fork(NULL, 0, &pid);
                if (r == 0)
                        vshd_exec_child(&x);
                if (r < 0)
                        (void) set_error_message(reterr_message, r, "fork: %s", strerror(-r));
        }
        epipe_w = safe_close(epipe_w);
        slave = safe_close(slave);
        safe_close(in[0]);
        safe_close(out[1]);
        safe_close(errp[1]);
        in[0] = out[1] = errp[1] = -EBADF;
        if (r < 0)
                goto fail_pipes;

        s->pid = pid;
        r = read_spawn_error(epipe_r, reterr_message);
        if (r < 0) {
                sigkill_wait(pid);
                goto fail_pipes;
        }
        s->pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (s->pidfd < 0) {
                r = set_error_message(reterr_message, -errno, "pidfd_open: %m");
                (void) kill(pid, SIGKILL);
                goto fail_pipes;
        }

        s->tty = req->tty;
        if (req->tty) {
                s->out_fd = TAKE_FD(master);
                s->in_fd = s->out_fd;
        } else {
                s->in_fd = in[1];
                s->out_fd = out[0];
                s->err_fd = errp[0];
        }
        (void) fd_nonblock(s->out_fd, true);
        (void) fd_nonblock(s->in_fd, true);
        if (s->err_fd >= 0)
                (void) fd_nonblock(s->err_fd, true);
        return 0;

fail_pipes:
        for (int i = 0; i < 2; i++) {
                safe_close(in[i]);
                safe_close(out[i]);
                safe_close(errp[i]);
        }
        return r;
}

static int send_response(int fd, uint64_t id, pid_t pid, const char *error) {
        Bistro__Vsh__SetupConnectionResponse resp = BISTRO__VSH__SETUP_CONNECTION_RESPONSE__INIT;

        resp.status = error ? BISTRO__VSH__CONNECTION_STATUS__CONNECTION_STATUS_FAILED
                            : BISTRO__VSH__CONNECTION_STATUS__CONNECTION_STATUS_READY;
        resp.pid = error ? 0 : pid;
        resp.error = (char *) (error ?: "");
        return wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__SETUP_CONNECTION_RESPONSE, FRAME_RESPONSE, id, &resp.base, 10000);
}

/* Keeps only what the validator accepts in an error text (it came from errno strings and names we
 * validated, but a message must never make the response unsendable). */
static void sanitize(char *e) {
        for (char *p = e; *p; p++)
                if ((unsigned char) *p < 0x20 && *p != '\n' && *p != '\t')
                        *p = ' ';
                else if ((unsigned char) *p >= 0x80)
                        *p = '?';
}

int vshd_session_run(int fd) {
        _cleanup_message_ ProtobufCMessage *msg = NULL;
        Session s = {
                .sock = fd,
                .in_fd = -EBADF,
                .out_fd = -EBADF,
                .err_fd = -EBADF,
                .pidfd = -EBADF,
                .dec = FRAME_DECODER_INIT,
        };
        const VshSetup *req;
        FrameHeader h = {};
        _cleanup_free_ char *err = NULL;
        int r;

        (void) signal(SIGPIPE, SIG_IGN);
        /* liblxc's attach may leave the attached process to us rather than as our child. */
        (void) prctl(PR_SET_CHILD_SUBREAPER, 1);

        r = wire_recv_sync(fd, VSHD_SETUP_TIMEOUT_MS, &h, &msg);
        if (r < 0) {
                log_warning_errno(r, "No valid SetupConnectionRequest: %m");
                goto finish;
        }
        if (h.type != BISTRO__MESSAGE_TYPE__SETUP_CONNECTION_REQUEST || h.flags != FRAME_REQUEST) {
                r = log_warning_errno(
                        SYNTHETIC_ERRNO(EBADMSG), "Expected a SetupConnectionRequest, got type %u.", h.type);
                goto finish;
        }
        req = (const VshSetup *) msg;
        log_info(
                "Session: %s%s, user '%s', %s, %s.", req->container[0] ? "container " : "the VM",
                req->container, req->user, req->n_argv > 0 ? req->argv[0] : "login shell",
                req->tty ? "pty" : "pipes");

        r = spawn(&s, req, &err);
        if (r < 0) {
                if (!err)
                        err = strdup(strerror(-r));
                if (err) {
                        /* The message is sent whole, within what the field may hold. */
                        if (strlen(err) >= VSHD_ERROR_MAX)
                                err[VSHD_ERROR_MAX - 1] = 0;
                        sanitize(err);
                }
                log_warning("Session failed: %s", err ?: "out of memory");
                (void) send_response(fd, h.id, 0, err ?: "out of memory");
                goto finish;
        }
        r = send_response(fd, h.id, s.pid, NULL);
        if (r < 0) {
                log_warning_errno(r, "Cannot send the response: %m");
                hangup(&s);
                goto finish;
        }
        msg = message_free(msg);

        r = relay(&s);
        if (r >= 0) {
                /* Everything is sent: wait (bounded) for the client to close, so the last frames
                 * are not lost to a reset. */
                struct pollfd p = { .fd = s.sock, .events = POLLIN };
                char buf[4096];

                (void) shutdown(s.sock, SHUT_WR);
                while (poll(&p, 1, CLOSE_WAIT_MS) > 0 && recv(s.sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
                        ;
        }
finish:
        session_done(&s);
        return r < 0 ? 1 : 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One Wayland client of a container (docs/design/sommelier.md, "The host's Wayland gate"). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "buffer.h"
#include "common.pb-c.h"
#include "container.pb-c.h"
#include "fd-util.h"
#include "gate-session.h"
#include "log.h"
#include "macro.h"
#include "path-lookup.h"
#include "path-util.h"
#include "sandbox.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "stream-relay.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "token-store.h"
#include "waypipe-bundle.h"
#include "wayland-filter.h"
#include "wire-client.h"

#define HELLO_TIMEOUT_MS 10000
#define REPLY_TIMEOUT_MS 10000
#define WAYPIPE_START_USEC (10 * USEC_PER_SEC)
#define WAYPIPE_STOP_USEC (2 * USEC_PER_SEC)
#define WL_READ_SIZE (64u * 1024u)
/* libwayland sends at most 28 fds with one sendmsg(); a peer that passes more in one go is broken. */
#define WL_FDS_PER_READ 28u
/* Received but not yet sent on; the kernel's own cap for one SCM_RIGHTS message is 253. */
#define WL_FDS_QUEUED_MAX 253u
#define WAYPIPE_INNER_DIR "/waypipe"
#define SESSION_INNER_DIR "/run"
#define WAYPIPE_SOCKET "wp.sock"

/* Wayland messages one way: filtered bytes and the fds that came with them, until written. */
typedef struct WlWay {
        Buffer out;
        int fds[WL_FDS_QUEUED_MAX];
        size_t n_fds;
} WlWay;

typedef struct Session {
        int vsock, channel;       /* raw: the container's stream, waypipe's channel socket */
        int wl_client, wl_server; /* Wayland: waypipe's connection, the compositor's */
        WlWay wl[2];              /* 0: client -> compositor, 1: compositor -> client */
        WaylandFilter *filter;
} Session;

static void session_done(Session *s) {
        safe_close(s->vsock);
        safe_close(s->channel);
        safe_close(s->wl_client);
        safe_close(s->wl_server);
        for (size_t i = 0; i < 2; i++) {
                buffer_done(&s->wl[i].out);
                for (size_t k = 0; k < s->wl[i].n_fds; k++)
                        safe_close(s->wl[i].fds[k]);
        }
        wayland_filter_free(s->filter);
}

/* Reads the first frame; the token names the container. On failure the peer got an ErrorReply. */
static int read_hello(int fd, const GateOptions *o, uint64_t *ret_id, NameBuf ret_container) {
        _cleanup_(message_freep) ProtobufCMessage *m = NULL;
        const Bistro__Container__WaylandConnectRequest *req;
        FrameHeader h;
        int r;

        r = wire_recv_sync(fd, HELLO_TIMEOUT_MS, &h, &m);
        if (r < 0)
                return log_warning_errno(r, "VM '%s': no valid WaylandConnectRequest: %m", o->vm);
        if (h.type != BISTRO__MESSAGE_TYPE__WAYLAND_CONNECT_REQUEST || h.flags != FRAME_REQUEST) {
                (void) wire_reply_error_sync(
                        fd, h.id, -EBADMSG, REPLY_TIMEOUT_MS, "expected a WaylandConnectRequest");
                return log_warning_errno(
                        SYNTHETIC_ERRNO(EBADMSG),
                        "VM '%s': message type %u instead of WaylandConnectRequest.", o->vm,
                        (unsigned) h.type);
        }
        req = (const Bistro__Container__WaylandConnectRequest *) m;
        r = token_store_find(o->tokens_dir, o->vm, req->token, ret_container);
        if (r < 0) {
                (void) wire_reply_error_sync(fd, h.id, -EACCES, REPLY_TIMEOUT_MS, "unknown container token");
                return log_warning_errno(r, "VM '%s': a Wayland client with an unknown token: %m", o->vm);
        }
        *ret_id = h.id;
        return 0;
}

static int connect_compositor(int fd, uint64_t id, const GateOptions *o, const char *container) {
        _cleanup_free_ char *path = NULL;
        int r, s;

        r = host_wayland_socket(&path);
        if (r == -ENXIO) {
                (void) wire_reply_error_sync(
                        fd, id, -ENXIO, REPLY_TIMEOUT_MS,
                        "no Wayland session on the host (WAYLAND_DISPLAY is not set for Bistro's daemons): "
                        "GUI apps cannot show windows");
                return log_warning_errno(
                        r, "VM '%s': %s wants to show a window, but WAYLAND_DISPLAY is not set.", o->vm,
                        container);
        }
        if (r < 0) {
                (void) wire_reply_error_sync(
                        fd, id, r, REPLY_TIMEOUT_MS, "the host's WAYLAND_DISPLAY is not usable");
                return log_warning_errno(r, "VM '%s': WAYLAND_DISPLAY is not usable: %m", o->vm);
        }
        s = unix_connect(path);
        if (s < 0) {
                (void) wire_reply_error_sync(
                        fd, id, s, REPLY_TIMEOUT_MS, "cannot connect to the host's Wayland display %s: %s",
                        path, strerror(-s));
                return log_warning_errno(
                        s, "VM '%s': cannot connect to the Wayland display %s: %m", o->vm, path);
        }
        return s;
}

/* waypipe's client end for this one Wayland client: WAYLAND_SOCKET is our end of wl_fd (it never sees
 * the compositor), and its channel socket is the only file it can create. */
static int waypipe_spawn(const GateOptions *o, const char *dir, int wl_fd, pid_t *ret_pid) {
        const char *bundle = o->sandbox ? WAYPIPE_INNER_DIR : o->waypipe_dir;
        const char *inner = o->sandbox ? SESSION_INNER_DIR : dir;
        _cleanup_free_ char *sock = NULL, *rt_env = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        char *args[] = { (char *) "--no-gpu", (char *) "--oneshot",
                         (char *) "--socket", NULL,
                         (char *) "client",   NULL };
        pid_t pid;
        int r;

        sock = path_join(inner, WAYPIPE_SOCKET);
        if (!sock || asprintf(&rt_env, "XDG_RUNTIME_DIR=%s", inner) < 0)
                return -ENOMEM;
        args[3] = sock;
        r = waypipe_bundle_argv(bundle, args, &argv);
        if (r < 0)
                return r;
        r = safe_fork_full(
                "waypipe", FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_DEATHSIG | FORK_NULL_STDIN, &wl_fd,
                1, &pid);
        if (r < 0)
                return r;
        if (r == 0) {
                char *envp[] = { (char *) "WAYLAND_SOCKET=3", rt_env, NULL };
                const SandboxOptions so = {
                        .dir = dir,
                        .inner_dir = SESSION_INNER_DIR,
                        .dir_writable = true,
                        .chdir_inner = true,
                        .exec_dir = o->waypipe_dir,
                        .exec_inner_dir = WAYPIPE_INNER_DIR,
                };
                char *msg = NULL;

                if (dup2(wl_fd, 3) < 0) /* dup2() leaves the copy inheritable */
                        _exit(126);
                if (o->sandbox && sandbox_enter_exec(&so, &msg) < 0) {
                        dprintf(2, "wayland-gate: cannot confine waypipe: %s\n", msg ?: "setting up failed");
                        _exit(126);
                }
                execve(argv[0], argv, envp);
                dprintf(2, "wayland-gate: cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }
        *ret_pid = pid;
        return 0;
}

/* Connects to waypipe's channel socket once it listens; fails when waypipe exits first. */
static int waypipe_connect(const char *dir, pid_t pid) {
        _cleanup_free_ char *sock = path_join(dir, WAYPIPE_SOCKET);
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + WAYPIPE_START_USEC;
        int status;

        if (!sock)
                return -ENOMEM;
        for (;;) {
                int fd = unix_connect(sock);

                if (fd >= 0)
                        return fd;
                if (fd != -ENOENT && fd != -ECONNREFUSED)
                        return fd;
                if (waitpid(pid, &status, WNOHANG) == pid)
                        return -ECHILD;
                if (now_usec(CLOCK_MONOTONIC) > deadline)
                        return -ETIMEDOUT;
                (void) usleep(5000);
        }
}

/* SIGTERM, then SIGKILL if it lingers; reaped either way. */
static void child_stop(pid_t pid) {
        if (pid <= 0)
                return;
        (void) kill(pid, SIGTERM);
        (void) wait_for_terminate_timeout(pid, WAYPIPE_STOP_USEC);
}

/* Reads Wayland bytes and fds from `from`, through the filter into w. */
static int wl_read(Session *s, size_t dir, int from) {
        WlWay *w = &s->wl[dir];
        uint8_t buf[WL_READ_SIZE];
        union {
                struct cmsghdr h;
                uint8_t space[CMSG_SPACE(sizeof(int) * WL_FDS_PER_READ)];
        } control = {};
        struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
        struct msghdr mh = {
                .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof(control)
        };
        ssize_t n;
        int r;

        n = recvmsg(from, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (cmsg_take_fds(&mh, w->fds, &w->n_fds, WL_FDS_QUEUED_MAX) > 0)
                return -EMFILE; /* a peer that passes fds without the messages that use them */
        if (mh.msg_flags & MSG_CTRUNC)
                return -EMFILE; /* fds were lost: the peer sent more than any Wayland message has */
        if (n == 0)
                return -ECONNRESET;
        r = dir == 0 ? wayland_filter_client(s->filter, buf, (size_t) n, &w->out)
                     : wayland_filter_server(s->filter, buf, (size_t) n, &w->out);
        return r < 0 ? r : 0;
}

/* Sends what is queued; fds go with the first byte they can go with. */
static int wl_write(WlWay *w, int to) {
        union {
                struct cmsghdr h;
                uint8_t space[CMSG_SPACE(sizeof(int) * WL_FDS_QUEUED_MAX)];
        } control = {};
        struct iovec iov;
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        ssize_t n;

        if (w->out.size == 0)
                return 0;
        iov = (struct iovec){ .iov_base = w->out.data, .iov_len = w->out.size };
        if (w->n_fds > 0)
                cmsg_put_fds(&mh, &control, w->fds, w->n_fds);
        n = sendmsg(to, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        for (size_t k = 0; k < w->n_fds; k++)
                safe_close(w->fds[k]);
        w->n_fds = 0;
        buffer_consume(&w->out, (size_t) n);
        return 0;
}

static bool wl_pending(const WlWay *w) {
        return w->out.size > 0;
}

/* Until either Wayland side closes or fails, or waypipe or the raw relay ends (then waypipe's
 * sockets close too). */
static int session_loop(Session *s, pid_t waypipe, pid_t relay) {
        for (;;) {
                struct pollfd p[2] = { { .fd = s->wl_client }, { .fd = s->wl_server } };
                int r = 0;

                for (size_t i = 0; i < 2; i++) {
                        if (!wl_pending(&s->wl[i]))
                                p[i].events |= POLLIN; /* backpressure: read only when all is sent */
                        else
                                p[1 - i].events |= POLLOUT;
                }
                if (poll(p, ELEMENTSOF(p), 1000) < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (waitpid(waypipe, NULL, WNOHANG) == waypipe || waitpid(relay, NULL, WNOHANG) == relay)
                        return -ECHILD;
                for (size_t i = 0; i < 2 && r >= 0; i++) {
                        int from = i == 0 ? s->wl_client : s->wl_server,
                            to = i == 0 ? s->wl_server : s->wl_client;

                        if (p[i].revents & (POLLIN | POLLHUP | POLLERR))
                                r = wl_read(s, i, from);
                        if (r >= 0)
                                r = wl_write(&s->wl[i], to);
                }
                if (r < 0)
                        return r;
        }
}

/* After set-up, all a session does is move bytes between four sockets and stop waypipe. */
static const int session_syscalls[] = {
        SCMP_SYS(brk),
        SCMP_SYS(clock_gettime),
        SCMP_SYS(clock_nanosleep),
        SCMP_SYS(close),
        SCMP_SYS(exit),
        SCMP_SYS(exit_group),
        SCMP_SYS(fcntl),
        SCMP_SYS(getpid),
        SCMP_SYS(gettid),
        SCMP_SYS(gettimeofday),
        SCMP_SYS(kill),
        SCMP_SYS(madvise),
        SCMP_SYS(mremap),
        SCMP_SYS(munmap),
        SCMP_SYS(nanosleep),
        SCMP_SYS(poll),
        SCMP_SYS(ppoll),
        SCMP_SYS(read),
        SCMP_SYS(recvmsg),
        SCMP_SYS(restart_syscall),
        SCMP_SYS(rt_sigreturn),
        SCMP_SYS(sendmsg),
        SCMP_SYS(sendto),
        SCMP_SYS(shutdown),
        SCMP_SYS(splice),
        SCMP_SYS(pipe2),
        SCMP_SYS(wait4),
        SCMP_SYS(write),
        SCMP_SYS(writev),
};

static int session_confine(const GateOptions *o) {
        const SandboxOptions so = {
                .syscalls = session_syscalls,
                .n_syscalls = ELEMENTSOF(session_syscalls),
        };
        _cleanup_free_ char *msg = NULL;
        int r;

        if (!o->sandbox)
                return 0;
        /* The filter only, no namespaces: a session in a user namespace of its own could no longer
         * signal its waypipe. The session has nothing to open and no one to connect to anyway. */
        r = sandbox_enter_filter(&so, &msg);
        if (r < 0)
                return log_error_errno(
                        r, "VM '%s': cannot confine the Wayland session: %s", o->vm, msg ?: "");
        return 0;
}

/* The raw stream between the container and waypipe, in a child: stream-relay's splice loop. */
static int relay_spawn(Session *s, const GateOptions *o, pid_t *ret_pid) {
        int fds[2] = { s->vsock, s->channel };
        pid_t pid;
        int r;

        r = safe_fork_full("wayland-relay", FORK_DEATHSIG, fds, 2, &pid);
        if (r < 0)
                return r;
        if (r == 0) {
                if (session_confine(o) < 0)
                        _exit(EXIT_FAILURE);
                _exit(stream_relay(s->vsock, s->channel) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        }
        s->vsock = safe_close(s->vsock);
        s->channel = safe_close(s->channel);
        *ret_pid = pid;
        return 0;
}

static int make_session_dir(const GateOptions *o, char **ret) {
        _cleanup_free_ char *dir = path_join(o->work_dir, "XXXXXX");

        if (!dir)
                return -ENOMEM;
        if (!mkdtemp(dir))
                return -errno;
        *ret = TAKE_PTR(dir);
        return 0;
}

static void remove_session_dir(const char *dir) {
        _cleanup_free_ char *sock = path_join(dir, WAYPIPE_SOCKET);

        if (sock)
                (void) unlink(sock);
        (void) rmdir(dir);
}

int gate_session_run(int fd, const GateOptions *o) {
        _cleanup_free_ char *dir = NULL;
        Session s = { .vsock = fd, .channel = -EBADF, .wl_client = -EBADF, .wl_server = -EBADF };
        Bistro__Empty empty = BISTRO__EMPTY__INIT;
        pid_t waypipe = 0, relay = 0;
        int sp[2] = { -EBADF, -EBADF };
        NameBuf container = "";
        uint64_t id = 0;
        int r;

        r = read_hello(fd, o, &id, container);
        if (r < 0)
                goto finish;
        r = connect_compositor(fd, id, o, container);
        if (r < 0)
                goto finish;
        s.wl_server = r;
        r = wayland_filter_new(container, o->mark, &s.filter);
        if (r < 0)
                goto fail_reply;
        r = make_session_dir(o, &dir);
        if (r < 0)
                goto fail_reply;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0) {
                r = -errno;
                goto fail_reply;
        }
        s.wl_client = sp[0];
        r = waypipe_spawn(o, dir, sp[1], &waypipe);
        sp[1] = safe_close(sp[1]);
        if (r < 0)
                goto fail_reply;
        r = waypipe_connect(dir, waypipe);
        if (r < 0)
                goto fail_reply;
        s.channel = r;
        /* waypipe accepts once (--oneshot) and needs the name no more. */
        remove_session_dir(dir);
        dir = mfree(dir);
        r = wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__EMPTY, FRAME_RESPONSE, id, &empty.base, REPLY_TIMEOUT_MS);
        if (r < 0) {
                log_debug_errno(
                        r, "VM '%s': %s's Wayland client left before the reply: %m", o->vm, container);
                goto finish;
        }
        log_debug("VM '%s': a Wayland client of %s (waypipe pid %d).", o->vm, container, (int) waypipe);
        r = relay_spawn(&s, o, &relay);
        if (r < 0) {
                log_warning_errno(r, "VM '%s': cannot relay a Wayland client of %s: %m", o->vm, container);
                goto finish;
        }
        r = session_confine(o);
        if (r < 0)
                goto finish;
        (void) fd_nonblock(s.wl_client, true);
        (void) fd_nonblock(s.wl_server, true);
        r = session_loop(&s, waypipe, relay);
        if (r == -EPROTO && wayland_filter_violation(s.filter))
                log_warning(
                        "VM '%s': a Wayland client of %s was cut off: %s.", o->vm, container,
                        wayland_filter_violation(s.filter));
        else if (r < 0 && r != -ECHILD && r != -ECONNRESET && r != -EPIPE)
                log_info_errno(r, "VM '%s': a Wayland client of %s ended: %m", o->vm, container);
        else
                r = 0;
        goto finish;

fail_reply:
        log_warning_errno(r, "VM '%s': cannot carry a Wayland client of %s: %m", o->vm, container);
        (void) wire_reply_error_sync(
                fd, id, r, REPLY_TIMEOUT_MS, "the host cannot carry this Wayland client: %s", strerror(-r));
finish:
        session_done(&s);
        child_stop(waypipe);
        child_stop(relay);
        if (dir)
                remove_session_dir(dir);
        return r;
}

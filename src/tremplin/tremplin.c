/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* tremplin: the container helper in the VM (docs/design/containers.md). Listens on vsock port
 * TREMPLIN_PORT (8890), accepts only the host (peer CID 2), and forks one worker per connection, which reads
 * the one request, does the (blocking) work through liblxc and answers. The main loop accepts, reaps,
 * answers a StartContainer of a container it knows to be running without a worker (tremplin-fast.h)
 * and, on SIGTERM (VM shutdown), stops the running containers and exits. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/vm_sockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "alloc-util.h"
#include "bistro-ports.h"
#include "fd-util.h"
#include "listen-fds.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "message-type.h"
#include "proto-validate.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "tremplin-container.h"
#include "tremplin-error.h"
#include "tremplin-fast.h"
#include "tremplin-import.h"
#include "tremplin-network.h"
#include "tremplin-subvol.h"
#include "wire.h"

#define WORKERS_MAX 32u
#define REQUEST_TIMEOUT_MS 10000
#define REPLY_TIMEOUT_MS 30000
#define WORKER_BOUND_S 3600u  /* no worker lives longer than this (create has its own, shorter bound) */
#define SHUTDOWN_STOP_MS 3000 /* SIGTERM: containers get this long to stop cleanly */
#define PENDING_MAX 8u
#define PENDING_WAIT_USEC (100 * USEC_PER_MSEC) /* then a worker reads the request */

typedef struct Manager Manager;

/* A connection whose request has not fully arrived: the fast path waits a little for it. */
typedef struct Pending {
        Manager *manager;
        int fd;
        sd_event_source *io, *timer;
} Pending;

struct Manager {
        sd_event *event;
        int listen_fd;
        sd_event_source *listen_source;
        pid_t workers[WORKERS_MAX];
        sd_event_source *worker_sources[WORKERS_MAX];
        RunningCache running;
        int report_fd[2]; /* workers write running containers to [1]; try_fast() reads [0] */
        Pending pending[PENDING_MAX];
};

/* The message travels whole (the LXC log tail the user needs), bounded at what an ErrorReply
 * holds, cut on a character boundary, its controls replaced. */
static int reply_error(int fd, uint64_t id, int error, const char *message) {
        Bistro__ErrorReply e = BISTRO__ERROR_REPLY__INIT;
        _cleanup_free_ char *text = NULL;

        if (error >= 0 || error < -4095)
                error = -EIO;
        text = error_text_sanitize(message && message[0] ? message : strerror(-error), ERROR_TEXT_MAX);
        e.error = error;
        e.message = text ?: (char *) "";
        return wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__ERROR_REPLY, FRAME_RESPONSE, id, &e.base, REPLY_TIMEOUT_MS);
}

static int reply_info(int fd, uint64_t id, Bistro__Tremplin__ContainerInfo *info, const StartResult *res) {
        Bistro__Tremplin__ContainerInfoResponse resp = BISTRO__TREMPLIN__CONTAINER_INFO_RESPONSE__INIT;
        int r;

        resp.container = info;
        if (res) {
                resp.user_ready = res->user_ready;
                resp.user_created = res->user_created;
                resp.started = res->started;
        }
        r = wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__TREMPLIN_CONTAINER_INFO_RESPONSE, FRAME_RESPONSE, id, &resp.base,
                REPLY_TIMEOUT_MS);
        container_info_done(info);
        return r;
}

static int reply_empty(int fd, uint64_t id) {
        Bistro__Empty e = BISTRO__EMPTY__INIT;

        return wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__EMPTY, FRAME_RESPONSE, id, &e.base, REPLY_TIMEOUT_MS);
}

/* Reads what the host still sends of a failed create (until eof or a quiet second), so that the
 * error reply is not lost in a connection reset. */
static void drain_image(int fd, uint64_t id) {
        for (unsigned i = 0; i < 100000; i++) {
                _cleanup_message_ ProtobufCMessage *msg = NULL;
                FrameHeader h;

                if (wire_recv_sync(fd, 1000, &h, &msg) < 0)
                        return;
                if (h.type != BISTRO__MESSAGE_TYPE__TREMPLIN_IMAGE_CHUNK ||
                    ((const Bistro__Tremplin__ImageChunk *) msg)->eof)
                        return;
        }
}

static int worker_run(int fd, int report_fd) {
        _cleanup_message_ ProtobufCMessage *msg = NULL;
        Bistro__Tremplin__ContainerInfo info = BISTRO__TREMPLIN__CONTAINER_INFO__INIT;
        _cleanup_free_ char *err = NULL;
        FrameHeader h;
        int r;

        r = wire_recv_sync(fd, REQUEST_TIMEOUT_MS, &h, &msg);
        if (r < 0)
                return log_debug_errno(r, "No request: %m");
        if (h.flags != FRAME_REQUEST)
                return -EBADMSG;
        log_debug("Request %s.", message_type_to_string(h.type) ?: "?");

        switch (h.type) {
        case BISTRO__MESSAGE_TYPE__TREMPLIN_CREATE_CONTAINER_REQUEST:
                r = container_create(fd, h.id, (const void *) msg, &info, &err);
                if (r < 0) {
                        (void) reply_error(fd, h.id, r, err);
                        drain_image(fd, h.id);
                        return r;
                }
                return reply_info(fd, h.id, &info, NULL);
        case BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST: {
                StartResult res = {};

                r = container_start((const void *) msg, &info, &res, &err);
                if (r < 0)
                        return reply_error(fd, h.id, r, err);
                if (info.init_pid > 0)
                        (void) running_report(report_fd, info.name, info.init_pid);
                return reply_info(fd, h.id, &info, &res);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_STOP_CONTAINER_REQUEST: {
                const Bistro__Tremplin__StopContainerRequest *req = (const void *) msg;

                r = container_stop(req->name, req->force, &err);
                return r < 0 ? reply_error(fd, h.id, r, err) : reply_empty(fd, h.id);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_ADD_SHARE_REQUEST:
                r = container_add_share((const void *) msg, &err);
                return r < 0 ? reply_error(fd, h.id, r, err) : reply_empty(fd, h.id);
        case BISTRO__MESSAGE_TYPE__TREMPLIN_REMOVE_SHARE_REQUEST:
                r = container_remove_share((const void *) msg, &err);
                return r < 0 ? reply_error(fd, h.id, r, err) : reply_empty(fd, h.id);
        case BISTRO__MESSAGE_TYPE__TREMPLIN_DELETE_CONTAINER_REQUEST: {
                const Bistro__Tremplin__DeleteContainerRequest *req = (const void *) msg;

                r = container_delete(req->name, &err);
                return r < 0 ? reply_error(fd, h.id, r, err) : reply_empty(fd, h.id);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_GET_CONTAINER_INFO_REQUEST: {
                const Bistro__Tremplin__GetContainerInfoRequest *req = (const void *) msg;

                r = container_get_info(req->name, &info, &err);
                return r < 0 ? reply_error(fd, h.id, r, err) : reply_info(fd, h.id, &info, NULL);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_SET_TIMEZONE_REQUEST: {
                const Bistro__Tremplin__SetTimezoneRequest *req = (const void *) msg;

                r = containers_set_timezone(req->name, req->tzif.data, req->tzif.len, &err);
                return r < 0 ? reply_error(fd, h.id, r, err) : reply_empty(fd, h.id);
        }
        case BISTRO__MESSAGE_TYPE__TREMPLIN_LIST_CONTAINERS_REQUEST: {
                Bistro__Tremplin__ListContainersResponse resp =
                        BISTRO__TREMPLIN__LIST_CONTAINERS_RESPONSE__INIT;
                Bistro__Tremplin__ContainerInfo **l = NULL;
                size_t n = 0;

                r = container_list(&l, &n, &err);
                if (r < 0)
                        return reply_error(fd, h.id, r, err);
                resp.containers = l;
                resp.n_containers = n;
                r = wire_send_sync(
                        fd, BISTRO__MESSAGE_TYPE__TREMPLIN_LIST_CONTAINERS_RESPONSE, FRAME_RESPONSE, h.id,
                        &resp.base, REPLY_TIMEOUT_MS);
                container_infos_free(l, n);
                return r;
        }
        default:
                return reply_error(fd, h.id, -EOPNOTSUPP, "not a tremplin request");
        }
}

static int peer_cid(int fd, uint32_t *ret) {
        struct sockaddr_vm sa = {};
        socklen_t len = sizeof(sa);

        if (getpeername(fd, (struct sockaddr *) &sa, &len) < 0)
                return -errno;
        if (sa.svm_family != AF_VSOCK)
                return -EAFNOSUPPORT;
        *ret = sa.svm_cid;
        return 0;
}

static void pending_done(Pending *p) {
        p->io = sd_event_source_disable_unref(p->io);
        p->timer = sd_event_source_disable_unref(p->timer);
        p->fd = safe_close(p->fd);
}

static void manager_done(Manager *m) {
        for (size_t i = 0; i < PENDING_MAX; i++)
                pending_done(&m->pending[i]);
        m->report_fd[0] = safe_close(m->report_fd[0]);
        m->report_fd[1] = safe_close(m->report_fd[1]);
        running_cache_done(&m->running);
        m->listen_source = sd_event_source_disable_unref(m->listen_source);
        for (size_t i = 0; i < WORKERS_MAX; i++)
                m->worker_sources[i] = sd_event_source_disable_unref(m->worker_sources[i]);
        m->listen_fd = safe_close(m->listen_fd);
        m->event = sd_event_unref(m->event);
}

static int on_worker_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Manager *m = userdata;

        for (size_t i = 0; i < WORKERS_MAX; i++)
                if (m->workers[i] == si->si_pid) {
                        m->workers[i] = 0;
                        m->worker_sources[i] = sd_event_source_disable_unref(m->worker_sources[i]);
                }
        if (si->si_code != CLD_EXITED)
                log_warning("Worker %d killed by signal %d.", (int) si->si_pid, si->si_status);
        return 0;
}

/* Hands fd (closed here in any case) to a new worker. */
static void start_worker(Manager *m, int fd) {
        size_t slot = WORKERS_MAX;
        pid_t pid;
        int r;

        for (size_t i = 0; i < WORKERS_MAX; i++)
                if (m->workers[i] == 0) {
                        slot = i;
                        break;
                }
        if (slot == WORKERS_MAX) {
                log_warning("Too many requests in progress, refusing one.");
                safe_close(fd);
                return;
        }
        /* The worker gets a fresh signal state (the loop blocks SIGTERM/SIGCHLD for its
         * signalfds), dies with us, and keeps only its connection and the report pipe: not the
         * listener, the cache's pidfds or other connections waiting in m->pending. */
        r = safe_fork_full(
                "tremplin-worker", FORK_RESET_SIGNALS | FORK_DEATHSIG | FORK_CLOSE_ALL_FDS,
                (int[]){ fd, m->report_fd[1] }, 2, &pid);
        if (r < 0) {
                log_error_errno(r, "Cannot fork a worker: %m");
                safe_close(fd);
                return;
        }
        if (r == 0) {
                (void) signal(SIGPIPE, SIG_IGN);
                (void) alarm(WORKER_BOUND_S);
                r = worker_run(fd, m->report_fd[1]);
                _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        }
        safe_close(fd);
        m->workers[slot] = pid;
        r = sd_event_add_child(m->event, &m->worker_sources[slot], pid, WEXITED, on_worker_exit, m);
        if (r < 0)
                log_warning_errno(r, "Cannot watch worker %d: %m", (int) pid);
}

/* Tries the fast path on fd: 1 answered (close fd), 0 a worker must take it, -EAGAIN the request
 * is not complete yet. Never closes fd. */
static int try_fast(Manager *m, int fd) {
        /* Reports of workers that finished just now come first: the request may be about them. */
        running_cache_read_reports(&m->running, m->report_fd[0]);
        return fast_start_try(&m->running, fd);
}

static void finish(Manager *m, int fd, int r) {
        if (r > 0)
                safe_close(fd);
        else
                start_worker(m, fd);
}

static int on_pending_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Pending *p = userdata;
        Manager *m = p->manager;
        int r;

        r = try_fast(m, p->fd);
        /* Edge-triggered: called again only when more arrives, never spinning on what is there. */
        if (r == -EAGAIN && !(revents & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
                return 0;
        fd = TAKE_FD(p->fd);
        /* Out of epoll before the fd goes: a worker's copy would keep the registration alive. */
        pending_done(p);
        finish(m, fd, r);
        return 0;
}

static int on_pending_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Pending *p = userdata;
        Manager *m = p->manager;
        int fd = TAKE_FD(p->fd);

        pending_done(p);
        start_worker(m, fd);
        return 0;
}

/* Waits up to PENDING_WAIT_USEC for the rest of the request; without a free slot or on error a
 * worker takes the connection at once. */
static void pending_add(Manager *m, int fd) {
        Pending *p = NULL;
        int r;

        for (size_t i = 0; i < PENDING_MAX && !p; i++)
                if (m->pending[i].fd < 0)
                        p = &m->pending[i];
        if (!p) {
                start_worker(m, fd);
                return;
        }
        *p = (Pending){ .manager = m, .fd = fd };
        r = sd_event_add_io(m->event, &p->io, fd, EPOLLIN | EPOLLRDHUP | EPOLLET, on_pending_io, p);
        if (r >= 0)
                r = sd_event_add_time_relative(
                        m->event, &p->timer, CLOCK_MONOTONIC, PENDING_WAIT_USEC, 1, on_pending_timeout, p);
        if (r < 0) {
                p->fd = -EBADF;
                pending_done(p);
                start_worker(m, fd);
        }
}

static int on_accept(sd_event_source *s, int lfd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        _cleanup_close_ int fd = -EBADF;
        uint32_t cid = 0;
        int r;

        fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0)
                return 0;
        r = peer_cid(fd, &cid);
        if (r < 0 || cid != VMADDR_CID_HOST) {
                log_warning("Refused a connection from CID %u: only the host (CID 2) may connect.", cid);
                return 0;
        }
        r = try_fast(m, fd);
        if (r == -EAGAIN)
                pending_add(m, TAKE_FD(fd));
        else
                finish(m, TAKE_FD(fd), r);
        return 0;
}

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        log_info("Stopping: no more requests, stopping the containers.");
        m->listen_source = sd_event_source_disable_unref(m->listen_source);
        m->listen_fd = safe_close(m->listen_fd);
        for (size_t i = 0; i < WORKERS_MAX; i++)
                if (m->workers[i] > 0)
                        (void) kill(m->workers[i], SIGKILL);
        containers_stop_all(SHUTDOWN_STOP_MS);
        return sd_event_exit(m->event, 0);
}

static int help(void) {
        printf("Usage: tremplin [--help]\n"
               "Bistro's container helper in the VM; vsock port %u, host only.\n",
               TREMPLIN_PORT);
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        opterr = 0; /* log_usage_bad_option() says it in our format */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("Unexpected argument: %s", argv[optind]);
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_done) Manager m = { .listen_fd = -EBADF, .report_fd = { -EBADF, -EBADF } };
        _cleanup_free_ char *why = NULL;
        sigset_t mask;
        int r;

        log_set_ident("tremplin");
        log_parse_environment();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        /* maitred listens on our port for its whole life and passes us the socket (started by hand,
         * we listen ourselves). Taken first: it, and LISTEN_*, must not reach what we spawn. */
        r = listen_fd_take_vsock(TREMPLIN_PORT, &m.listen_fd, &why);
        if (r < 0)
                return log_error_errno(
                        r, "Unusable socket passed by the service manager (%s), refusing to start: %m",
                        why ?: "?");
        if (r > 0)
                log_info("Using the socket for vsock port %u passed by the service manager.", TREMPLIN_PORT);
        (void) umask(0022);
        (void) signal(SIGPIPE, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask failed: %m");

        /* Usually nothing yet: concierge mounts the stateful disk after boot. Create and List
         * clean up again. */
        containers_cleanup_leftovers();
        r = network_setup();
        if (r < 0)
                log_warning_errno(r, "Container network setup failed (retried at each start): %m");

        running_cache_init(&m.running);
        for (size_t i = 0; i < PENDING_MAX; i++)
                m.pending[i].fd = -EBADF;
        /* Records are smaller than PIPE_BUF: each worker's write is atomic. */
        if (pipe2(m.report_fd, O_CLOEXEC | O_NONBLOCK) < 0)
                return log_error_errno(errno, "pipe failed: %m");

        r = sd_event_default(&m.event);
        if (r < 0)
                return log_error_errno(r, "sd_event_default failed: %m");
        if (m.listen_fd < 0) {
                m.listen_fd = vsock_listen(TREMPLIN_PORT, 16);
                if (m.listen_fd < 0)
                        return log_error_errno(
                                m.listen_fd, "Cannot listen on vsock port %u: %m", TREMPLIN_PORT);
        }
        r = sd_event_add_io(m.event, &m.listen_source, m.listen_fd, EPOLLIN, on_accept, &m);
        if (r >= 0)
                r = sd_event_add_signal(m.event, NULL, SIGTERM, on_term, &m);
        if (r >= 0)
                r = sd_event_add_signal(m.event, NULL, SIGINT, on_term, &m);
        if (r < 0)
                return log_error_errno(r, "Cannot set up the event loop: %m");
        log_info("Listening on vsock port %u.", TREMPLIN_PORT);
        r = sd_event_loop(m.event);
        if (r < 0)
                return log_error_errno(r, "The event loop failed: %m");
        return 0;
}

DEFINE_MAIN_FUNCTION(run);

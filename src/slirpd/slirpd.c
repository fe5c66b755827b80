/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* slirpd: the user-mode network of one VM, in its own sandboxed process. QEMU's stream netdev on one
 * end of a socketpair, libslirp (QEMU's own user-network engine) in here, ordinary sockets of the user
 * in the host's network namespace on the other side. See docs/design/slirpd.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libslirp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "cli-util.h"
#include "frame-filter.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "netdev-stream.h"
#include "slirpd.h"
#include "string-util.h"
#include "time-util.h"
/* Last: glib replaces macro.h's MIN() and MAX() with its own (the same) instead of clashing. */
#include <glib.h>

#define READ_CHUNK (64u * 1024u)
#define GUEST_LOG_BURST 10u                             /* guest-triggered messages per interval... */
#define GUEST_LOG_INTERVAL_NSEC (60ull * 1000000000ull) /* ...then silence until it ends */

static int arg_fd = -1;
static bool arg_host_loopback = false;
static bool arg_ipv6 = true;
static bool arg_sandbox = true;

typedef struct Timer Timer;
struct Timer {
        Timer *next;
        SlirpTimerId id;
        void *cb_opaque;
        int64_t expire_ms; /* on CLOCK_MONOTONIC; -1: not armed */
};

typedef struct Slirpd {
        Slirp *slirp;
        int fd; /* QEMU's stream */
        NetdevStreamReader reader;
        NetdevStreamOutbox outbox;
        Timer *timers;
        struct pollfd *pfds;
        size_t n_pfds, n_pfds_alloc;
        bool qemu_gone;
        bool oom;
        uint64_t dropped_out, dropped_in; /* frames */
        /* Rate limit for what the guest can make us log. */
        int64_t log_window_start;
        unsigned log_in_window, log_suppressed;
} Slirpd;

static int64_t monotonic_ns(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Guest-controlled text (libslirp's messages quote what the guest sent), escaped and rate-limited:
 * a guest must not be able to fill vmm.log. */
static void log_guest(Slirpd *s, int level, const char *prefix, const char *msg) {
        _cleanup_free_ char *e = NULL;
        int64_t now = monotonic_ns();

        if (log_get_max_level() < level)
                return;
        if (now - s->log_window_start >= (int64_t) GUEST_LOG_INTERVAL_NSEC) {
                if (s->log_suppressed > 0)
                        log_full(level, "%u more such messages suppressed.", s->log_suppressed);
                s->log_window_start = now;
                s->log_in_window = s->log_suppressed = 0;
        }
        if (s->log_in_window >= GUEST_LOG_BURST) {
                s->log_suppressed++;
                return;
        }
        s->log_in_window++;
        e = escape_for_terminal(msg, strlen(msg), false);
        log_full(level, "%s%s", prefix, e ?: "(out of memory)");
}

/* ---- towards QEMU ---- */

/* Writes as much of the outbox as the socket takes now. 0, or -EPIPE once QEMU is gone. */
static int flush_outbox(Slirpd *s) {
        const uint8_t *p;
        size_t n;

        while ((n = netdev_stream_outbox_pending(&s->outbox, &p)) > 0) {
                ssize_t k = send(s->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        s->qemu_gone = true;
                        return -EPIPE;
                }
                netdev_stream_outbox_consume(&s->outbox, (size_t) k);
        }
        return 0;
}

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque) {
        Slirpd *s = opaque;
        int r;

        if (s->qemu_gone)
                return (ssize_t) len;
        r = netdev_stream_outbox_queue(&s->outbox, buf, len);
        if (r == -ENOBUFS) {
                /* QEMU (the guest) does not keep up: drop the frame whole, as a full NIC queue does. */
                if (s->dropped_out++ == 0)
                        log_debug("Queue towards QEMU full, dropping frames.");
                return (ssize_t) len;
        }
        if (r < 0) {
                log_debug(
                        "Dropping a %zu-byte frame from libslirp: longer than %u bytes.", len,
                        NETDEV_FRAME_MAX);
                return (ssize_t) len;
        }
        /* Written out now when the socket takes it, so that frames do not wait for the next poll. */
        (void) flush_outbox(s);
        return (ssize_t) len;
}

/* ---- libslirp's other callbacks ---- */

static void cb_guest_error(const char *msg, void *opaque) {
        log_guest(opaque, LOG_DEBUG, "guest error: ", msg);
}

static int64_t cb_clock_get_ns(void *opaque) {
        return monotonic_ns();
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque) {
        Slirpd *s = opaque;
        /* libslirp cannot take a NULL timer: g_new0() aborts on OOM, as libslirp's own allocations do. */
        Timer *t = g_new0(Timer, 1);

        t->id = id;
        t->cb_opaque = cb_opaque;
        t->expire_ms = -1;
        t->next = s->timers;
        s->timers = t;
        return t;
}

static void cb_timer_free(void *timer, void *opaque) {
        Slirpd *s = opaque;

        for (Timer **t = &s->timers; *t; t = &(*t)->next)
                if (*t == timer) {
                        *t = (*t)->next;
                        g_free(timer);
                        return;
                }
}

static void cb_timer_mod(void *timer, int64_t expire_time, void *opaque) {
        Timer *t = timer;

        t->expire_ms = expire_time;
}

static void cb_register_poll_fd(int fd, void *opaque) {
        /* Nothing: slirp_pollfds_fill() lists every socket at each iteration. */
}

static void cb_unregister_poll_fd(int fd, void *opaque) {
}

static void cb_notify(void *opaque) {
        /* Nothing: the loop asks libslirp again at each iteration. */
}

static const SlirpCb slirp_callbacks = {
        .send_packet = cb_send_packet,
        .guest_error = cb_guest_error,
        .clock_get_ns = cb_clock_get_ns,
        .timer_free = cb_timer_free,
        .timer_mod = cb_timer_mod,
        .register_poll_fd = cb_register_poll_fd,
        .unregister_poll_fd = cb_unregister_poll_fd,
        .notify = cb_notify,
        .timer_new_opaque = cb_timer_new_opaque,
};

/* libslirp reports through glib's log (g_warning(), g_critical(): "external icmpv6 not supported yet"
 * comes whenever the guest pings an outside IPv6 address), so this too is guest-triggered. */
static Slirpd *glib_log_target = NULL;

static void on_glib_log(const gchar *domain, GLogLevelFlags level, const gchar *message, gpointer userdata) {
        int l = level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING) ? LOG_WARNING
                                                                                         : LOG_DEBUG;

        if (glib_log_target)
                log_guest(glib_log_target, l, "libslirp: ", message ?: "");
}

/* ---- polling ---- */

/* -ENOMEM (and s->oom) when the array cannot grow. */
static int add_pollfd(Slirpd *s, int fd, short events) {
        if (s->n_pfds == s->n_pfds_alloc) {
                size_t n = MAX(s->n_pfds_alloc * 2, (size_t) 16);
                struct pollfd *p = reallocarray_safe(s->pfds, n, sizeof(struct pollfd));

                if (!p) {
                        s->oom = true;
                        return -ENOMEM;
                }
                s->pfds = p;
                s->n_pfds_alloc = n;
        }
        s->pfds[s->n_pfds] = (struct pollfd){ .fd = fd, .events = events };
        return (int) s->n_pfds++;
}

static int cb_add_poll(int fd, int events, void *opaque) {
        Slirpd *s = opaque;
        short e = 0;

        if (events & SLIRP_POLL_IN)
                e |= POLLIN;
        if (events & SLIRP_POLL_OUT)
                e |= POLLOUT;
        if (events & SLIRP_POLL_PRI)
                e |= POLLPRI;
        /* -1 on OOM: libslirp then does not poll the socket, and the loop exits. */
        return add_pollfd(s, fd, e) < 0 ? -1 : (int) s->n_pfds - 1;
}

static int cb_get_revents(int idx, void *opaque) {
        Slirpd *s = opaque;
        short e;
        int r = 0;

        if (idx < 0 || (size_t) idx >= s->n_pfds)
                return 0;
        e = s->pfds[idx].revents;
        if (e & POLLIN)
                r |= SLIRP_POLL_IN;
        if (e & POLLOUT)
                r |= SLIRP_POLL_OUT;
        if (e & POLLPRI)
                r |= SLIRP_POLL_PRI;
        if (e & POLLERR)
                r |= SLIRP_POLL_ERR;
        if (e & POLLHUP)
                r |= SLIRP_POLL_HUP;
        return r;
}

/* The poll() timeout in ms: libslirp's own and the nearest timer's. */
static int poll_timeout(Slirpd *s, uint32_t slirp_timeout) {
        int64_t now_ms = monotonic_ns() / 1000000,
                t = slirp_timeout == UINT32_MAX ? -1 : (int64_t) slirp_timeout;

        for (Timer *i = s->timers; i; i = i->next) {
                int64_t d;

                if (i->expire_ms < 0)
                        continue;
                d = MAX(i->expire_ms - now_ms, (int64_t) 0);
                if (t < 0 || d < t)
                        t = d;
        }
        return t < 0 ? -1 : (int) MIN(t, (int64_t) INT32_MAX);
}

static void run_timers(Slirpd *s) {
        int64_t now_ms = monotonic_ns() / 1000000;

        /* A handler may re-arm or free timers: start over after each one. */
        for (bool fired = true; fired;) {
                fired = false;
                for (Timer *t = s->timers; t; t = t->next)
                        if (t->expire_ms >= 0 && t->expire_ms <= now_ms) {
                                t->expire_ms = -1;
                                slirp_handle_timer(s->slirp, t->id, t->cb_opaque);
                                fired = true;
                                break;
                        }
        }
}

/* ---- from QEMU ---- */

static int on_frame(const uint8_t *frame, size_t len, void *userdata) {
        Slirpd *s = userdata;

        if (frame_targets_host_loopback(frame, len)) {
                if (s->dropped_in++ == 0)
                        log_debug("Dropping frames for the host's loopback or unspecified address.");
                return 0;
        }
        slirp_input(s->slirp, frame, (int) len);
        return 0;
}

/* 0: more to come; 1: QEMU closed the stream; SLIRPD_EXIT_PROTOCOL: desynchronized. */
static int read_qemu(Slirpd *s) {
        static uint8_t chunk[READ_CHUNK];
        ssize_t n;
        int r;

        n = read(s->fd, chunk, sizeof(chunk));
        if (n < 0) {
                if (errno == EINTR || errno == EAGAIN)
                        return 0;
                if (errno == ECONNRESET)
                        return 1;
                return log_error_errno(errno, "Reading from QEMU failed: %m");
        }
        if (n == 0)
                return 1;
        r = netdev_stream_feed(&s->reader, chunk, (size_t) n, on_frame, s);
        if (r == -EBADMSG) {
                log_error(
                        "Frame length %" PRIu32
                        " from QEMU (guest) is 0 or above %u: stream desynchronized.",
                        s->reader.bad_length, NETDEV_FRAME_MAX);
                return SLIRPD_EXIT_PROTOCOL;
        }
        return r;
}

/* ---- setup ---- */

static Slirp *new_slirp(Slirpd *s) {
        SlirpConfig cfg = {
                .version = 4,
                .restricted = 0,
                .in_enabled = true,
                .in6_enabled = arg_ipv6,
                .vprefix_len = 64,
                .vhostname = NULL,
                .tftp_server_name = NULL,
                .tftp_path = NULL,
                .bootfile = NULL,
                .vdnssearch = NULL,
                .vdomainname = NULL,
                .if_mtu = 1500,
                .if_mru = 1500,
                /* THE point (docs/design/slirpd.md): 10.0.2.2 and fec0::/64 are not the host's 127.0.0.1
                 * and ::1 unless asked. DNS to 10.0.2.3 still reaches a loopback resolver. */
                .disable_host_loopback = !arg_host_loopback,
                .enable_emu = false,
                .disable_dns = false,
                .disable_dhcp = true, /* the guest is configured statically */
        };

        (void) inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
        (void) inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
        (void) inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
        (void) inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
        (void) inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
        (void) inet_pton(AF_INET6, "fec0::", &cfg.vprefix_addr6);
        (void) inet_pton(AF_INET6, "fec0::2", &cfg.vhost6);
        (void) inet_pton(AF_INET6, "fec0::3", &cfg.vnameserver6);
        return slirp_new(&cfg, &slirp_callbacks, s);
}

static int check_fd(int fd) {
        int type = 0, domain = 0;
        socklen_t l = sizeof(type);

        if (fcntl(fd, F_GETFD) < 0)
                return log_error_errno(errno, "--fd %d: %m", fd);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
                return log_error_errno(errno, "--fd %d is not a socket: %m", fd);
        l = sizeof(domain);
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0)
                return log_error_errno(errno, "--fd %d: %m", fd);
        if (type != SOCK_STREAM || domain != AF_UNIX)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EPROTOTYPE), "--fd %d is not an AF_UNIX stream socket.", fd);
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
                return log_error_errno(errno, "--fd %d: %m", fd);
        return 0;
}

static int help(void) {
        printf("Usage: slirpd --fd N [--host-loopback] [--no-ipv6] [--no-sandbox]\n"
               "The user-mode network of one VM (libslirp), for QEMU's -netdev stream (docs/design/slirpd.md).\n\n"
               "  --fd N            a connected AF_UNIX stream socket; QEMU's stream netdev is the other end\n"
               "                    (4-byte big-endian length, then the Ethernet frame, both ways)\n"
               "  --host-loopback   10.0.2.2 and fec0::2 reach the host's 127.0.0.1 and ::1 (default: refused)\n"
               "  --no-ipv6         IPv4 only (default: also fec0::/64, host fec0::2, DNS fec0::3)\n"
               "  --no-sandbox      do not confine the process (debugging)\n\n"
               "Guest network 10.0.2.0/24: host 10.0.2.2, DNS 10.0.2.3 (the host's first resolver in\n"
               "/etc/resolv.conf); no DHCP. Exit status: 0 QEMU closed the stream or SIGTERM, 1 setup\n"
               "failed, 2 usage, 3 the stream from QEMU was not valid (bad frame length).\n");
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_FD = 0x100,
                ARG_HOST_LOOPBACK,
                ARG_NO_IPV6,
                ARG_NO_SANDBOX,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "fd", required_argument, NULL, ARG_FD },
                { "host-loopback", no_argument, NULL, ARG_HOST_LOOPBACK },
                { "no-ipv6", no_argument, NULL, ARG_NO_IPV6 },
                { "no-sandbox", no_argument, NULL, ARG_NO_SANDBOX },
                {},
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_FD:
                        if (safe_atoi(optarg, &arg_fd) < 0 || arg_fd < 3)
                                return log_usage_error(
                                        "--fd needs a descriptor number of 3 or more, not '%s'", optarg);
                        break;
                case ARG_HOST_LOOPBACK:
                        arg_host_loopback = true;
                        break;
                case ARG_NO_IPV6:
                        arg_ipv6 = false;
                        break;
                case ARG_NO_SANDBOX:
                        arg_sandbox = false;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("unexpected argument '%s'", argv[optind]);
        if (arg_fd < 0)
                return log_usage_error("--fd is required");
        return 1;
}

static int loop(Slirpd *s, int signal_fd) {
        int r;

        for (;;) {
                uint32_t slirp_timeout = UINT32_MAX;
                const uint8_t *pending;
                short qrevents, srevents;
                int n;

                s->n_pfds = 0;
                if (add_pollfd(s, signal_fd, POLLIN) < 0 ||
                    add_pollfd(
                            s, s->fd,
                            POLLIN | (netdev_stream_outbox_pending(&s->outbox, &pending) > 0 ? POLLOUT
                                                                                             : 0)) < 0)
                        return log_oom();
                slirp_pollfds_fill(s->slirp, &slirp_timeout, cb_add_poll, s);
                if (s->oom)
                        return log_oom();
                n = poll(s->pfds, s->n_pfds, poll_timeout(s, slirp_timeout));
                if (n < 0 && errno != EINTR)
                        return log_error_errno(errno, "poll() failed: %m");
                /* Sockets first, while the indices from slirp_pollfds_fill() are still right. */
                slirp_pollfds_poll(s->slirp, n < 0, cb_get_revents, s);
                srevents = s->pfds[0].revents;
                qrevents = s->pfds[1].revents;
                if (srevents & POLLIN) {
                        log_debug("Terminated.");
                        return 0;
                }
                if (qrevents & POLLOUT && flush_outbox(s) < 0)
                        return 0;
                if (qrevents & (POLLIN | POLLHUP | POLLERR)) {
                        r = read_qemu(s);
                        if (r != 0) {
                                if (r == 1)
                                        log_debug("QEMU closed the stream.");
                                return r == 1 ? 0 : r;
                        }
                }
                run_timers(s);
                if (flush_outbox(s) < 0 || s->qemu_gone) {
                        log_debug("QEMU closed the stream.");
                        return 0;
                }
        }
}

static int run(int argc, char *argv[]) {
        _cleanup_close_ int signal_fd = -EBADF;
        Slirpd *s = NULL;
        sigset_t mask;
        int r;

        log_set_ident("slirpd");
        log_parse_environment();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        r = check_fd(arg_fd);
        if (r < 0)
                return r;

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask failed: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        if (signal_fd < 0)
                return log_error_errno(errno, "signalfd failed: %m");

        /* The reader and the outbox hold a frame and 256 KiB: on the heap, not the stack. */
        s = new0(Slirpd, 1);
        if (!s)
                return log_oom();
        s->fd = arg_fd;
        glib_log_target = s;
        g_log_set_default_handler(on_glib_log, NULL);
        s->slirp = new_slirp(s);
        if (!s->slirp) {
                r = log_error_errno(SYNTHETIC_ERRNO(EINVAL), "slirp_new() failed.");
                goto finish;
        }
        if (arg_sandbox) {
                r = slirpd_sandbox_enter();
                if (r < 0)
                        goto finish;
        }
        log_info(
                "Serving the VM's network on fd %d (libslirp %s, IPv6 %s, host loopback %s)%s.", arg_fd,
                slirp_version_string(), arg_ipv6 ? "on" : "off", arg_host_loopback ? "reachable" : "refused",
                arg_sandbox ? ", sandboxed" : "");
        r = loop(s, signal_fd);
        if (s->dropped_out > 0 || s->dropped_in > 0)
                log_debug(
                        "Dropped %" PRIu64 " frames towards QEMU (queue full), %" PRIu64
                        " from it (loopback).",
                        s->dropped_out, s->dropped_in);
finish:
        if (s) {
                if (s->slirp)
                        slirp_cleanup(s->slirp);
                while (s->timers)
                        cb_timer_free(s->timers, s);
                free(s->pfds);
                free(s);
        }
        glib_log_target = NULL;
        return r;
}

DEFINE_MAIN_FUNCTION(run);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vsockd: vhost-user virtio-vsock backend, one per VM. QEMU connects to --vhost-user-fd; host
 * programs reach guest ports through the hybrid socket on --listen-fd; guest connections to host
 * port P go to "<uds-path>_P". See docs/design/vsockd.md. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "socket-util.h"
#include "macro.h"
#include "main-func.h"
#include "path-util.h"
#include "sandbox.h"
#include "string-util.h"
#include "vsock-dev.h"

static int arg_vhost_user_fd = -EBADF;
static int arg_listen_fd = -EBADF;
static int arg_ready_fd = -EBADF;
static const char *arg_uds_path = NULL;
static uint64_t arg_guest_cid = 3;
static bool arg_sandbox = true;
static bool arg_event_idx = true;
static bool arg_seccomp_selftest = false;

/* Where the socket directory appears inside the sandbox. */
#define SANDBOX_SOCKET_DIR "/sock"

/* What vsockd does after start-up: event loop, sockets, guest memory, logging. */
static const int allowed_syscalls[] = {
        SCMP_SYS(accept4),         SCMP_SYS(brk),          SCMP_SYS(clock_gettime),
        SCMP_SYS(close),           SCMP_SYS(connect),      SCMP_SYS(epoll_ctl),
        SCMP_SYS(epoll_pwait),     SCMP_SYS(epoll_wait),   SCMP_SYS(exit),
        SCMP_SYS(exit_group),      SCMP_SYS(fstat),        SCMP_SYS(getpid),
        SCMP_SYS(gettimeofday),    SCMP_SYS(madvise),      SCMP_SYS(mremap),
        SCMP_SYS(munmap),          SCMP_SYS(newfstatat),   SCMP_SYS(read),
        SCMP_SYS(readv),           SCMP_SYS(recvfrom),     SCMP_SYS(recvmsg),
        SCMP_SYS(restart_syscall), SCMP_SYS(rt_sigreturn), SCMP_SYS(sendmsg),
        SCMP_SYS(sendto),          SCMP_SYS(shutdown),     SCMP_SYS(write),
        SCMP_SYS(writev),
};
/* Only unix sockets: no way to the network even if a call slipped through. */
static const int allowed_families[] = { AF_UNIX };

static SandboxOptions sandbox_options(const char *dir) {
        return (SandboxOptions){
                .dir = dir,
                .inner_dir = SANDBOX_SOCKET_DIR,
                .syscalls = allowed_syscalls,
                .n_syscalls = ELEMENTSOF(allowed_syscalls),
                .socket_families = allowed_families,
                .n_socket_families = ELEMENTSOF(allowed_families),
        };
}

static void help(void) {
        printf("vsockd --vhost-user-fd FD --listen-fd FD --uds-path PATH --guest-cid CID\n"
               "       [--ready-fd FD] [--no-sandbox]\n\n"
               "vhost-user virtio-vsock device backend with hybrid (unix socket) host side.\n");
}

static int parse_argv(int argc, char **argv) {
        enum {
                ARG_VHOST_USER_FD = 0x100,
                ARG_LISTEN_FD,
                ARG_READY_FD,
                ARG_UDS_PATH,
                ARG_GUEST_CID,
                ARG_NO_SANDBOX,
                ARG_NO_EVENT_IDX,
                ARG_SECCOMP_SELFTEST,
                ARG_VERSION,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "vhost-user-fd", required_argument, NULL, ARG_VHOST_USER_FD },
                { "listen-fd", required_argument, NULL, ARG_LISTEN_FD },
                { "ready-fd", required_argument, NULL, ARG_READY_FD },
                { "uds-path", required_argument, NULL, ARG_UDS_PATH },
                { "guest-cid", required_argument, NULL, ARG_GUEST_CID },
                { "no-sandbox", no_argument, NULL, ARG_NO_SANDBOX },
                /* debugging and tests only */
                { "no-event-idx", no_argument, NULL, ARG_NO_EVENT_IDX },
                { "seccomp-selftest", no_argument, NULL, ARG_SECCOMP_SELFTEST },
                {},
        };
        int c;

        opterr = 0;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("vsockd %s\n", BISTRO_VERSION);
                        return 0;
                case ARG_VHOST_USER_FD:
                        if (parse_fd(optarg, &arg_vhost_user_fd) < 0)
                                return log_usage_error("Invalid fd '%s'.", optarg);
                        break;
                case ARG_LISTEN_FD:
                        if (parse_fd(optarg, &arg_listen_fd) < 0)
                                return log_usage_error("Invalid fd '%s'.", optarg);
                        break;
                case ARG_READY_FD:
                        if (parse_fd(optarg, &arg_ready_fd) < 0)
                                return log_usage_error("Invalid fd '%s'.", optarg);
                        break;
                case ARG_UDS_PATH:
                        arg_uds_path = optarg;
                        break;
                case ARG_GUEST_CID:
                        if (safe_atou64(optarg, &arg_guest_cid) < 0 || arg_guest_cid <= VSOCK_CID_HOST ||
                            arg_guest_cid >= UINT32_MAX)
                                return log_usage_error("Invalid guest CID '%s'.", optarg);
                        break;
                case ARG_NO_SANDBOX:
                        arg_sandbox = false;
                        break;
                case ARG_NO_EVENT_IDX:
                        arg_event_idx = false;
                        break;
                case ARG_SECCOMP_SELFTEST:
                        arg_seccomp_selftest = true;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }

        if (arg_seccomp_selftest)
                return 1;
        if (optind < argc)
                return log_usage_error("Unexpected argument '%s'.", argv[optind]);
        if (arg_vhost_user_fd < 0 || arg_listen_fd < 0 || !arg_uds_path)
                return log_usage_error("--vhost-user-fd, --listen-fd and --uds-path are required.");
        if (arg_uds_path[0] != '/' || strlen(arg_uds_path) > 90)
                return log_usage_error("--uds-path must be absolute and at most 90 bytes.");
        return 1;
}

static int check_listening_socket(int fd) {
        struct stat st;
        int v = 0;
        socklen_t l = sizeof(v);

        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISSOCK(st.st_mode))
                return -ENOTSOCK;
        if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &v, &l) < 0)
                return -errno;
        if (!v)
                return -EINVAL;
        if (fd_cloexec(fd, true) < 0)
                return -errno;
        return fd_nonblock(fd, true);
}

static int vhost_read_msg(int fd, VhostUserMsg *m) {
        char cbuf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
        struct iovec iov = { .iov_base = m, .iov_len = VHOST_USER_HDR_SIZE };
        struct msghdr mh = {
                .msg_iov = &iov,
                .msg_iovlen = 1,
                .msg_control = cbuf,
                .msg_controllen = sizeof(cbuf),
        };
        ssize_t n;
        int r;

        m->n_fds = 0;
        n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
        if (n < 0)
                return -errno;
        {
                size_t n_fds = 0;

                (void) cmsg_take_fds(&mh, m->fds, &n_fds, VHOST_USER_MAX_FDS);
                m->n_fds = (unsigned) n_fds;
        }
        if (n == 0) {
                vhost_user_msg_close_fds(m);
                return 0;
        }
        if ((size_t) n != VHOST_USER_HDR_SIZE || (mh.msg_flags & MSG_CTRUNC)) {
                vhost_user_msg_close_fds(m);
                return -EBADMSG;
        }
        r = vhost_user_hdr_check(m->request, m->flags, m->size);
        if (r < 0) {
                vhost_user_msg_close_fds(m);
                return r;
        }
        if (m->size > 0) {
                n = recv(fd, &m->payload, m->size, MSG_WAITALL);
                if (n != (ssize_t) m->size) {
                        vhost_user_msg_close_fds(m);
                        return n < 0 ? -errno : -EBADMSG;
                }
        }
        return 1;
}

static int vhost_event(VsockDev *d, int fd) {
        VhostUserMsg msg, reply;
        int r;

        r = vhost_read_msg(fd, &msg);
        if (r <= 0)
                return r == 0 ? 0 : log_error_errno(r, "reading a vhost-user message failed: %m");
        log_debug(
                "vhost-user request %" PRIu32 " size %" PRIu32 " fds %u", msg.request, msg.size, msg.n_fds);
        r = vhost_user_handle(&d->vu, &msg, &reply);
        if (r < 0)
                return log_error_errno(r, "invalid vhost-user request %" PRIu32 ": %m", msg.request);
        if (r > 0) {
                struct iovec iov[2] = {
                        { .iov_base = &reply, .iov_len = VHOST_USER_HDR_SIZE },
                        { .iov_base = &reply.payload, .iov_len = reply.size },
                };
                struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };

                /* The payload union is 8-byte aligned: header and payload are not contiguous. */
                r = RET_NERRNO(sendmsg(fd, &mh, MSG_NOSIGNAL));
                if (r >= 0 && (size_t) r != VHOST_USER_HDR_SIZE + reply.size)
                        r = -EIO;
                if (r < 0)
                        return log_error_errno(r, "writing a vhost-user reply failed: %m");
        }
        return 1;
}

static void accept_host_clients(VsockDev *d, int listen_fd) {
        for (;;) {
                int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
                if (fd < 0) {
                        if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                                log_warning_errno(errno, "accept() on the hybrid socket failed: %m");
                        if (errno == EINTR || errno == ECONNABORTED)
                                continue;
                        return;
                }
                if (vsock_dev_add_host_client(d, fd) < 0)
                        log_warning("too many connections, refusing a host client");
        }
}

static int seccomp_selftest(void) {
        _cleanup_free_ char *msg = NULL;
        SandboxOptions o = sandbox_options(NULL);
        int fd, r;

        r = sandbox_seccomp(&o, &msg);
        if (r < 0)
                return log_error_errno(r, "sandbox: %s: %m", msg ?: "setting up failed");
        /* Outside the allowlist: the filter must kill us here. */
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        return log_error_errno(
                SYNTHETIC_ERRNO(EPERM),
                "seccomp-selftest: socket(AF_INET) returned %d: filter NOT effective.", fd);
}

static int run(int argc, char **argv) {
        _cleanup_free_ char *dir_buf = NULL, *base_buf = NULL, *uds_base = NULL;
        static VsockDev dev; /* large (RX batch): keep it off the stack */
        struct epoll_event ev;
        EvTag vhost_listen_tag = { .kind = EV_VHOST_LISTEN }, vhost_tag = { .kind = EV_VHOST },
              hybrid_tag = { .kind = EV_HYBRID_LISTEN };
        int vhost_fd = -EBADF, timeout = -1, r;

        log_set_ident("vsockd");
        log_parse_environment();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        if (arg_seccomp_selftest)
                return seccomp_selftest();

        (void) signal(SIGPIPE, SIG_IGN);

        r = check_listening_socket(arg_vhost_user_fd);
        if (r < 0)
                return log_error_errno(
                        r, "--vhost-user-fd %d is not a listening socket: %m", arg_vhost_user_fd);
        r = check_listening_socket(arg_listen_fd);
        if (r < 0)
                return log_error_errno(r, "--listen-fd %d is not a listening socket: %m", arg_listen_fd);
        if (arg_ready_fd >= 0 && fd_cloexec(arg_ready_fd, true) < 0)
                return log_error_errno(errno, "--ready-fd %d: %m", arg_ready_fd);

        dir_buf = strdup(arg_uds_path);
        base_buf = strdup(arg_uds_path);
        if (!dir_buf || !base_buf)
                return log_oom();
        /* Inside the sandbox the socket directory is bound at SANDBOX_SOCKET_DIR. */
        uds_base = arg_sandbox ? path_join(SANDBOX_SOCKET_DIR, basename(base_buf)) : strdup(arg_uds_path);
        if (!uds_base)
                return log_oom();

        /* Everything that needs syscalls outside the filter (epoll_create1) happens before it. */
        r = vsock_dev_init(&dev, -EBADF, arg_guest_cid, uds_base, arg_event_idx);
        if (r < 0)
                return log_error_errno(r, "failed to set up the device: %m");

        if (arg_sandbox) {
                _cleanup_free_ char *msg = NULL;
                const char *dir = dirname(dir_buf);
                SandboxOptions o = sandbox_options(dir);

                r = sandbox_enter(&o, &msg);
                if (r < 0) /* fail closed */
                        return log_error_errno(r, "sandbox: %s: %m", msg ?: "setting up failed");
                log_debug(
                        "sandboxed in '%s'%s", dir,
                        sandbox_sanitizer_build() ? " (sanitizer build: relaxed)" : "");
        }

        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &vhost_listen_tag };
        if (epoll_ctl(dev.epoll_fd, EPOLL_CTL_ADD, arg_vhost_user_fd, &ev) < 0)
                return log_error_errno(errno, "epoll_ctl failed: %m");
        ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &hybrid_tag };
        if (epoll_ctl(dev.epoll_fd, EPOLL_CTL_ADD, arg_listen_fd, &ev) < 0)
                return log_error_errno(errno, "epoll_ctl failed: %m");

        if (arg_ready_fd >= 0) {
                (void) loop_write(arg_ready_fd, "READY\n", 6);
                arg_ready_fd = safe_close(arg_ready_fd);
        }

        for (;;) {
                struct epoll_event events[64];
                int n;

                n = epoll_wait(dev.epoll_fd, events, ELEMENTSOF(events), timeout);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "epoll_wait failed: %m");
                }
                for (int i = 0; i < n; i++) {
                        EvTag *t = events[i].data.ptr;

                        switch (t->kind) {
                        case EV_VHOST_LISTEN:
                                if (vhost_fd >= 0)
                                        break;
                                vhost_fd = accept4(arg_vhost_user_fd, NULL, NULL, SOCK_CLOEXEC);
                                if (vhost_fd < 0)
                                        break;
                                /* One QEMU per VM: stop listening once it is here. */
                                (void) epoll_ctl(dev.epoll_fd, EPOLL_CTL_DEL, arg_vhost_user_fd, NULL);
                                ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &vhost_tag };
                                if (epoll_ctl(dev.epoll_fd, EPOLL_CTL_ADD, vhost_fd, &ev) < 0)
                                        return log_error_errno(errno, "epoll_ctl failed: %m");
                                log_debug("QEMU connected");
                                break;
                        case EV_VHOST:
                                r = vhost_event(&dev, vhost_fd);
                                if (r < 0)
                                        return r;
                                if (r == 0) {
                                        for (unsigned q = 0; q < VHOST_USER_NUM_QUEUES; q++)
                                                log_debug(
                                                        "vring %u: %" PRIu64 " used, %" PRIu64
                                                        " flushes, %" PRIu64 " interrupts",
                                                        q, dev.vu.vrings[q].n_pushed,
                                                        dev.vu.vrings[q].n_flushes,
                                                        dev.vu.vrings[q].n_signals);
                                        log_debug("QEMU disconnected, exiting");
                                        vsock_dev_done(&dev);
                                        safe_close(vhost_fd);
                                        return 0;
                                }
                                break;
                        case EV_KICK:
                                vsock_dev_kick(&dev, (unsigned) (uintptr_t) t->ptr);
                                break;
                        case EV_HYBRID_LISTEN:
                                accept_host_clients(&dev, arg_listen_fd);
                                break;
                        case EV_CONN:
                                vsock_dev_conn_event(&dev, t->ptr, events[i].events);
                                break;
                        default:
                                break;
                        }
                }
                vsock_dev_process(&dev);
                timeout = vsock_dev_check_deadlines(&dev);
                if (timeout >= 0)
                        vsock_dev_process(&dev);
        }
}

DEFINE_MAIN_FUNCTION(run);

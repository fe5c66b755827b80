/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vshd: the guest side of vsh (docs/design/vsh.md). Listens on vsock port 9001, accepts only the
 * host (CID 2: a container could otherwise reach it through vsock loopback) and forks one process
 * per session, so a session that crashes costs nothing else. Supervised by maitred; logs to stderr,
 * which maitred sends to the console. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "main-func.h"
#include "spawn-util.h"
#include "socket-util.h"
#include "string-util.h"
#include "vshd.h"

#define SESSIONS_MAX 256u

static unsigned n_sessions;

static void reap_sessions(void) {
        int st;
        pid_t p;

        while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
                if (n_sessions > 0)
                        n_sessions--;
                if (WIFSIGNALED(st))
                        log_warning("Session process %d killed by signal %d.", (int) p, WTERMSIG(st));
        }
}

static void help(void) {
        printf("vshd [--port PORT]\n\n"
               "The guest side of vsh: runs shells and commands in the VM or in its containers\n"
               "for the host. Listens on vsock port %u; accepts only the host (CID 2).\n",
               VSHD_PORT);
}

static int parse_argv(int argc, char *argv[], uint32_t *port) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "port", required_argument, NULL, 'p' },
                {},
        };
        int c;

        opterr = 0; /* log_usage_bad_option() says it in our format */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'p':
                        if (safe_atou32(optarg, port) < 0 || *port == 0)
                                return log_usage_error("Invalid port: %s", optarg);
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("Unexpected argument: %s", argv[optind]);
        return 1;
}

static int run(int argc, char *argv[]) {
        uint32_t port = VSHD_PORT;
        int fd, r;

        log_set_ident("vshd");
        log_set_target(LOG_TARGET_STDERR);
        log_parse_environment();

        r = parse_argv(argc, argv, &port);
        if (r <= 0)
                return r;

        /* Sessions dup2() onto 0-2: make sure those are taken. */
        for (int i = 0; i < 3; i++)
                if (fcntl(i, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
                        return log_error_errno(errno, "Cannot open /dev/null: %m");
        (void) signal(SIGPIPE, SIG_IGN);

        fd = vsock_listen(port, 64);
        if (fd < 0)
                return log_error_errno(fd, "Cannot listen on vsock port %u: %m", port);
        log_info("Listening on vsock port %u.", port);

        for (;;) {
                struct pollfd p = { .fd = fd, .events = POLLIN };
                struct sockaddr_vm sa = {};
                socklen_t l = sizeof(sa);
                pid_t pid;
                int conn;

                reap_sessions();
                if (poll(&p, 1, 1000) <= 0)
                        continue;
                conn = accept4(fd, (struct sockaddr *) &sa, &l, SOCK_CLOEXEC);
                if (conn < 0) {
                        if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
                                log_warning_errno(errno, "accept: %m");
                        continue;
                }
                if (sa.svm_family != AF_VSOCK || sa.svm_cid != VMADDR_CID_HOST) {
                        log_warning(
                                "Refusing a connection from CID %u (only the host may connect).",
                                sa.svm_cid);
                        safe_close(conn);
                        continue;
                }
                if (n_sessions >= SESSIONS_MAX) {
                        log_warning("Refusing a session: %u are running.", n_sessions);
                        safe_close(conn);
                        continue;
                }
                /* No flags: the session sets up its own signals (vshd_session_run()). */
                r = safe_fork(NULL, 0, &pid);
                if (r < 0) {
                        log_warning_errno(r, "fork: %m");
                        safe_close(conn);
                        continue;
                }
                if (r == 0) {
                        safe_close(fd);
                        _exit(vshd_session_run(conn));
                }
                n_sessions++;
                safe_close(conn);
        }
}

DEFINE_MAIN_FUNCTION(run);

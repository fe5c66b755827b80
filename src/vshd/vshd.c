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
#include "vsock-server.h"
#include "vshd.h"

#define SESSIONS_MAX 256u

/* What the accept loop reports, logged here (shared code logs nothing above debug). */
static void on_server_event(VsockServerEvent e, int value, const char *detail) {
        char buf[256];
        int level;

        vsock_server_event_format(e, value, detail, buf, sizeof(buf), &level);
        log_full(level, "%s", buf);
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
        VsockServer server;
        uint32_t port = VSHD_PORT;
        int r;

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

        /* No fork flags: the session sets up its own signals (vshd_session_run()). */
        server = (VsockServer){
                .port = port,
                .backlog = 64,
                .max = SESSIONS_MAX,
                .serve = vshd_session_run,
                .on_event = on_server_event,
        };
        r = vsock_server_run(&server);
        return log_error_errno(r, "Cannot serve vsock port %u: %m", port);
}

DEFINE_MAIN_FUNCTION(run);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* port-listener: the guest side of port forwarding (docs/design/ports.md). Listens on vsock port
 * 9002, accepts only the host (CID 2: a container could otherwise reach it through vsock
 * loopback) and forks one process per connection: watchers poll on their own and each forwarded
 * connection switches network namespaces without affecting any other. Supervised by maitred. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bistro-ports.h"
#include "log.h"
#include "main-func.h"
#include "port-listener.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "vsock-server.h"
#include "wire.h"

#define CONNS_MAX 1024u
#define FIRST_FRAME_TIMEOUT_MS 10000

int pl_reply_error(int fd, uint64_t id, int error, const char *format, ...) {
        Bistro__ErrorReply e = BISTRO__ERROR_REPLY__INIT;
        char text[256];
        va_list ap;

        if (error >= 0 || error < -WIRE_ERRNO_MAX)
                error = -EIO;
        va_start(ap, format);
        (void) vsnprintf(text, sizeof(text), format, ap);
        va_end(ap);
        e.error = error;
        e.message = text;
        return wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__ERROR_REPLY, FRAME_RESPONSE, id, &e.base, PL_REPLY_TIMEOUT_MS);
}

int pl_reply_empty(int fd, uint64_t id) {
        Bistro__Empty e = BISTRO__EMPTY__INIT;

        return wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__EMPTY, FRAME_RESPONSE, id, &e.base, PL_REPLY_TIMEOUT_MS);
}

static int serve(int fd) {
        _cleanup_message_ ProtobufCMessage *m = NULL;
        FrameHeader h = {};
        int r;

        r = wire_recv_sync(fd, FIRST_FRAME_TIMEOUT_MS, &h, &m);
        if (r < 0) {
                log_debug_errno(r, "First frame: %m");
                if (r == -EBADMSG || r == -EMSGSIZE)
                        (void) pl_reply_error(fd, 0, -EBADMSG, "invalid request");
                return EXIT_FAILURE;
        }
        switch (h.type) {
        case BISTRO__MESSAGE_TYPE__WATCH_PORTS_REQUEST:
                return pl_watch_run(fd, h.id);
        case BISTRO__MESSAGE_TYPE__FORWARD_CONNECT_REQUEST:
                return pl_forward_run(fd, h.id, (const Bistro__Ports__ForwardConnectRequest *) m);
        default:
                (void) pl_reply_error(fd, h.id, -EBADMSG, "unexpected request %u", h.type);
                return EXIT_FAILURE;
        }
}

/* What the accept loop reports, logged here (shared code logs nothing above debug). */
static void on_server_event(VsockServerEvent e, int value, const char *detail) {
        char buf[256];
        int level;

        vsock_server_event_format(e, value, detail, buf, sizeof(buf), &level);
        log_full(level, "%s", buf);
}

/* A connection's process: signals were reset by the fork; a closed peer must be an EPIPE. */
static int serve_conn(int conn) {
        (void) signal(SIGPIPE, SIG_IGN);
        return serve(conn);
}

static void help(void) {
        printf("port-listener [--port PORT]\n\n"
               "The guest side of port forwarding: reports the containers' listening TCP ports\n"
               "and connects forwarded connections inside them. Listens on vsock port %u;\n"
               "accepts only the host (CID 2).\n",
               PORT_LISTENER_PORT);
}

static int parse_argv(int argc, char *argv[], uint32_t *port) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "port", required_argument, NULL, 'p' },
                {},
        };
        int c;

        opterr = 0;
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
        uint32_t port = PORT_LISTENER_PORT;
        int r;

        log_set_ident("port-listener");
        log_set_target(LOG_TARGET_STDERR);
        log_parse_environment();

        r = parse_argv(argc, argv, &port);
        if (r <= 0)
                return r;
        (void) signal(SIGPIPE, SIG_IGN);

        /* Connections outlive a restart of the daemon, as vshd sessions do. */
        server = (VsockServer){
                .port = port,
                .backlog = 128,
                .max = CONNS_MAX,
                .child_name = "pl-conn",
                .fork_flags = FORK_RESET_SIGNALS,
                .serve = serve_conn,
                .on_event = on_server_event,
        };
        r = vsock_server_run(&server);
        return log_error_errno(r, "Cannot serve vsock port %u: %m", port);
}

DEFINE_MAIN_FUNCTION(run);

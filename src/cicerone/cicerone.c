/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cicerone: one per user, on the host. Listens on each running VM's hybrid vsock port 8889 for the
 * containers' garcons (apps for the host's launcher, links to open on the host) and on a control
 * socket for concierge and bistro (VM started/stopped, launch an application). A container is known
 * only by its token (token-store.h), never by a name it sends. See docs/design/cicerone.md. This
 * file: main, the event loop and the control socket. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "cicerone.h"
#include "common.pb-c.h"
#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "path-lookup.h"
#include "socket-util.h"
#include "string-util.h"

#define CONTROL_CLIENTS_MAX 32u

static const char *arg_control = NULL;

/* ---- small helpers the other files share ---- */

bool bucket_take(Bucket *b, double burst, usec_t period) {
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (!b->started) {
                b->tokens = burst;
                b->last = now;
                b->started = true;
        }
        b->tokens = MIN(burst, b->tokens + (double) (now - b->last) / (double) period);
        b->last = now;
        if (b->tokens < 1.0)
                return false;
        b->tokens -= 1.0;
        return true;
}

int reply_empty(WireConn *conn, uint64_t id) {
        Bistro__Empty empty = BISTRO__EMPTY__INIT;

        return wire_reply(conn, id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
}

int listen_safely(const char *path, int backlog) {
        struct stat st;

        if (lstat(path, &st) >= 0 && !S_ISSOCK(st.st_mode))
                return -EEXIST;
        return unix_listen(path, backlog, 0600);
}

/* ---- control socket ---- */

static int on_control_message(
        WireConn *conn,
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        void *userdata) {
        Cicerone *c = userdata;

        if (flags != FRAME_REQUEST)
                return -EBADMSG;
        switch (type) {
        case BISTRO__MESSAGE_TYPE__CICERONE_VM_STARTED_REQUEST:
                return handle_vm_started(c, conn, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__CICERONE_VM_STOPPED_REQUEST: {
                Vm *v = vm_find(c, ((const Bistro__Cicerone__VmStoppedRequest *) msg)->vm_name);

                if (v) {
                        log_info("VM %s: stopped.", v->name);
                        vm_free(v);
                }
                return reply_empty(conn, id);
        }
        case BISTRO__MESSAGE_TYPE__CICERONE_LAUNCH_APPLICATION_REQUEST:
                return handle_launch(c, conn, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__CICERONE_OPEN_SFTP_REQUEST:
                return handle_open_sftp(c, conn, id, (const void *) msg);
        default:
                return wire_reply_error(
                        conn, id, -EOPNOTSUPP, "cicerone does not handle %s",
                        message_type_to_string(type) ?: "this request");
        }
}

static void on_control_close(WireConn *conn, int reason, void *userdata) {
        launches_drop_control(userdata, conn);
}

static int on_control_accept(WireServer *s, WireConn *conn, void *userdata) {
        uid_t uid;

        if (unix_peer_uid(wire_conn_get_fd(conn), &uid) < 0 || uid != getuid())
                return -EPERM;
        return 0;
}

/* ---- main ---- */

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Cicerone *c = userdata;

        (void) sd_event_exit(c->event, 0);
        return 0;
}

static int help(void) {
        printf("Usage: cicerone [--control PATH]\n"
               "The containers' peer on the host: their applications in the launcher, their links opened\n"
               "on the host, launches from the host (docs/design/cicerone.md).\n\n"
               "  --control PATH   control socket (default $XDG_RUNTIME_DIR/bistro/cicerone.sock)\n"
               "  -h --help        this help\n"
               "  --version        the version\n");
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_CONTROL = 0x100,
                ARG_VERSION,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "control", required_argument, NULL, ARG_CONTROL },
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
                        printf("cicerone %s\n", BISTRO_VERSION);
                        return 0;
                case ARG_CONTROL:
                        if (!optarg[0])
                                return log_usage_error("--control needs a path");
                        arg_control = optarg;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("unexpected argument '%s'", argv[optind]);
        return 1;
}

static int run(int argc, char *argv[]) {
        Cicerone c = {};
        _cleanup_free_ char *control = NULL;
        int fd, r;
        sigset_t mask;

        log_set_ident("cicerone");
        log_parse_environment();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        r = bistro_runtime_dir(&c.runtime_dir);
        if (r < 0)
                return log_error_errno(r, "Cannot use the runtime directory: %m");
        r = token_store_dir(&c.token_dir);
        if (r < 0)
                return log_error_errno(r, "Cannot locate the token store: %m");
        r = bistro_find_command("bistro", "BISTRO_BISTRO", &c.exec);
        if (r < 0) {
                log_warning_errno(
                        r, "Cannot find bistro's launcher (%m): entries will run 'bistro' from PATH.");
                c.exec = strdup("bistro");
                if (!c.exec)
                        return log_oom();
        }
        if (!arg_control) {
                if (asprintf(&control, "%s/cicerone.sock", c.runtime_dir) < 0)
                        return log_oom();
                arg_control = control;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask failed: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        (void) umask(0077);

        r = sd_event_new(&c.event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        (void) sd_event_add_signal(c.event, NULL, SIGTERM, on_term, &c);
        (void) sd_event_add_signal(c.event, NULL, SIGINT, on_term, &c);
        r = db_timer_new(&c);
        if (r < 0) {
                log_error_errno(r, "Cannot set up a timer: %m");
                goto finish;
        }

        /* A stale socket (nobody answers) is replaced; a live cicerone is not; nor is a non-socket. */
        fd = unix_connect(arg_control);
        if (fd >= 0) {
                safe_close(fd);
                r = log_error_errno(SYNTHETIC_ERRNO(EADDRINUSE), "Another cicerone serves %s.", arg_control);
                goto finish;
        }
        fd = listen_safely(arg_control, 16);
        if (fd < 0) {
                r = log_error_errno(fd, "Cannot listen on %s: %m", arg_control);
                goto finish;
        }
        r = wire_server_new(c.event, fd, CONTROL_CLIENTS_MAX, &c.control);
        if (r < 0) {
                safe_close(fd);
                log_error_errno(r, "Cannot serve %s: %m", arg_control);
                goto finish;
        }
        wire_server_set_handlers(c.control, on_control_accept, on_control_message, on_control_close, &c);
        wire_server_set_timeouts(c.control, 0, 10 * USEC_PER_SEC);

        log_info("Serving %s.", arg_control);
        r = sd_event_loop(c.event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
finish:
        while (c.launches)
                launch_free(c.launches);
        while (c.vms)
                vm_free(c.vms);
        while (c.jobs)
                job_free(c.jobs);
        wire_server_free(c.control);
        sd_event_source_disable_unref(c.db_timer);
        sd_event_unref(c.event);
        free(c.runtime_dir);
        free(c.token_dir);
        free(c.exec);
        return r < 0 ? r : 0;
}

DEFINE_MAIN_FUNCTION(run);

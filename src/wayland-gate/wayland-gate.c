/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* wayland-gate: one per running VM, on the host, started by concierge on the first connection to the
 * VM's hybrid vsock port 7100 (the listener is passed as fd 3, systemd's convention). Each connection
 * is one Wayland client of a container, carried by sommelier; each gets a process of its own
 * (gate-session.c), so that a client that crashes its session takes no other window with it. See
 * docs/design/sommelier.md. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "gate-session.h"
#include "gui-settings.h"
#include "listen-fds.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "path-lookup.h"
#include "path-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "time-util.h"
#include "token-store.h"

#define SESSIONS_MAX 64u
#define WATCH_USEC (10 * USEC_PER_SEC) /* how often we look whether the VM is still there */

static const char *arg_vm = NULL;
static const char *arg_vsock = NULL;
static bool arg_sandbox = true;

typedef struct Gate {
        sd_event *event;
        GateOptions opts;
        unsigned n_sessions;
} Gate;

static int on_session_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Gate *g = userdata;

        if (si->si_code != CLD_EXITED)
                log_warning(
                        "VM '%s': a Wayland session (pid %d) was killed by signal %d.", arg_vm,
                        (int) si->si_pid, si->si_status);
        g->n_sessions--;
        sd_event_source_disable_unref(s);
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Gate *g = userdata;
        sd_event_source *child = NULL;
        pid_t pid;
        int c, r;

        c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(errno, "VM '%s': accept failed: %m", arg_vm);
                return 0;
        }
        if (g->n_sessions >= SESSIONS_MAX) {
                log_warning("VM '%s': %u Wayland clients already; refusing another.", arg_vm, SESSIONS_MAX);
                safe_close(c);
                return 0;
        }
        r = safe_fork_full(
                "wayland-session", FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_DEATHSIG, &c, 1, &pid);
        if (r < 0) {
                log_warning_errno(r, "VM '%s': cannot start a Wayland session: %m", arg_vm);
                safe_close(c);
                return 0;
        }
        if (r == 0) {
                GateOptions o = g->opts;

                (void) fd_cloexec(c, true);
                /* Read for each client, so that `vmc window-mark` applies to the next window; a
                 * broken file leaves the default (titles), as it does in cicerone. */
                r = gui_settings_window_mark(&o.mark);
                if (r < 0)
                        log_warning_errno(r, "Cannot read the window-mark setting (marking titles): %m");
                _exit(gate_session_run(c, &o) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        }
        safe_close(c);
        r = sd_event_add_child(g->event, &child, pid, WEXITED, on_session_exit, g);
        if (r < 0) {
                sigkill_wait(pid);
                return log_warning_errno(r, "VM '%s': cannot watch a Wayland session: %m", arg_vm);
        }
        g->n_sessions++;
        return 0;
}

/* concierge stops us with the VM; when it cannot (it died), the VM's socket going away does. */
static int on_watch(sd_event_source *s, uint64_t usec, void *userdata) {
        Gate *g = userdata;

        if (access(arg_vsock, F_OK) < 0) {
                log_info("VM '%s' is gone; the Wayland gate stops.", arg_vm);
                return sd_event_exit(g->event, 0);
        }
        return sd_event_source_set_time_relative(s, WATCH_USEC);
}

static int help(void) {
        printf("Usage: wayland-gate --vm NAME --vsock PATH [--no-sandbox]\n"
               "Carries the Wayland clients of one VM's containers to the host's compositor\n"
               "(docs/design/sommelier.md). Started by concierge with the listening socket as fd 3.\n\n"
               "  --vm NAME        the VM\n"
               "  --vsock PATH     the VM's hybrid vsock socket: we stop when it is gone\n"
               "  --no-sandbox     do not confine waypipe and the sessions (debugging)\n");
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_VM = 0x100,
                ARG_VSOCK,
                ARG_NO_SANDBOX,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "vm", required_argument, NULL, ARG_VM },
                { "vsock", required_argument, NULL, ARG_VSOCK },
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
                case ARG_VM:
                        arg_vm = optarg;
                        break;
                case ARG_VSOCK:
                        arg_vsock = optarg;
                        break;
                case ARG_NO_SANDBOX:
                        arg_sandbox = false;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("unexpected argument '%s'", argv[optind]);
        if (!arg_vm || !arg_vsock)
                return log_usage_error("--vm and --vsock are required");
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_free_ char *tokens = NULL, *rt = NULL, *work_parent = NULL, *work = NULL, *waypipe = NULL,
                            *msg = NULL;
        Gate g = {};
        int fd = -EBADF, r;
        sigset_t mask;

        log_set_ident("wayland-gate");
        log_parse_environment();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        r = listen_fd_take_unix(&fd, &msg);
        if (r < 0)
                return log_error_errno(r, "The socket passed to us is not usable: %s", msg ?: "");
        if (r == 0)
                return log_usage_error("no listening socket passed (concierge starts wayland-gate)");

        r = token_store_dir(&tokens);
        if (r < 0)
                return log_error_errno(r, "Cannot find the container tokens: %m");
        r = bistro_runtime_dir(&rt);
        if (r < 0)
                return log_error_errno(r, "Cannot use $XDG_RUNTIME_DIR/bistro: %m");
        work_parent = path_join(rt, "wayland");
        work = path_join(work_parent, arg_vm);
        if (!work_parent || !work)
                return log_oom();
        if ((mkdir(work_parent, 0700) < 0 && errno != EEXIST) || (mkdir(work, 0700) < 0 && errno != EEXIST))
                return log_error_errno(errno, "Cannot create %s: %m", work);
        r = bistro_find_waypipe_bundle(&waypipe);
        if (r < 0)
                return log_error_errno(r, "Cannot find Bistro's waypipe: GUI apps cannot show windows: %m");

        g.opts = (GateOptions){
                .vm = arg_vm,
                .tokens_dir = tokens,
                .work_dir = work,
                .waypipe_dir = waypipe,
                .mark = WINDOW_MARK_TITLE, /* each session reads the user's setting */
                .sandbox = arg_sandbox,
        };

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask failed: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        (void) umask(0077);

        r = sd_event_new(&g.event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        (void) sd_event_add_signal(g.event, NULL, SIGTERM, NULL, NULL);
        (void) sd_event_add_signal(g.event, NULL, SIGINT, NULL, NULL);
        r = sd_event_add_io(g.event, NULL, fd, EPOLLIN, on_accept, &g);
        if (r >= 0)
                r = sd_event_add_time_relative(g.event, NULL, CLOCK_MONOTONIC, WATCH_USEC, 0, on_watch, &g);
        if (r < 0) {
                log_error_errno(r, "Cannot set up the event loop: %m");
                goto finish;
        }
        log_info(
                "Carrying Wayland clients of VM '%s' to %s.", arg_vm,
                getenv("WAYLAND_DISPLAY") ?: "(no display)");
        r = sd_event_loop(g.event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
finish:
        safe_close(fd);
        sd_event_unref(g.event);
        return r < 0 ? r : 0;
}

DEFINE_MAIN_FUNCTION(run);

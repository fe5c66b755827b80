/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* sommelier: Wayland for the apps in a container (docs/design/sommelier.md, "The container side").
 * Started and supervised by garcon as the container's default user. It runs the waypipe bundle's
 * server end, which gives apps $XDG_RUNTIME_DIR/wayland-0 and connects to our
 * bistro-waypipe.sock once per Wayland client; each such connection is carried to the host's
 * Wayland gate over vsock by a child of its own (sommelier-conn.h). One poll() loop: the listening
 * socket, a signalfd (SIGCHLD, SIGTERM, SIGINT), the children's reports of the host's refusals. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bistro-ports.h"
#include "config.h"
#include "container-token.h"
#include "fd-util.h"
#include "gui-env.h"
#include "log.h"
#include "main-func.h"
#include "proto-validate.h"
#include "socket-util.h"
#include "sommelier-conn.h"
#include "sommelier-util.h"
#include "spawn-util.h"
#include "strv.h"
#include "waypipe-bundle.h"

/* Wayland clients at once; more wait in the listen backlog until one ends. */
#define STREAMS_MAX 128

static const char *arg_runtime_dir;
static bool arg_hold;

typedef struct Sommelier {
        char runtime_dir[PATH_MAX];
        char socket_path[PATH_MAX];
        char self[PATH_MAX];
        const char *bundle_dir;
        char token[PROTO_TOKEN_MAX + 1];
        int listen_fd, signal_fd;
        int refusal[2]; /* children write the host's refusals, the parent logs them */
        RefusalLog refusals;
        pid_t waypipe;
        usec_t waypipe_started, backoff, next_start; /* next_start: 0 when none is due */
        bool bundle_missing_logged;
        size_t n_streams;
} Sommelier;

static void help(void) {
        printf("Usage: sommelier [--runtime-dir DIR] [--verbose]\n"
               "Wayland for the apps of this Bistro container: runs waypipe's server end, which\n"
               "serves $XDG_RUNTIME_DIR/" GUI_WAYLAND_DISPLAY ", and carries each Wayland client's stream\n"
               "to the host (vsock CID 2, port %u), where its windows show on the desktop.\n"
               "garcon starts it for the container's default user; there is no need to run it by hand.\n\n"
               "  --runtime-dir DIR  where to put the sockets (a directory of ours, mode 0700);\n"
               "                     default $XDG_RUNTIME_DIR, else " GUI_RUNTIME_DIR_PREFIX "UID\n"
               "  -v --verbose       log each stream\n"
               "  -h --help          show this help\n"
               "     --version       show the version\n\n"
               "waypipe comes from %s ($SOMMELIER_WAYPIPE_DIR for tests); the container token\n"
               "from %s. Exits 0 on SIGTERM, 1 when it cannot start.\n",
               WAYLAND_PORT, WAYPIPE_BUNDLE_GUEST_DIR, container_token_path());
}

/* waypipe's child: it lives as long as waypipe, which serves the display while it runs. */
static int hold(void) {
        pid_t parent = getppid();

        if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                return log_error_errno(errno, "prctl(PR_SET_PDEATHSIG): %m");
        if (getppid() != parent)
                return 0;
        for (;;)
                pause();
}

static int runtime_dir_pick(Sommelier *s) {
        const char *env = getenv("XDG_RUNTIME_DIR");
        char fallback[GUI_RUNTIME_DIR_MAX];
        const char *dir;
        struct stat st;
        int n;

        gui_runtime_dir(getuid(), fallback);
        dir = arg_runtime_dir ?: env && env[0] == '/' ? env : fallback;
        if (stat(dir, &st) < 0)
                return log_error_errno(errno, "Cannot use the runtime directory %s: %m", dir);
        if (!sommelier_runtime_dir_ok(&st, getuid()))
                return log_error_errno(
                        SYNTHETIC_ERRNO(EPERM),
                        "The runtime directory %s is not a directory of uid %u with mode 0700; not using it.",
                        dir, (unsigned) getuid());
        n = snprintf(s->runtime_dir, sizeof(s->runtime_dir), "%s", dir);
        if (n < 0 || (size_t) n >= sizeof(s->runtime_dir) ||
            snprintf(s->socket_path, sizeof(s->socket_path), "%s/" GUI_WAYPIPE_SOCKET, dir) >=
                    (int) sizeof(s->socket_path))
                return log_error_errno(SYNTHETIC_ERRNO(ENAMETOOLONG), "%s is too long.", dir);
        return 0;
}

/* A socket a dead waypipe left behind would make the new one fail to bind. */
static void remove_stale_display(const Sommelier *s) {
        char p[PATH_MAX];
        struct stat st;

        if (snprintf(p, sizeof(p), "%s/" GUI_WAYLAND_DISPLAY, s->runtime_dir) >= (int) sizeof(p))
                return;
        if (lstat(p, &st) == 0 && S_ISSOCK(st.st_mode))
                (void) unlink(p);
}

static void waypipe_schedule(Sommelier *s, usec_t ran) {
        s->backoff = restart_backoff_next(&sommelier_backoff, s->backoff, ran);
        s->next_start = now_usec(CLOCK_MONOTONIC) + s->backoff;
}

static void waypipe_start(Sommelier *s) {
        _cleanup_strv_free_ char **argv = NULL;
        pid_t pid;
        int r;

        s->next_start = 0;
        r = sommelier_waypipe_argv(s->bundle_dir, s->socket_path, s->self, &argv);
        if (r < 0) {
                log_error_errno(r, "Cannot build waypipe's command line: %m");
                return waypipe_schedule(s, 0);
        }
        /* argv[0] the bundle's loader, argv[3] its waypipe */
        if (access(argv[0], X_OK) < 0 || access(argv[3], R_OK) < 0) {
                if (!s->bundle_missing_logged)
                        log_error_errno(
                                errno, "No waypipe bundle at %s (%m): Wayland apps cannot show on the host.",
                                s->bundle_dir);
                s->bundle_missing_logged = true;
                s->backoff = sommelier_backoff.max;
                s->next_start = now_usec(CLOCK_MONOTONIC) + s->backoff;
                return;
        }
        remove_stale_display(s);
        r = safe_fork_full(
                "waypipe", FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_DEATHSIG | FORK_NULL_STDIN, NULL,
                0, &pid);
        if (r < 0) {
                log_error_errno(r, "Cannot start waypipe: %m");
                return waypipe_schedule(s, 0);
        }
        if (r == 0) {
                /* --display is a name in XDG_RUNTIME_DIR; the apps' own WAYLAND_DISPLAY is not ours */
                (void) setenv("XDG_RUNTIME_DIR", s->runtime_dir, 1);
                (void) unsetenv("WAYLAND_DISPLAY");
                execv(argv[0], argv);
                _exit(127);
        }
        s->waypipe = pid;
        s->waypipe_started = now_usec(CLOCK_MONOTONIC);
        log_info(
                "Started waypipe (pid %d): Wayland clients at %s/" GUI_WAYLAND_DISPLAY ".", (int) pid,
                s->runtime_dir);
}

static void on_accept(Sommelier *s) {
        _cleanup_close_ int fd = -EBADF;
        pid_t pid;
        int r;

        fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
                if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                        log_warning_errno(errno, "accept(): %m");
                return;
        }
        /* One child per stream: a host or client that stalls holds only its own child, and the
         * blocking handshake never delays the next client. */
        int keep[] = { fd, s->refusal[1] };
        r = safe_fork_full(
                "sommelier-conn", FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_NULL_STDIN, keep,
                ELEMENTSOF(keep), &pid);
        if (r < 0) {
                log_warning_errno(r, "Cannot serve a Wayland client: %m");
                return;
        }
        if (r == 0)
                _exit(sommelier_conn_serve(fd, s->token, s->refusal[1]) < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
        s->n_streams++;
        log_debug("Wayland client stream %d started (%zu open).", (int) pid, s->n_streams);
}

static void on_refusal(Sommelier *s) {
        char msg[REFUSAL_MESSAGE_MAX];
        ssize_t n;

        while ((n = read(s->refusal[0], msg, sizeof(msg) - 1)) > 0) {
                msg[n] = 0;
                if (refusal_log_should(&s->refusals, msg, now_usec(CLOCK_MONOTONIC)))
                        log_warning("A Wayland client could not reach the host: %s", msg);
        }
}

static void reap(Sommelier *s) {
        int status;
        pid_t pid;

        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                if (pid != s->waypipe) {
                        if (s->n_streams > 0)
                                s->n_streams--;
                        continue;
                }
                s->waypipe = 0;
                waypipe_schedule(s, now_usec(CLOCK_MONOTONIC) - s->waypipe_started);
                if (WIFEXITED(status))
                        log_warning(
                                "waypipe exited with status %d; restarting in %llu s.", WEXITSTATUS(status),
                                (unsigned long long) (s->backoff / USEC_PER_SEC));
                else
                        log_warning(
                                "waypipe killed by signal %d; restarting in %llu s.", WTERMSIG(status),
                                (unsigned long long) (s->backoff / USEC_PER_SEC));
        }
}

/* false when it is time to stop */
static bool on_signal(Sommelier *s) {
        struct signalfd_siginfo si;

        while (read(s->signal_fd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo != SIGCHLD)
                        return false;
                reap(s);
        }
        return true;
}

static int setup(Sommelier *s) {
        ssize_t n;
        sigset_t mask;
        int r;

        s->listen_fd = s->signal_fd = s->refusal[0] = s->refusal[1] = -EBADF;
        n = readlink("/proc/self/exe", s->self, sizeof(s->self) - 1);
        if (n <= 0 || (size_t) n >= sizeof(s->self) - 1)
                (void) snprintf(s->self, sizeof(s->self), "%s", SOMMELIER_PATH);
        else
                s->self[n] = 0;
        s->bundle_dir = getenv("SOMMELIER_WAYPIPE_DIR") ?: WAYPIPE_BUNDLE_GUEST_DIR;
        r = runtime_dir_pick(s);
        if (r < 0)
                return r;
        r = container_token_read(s->token);
        if (r < 0)
                return log_error_errno(r, "Cannot read the container token %s: %m", container_token_path());
        s->listen_fd = unix_listen(s->socket_path, 64, 0600);
        if (s->listen_fd < 0)
                return log_error_errno(s->listen_fd, "Cannot listen on %s: %m", s->socket_path);
        r = fd_nonblock(s->listen_fd, true);
        if (r < 0)
                return log_error_errno(r, "fcntl(): %m");
        /* Packets: each refusal is one read. */
        if (pipe2(s->refusal, O_CLOEXEC | O_DIRECT) < 0)
                return log_error_errno(errno, "pipe2(): %m");
        r = fd_nonblock(s->refusal[0], true);
        if (r < 0)
                return log_error_errno(r, "fcntl(): %m");
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask(): %m");
        s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (s->signal_fd < 0)
                return log_error_errno(errno, "signalfd(): %m");
        return 0;
}

static void done(Sommelier *s) {
        if (s->waypipe > 0) {
                (void) kill(s->waypipe, SIGTERM);
                (void) wait_for_terminate_timeout(s->waypipe, 5 * USEC_PER_SEC);
        }
        if (s->listen_fd >= 0)
                (void) unlink(s->socket_path);
        safe_close(s->listen_fd);
        safe_close(s->signal_fd);
        safe_close(s->refusal[0]);
        safe_close(s->refusal[1]);
}

static int loop(Sommelier *s) {
        waypipe_start(s);
        for (;;) {
                struct pollfd p[3] = {
                        { .fd = s->signal_fd, .events = POLLIN },
                        { .fd = s->refusal[0], .events = POLLIN },
                        { .fd = s->n_streams < STREAMS_MAX ? s->listen_fd : -1, .events = POLLIN },
                };
                int timeout = -1;

                if (s->next_start > 0)
                        timeout = deadline_poll_timeout_ms(s->next_start);
                if (poll(p, ELEMENTSOF(p), timeout) < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "poll(): %m");
                }
                if (p[0].revents && !on_signal(s))
                        return 0;
                if (p[1].revents)
                        on_refusal(s);
                if (p[2].revents)
                        on_accept(s);
                if (s->next_start > 0 && now_usec(CLOCK_MONOTONIC) >= s->next_start)
                        waypipe_start(s);
        }
}

static int run(int argc, char *argv[]) {
        static const struct option options[] = {
                { "runtime-dir", required_argument, NULL, 'r' }, { "hold", no_argument, NULL, 'H' },
                { "verbose", no_argument, NULL, 'v' },           { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },           {},
        };
        Sommelier s = {};
        int c, r;

        log_set_ident("sommelier");
        log_parse_environment();
        opterr = 0;
        while ((c = getopt_long(argc, argv, "hv", options, NULL)) >= 0)
                switch (c) {
                case 'r':
                        if (optarg[0] != '/')
                                return log_usage_error("--runtime-dir needs an absolute path");
                        arg_runtime_dir = optarg;
                        break;
                case 'H':
                        arg_hold = true;
                        break;
                case 'v':
                        log_set_max_level(LOG_DEBUG);
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("sommelier %s\n", BISTRO_VERSION);
                        return 0;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("sommelier takes no arguments");
        if (arg_hold)
                return hold();
        r = setup(&s);
        if (r >= 0)
                r = loop(&s);
        done(&s);
        return r;
}

DEFINE_MAIN_FUNCTION(run);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro-init: PID 1 for containers whose rootfs has no init (Debian minbase, most rootfs
 * tarballs). It reaps orphans and, on SIGPWR (LXC's halt signal), SIGTERM or SIGINT, sends
 * SIGTERM to every process, waits up to a few seconds, SIGKILLs what is left and exits, which
 * stops the container. With --garcon-uid, it also runs garcon as that user and restarts it when
 * it exits (init-garcon.h). With --supervise it is not an init at all: it only keeps garcon
 * running, in the background, for containers that have an init of their own (busybox, OpenRC...;
 * tremplin starts it there through lxc attach); a signal stops garcon and it, nothing else.
 * Static, libc only: it runs on any distro from /opt/bistro/bin. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init-garcon.h"
#include "log.h"
#include "main-func.h"
#include "time-util.h"

#define GRACE_SECONDS 5

static const char *arg_garcon_path = GARCON_DEFAULT_PATH;
static unsigned arg_garcon_uid, arg_garcon_gid;
static bool arg_garcon;
static bool arg_supervise;

typedef struct Garcon {
        pid_t pid;
        usec_t started, backoff, next_start; /* next_start: 0 when none is due */
} Garcon;

static void garcon_start(Garcon *g) {
        pid_t pid;

        g->next_start = 0;
        pid = garcon_spawn(arg_garcon_path, arg_garcon_uid, arg_garcon_gid);
        if (pid < 0) {
                log_warning_errno((int) pid, "Cannot start %s: %m", arg_garcon_path);
                g->backoff = garcon_next_backoff(g->backoff, 0);
                g->next_start = now_usec(CLOCK_MONOTONIC) + g->backoff;
                return;
        }
        g->pid = pid;
        g->started = now_usec(CLOCK_MONOTONIC);
}

/* Reaps every exited child; garcon's exit schedules its restart. */
static void reap_all(Garcon *g) {
        pid_t p;
        int status;

        while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
                usec_t now, ran;

                if (!g || p != g->pid)
                        continue;
                now = now_usec(CLOCK_MONOTONIC);
                ran = now - g->started;
                g->pid = 0;
                g->backoff = garcon_next_backoff(g->backoff, ran);
                g->next_start = now + g->backoff;
                if (WIFEXITED(status))
                        log_warning(
                                "%s exited with status %d; restarting in %llu s.", arg_garcon_path,
                                WEXITSTATUS(status), (unsigned long long) (g->backoff / USEC_PER_SEC));
                else
                        log_warning(
                                "%s killed by signal %d; restarting in %llu s.", arg_garcon_path,
                                WTERMSIG(status), (unsigned long long) (g->backoff / USEC_PER_SEC));
        }
}

/* Waits until no child is left or the deadline passes; returns 1 when none is left. */
static int wait_children(int seconds) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + (usec_t) seconds * USEC_PER_SEC;

        for (;;) {
                pid_t p = waitpid(-1, NULL, WNOHANG);

                if (p < 0 && errno == ECHILD)
                        return 1;
                if (p > 0)
                        continue;
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        return 0;
                (void) nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
        }
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_GARCON_UID = 0x100,
                ARG_GARCON_GID,
                ARG_GARCON_PATH,
                ARG_SUPERVISE
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "garcon-uid", required_argument, NULL, ARG_GARCON_UID },
                { "garcon-gid", required_argument, NULL, ARG_GARCON_GID },
                { "garcon-path", required_argument, NULL, ARG_GARCON_PATH },
                { "supervise", no_argument, NULL, ARG_SUPERVISE },
                {},
        };
        bool have_gid = false;
        int c;

        opterr = 0; /* log_usage_bad_option() says it in our format */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: bistro-init [--supervise] [--garcon-uid UID [--garcon-gid GID] [--garcon-path PATH]]\n"
                               "Minimal PID 1 for Bistro containers: reaps zombies; SIGPWR,\n"
                               "SIGTERM or SIGINT stop every process (SIGTERM, %d s, SIGKILL) and exit.\n"
                               "--garcon-uid runs PATH --server (default %s) as UID:GID (GID\n"
                               "defaults to UID), restarted when it exits (1 s doubling to 30 s).\n"
                               "--supervise: not an init; goes to the background and only keeps\n"
                               "garcon running (needs --garcon-uid); a signal stops garcon and it.\n",
                               GRACE_SECONDS, GARCON_DEFAULT_PATH);
                        return 0;
                case ARG_GARCON_UID:
                        if (garcon_parse_id(optarg, &arg_garcon_uid) < 0)
                                return log_usage_error("Bad --garcon-uid: %s", optarg);
                        arg_garcon = true;
                        break;
                case ARG_GARCON_GID:
                        if (garcon_parse_id(optarg, &arg_garcon_gid) < 0)
                                return log_usage_error("Bad --garcon-gid: %s", optarg);
                        have_gid = true;
                        break;
                case ARG_GARCON_PATH:
                        if (optarg[0] != '/')
                                return log_usage_error("--garcon-path must be absolute: %s", optarg);
                        arg_garcon_path = optarg;
                        break;
                case ARG_SUPERVISE:
                        arg_supervise = true;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("Unexpected argument: %s", argv[optind]);
        if (have_gid && !arg_garcon)
                return log_usage_error("--garcon-gid needs --garcon-uid");
        if (arg_supervise && !arg_garcon)
                return log_usage_error("--supervise needs --garcon-uid");
        if (!have_gid)
                arg_garcon_gid = arg_garcon_uid;
        return 1;
}

static int run(int argc, char *argv[]) {
        Garcon garcon = {};
        sigset_t mask;
        int sig, r;

        log_set_ident("bistro-init");
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        if (arg_supervise) {
                /* In the background, in a session of its own, so that the attach that started it
                 * returns; stdin and stdout on /dev/null, stderr kept (the attach gave /dev/null or a
                 * log). */
                int null_fd;

                pid_t pid = fork();

                if (pid < 0)
                        return log_error_errno(errno, "fork failed: %m");
                if (pid > 0)
                        return 0;
                (void) setsid();
                null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
                if (null_fd >= 0) {
                        (void) dup2(null_fd, STDIN_FILENO);
                        (void) dup2(null_fd, STDOUT_FILENO);
                        if (null_fd > STDERR_FILENO)
                                (void) close(null_fd);
                }
        } else if (getpid() != 1)
                log_warning("Not PID 1, running anyway.");

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGPWR);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask failed: %m");
        if (arg_garcon)
                garcon_start(&garcon);
        for (;;) {
                if (arg_garcon && garcon.pid == 0 && garcon.next_start > 0) {
                        usec_t now = now_usec(CLOCK_MONOTONIC), left;
                        struct timespec ts;

                        if (now >= garcon.next_start) {
                                garcon_start(&garcon);
                                continue;
                        }
                        left = garcon.next_start - now;
                        ts = (struct timespec){ .tv_sec = (time_t) (left / USEC_PER_SEC),
                                                .tv_nsec = (long) (left % USEC_PER_SEC * 1000) };
                        sig = sigtimedwait(&mask, NULL, &ts);
                        if (sig < 0)
                                continue; /* EAGAIN: time to start it, EINTR */
                } else if (sigwait(&mask, &sig) != 0)
                        continue;
                if (sig == SIGCHLD) {
                        reap_all(arg_garcon ? &garcon : NULL);
                        continue;
                }
                break;
        }
        if (arg_supervise) {
                /* Only ours: garcon (the apps it launched are in their own sessions and stay). */
                if (garcon.pid > 0) {
                        (void) kill(garcon.pid, SIGTERM);
                        if (!wait_children(2))
                                (void) kill(garcon.pid, SIGKILL);
                }
                return 0;
        }
        /* kill(-1) skips the caller: every other process of the container's pid namespace. */
        (void) kill(-1, SIGTERM);
        (void) kill(-1, SIGCONT);
        if (!wait_children(GRACE_SECONDS)) {
                (void) kill(-1, SIGKILL);
                (void) wait_children(2);
        }
        return 0;
}

DEFINE_MAIN_FUNCTION(run);

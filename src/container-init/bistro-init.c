/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro-init: PID 1 for containers whose rootfs has no init (Debian minbase, most rootfs
 * tarballs). It reaps orphans and, on SIGPWR (LXC's halt signal), SIGTERM or SIGINT, sends
 * SIGTERM to every process, waits up to a few seconds, SIGKILLs what is left and exits, which
 * stops the container. Static, libc only: it runs on any distro from /opt/bistro/bin. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "main-func.h"
#include "time-util.h"

#define GRACE_SECONDS 5

static void reap_all(void) {
        while (waitpid(-1, NULL, WNOHANG) > 0)
                ;
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
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        int c;

        opterr = 0; /* log_usage_bad_option() says it in our format */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: bistro-init\nMinimal PID 1 for Bistro containers: reaps zombies; SIGPWR,\n"
                               "SIGTERM or SIGINT stop every process (SIGTERM, %d s, SIGKILL) and exit.\n",
                               GRACE_SECONDS);
                        return 0;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("Unexpected argument: %s", argv[optind]);
        return 1;
}

static int run(int argc, char *argv[]) {
        sigset_t mask;
        int sig, r;

        log_set_ident("bistro-init");
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;
        if (getpid() != 1)
                log_warning("Not PID 1, running anyway.");

        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGPWR);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask failed: %m");
        for (;;) {
                if (sigwait(&mask, &sig) != 0)
                        continue;
                if (sig == SIGCHLD) {
                        reap_all();
                        continue;
                }
                break;
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

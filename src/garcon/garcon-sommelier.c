/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "garcon-sommelier.h"
#include "log.h"
#include "spawn-util.h"
#include "string-util.h"

#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (30 * USEC_PER_SEC)
#define STABLE_USEC (10 * USEC_PER_SEC)
#define STOP_TIMEOUT_USEC (5 * USEC_PER_SEC)

void sommelier_child_init(SommelierChild *c, bool enabled) {
        const char *env = getenv("GARCON_NO_SOMMELIER"), *path = getenv("GARCON_SOMMELIER");

        *c = (SommelierChild){ .next_start = USEC_INFINITY };
        if (!enabled || (env && streq(env, "1"))) {
                log_info("sommelier disabled: Wayland apps in this container will not show on the host.");
                return;
        }
        c->path = path && path[0] == '/' ? path : GARCON_SOMMELIER_PATH;
        if (access(c->path, X_OK) < 0) {
                log_info_errno(
                        errno, "No sommelier at %s (%m): Wayland apps will not show on the host.", c->path);
                c->path = NULL;
                return;
        }
        c->next_start = 0;
}

void sommelier_child_process(SommelierChild *c) {
        pid_t pid;
        int r;

        if (!c->path || c->pid > 0 || now_usec(CLOCK_MONOTONIC) < c->next_start)
                return;
        c->next_start = USEC_INFINITY;
        /* sommelier's logs go where ours go (the user's journal under systemd). */
        r = safe_fork_full(
                "sommelier", FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_DEATHSIG | FORK_NULL_STDIN, NULL,
                0, &pid);
        if (r < 0) {
                log_warning_errno(r, "Cannot start %s: %m", c->path);
                c->backoff = BACKOFF_MAX_USEC;
                c->next_start = now_usec(CLOCK_MONOTONIC) + c->backoff;
                return;
        }
        if (r == 0) {
                execl(c->path, c->path, (char *) NULL);
                _exit(127);
        }
        c->pid = pid;
        c->started = now_usec(CLOCK_MONOTONIC);
        log_info("Started %s (pid %d).", c->path, (int) pid);
}

bool sommelier_child_reaped(SommelierChild *c, pid_t pid, int status) {
        usec_t now, ran;

        if (c->pid <= 0 || pid != c->pid)
                return false;
        now = now_usec(CLOCK_MONOTONIC);
        ran = now - c->started;
        c->pid = 0;
        c->backoff = restart_backoff_next(
                &(const RestartBackoff){
                        .min = BACKOFF_MIN_USEC, .max = BACKOFF_MAX_USEC, .stable = STABLE_USEC },
                c->backoff, ran);
        c->next_start = now + c->backoff;
        if (WIFEXITED(status))
                log_warning(
                        "sommelier exited with status %d; restarting in %llu s.", WEXITSTATUS(status),
                        (unsigned long long) (c->backoff / USEC_PER_SEC));
        else
                log_warning(
                        "sommelier killed by signal %d; restarting in %llu s.", WTERMSIG(status),
                        (unsigned long long) (c->backoff / USEC_PER_SEC));
        return true;
}

void sommelier_child_stop(SommelierChild *c) {
        if (c->pid <= 0)
                return;
        (void) kill(c->pid, SIGTERM);
        (void) wait_for_terminate_timeout(c->pid, STOP_TIMEOUT_USEC);
        c->pid = 0;
        c->next_start = USEC_INFINITY;
}

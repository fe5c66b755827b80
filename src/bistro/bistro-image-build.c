/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro's image builder runner: runs build-debian.sh bounded, its output condensed into a progress
 * display (debootstrap prints hundreds of "I: Retrieving ..." lines). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bistro-image-build.h"
#include "cli-util.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "path-lookup.h"
#include "path-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "time-util.h"

#define IMAGE_BUILD_TIMEOUT_USEC (45 * 60 * USEC_PER_SEC) /* debootstrap */

int bistro_image_present(const char *image, bool *ret) {
        _cleanup_free_ char *store = NULL, *tar = NULL, *json = NULL;
        int r;

        r = bistro_image_store(&store);
        if (r == -EINVAL)
                return log_error_errno(
                        r,
                        "Cannot find the image store: $BISTRO_IMAGE_STORE must be absolute, or set $XDG_DATA_HOME or $HOME.");
        if (r < 0)
                return log_error_errno(r, "Cannot find the image store: %m");
        if (asprintf(&tar, "%s/%s.tar.zst", store, image) < 0 ||
            asprintf(&json, "%s/%s.json", store, image) < 0)
                return log_oom();
        *ret = access(tar, R_OK) >= 0 && access(json, R_OK) >= 0;
        return 0;
}

/* One line of the builder's output. debootstrap's "I: Verb thing..." lines are condensed: on a
 * terminal into one redrawn status line, otherwise into one line per verb; everything else (the
 * builder's steps, warnings, errors) is shown as it is. */
static void builder_line(CliProgress *p, char *line) {
        size_t verb;

        if (!startswith(line, "I: ")) {
                cli_progress_message(p, line);
                return;
        }
        line += 3;
        verb = strcspn(line, " ");
        if (p->tty) {
                cli_progress_update(p, line, 0, 0, false);
                return;
        }
        /* The stage is the verb alone: a line per verb. */
        line[verb] = 0;
        cli_progress_update(p, line, 0, 0, false);
}

/* Runs argv (stdin /dev/null) with its stdout and stderr through builder_line(); bounded. Returns its
 * exit status or -errno (-ETIMEDOUT: killed at the deadline). */
static int run_builder(char *const argv[], usec_t timeout) {
        _cleanup_close_ int rfd = -EBADF, wfd = -EBADF;
        _cleanup_sigkill_wait_ pid_t pid = 0;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        CliProgress p;
        char buf[4096];
        size_t have = 0;
        int pipefd[2], r;

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return log_error_errno(errno, "pipe: %m");
        rfd = pipefd[0];
        wfd = pipefd[1];
        r = safe_fork_full(
                "bistro-build", FORK_RESET_SIGNALS | FORK_NULL_STDIN | FORK_CLOSE_ALL_FDS | FORK_DEATHSIG,
                &wfd, 1, &pid);
        if (r < 0)
                return log_error_errno(r, "Cannot start %s: %m", argv[0]);
        if (r == 0) {
                if (dup2(wfd, STDOUT_FILENO) < 0 || dup2(wfd, STDERR_FILENO) < 0)
                        _exit(127);
                execv(argv[0], argv);
                _exit(127);
        }
        wfd = safe_close(wfd);
        cli_progress_init(&p, "  ", false);
        for (;;) {
                struct pollfd pfd = { .fd = rfd, .events = POLLIN };
                ssize_t n;
                char *nl;

                r = poll(&pfd, 1, deadline_poll_timeout_ms(deadline));
                if (r < 0 && errno == EINTR)
                        continue;
                if (r <= 0)
                        break; /* the deadline (or a poll error): the builder is killed below */
                n = read(rfd, buf + have, sizeof(buf) - 1 - have);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        break;
                have += (size_t) n;
                buf[have] = 0;
                while ((nl = strchr(buf, '\n'))) {
                        *nl = 0;
                        builder_line(&p, buf);
                        have -= (size_t) (nl + 1 - buf);
                        memmove(buf, nl + 1, have + 1);
                }
                if (have == sizeof(buf) - 1) { /* a very long line: show what we have */
                        builder_line(&p, buf);
                        have = 0;
                }
        }
        if (have > 0) {
                buf[have] = 0;
                builder_line(&p, buf);
        }
        cli_progress_end(&p);
        /* EOF (or the deadline): the builder is exiting, or gets what is left of its time. */
        r = wait_for_terminate_timeout(
                pid, deadline > now_usec(CLOCK_MONOTONIC) ? deadline - now_usec(CLOCK_MONOTONIC) : 1);
        pid = 0;
        return r;
}

static int build_script(char **ret) {
        _cleanup_free_ char *p = NULL;

        /* In the build tree: the source tree's builder; installed: the data dir's copy. */
        if (bistro_running_from_build_tree())
                p = path_join(SOURCE_ROOT, "image/containers/build-debian.sh");
        else
                p = path_join(BISTRO_DATADIR, "containers/build-debian.sh");
        if (!p)
                return log_oom();
        *ret = TAKE_PTR(p);
        return 0;
}

int bistro_ensure_image(void) {
        _cleanup_free_ char *store = NULL, *script = NULL;
        bool present;
        int r;

        r = bistro_image_present(BISTRO_DEFAULT_IMAGE, &present);
        if (r < 0)
                return r;
        if (present)
                return 0;
        r = bistro_image_store(&store);
        if (r < 0)
                return log_error_errno(r, "Cannot find the image store: %m");
        r = build_script(&script);
        if (r < 0)
                return r;
        if (access(script, X_OK) < 0)
                return log_error_errno(
                        errno, "The %s image is not in %s and its builder %s is missing: %m",
                        BISTRO_DEFAULT_IMAGE, store, script);
        if (geteuid() != 0)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EPERM),
                        "the %s image is not in %s, and building it needs root (debootstrap).\n"
                        "Build it once with:\n  sudo %s %s\nthen run bistro again.",
                        BISTRO_DEFAULT_IMAGE, store, script, store);
        fprintf(stderr, "Building the %s image into %s (debootstrap; takes minutes the first time)…\n",
                BISTRO_DEFAULT_IMAGE, store);
        {
                char *argv[] = { script, store, NULL };

                r = run_builder(argv, IMAGE_BUILD_TIMEOUT_USEC);
        }
        if (r == -ETIMEDOUT)
                return log_error_errno(
                        r, "Building the %s image took more than %llu minutes; stopped it.",
                        BISTRO_DEFAULT_IMAGE,
                        (unsigned long long) (IMAGE_BUILD_TIMEOUT_USEC / USEC_PER_SEC / 60));
        if (r < 0)
                return r;
        if (r != 0)
                return log_error_errno(
                        SYNTHETIC_ERRNO(EIO), "Building the %s image failed (exit status %d, see above).",
                        BISTRO_DEFAULT_IMAGE, r);
        r = bistro_image_present(BISTRO_DEFAULT_IMAGE, &present);
        if (r < 0)
                return r;
        if (!present)
                return log_error_errno(
                        SYNTHETIC_ERRNO(ENOENT), "%s finished but %s/%s.tar.zst is missing.", script, store,
                        BISTRO_DEFAULT_IMAGE);
        return 0;
}

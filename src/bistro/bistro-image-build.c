/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bistro's image builder runner: runs build-debian.sh bounded, its output condensed into a progress
 * display (debootstrap prints hundreds of "I: Retrieving ..." lines). */
#include <errno.h>
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

static void builder_line_cb(char *line, void *userdata) {
        builder_line(userdata, line);
}

/* Runs argv (stdin /dev/null) with its stdout and stderr through builder_line(), as they come;
 * bounded. Returns its exit status or -errno (-ETIMEDOUT: killed at the deadline). */
static int run_builder(char *const argv[], usec_t timeout) {
        CliProgress p;
        SpawnOptions opts = {
                .stdin_fd = -EBADF,
                .stdout_fd = -EBADF,
                .merge_stderr = true,
                .timeout = timeout,
                .max_output = 4095, /* a longer line is shown in pieces */
                .close_all_fds = true,
                .on_line = builder_line_cb,
                .userdata = &p,
        };
        int r;

        cli_progress_init(&p, "  ", false);
        r = spawn_capture(argv, &opts, NULL);
        cli_progress_end(&p);
        if (r < 0 && r != -ETIMEDOUT)
                return log_error_errno(r, "Cannot run %s: %m", argv[0]);
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

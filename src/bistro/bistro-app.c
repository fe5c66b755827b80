/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "bistro-app.h"
#include "cli-util.h"
#include "fd-util.h"
#include "log.h"
#include "main-func.h"
#include "message-type.h"
#include "path-lookup.h"
#include "path-util.h"
#include "proto-validate.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "wire.h"

#define GARCON_WAIT_MS (180 * 1000) /* a cold container (systemd, then the user's manager) under TCG */
#define CALL_TIMEOUT_MS (GARCON_WAIT_MS + 30 * 1000)
#define CONNECT_WAIT_USEC (10 * USEC_PER_SEC) /* concierge has just started cicerone */
#define NOTIFY_TIMEOUT_USEC (5 * USEC_PER_SEC)

int bistro_check_app_args(char *const *uris) {
        for (char *const *u = uris; u && *u; u++) {
                /* The rule of LaunchApplicationRequest's validator, asked about this URI alone. */
                if (!proto_url_ok(*u)) {
                        _cleanup_free_ char *e = escape_for_terminal(*u, strlen(*u), true);

                        return log_usage_error(
                                "cannot pass '%s' to a container app: only http, https and mailto links can be passed "
                                "(host files need a shared folder)",
                                e ?: "?");
                }
        }
        return 0;
}

int bistro_connect_cicerone(int *ret_fd) {
        _cleanup_free_ char *runtime = NULL, *path = NULL;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + CONNECT_WAIT_USEC;
        int r, fd;

        r = bistro_runtime_dir(&runtime);
        if (r < 0)
                return log_error_errno(r, "Cannot find the runtime directory ($XDG_RUNTIME_DIR/bistro): %m");
        path = path_join(runtime, "cicerone.sock");
        if (!path)
                return log_oom();
        for (;;) {
                struct timespec ts;

                fd = unix_connect(path);
                if (fd >= 0) {
                        *ret_fd = fd;
                        return 0;
                }
                if ((fd != -ENOENT && fd != -ECONNREFUSED) || now_usec(CLOCK_MONOTONIC) > deadline)
                        return log_error_errno(fd, "Cannot reach cicerone at %s: %m", path);
                (void) nanosleep(timespec_store_usec(&ts, 100 * USEC_PER_MSEC), NULL);
        }
}

int bistro_launch_app(
        const char *vm,
        const char *container,
        const char *app_id,
        char *const *uris,
        char **reterr_message) {
        Bistro__Cicerone__LaunchApplicationRequest req = BISTRO__CICERONE__LAUNCH_APPLICATION_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *reply = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint32_t rtype = 0;
        int r;

        req.vm_name = (char *) vm;
        req.container_name = (char *) container;
        req.desktop_file_id = (char *) app_id;
        req.uris = (char **) uris;
        req.n_uris = strv_length((char **) uris);
        req.wait_ms = GARCON_WAIT_MS;
        r = bistro_connect_cicerone(&fd);
        if (r < 0)
                return set_error_message(reterr_message, r, "cicerone is not running: %s", strerror(-r));
        r = wire_call_sync(
                fd, BISTRO__MESSAGE_TYPE__CICERONE_LAUNCH_APPLICATION_REQUEST, &req.base,
                BISTRO__MESSAGE_TYPE__EMPTY, CALL_TIMEOUT_MS, &rtype, &reply);
        if (r < 0) {
                const char *m = reply ? wire_error_message(reply) : NULL;
                _cleanup_free_ char *e = m ? escape_for_terminal(m, strlen(m), true) : NULL;

                (void) set_error_message(reterr_message, 0, "%s", m ?: strerror(-r));
                return log_error_errno(
                        r, "Cannot launch %s in %s: %s", app_id, container, e ?: strerror(-r));
        }
        return 0;
}

void bistro_notify_failure(const char *app_id, const char *message) {
        _cleanup_free_ char *summary = NULL, *output = NULL;

        if (isatty(STDERR_FILENO) || asprintf(&summary, "Cannot start %s", app_id) < 0)
                return;
        char *argv[] = { (char *) "notify-send",
                         (char *) "--app-name=Bistro",
                         (char *) "--icon=dialog-error",
                         summary,
                         (char *) message,
                         NULL };
        /* 127: there is no notify-send; the exit status and the log still say it. */
        (void) spawn_capture(
                argv,
                &(SpawnOptions){ .stdin_fd = -EBADF, .merge_stderr = true, .timeout = NOTIFY_TIMEOUT_USEC },
                &output);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Bringing a container up for bistro (a shell, --app, files): one StartContainer call to concierge
 * (started on demand), which starts the VM, creates the container from the default image (built
 * when missing) and makes sure of the user; its steps as status lines on stderr. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bistro-image-build.h"
#include "bistro-start.h"
#include "cli-util.h"
#include "concierge-client.h"
#include "config.h"
#include "log.h"
#include "message-type.h"
#include "string-util.h"
#include "time-util.h"

#define CALL_TIMEOUT_MS (300 * 1000)      /* silence bound of one concierge call */
#define VM_WAIT_USEC (300 * USEC_PER_SEC) /* a VM someone else is starting or stopping */

void bistro_announce(const char *fmt, ...) {
        va_list ap;

        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
}

static void on_spawn(void *userdata) {
        bistro_announce("Starting concierge…");
}

static int on_progress(const Bistro__Concierge__Progress *e, void *userdata) {
        StartProgress *sp = userdata;

        if (startswith(e->stage, "warning:")) {
                _cleanup_free_ char *m = NULL;

                if (asprintf(&m, "bistro: %s", e->stage) >= 0)
                        cli_progress_message(&sp->bar, m);
                return 0;
        }
        /* Each step is announced once, when concierge says it has begun. */
        if (e->operation == BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM && !sp->vm_started) {
                cli_progress_end(&sp->bar);
                bistro_announce("Starting VM %s…", sp->vm);
                sp->vm_started = true;
        }
        if (e->operation == BISTRO__CONCIERGE__OPERATION__OPERATION_CREATE_CONTAINER && !sp->creating) {
                cli_progress_end(&sp->bar);
                bistro_announce("Creating container %s from image %s…", sp->container, BISTRO_DEFAULT_IMAGE);
                sp->creating = true;
        }
        /* Booting reports steps, not bytes: no bar for it. */
        cli_progress_update(
                &sp->bar, e->stage, e->done, e->total,
                e->operation != BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM);
        return 0;
}

/* The one concierge call of a bistro run: StartContainer, which starts the VM when needed, creates
 * the container when it is missing, starts it and makes sure of the user in it. Returns -ENOENT
 * quietly (with *ret_error) when the container is missing and cannot be created, so that the caller
 * can build the image and try again; prints every other failure. */
static int start_container(const char *user, StartProgress *sp, ProtobufCMessage **ret, char **ret_error) {
        Bistro__Concierge__StartContainerRequest req = BISTRO__CONCIERGE__START_CONTAINER_REQUEST__INIT;
        _cleanup_free_ char *error = NULL, *notice = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        req.vm_name = (char *) sp->vm;
        req.name = (char *) sp->container;
        req.image = (char *) BISTRO_DEFAULT_IMAGE;
        req.create_if_missing = sp->create;
        req.user = streq(user, "root") ? (char *) "" : (char *) user;

        fd = concierge_connect(on_spawn, NULL, &notice, &error);
        if (fd < 0)
                return log_error_errno(fd, "%s", error ?: "Cannot reach concierge.");
        if (notice)
                log_warning("%s", notice);
        cli_progress_init(&sp->bar, "  ", false);
        r = concierge_call(
                fd, BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST, &req.base, CALL_TIMEOUT_MS, on_progress,
                sp, ret, &error);
        cli_progress_end(&sp->bar);
        if (r >= 0)
                return 0;
        if (r == -ENOENT || r == -EBUSY) {
                *ret_error = TAKE_PTR(error);
                return r;
        }
        if (error) {
                _cleanup_free_ char *e = escape_for_terminal(error, strlen(error), true);

                return log_error_errno(r, "%s", e ?: "?");
        }
        if (r == -ETIMEDOUT)
                return log_error_errno(r, "concierge did not answer within %d s.", CALL_TIMEOUT_MS / 1000);
        return log_error_errno(r, "Cannot start container %s: %m", sp->container);
}

/* StartContainer, retried while the VM is busy stopping (bounded), and once more after building the
 * image when the container is missing and the image store lacks it. */
int bistro_ensure_container(
        const char *vm,
        const char *container,
        const char *user,
        bool create,
        StartProgress *sp,
        ProtobufCMessage **ret) {
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + VM_WAIT_USEC;
        bool built = false, waited = false;

        sp->vm = vm;
        sp->container = container;
        sp->create = create;

        for (;;) {
                _cleanup_free_ char *error = NULL;
                struct timespec ts;
                bool present = true;
                int r;

                r = start_container(user, sp, ret, &error);
                if (r >= 0)
                        return 0;
                if (r == -ENOENT && create && !built &&
                    bistro_image_present(BISTRO_DEFAULT_IMAGE, &present) >= 0 && !present) {
                        r = bistro_ensure_image();
                        if (r < 0)
                                return r;
                        built = true;
                        continue;
                }
                if (r != -EBUSY || now_usec(CLOCK_MONOTONIC) > deadline) {
                        _cleanup_free_ char *e =
                                error ? escape_for_terminal(error, strlen(error), true) : NULL;

                        return log_error_errno(r, "%s", e ?: strerror(-r));
                }
                /* The VM is stopping (someone ran vmc stop): start it again once it is down. */
                if (!waited)
                        bistro_announce("Waiting for VM %s to stop before starting it again…", sp->vm);
                waited = true;
                (void) nanosleep(timespec_store_usec(&ts, 500 * USEC_PER_MSEC), NULL);
        }
}

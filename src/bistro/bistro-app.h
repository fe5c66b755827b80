/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* bistro --app: what a container app's host launcher entry runs (the Exec line cicerone writes).
 * The VM and the container are running when this is called (bistro started them). */

#include <stdbool.h>

/* cicerone's control socket ($XDG_RUNTIME_DIR/bistro/cicerone.sock), waiting a little for it when
 * concierge has just started it. Logs its errors. */
int bistro_connect_cicerone(int *ret_fd);

/* Asks cicerone to have the container's garcon launch the app with uris (NULL-terminated; http,
 * https or mailto), waiting for garcon to come up after a cold start. Logs its errors, and gives the
 * reason in *reterr_message (for a notification). */
int bistro_launch_app(
        const char *vm, const char *container, const char *app_id, char *const *uris, char **reterr_message);

/* Checks the launcher's arguments before anything starts: usage error (logged) when one is not a
 * URL cicerone takes. */
int bistro_check_app_args(char *const *uris);

/* A failure the user must see although no terminal shows our stderr (a launcher started us): a
 * desktop notification through notify-send, when there is one. */
void bistro_notify_failure(const char *app_id, const char *message);

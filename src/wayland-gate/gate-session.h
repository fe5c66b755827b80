/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "window-mark.h"

typedef struct GateOptions {
        const char *vm;
        const char *tokens_dir;  /* token-store's directory: which container a token is */
        const char *work_dir;    /* private, one subdirectory per session (waypipe's socket) */
        const char *waypipe_dir; /* the waypipe bundle */
        WindowMark mark;
        bool sandbox;
} GateOptions;

/* One Wayland client of a container, in a process of its own: reads sommelier's WaylandConnectRequest
 * from fd, learns the container from its token, connects to the host's compositor, starts a sandboxed
 * `waypipe -o client` for this client alone and relays: fd <-> waypipe's channel socket as raw bytes,
 * waypipe's Wayland connection <-> the compositor through the Wayland filter. Returns when any side
 * is done; everything it started is gone by then. Returns 0 or a negative errno (logged). */
int gate_session_run(int fd, const GateOptions *o);

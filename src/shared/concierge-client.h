/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The client side of concierge's socket, shared by the host CLIs (bistro; vmc later): where the
 * socket is, starting concierge detached when nothing listens there, and one blocking call that
 * reports concierge's PROGRESS events through a callback. Logs at debug level only: callers
 * print the errors. */

#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "concierge.pb-c.h"

/* How long concierge may take to listen after it was started. */
#define CONCIERGE_SPAWN_TIMEOUT_MS (10 * 1000)

/* $XDG_RUNTIME_DIR/bistro/concierge.sock. -EINVAL when $XDG_RUNTIME_DIR is unset or relative. */
int concierge_socket_path(char **ret);

/* concierge's binary: $BISTRO_CONCIERGE when set; build_root/src/concierge/concierge when the
 * running program lives under build_root (a build tree; build_root may be NULL); else the
 * installed BISTRO_LIBEXECDIR/concierge. */
int concierge_binary_path(const char *build_root, char **ret);

/* Starts binary detached (own session, stdin /dev/null, stdout and stderr appended to
 * $XDG_RUNTIME_DIR/bistro/concierge.log) and returns once the intermediate child is reaped;
 * does not wait for the socket. */
int concierge_spawn(const char *binary);

/* Called once, just before concierge is started because nothing listened. */
typedef void (*ConciergeSpawnHandler)(void *userdata);

/* Connects to concierge's socket; when nothing listens there (no socket file, or connection
 * refused), starts concierge (concierge_binary_path(build_root)) and waits up to
 * CONCIERGE_SPAWN_TIMEOUT_MS for it. Clients of one runtime dir start concierge one at a time
 * (flock on $XDG_RUNTIME_DIR/bistro/concierge.spawn.lock), so concurrent first calls start one. Returns the
 * connected fd or -errno: -EINVAL (no $XDG_RUNTIME_DIR), -ETIMEDOUT (concierge started but did not listen:
 * see its log), ... */
int concierge_connect(const char *build_root, ConciergeSpawnHandler on_spawn, void *userdata);

/* A PROGRESS event about the call (validated, borrowed). Return < 0 to abort the call. */
typedef int (*ConciergeProgressHandler)(const Bistro__Concierge__Progress *p, void *userdata);

/* Sends req of type over fd and waits for the response; timeout_ms bounds the silence (every
 * event restarts it; < 0 waits forever). PROGRESS events go to on_progress (may be NULL); other
 * events are ignored. Returns 0 and the response in *ret_resp (may be NULL; free with
 * message_free()). When concierge answers with an ErrorReply, returns its negative errno and,
 * when ret_error is given, its message in *ret_error (malloc'd). Other failures: -ETIMEDOUT,
 * -ECONNRESET, -EBADMSG (protocol error), ... with *ret_error NULL. */
int concierge_call(
        int fd,
        uint32_t type,
        const ProtobufCMessage *req,
        int timeout_ms,
        ConciergeProgressHandler on_progress,
        void *userdata,
        ProtobufCMessage **ret_resp,
        char **ret_error);

/* "stopped", "starting", "running", "stopping", "failed" or "unknown" (the same words for both
 * enums, as vmc and bistro print them). */
const char *concierge_vm_state_to_string(int state);
const char *concierge_container_state_to_string(int state);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The client side of concierge's socket, shared by the host CLIs (vmc, bistro): where the socket is,
 * starting concierge detached when nothing listens there, and one blocking call that reports
 * concierge's PROGRESS events through a callback. Logs at debug level only: callers print the errors
 * (the message in *reterr_message when one is given back). */

#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "concierge.pb-c.h"
#include "time-util.h"

/* How long concierge may take to listen after it was started. */
#define CONCIERGE_SPAWN_TIMEOUT_USEC (10 * USEC_PER_SEC)

/* <runtime dir>/concierge.sock (path-lookup.h: $XDG_RUNTIME_DIR/bistro, checked to be ours).
 * -EINVAL when $XDG_RUNTIME_DIR is unset or relative, -EPERM when the directory is not ours. */
int concierge_socket_path(char **ret);

/* concierge's binary: $BISTRO_CONCIERGE, else the build tree's when we run from it, else the
 * installed one (bistro_find_program()). -ENOENT when it is not executable. */
int concierge_binary_path(char **ret);

/* Starts binary detached (own session, stdin /dev/null, stdout and stderr appended to
 * <runtime dir>/concierge.log, no other fd of ours) and returns once the intermediate child is
 * reaped; does not wait for the socket. */
int concierge_spawn(const char *binary);

/* Takes the spawn lock of the runtime dir (flock on <runtime dir>/concierge.spawn.lock), waiting at
 * most timeout for it (-ETIMEDOUT). Returns the fd holding the lock. */
int concierge_lock_spawn(usec_t timeout);

/* Called once, just before concierge is started because nothing listened. */
typedef void (*ConciergeSpawnHandler)(void *userdata);

/* Connects to concierge's socket; when nothing listens there (no socket file, or connection
 * refused), starts concierge (concierge_binary_path()) and waits up to CONCIERGE_SPAWN_TIMEOUT_USEC for
 * it. Clients of one runtime dir start concierge one at a time (concierge_lock_spawn()), so concurrent
 * first calls start one. Returns the connected fd or -errno, with a sentence for the user in
 * *reterr_message (malloc'd, set only on failure, may be NULL on OOM): -EINVAL / -EPERM (runtime dir),
 * -ENOENT (no concierge binary), -ETIMEDOUT (concierge started but did not listen: see its log), ...
 * A running concierge of another build (build-id.h) is replaced when it is idle and kept otherwise;
 * either way a sentence for the user is put in *ret_notice (malloc'd; NULL when there is nothing to
 * say; ret_notice may be NULL). */
int concierge_connect(
        ConciergeSpawnHandler on_spawn, void *userdata, char **ret_notice, char **reterr_message);

/* A PROGRESS event about the call (validated, borrowed). Return < 0 to abort the call. */
typedef int (*ConciergeProgressHandler)(const Bistro__Concierge__Progress *p, void *userdata);

/* Sends req of type over fd and waits for the response; timeout_ms bounds the silence (every
 * event restarts it; < 0 waits forever). PROGRESS events go to on_progress (may be NULL); other
 * events are ignored. Returns 0 and the response in *ret_resp (may be NULL; free with
 * message_free()). When concierge answers with an ErrorReply, returns its negative errno and,
 * when reterr_message is given, its message in *reterr_message (malloc'd). Other failures:
 * -ETIMEDOUT, -ECONNRESET, -EBADMSG (protocol error), ... with *reterr_message untouched. */
int concierge_call(
        int fd,
        uint32_t type,
        const ProtobufCMessage *req,
        int timeout_ms,
        ConciergeProgressHandler on_progress,
        void *userdata,
        ProtobufCMessage **ret_resp,
        char **reterr_message);

/* "stopped", "starting", "running", "stopping", "failed" or "unknown" (the same words for both
 * enums, as vmc and bistro print them). */
const char *concierge_vm_state_to_string(int state);
const char *concierge_container_state_to_string(int state);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Non-blocking hybrid vsock connect on sd-event: connect to the VM's vsock.sock, "CONNECT <port>",
 * "OK ...", then (optionally) one request frame and its EMPTY answer, all within a deadline. What
 * the guest sends after that answer stays in the socket. */

#include <stdint.h>
#include <systemd/sd-event.h>
#include <protobuf-c/protobuf-c.h>

/* After "OK": how long the guest may take to answer the request (it connects inside the container). */
#define DIAL_ANSWER_TIMEOUT_USEC (30u * 1000000u)

typedef struct Dial Dial;

/* fd >= 0 (blocking mode unchanged: non-blocking) on success, owned by the callee; else error < 0
 * with message (an ErrorReply's text from the guest, or NULL). The Dial is freed after the call. */
typedef void (*DialDone)(int fd, int error, const char *message, void *userdata);

/* path: the hybrid socket (relative to the working directory once sandboxed). timeout_usec bounds
 * the connect and "CONNECT"/"OK"; the request's answer then has DIAL_ANSWER_TIMEOUT_USEC. req_type
 * 0: no request. Returns -errno (nothing is called then). */
int dial_start(
        sd_event *e,
        const char *path,
        uint32_t port,
        uint32_t req_type,
        const ProtobufCMessage *req,
        uint64_t timeout_usec,
        DialDone done,
        void *userdata,
        Dial **ret);
/* Stops and frees without calling done. Returns NULL. */
Dial *dial_cancel(Dial *d);

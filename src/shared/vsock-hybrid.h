/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Host side of a hybrid vsock (docs/design/vsockd.md): connects to the VM's unix socket
 * (.../vms/VM/vsock.sock), sends "CONNECT <port>\n" and waits for "OK <host port>\n". The bytes
 * after that line belong to the guest's stream. Does not log. Two forms: a blocking connect, and a
 * non-blocking dial on sd-event for the daemons. */
#include <stdint.h>
#include <systemd/sd-event.h>
#include <protobuf-c/protobuf-c.h>

/* Returns the connected (blocking) fd, or:
 *   -ENOENT, -ECONNREFUSED  nobody listens on path (the VM is not running)
 *   -ECONNABORTED           the VM is up but nothing listens on the guest port ("ERR ...")
 *   -ETIMEDOUT              no answer within timeout_ms
 *   -EBADMSG                an answer that is neither "OK" nor "ERR"
 *   other -errno            from socket(), connect(), read(), write() */
int vsock_hybrid_connect(const char *path, uint32_t port, int timeout_ms);

/* The non-blocking dial: connect, "CONNECT <port>", "OK ...", then (optionally) one request frame
 * and its EMPTY answer, all within a deadline. What the guest sends after that answer stays in the
 * socket. */

/* After "OK": how long the guest may take to answer the request (it connects inside the container). */
#define VSOCK_HYBRID_ANSWER_TIMEOUT_USEC (30u * 1000000u)

typedef struct VsockHybridDial VsockHybridDial;

/* fd >= 0 (blocking mode unchanged: non-blocking) on success, owned by the callee; else error < 0
 * with message (an ErrorReply's text from the guest, or NULL). The dial is freed after the call. */
typedef void (*VsockHybridDialDone)(int fd, int error, const char *message, void *userdata);

/* path: the hybrid socket (relative to the working directory once sandboxed). timeout_usec bounds
 * the connect and "CONNECT"/"OK"; the request's answer then has VSOCK_HYBRID_ANSWER_TIMEOUT_USEC.
 * req_type 0: no request. Returns -errno (nothing is called then). */
int vsock_hybrid_dial_start(
        sd_event *e,
        const char *path,
        uint32_t port,
        uint32_t req_type,
        const ProtobufCMessage *req,
        uint64_t timeout_usec,
        VsockHybridDialDone done,
        void *userdata,
        VsockHybridDial **ret);
/* Stops and frees without calling done. Returns NULL. */
VsockHybridDial *vsock_hybrid_dial_cancel(VsockHybridDial *d);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Blocking helpers that concierge runs inside jobs (job.h), never in its event loop: maitred RPCs
 * through the VM's hybrid vsock socket, QMP commands, and helper programs. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#define MAITRED_PORT 8888u
#define READY_PORT 7777u

/* A stream to guest port through vsock_path ("CONNECT <port>" handshake done). */
int guest_connect(const char *vsock_path, uint32_t port, int timeout_ms);
/* One maitred call on a fresh connection. On an ErrorReply returns its errno and copies its message
 * into err (may be NULL). *ret_resp (may be NULL) is owned by the caller (message_free()). */
int guest_call(
        const char *vsock_path,
        uint32_t type,
        const ProtobufCMessage *req,
        int timeout_ms,
        ProtobufCMessage **ret_resp,
        char *err,
        size_t err_size);
/* Runs argv as root in the guest and waits; returns the exit status (>= 0) or a negative errno. */
int guest_run(const char *vsock_path, char **argv, int timeout_ms, char *err, size_t err_size);
/* ConfigureNetwork for QEMU's user network (vmm --net user): 10.0.2.15/24 via 10.0.2.2, DNS 10.0.2.3,
 * and with ipv6 fec0::15/64 via fec0::2. */
int guest_configure_network(const char *vsock_path, bool ipv6, char *err, size_t err_size);
/* SetTime to the host's CLOCK_REALTIME. */
int guest_set_time(const char *vsock_path, char *err, size_t err_size);

/* Connects to a QMP socket, negotiates capabilities and runs one command (a JSON object text).
 * Returns 0 on {"return":...}, -EIO on {"error":...} with its description in err. */
int qmp_command_sync(const char *qmp_path, const char *command, int timeout_ms, char *err, size_t err_size);

/* Runs argv on the host with stdin /dev/null and stdout+stderr captured into out (truncated);
 * returns the exit status or a negative errno. */
int run_command(char *const *argv, char *out, size_t out_size);

/* The host's zoneinfo name ($TZ, /etc/timezone or the /etc/localtime link), "UTC" when unknown. */
int host_timezone(char *buf, size_t size);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Blocking helpers that concierge runs inside jobs (job.h), never in its event loop: maitred RPCs
 * through the VM's hybrid vsock socket, QMP commands, and helper programs. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

/* A stream to guest port through vsock_path ("CONNECT <port>" handshake done). */
int guest_connect(const char *vsock_path, uint32_t port, int timeout_ms);
/* One maitred call on a fresh connection. On failure returns a negative errno and, when
 * reterr_message is not NULL, a malloc'd explanation (maitred's ErrorReply message, or what failed)
 * in *reterr_message (set only on failure; NULL on OOM). *ret_resp (may be NULL) is owned by the
 * caller (message_free()). */
int guest_call(
        const char *vsock_path,
        uint32_t type,
        const ProtobufCMessage *req,
        int timeout_ms,
        ProtobufCMessage **ret_resp,
        char **reterr_message);
/* Runs argv as root in the guest and waits; returns the exit status (>= 0) or a negative errno
 * (*reterr_message as above, also set for an exit status other than 0). */
int guest_run(const char *vsock_path, char **argv, int timeout_ms, char **reterr_message);
/* ConfigureNetwork for the VM's slirpd (vmm --net slirpd, which uses the same addresses: see
 * src/vmm/vmm-net.h and src/slirpd): 10.0.2.15/24 via 10.0.2.2, DNS 10.0.2.3, and with ipv6 fec0::15/64 via
 * fec0::2 (DNS fec0::3, written by tremplin for containers). */
int guest_configure_network(const char *vsock_path, bool ipv6, char **reterr_message);
/* SetTime to the host's CLOCK_REALTIME. */
int guest_set_time(const char *vsock_path, char **reterr_message);

/* Connects to a QMP socket, negotiates capabilities and runs one command (a JSON object text).
 * Returns 0 on {"return":...}; on failure a negative errno (qmp_error_class_to_errno() of an
 * {"error":...}) and, when reterr_message is not NULL, a malloc'd "QMP: ..." explanation in
 * *reterr_message (set only on failure; left alone for -EINVAL, a command that is not a JSON
 * object with a string "execute"; NULL on OOM). */
int qmp_command_run(const char *qmp_path, const char *command, int timeout_ms, char **reterr_message);

/* Runs argv on the host (stdin /dev/null, no time limit) and returns its exit status (>= 0) or a
 * negative errno; *ret_output (may be NULL) gets stdout and stderr, at most 4 KiB. */
int run_command(char *const *argv, char **ret_output);

/* host_timezone() is in concierge-timezone.h. */

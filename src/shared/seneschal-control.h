/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* seneschal's control socket (<runtime dir>/seneschal.sock, SOCK_SEQPACKET, mode 0600): concierge adds
 * and removes the shares of a running VM. One request per datagram, a fixed-size SeneschalRequest;
 * ADD carries an O_PATH fd to the host directory (SCM_RIGHTS). One reply per request: an int32
 * (0 or a negative errno). See docs/design/shares.md. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bistro-ports.h" /* SHARES_TAG */
#include "proto-validate.h"

#define SHARE_NAME_MAX PROTO_SHARE_NAME_MAX
#define SHARES_MAX PROTO_SHARES_MAX

enum {
        SENESCHAL_OP_ADD = 1,
        SENESCHAL_OP_REMOVE = 2,
};

#define SENESCHAL_FLAG_READ_ONLY (UINT32_C(1) << 0)

typedef struct SeneschalRequest {
        uint32_t op;
        uint32_t flags;
        char name[SHARE_NAME_MAX + 1]; /* NUL-terminated, share_name_is_valid() */
        uint8_t reserved[3];           /* zero: no padding the compiler could leave undefined */
} SeneschalRequest;
_Static_assert(sizeof(SeneschalRequest) == 76, "SeneschalRequest is sent as is");

/* 1-64 bytes of [A-Za-z0-9._-], not starting with '.' or '-' (it becomes a directory name). */
bool share_name_is_valid(const char *s);

/* Checks a received datagram field by field: exact size, a known op, known flags (only ADD has
 * any), a terminated valid name, zero reserved bytes. -EBADMSG otherwise. */
int seneschal_request_parse(const void *buf, size_t n, SeneschalRequest *ret);

/* Client side, blocking, bounded by timeout_ms: connects to path, sends the request (with dir_fd for
 * ADD) and returns the reply (0 or a negative errno), or the negative errno of the exchange itself. */
int seneschal_call(const char *path, const SeneschalRequest *req, int dir_fd, int timeout_ms);

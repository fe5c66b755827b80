/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The container verbs, forwarded to tremplin in the VM. */

#include <stdint.h>

#include "concierge-manager.h"

int container_request(Manager *m, WireConn *c, uint32_t type, uint64_t id, const ProtobufCMessage *msg);
/* The token given to container name of VM vm, NULL before its first start by this concierge. */
const char *container_token(Manager *m, const char *vm, const char *name);

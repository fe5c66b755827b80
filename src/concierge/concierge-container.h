/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The container verbs, forwarded to tremplin in the VM. */

#include <stdint.h>

#include "concierge-manager.h"

int container_request(Manager *m, WireConn *c, uint32_t type, uint64_t id, const ProtobufCMessage *msg);
/* The token given to container name of VM vm, NULL before its first start by this concierge. */
/* "unpacked_size": N from an image store's NAME.json (a top-level integer member of the JSON object,
 * written by image/containers/common.sh); 0 when the file is missing or over 64 KiB, is not a JSON
 * object, or the member is missing, not an integer, negative or above IMAGE_UNPACKED_SIZE_MAX. */
#define IMAGE_UNPACKED_SIZE_MAX (UINT64_C(64) << 30) /* tremplin-validate.c refuses more */
uint64_t image_json_unpacked_size(const char *path);

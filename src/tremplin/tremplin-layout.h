/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Where tremplin keeps containers in the VM and which ids they get (docs/design/containers.md,
 * "Guest layout"). */

#include <stdint.h>

#include "bistro-ports.h"

#define LOCK_FILE STATEFUL_LXC_PATH "/.lock"
#define LXC_LOG_DIR "/run/bistro/lxc"
#define TOKEN_DIR "/run/bistro/tokens"
#define OPT_BISTRO "/opt/bistro"
#define BISTRO_INIT OPT_BISTRO "/bin/bistro-init"
#define ID_BASE 100000u
#define ID_COUNT 65536u
#define CONTAINERS_MAX 250u

static inline uint32_t slot_id_base(unsigned slot) {
        return ID_BASE + ID_COUNT * (slot - 1);
}

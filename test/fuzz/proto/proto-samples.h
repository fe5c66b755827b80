/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One valid example message per message type, packed: seeds for the fuzz corpora and the
 * "valid passes" half of the validator tests. */

#include <stddef.h>
#include <stdint.h>

/* Packs the sample of type into a new buffer (payload only, no frame header). Returns 0,
 * -ENOENT when no sample exists for the type, -ENOMEM. */
int proto_sample_pack(uint32_t type, uint8_t **ret, size_t *ret_size);

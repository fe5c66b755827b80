/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Frames of tremplin.proto (plus the common ones every connection carries) from a hostile peer:
 * what tremplin reads from the host and concierge reads back from the VM. */
#include "fuzz-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_wire_run(common_message_types, common_message_types_count, data, size);
        return fuzz_wire_run(tremplin_message_types, tremplin_message_types_count, data, size);
}

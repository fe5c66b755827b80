/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Frames of cicerone.proto, the control socket (plus the common ones every connection carries) from a
 * hostile peer. */
#include "fuzz-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_wire_run(common_message_types, common_message_types_count, data, size);
        return fuzz_wire_run(cicerone_message_types, cicerone_message_types_count, data, size);
}

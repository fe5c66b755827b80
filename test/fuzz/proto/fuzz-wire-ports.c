/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Frames of ports.proto (plus the common ones every connection carries) from a hostile peer: what
 * chunneld reads from port-listener in the VM, and port-listener from the host. */
#include "fuzz-wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_wire_run(common_message_types, common_message_types_count, data, size);
        return fuzz_wire_run(ports_message_types, ports_message_types_count, data, size);
}

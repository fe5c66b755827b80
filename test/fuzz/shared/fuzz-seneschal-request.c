/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* seneschal's control requests (seneschal-control.h): seneschal runs with CAP_SYS_ADMIN in its
 * namespace and mounts what a request names, so whatever parses must be a name that stays one path
 * component below the export. */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "seneschal-control.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        SeneschalRequest r;

        if (seneschal_request_parse(data, size, &r) < 0)
                return 0;
        if (size != sizeof(r) || (r.op != SENESCHAL_OP_ADD && r.op != SENESCHAL_OP_REMOVE))
                abort();
        if (strlen(r.name) == 0 || strlen(r.name) > SHARE_NAME_MAX || strchr(r.name, '/') ||
            r.name[0] == '.' || !share_name_is_valid(r.name))
                abort();
        if (r.op == SENESCHAL_OP_REMOVE && r.flags != 0)
                abort();
        return 0;
}

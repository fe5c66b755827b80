/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Requests that run as jobs on a VM: export, import, resize, sync-time. */

#include <stdint.h>

#include "concierge-manager.h"

int op_export(Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__ExportVmRequest *req);
int op_import(Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__ImportVmRequest *req);
int op_resize(Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__ResizeVmRequest *req);
/* c may be NULL (a clock jump): nobody is answered. */
int op_sync_time(Manager *m, WireConn *c, uint64_t id);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Port forwarding (docs/design/ports.md): one chunneld per running VM, supervised here, and the two
 * vmc requests, which concierge passes to the VM's chunneld (<runtime dir>/chunneld.sock). */

#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "concierge-manager.h"

#define CHUNNELD_SOCKET "chunneld.sock"

/* The VM became RUNNING: start its chunneld (restarted if it dies while the VM runs, a few times). */
void ports_vm_running(Vm *vm);
/* The VM stopped: SIGTERM its chunneld (SIGKILL if it lingers); reaped on the event loop. */
void ports_vm_stopped(Vm *vm);
/* LIST_PORTS_REQUEST and PORT_FORWARD_REQUEST. Answers c. */
int ports_request(Manager *m, WireConn *c, uint32_t type, uint64_t id, const ProtobufCMessage *msg);

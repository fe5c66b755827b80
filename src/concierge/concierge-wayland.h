/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* GUI apps (docs/design/sommelier.md): concierge listens on each running VM's hybrid vsock port 7100
 * and starts that VM's wayland-gate on the first connection, passing it the listener. */

#include "concierge-manager.h"

/* The VM became RUNNING: listen on <vsock socket>_7100. */
void wayland_vm_running(Vm *vm);
/* The VM stopped: stop listening, SIGTERM its gate (SIGKILL if it lingers). */
void wayland_vm_stopped(Vm *vm);

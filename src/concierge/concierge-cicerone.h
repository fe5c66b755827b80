/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* cicerone (docs/design/cicerone.md): one per concierge, started when the first VM runs, restarted
 * when it dies, told which VMs run. It dies with concierge (PDEATHSIG): a new concierge starts a new
 * one, and the state that matters (tokens, host entries) is on disk. */

#include "concierge-manager.h"

#define CICERONE_SOCKET "cicerone.sock"

/* The VM became RUNNING: make sure cicerone runs and tell it. */
void cicerone_vm_running(Vm *vm);
/* The running VM's shares changed: VmStarted again, with them (cicerone replaces its copy). */
void cicerone_vm_shares_changed(Vm *vm);
/* The VM stopped: tell cicerone (when it runs). */
void cicerone_vm_stopped(Vm *vm);

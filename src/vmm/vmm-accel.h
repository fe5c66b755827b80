/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "vmm-qemu.h"

/* The accelerator: KVM when it can run our guests, else TCG. */

/* /dev/kvm opens read-write and answers KVM_GET_API_VERSION with the version we were built for. */
bool kvm_device_usable(void);

/* For "auto": KVM with hardware virtualization. False for a /dev/kvm served only by kvm_pvm
 * (pagetable-based KVM, found inside some cloud VMs): it runs PVM-aware guest kernels only, and
 * Debian's does not boot on it. Logs (info) why it picks TCG. */
bool kvm_usable(void);

/* Resolves ACCEL_AUTO and checks an explicit ACCEL_KVM. Returns ACCEL_KVM or ACCEL_TCG, or
 * -ENODEV when KVM was asked for and /dev/kvm is not usable. Does not log the error. */
int accel_resolve(Accel requested);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Exit status when the stream from QEMU (the guest's side) is not valid: vmm ends the VM as it does
 * for a dead device. 0 is QEMU gone or SIGTERM, 1 setup failed, 2 usage. */
#define SLIRPD_EXIT_PROTOCOL 3

/* Confines the process for good (slirpd-sandbox.c): the host's network namespace, an empty root
 * holding only /etc/resolv.conf, the syscall allowlist. Logs; on failure the caller must exit. */
int slirpd_sandbox_enter(void);

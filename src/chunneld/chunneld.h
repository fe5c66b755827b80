/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* chunneld's sandbox (chunneld-sandbox.c). */

/* Confines chunneld for good once its sockets are open: a user and mount namespace where only dir
 * (the VM's runtime dir, made the working directory) is visible, no capabilities, no_new_privs and a
 * seccomp allowlist (sockets of AF_UNIX, AF_INET and AF_INET6 only; no exec, no open). Stays in the
 * host's network namespace. Logs its errors; the caller must exit on failure. */
int chunneld_sandbox_enter(const char *dir);

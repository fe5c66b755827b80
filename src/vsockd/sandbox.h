/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

/* Where dir appears inside the sandbox. */
#define SANDBOX_SOCKET_DIR "/sock"

/* Confines the calling process for good: new user/mount/net/ipc/uts namespaces, the root replaced by
 * an empty read-only tmpfs holding only dir at SANDBOX_SOCKET_DIR (read-only, nosuid, nodev, noexec), all
 * capabilities dropped and locked, no_new_privs, and a deny-by-default seccomp filter. Any failure is
 * returned (the caller must exit: fail closed). Logs its own errors. */
int sandbox_enter(const char *dir);

/* Installs only the seccomp filter (same code path as sandbox_enter). */
int sandbox_seccomp(void);

/* True in ASan/UBSan builds, whose runtimes need syscalls the filter would refuse. */
bool sandbox_sanitizer_build(void);

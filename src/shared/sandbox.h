/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Confining a daemon for good once its sockets are open (vsockd, chunneld). Each program keeps its
 * own syscall allowlist; the namespaces, capabilities, no_new_privs and the filter's shape are here. */

#include <stdbool.h>
#include <stddef.h>

typedef struct SandboxOptions {
        const char *dir;       /* the only host directory visible, bound read-only at inner_dir */
        const char *inner_dir; /* e.g. "/sock"; must be absolute */
        bool keep_network;     /* stay in the host's network namespace (chunneld binds loopback) */
        bool chdir_inner;      /* working directory inner_dir afterwards (else "/") */
        const int *syscalls;   /* allowed without conditions (SCMP_SYS() numbers) */
        size_t n_syscalls;
        const int *socket_families; /* socket() is allowed only for these */
        size_t n_socket_families;
} SandboxOptions;

/* New user/mount/ipc/uts (and, unless keep_network, net) namespaces mapping only our uid and gid; the
 * root replaced by an empty read-only tmpfs holding only dir at inner_dir (read-only, nosuid, nodev,
 * noexec); all capabilities dropped and securebits locked; no_new_privs; then sandbox_seccomp().
 * Irreversible even on failure: the caller must exit then (fail closed). Returns a negative errno and,
 * when reterr_message is not NULL, what failed (malloc'd, may stay NULL on OOM). Does not log. */
int sandbox_enter(const SandboxOptions *o, char **reterr_message);

/* Only the deny-by-default seccomp filter: o->syscalls, socket() for o->socket_families, mmap() and
 * mprotect() without PROT_EXEC. Same code path as sandbox_enter(); only the allowlist fields are used. */
int sandbox_seccomp(const SandboxOptions *o, char **reterr_message);

/* True in ASan/UBSan builds, whose runtimes need syscalls the filter would refuse: there the filter
 * logs instead of killing, except for exec and (with a single family) other socket families. */
bool sandbox_sanitizer_build(void);

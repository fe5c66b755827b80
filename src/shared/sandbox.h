/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Confining a daemon for good once its sockets are open (vsockd, chunneld, slirpd). Each program keeps
 * its own syscall allowlist; the namespaces, capabilities, no_new_privs and the filter's shape are here. */

#include <stdbool.h>
#include <stddef.h>

typedef struct SandboxOptions {
        const char *dir;       /* the only host directory visible (or NULL), read-only at inner_dir */
        const char *inner_dir; /* e.g. "/sock"; must be absolute (unused without dir) */
        bool dir_writable;     /* dir stays writable (still nosuid, nodev, noexec): for a program that
                                * creates its socket there */
        /* sandbox_enter_exec() only: a host directory bound read-only at exec_inner_dir, the one place
         * from which the program and its libraries can be executed and mapped. */
        const char *exec_dir;
        const char *exec_inner_dir;
        /* Host files bound read-only at the same absolute path (e.g. "/etc/resolv.conf"). A symlink is
         * followed on the host: its target's content appears at the path itself. A file that does not
         * exist (or a dangling symlink) is left out; anything else that is not a regular file fails. */
        const char *const *files;
        size_t n_files;
        bool keep_network;   /* stay in the host's network namespace (chunneld binds loopback) */
        bool chdir_inner;    /* working directory inner_dir afterwards (else "/") */
        const int *syscalls; /* allowed without conditions (SCMP_SYS() numbers) */
        size_t n_syscalls;
        const int *socket_families; /* socket() is allowed only for these */
        size_t n_socket_families;
        /* socket() for these fails with EAFNOSUPPORT instead of killing: for library code that tries
         * families in turn (glibc's if_nametoindex() tries AF_UNIX first, then AF_INET). */
        const int *refused_socket_families;
        size_t n_refused_socket_families;
        const unsigned long *ioctls; /* ioctl() is allowed only with these requests */
        size_t n_ioctls;
} SandboxOptions;

/* New user/mount/ipc/uts (and, unless keep_network, net) namespaces mapping only our uid and gid; the
 * root replaced by an empty read-only tmpfs holding only dir at inner_dir and the files at their paths
 * (read-only, nosuid, nodev, noexec); all capabilities dropped and securebits locked; no_new_privs; then
 * sandbox_seccomp(). Irreversible even on failure: the caller must exit then (fail closed). Returns a
 * negative errno and, when reterr_message is not NULL, what failed (malloc'd, may stay NULL on OOM). Does
 * not log. */
int sandbox_enter(const SandboxOptions *o, char **reterr_message);

/* no_new_privs and sandbox_seccomp()'s filter, without namespaces: for a process that must still
 * signal a child that lives in a user namespace of its own (the Wayland gate's sessions). */
int sandbox_enter_filter(const SandboxOptions *o, char **reterr_message);

/* For a program we do not build (waypipe), after which the caller execs it from o->exec_inner_dir:
 * the same namespaces, tmpfs root, capabilities and no_new_privs as sandbox_enter(), but a seccomp
 * filter that allows by default and kills on what such a program never needs: other socket families
 * than AF_UNIX, namespaces and mounts, ptrace and other processes' memory, keyrings, BPF, perf,
 * userfaultfd, io_uring, modules, kexec. The allowlist fields of o are not used. */
int sandbox_enter_exec(const SandboxOptions *o, char **reterr_message);

/* Only the deny-by-default seccomp filter: o->syscalls, socket() for o->socket_families (and EAFNOSUPPORT
 * for o->refused_socket_families), ioctl() for o->ioctls, mmap() and mprotect() without PROT_EXEC. Same code
 * path as sandbox_enter(); only the allowlist fields are used. */
int sandbox_seccomp(const SandboxOptions *o, char **reterr_message);

/* True in ASan/UBSan builds, whose runtimes need syscalls the filter would refuse: there the filter
 * logs instead of killing, except for exec and (with a single family) other socket families. */
bool sandbox_sanitizer_build(void);

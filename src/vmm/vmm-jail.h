/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Starts a program (QEMU) jailed: new user, mount, pid, ipc, uts and cgroup namespaces (and net
 * unless it needs the host's for user networking), a tmpfs root holding only read-only binds of the
 * files it needs, no capabilities, no_new_privs. Setup fails closed: any error kills the child
 * before exec and is reported to the caller. */

typedef struct JailBind {
        char *src; /* host path without symlinks */
        char *dst; /* path inside the jail */
        bool writable;
} JailBind;

typedef struct Jail {
        JailBind *binds;
        size_t n_binds;
        bool share_net;
} Jail;

void jail_done(Jail *j);
/* src is resolved (realpath) now; dst defaults to src. */
int jail_add_bind(Jail *j, const char *src, const char *dst, bool writable);
/* The binary, the shared libraries ld.so reports for it and for each extra object (QEMU modules). */
int jail_add_elf_closure(Jail *j, const char *binary, char *const *extra);
bool jail_has_dst(const Jail *j, const char *dst);

/* Forks the jailed child. fds[i] becomes fd 3+i in the child; everything else is closed and
 * stdin is /dev/null (which must be among the binds). Returns the pid, *ret_pidfd a pidfd for it.
 * Does not log: on failure, *ret_step names what failed. */
int jail_spawn(
        const Jail *j,
        char *const *argv,
        const int *fds,
        size_t n_fds,
        int *ret_pidfd,
        const char **ret_step);

/* Capability/namespace helpers, also used for vsockd's parent-death signal. */
int jail_drop_capabilities(void);

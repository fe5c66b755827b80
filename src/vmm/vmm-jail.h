/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "vmm-qemu.h"

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

/* At most this many binds per jail. */
#define JAIL_BINDS_MAX 512

void jail_done(Jail *j);
/* src is resolved (realpath) now; dst defaults to src and must be a normalized absolute path
 * other than "/" (-EINVAL). A dst already bound is left as it is (0). -E2BIG past JAIL_BINDS_MAX. */
int jail_add_bind(Jail *j, const char *src, const char *dst, bool writable);
/* The binary, the shared libraries ld.so reports for it and for each extra object (QEMU modules). */
int jail_add_elf_closure(Jail *j, const char *binary, char *const *extra);
bool jail_has_dst(const Jail *j, const char *dst);
const JailBind *jail_find_dst(const Jail *j, const char *dst);

/* What a QEMU microvm needs in its jail. Host paths, already resolved by the caller where it
 * matters (the kernel and initrd are bound at fixed places whatever their names). */
typedef struct JailQemuSpec {
        const char *qemu;      /* the QEMU binary; firmware and modules are found next to it */
        Accel accel;           /* ACCEL_KVM or ACCEL_TCG */
        const char *kernel;    /* bound at /vm/kernel */
        const char *initrd;    /* bound at /vm/initrd; may be NULL */
        const QemuDisk *disks; /* host paths; bound at /vm/diskN, writable unless read_only */
        size_t n_disks;
        bool net_user; /* user networking: the host's /etc/resolv.conf for libslirp's DNS */
} JailQemuSpec;

/* Fills j with the binds for spec (docs/design/vmm.md, "The QEMU jail") and sets j->share_net.
 * ret_disks (n_disks entries) gets the disks as QEMU sees them: path inside the jail (valid as long
 * as j), read_only, and qcow2 when the file starts with the qcow2 magic. Logs its errors. */
int jail_build_qemu(Jail *j, const JailQemuSpec *spec, QemuDisk *ret_disks);

/* Starts the jailed child (clone3 rather than safe_fork(): it creates the namespaces and needs a
 * pidfd). fds[i] becomes fd 3+i in the child; everything else is closed and
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

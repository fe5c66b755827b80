/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The LXC config of a container, rewritten at each start (and at create). */

#include <stdbool.h>
#include <sys/stat.h>

#include "tremplin-meta.h"

/* path (relative) inside the rootfs, resolved inside it (openat2 RESOLVE_IN_ROOT). */
int stat_in_root(int rootfs_fd, const char *path, struct stat *ret);

typedef enum InitKind {
        INIT_NONE,    /* use bistro-init */
        INIT_OTHER,   /* busybox, sysvinit...: LXC's default halt signal, SIGPWR */
        INIT_SYSTEMD, /* halts on SIGRTMIN+3 */
} InitKind;

/* Which init the rootfs has: sbin/init (resolved inside it) missing or not executable: none;
 * the same file as (usr/)lib/systemd/systemd: systemd. */
InitKind rootfs_init(int rootfs_fd);

/* The ids garcon runs as: the default user's (the first user the meta remembers) when the rootfs
 * knows them, else 1000:1000 (before there is a user). */
void garcon_ids(int rootfs_fd, const ContainerMeta *m, uid_t *ret_uid, gid_t *ret_gid);

/* Writes writedir/config for the container name whose final directory is dir; rootfs_fd (or -1)
 * tells which init the rootfs has; shares: bind the shares' carrier at /mnt/shared
 * (tremplin-share.h). */
int write_lxc_config(
        const char *writedir,
        const char *dir,
        const char *name,
        const ContainerMeta *m,
        int rootfs_fd,
        bool shares);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The LXC config of a container, rewritten at each start (and at create). */

#include <sys/stat.h>

#include "tremplin-meta.h"

/* path (relative) inside the rootfs, resolved inside it (openat2 RESOLVE_IN_ROOT). */
int stat_in_root(int rootfs_fd, const char *path, struct stat *ret);

/* Writes writedir/config for the container name whose final directory is dir; rootfs_fd (or -1)
 * tells which init the rootfs has. */
int write_lxc_config(
        const char *writedir, const char *dir, const char *name, const ContainerMeta *m, int rootfs_fd);

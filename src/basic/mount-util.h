/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Mounts by file descriptor (the new mount API, Linux 5.12): nothing is looked up by path between
 * the caller's checks and the mount. None of these log. */

#include <stdint.h>

/* Binds the directory source_fd (any fd, O_PATH is fine; not its submounts) onto target_fd with
 * the MOUNT_ATTR_* flags attr_set (e.g. MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID). The new mount
 * propagates like any mount made on target (to its peers and slaves). */
int mount_bind_fd(int source_fd, int target_fd, uint64_t attr_set);

/* umount2(path, MNT_DETACH) until nothing is mounted there (at most max times): the number of
 * mounts detached, or a negative errno other than "not a mount point" (-EINVAL) or -ENOENT. */
int umount_detach_all(const char *path, unsigned max);

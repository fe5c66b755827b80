/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The container's directory and its rootfs subvolume: creation and removal. */

#include <stdbool.h>

/* dfd/name as a btrfs subvolume, or a plain directory off btrfs (a test VM). */
int subvol_create(int dfd, const char *name);

/* Deletes dfd/name: a btrfs subvolume through SNAP_DESTROY, else recursively (never following a
 * symlink). */
int remove_tree_at(int dfd, const char *name);

/* Removes STATEFUL_LXC_PATH/dirname with its rootfs. A create or delete in progress holds a flock on its
 * .new-* / .del-* directory: with only_if_unlocked, such a directory is left alone (-EBUSY). */
int remove_container_dir(const char *dirname, bool only_if_unlocked);

/* Removes leftover .new-* / .del-* directories of interrupted creates and deletes (those of a
 * create or delete in progress are flocked and left alone). */
void containers_cleanup_leftovers(void);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Host folders in containers (docs/design/containers.md, "Shares"). The VM has share NAME at
 * SHARES_MOUNT/NAME (virtio-fs); a container gets it at the same path through its carrier: a small
 * tmpfs at SHARE_CARRIER_DIR/CONTAINER, a shared mount, that LXC binds at mnt/shared of the rootfs
 * at each start (the container's copy is a slave of it). Shares are bound into the carrier in the
 * VM's mount namespace and propagate into the container: at start and while it runs, with no
 * process entering the container. The flags of propagated mounts are locked in the container's
 * user namespace: its root cannot make a read-only share writable (it may unmount one: below is an
 * empty directory of the carrier). */

#include <stdbool.h>
#include <sys/types.h>

#define SHARE_CARRIER_DIR "/run/bistro/shares"

/* Creates mnt/shared in the stopped container's rootfs (0755, owner), refusing symlinks anywhere
 * on the way (-ELOOP) or a non-directory (-ENOTDIR): LXC's mount target, which the container
 * controls. */
int share_prepare_target(int rootfs_fd, uid_t owner);

/* A fresh, empty carrier for container (what an earlier start left is detached). */
int share_carrier_setup(const char *container);
/* Detaches the carrier of container and removes its directory. */
void share_carrier_remove(const char *container);

/* Binds SHARES_MOUNT/name (resolved beneath SHARES_MOUNT, no symlink followed) into the carrier of
 * container, nosuid, nodev, read-only when asked; a share bound there already is replaced.
 * -ENOENT: the VM has no such share; -ELOOP: it is a symlink; -ENOTDIR: not a directory. */
int share_bind(const char *container, const char *name, bool read_only);
/* Detaches share name from the carrier (lazily: open files keep working); 0 when nothing was
 * there. */
int share_unbind(const char *container, const char *name);

/* Whether the running container whose init is pid has the carrier at /mnt/shared (the container's
 * root may have unmounted it or put a symlink there): 0 yes, -ENOTDIR no, < 0 error. */
int share_check_container(pid_t pid, const char *container);

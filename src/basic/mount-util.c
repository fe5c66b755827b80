/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <sys/mount.h>

#include "fd-util.h"
#include "macro.h"
#include "mount-util.h"

int mount_bind_fd(int source_fd, int target_fd, uint64_t attr_set) {
        _cleanup_close_ int tree = -EBADF;
        struct mount_attr attr = { .attr_set = attr_set };

        if (source_fd < 0 || target_fd < 0)
                return -EBADF;
        tree = open_tree(source_fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
        if (tree < 0)
                return -errno;
        /* On the detached copy, before anyone can see it. */
        if (attr_set != 0 && mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0)
                return -errno;
        if (move_mount(tree, "", target_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
                return -errno;
        return 0;
}

int umount_detach_all(const char *path, unsigned max) {
        unsigned n = 0;

        for (; n < max; n++)
                if (umount2(path, MNT_DETACH | UMOUNT_NOFOLLOW) < 0) {
                        if (errno == EINVAL || errno == ENOENT)
                                return (int) n;
                        return -errno;
                }
        return (int) n;
}

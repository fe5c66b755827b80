/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "dirent-util.h"
#include "fd-util.h"
#include "macro.h"
#include "path-util.h"
#include "seneschal-control.h"
#include "seneschal-export.h"

/* Only directories, few inodes: the guest sees it read-only, we only mkdir share points in it. */
#define EXPORT_TMPFS_OPTIONS "mode=0755,size=64k,nr_inodes=256"

static int export_set_read_only(const char *export, bool ro) {
        struct mount_attr a = {
                .attr_set = ro ? MOUNT_ATTR_RDONLY : 0,
                .attr_clr = ro ? 0 : MOUNT_ATTR_RDONLY,
        };

        return mount_setattr(AT_FDCWD, export, 0, &a, sizeof(a)) < 0 ? -errno : 0;
}

int export_setup(const char *export) {
        /* Our namespace is a copy of the host's: nothing we mount may propagate back. */
        if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
                return -errno;
        if (mount(SHARES_TAG, export, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, EXPORT_TMPFS_OPTIONS) < 0)
                return -errno;
        /* virtiofsd binds this mount when it starts; its copy keeps the read-only flag for good, our
         * own is made writable only for a moment to mkdir a share point. */
        if (export_set_read_only(export, true) < 0)
                return -errno;
        if (mount(NULL, export, NULL, MS_SHARED, NULL) < 0)
                return -errno;
        return 0;
}

static int export_count(const char *export) {
        _cleanup_closedir_ DIR *d = NULL;
        int n = 0;

        d = opendir(export);
        if (!d)
                return -errno;
        FOREACH_DIRENT(de, d) n++;
        return n;
}

static int export_mkdir(const char *export, const char *target) {
        int r, k;

        r = export_set_read_only(export, false);
        if (r < 0)
                return r;
        k = mkdir(target, 0755) < 0 ? -errno : 0;
        r = export_set_read_only(export, true);
        return k < 0 ? k : r;
}

static int export_rmdir(const char *export, const char *target) {
        int r, k;

        r = export_set_read_only(export, false);
        if (r < 0)
                return r;
        k = rmdir(target) < 0 ? -errno : 0;
        r = export_set_read_only(export, true);
        return k < 0 ? k : r;
}

int export_add(const char *export, const char *name, int dir_fd, bool read_only) {
        _cleanup_free_ char *target = NULL, *host_path = NULL;
        _cleanup_close_ int here = -EBADF, tree = -EBADF;
        struct mount_attr a = {
                .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (read_only ? MOUNT_ATTR_RDONLY : 0),
        };
        struct stat theirs, ours;
        char proc[64];
        int n, r;

        if (fstat(dir_fd, &theirs) < 0)
                return -errno;
        if (!S_ISDIR(theirs.st_mode))
                return -ENOTDIR;
        target = path_join(export, name);
        if (!target)
                return -ENOMEM;
        if (access(target, F_OK) >= 0)
                return -EEXIST;
        n = export_count(export);
        if (n < 0)
                return n;
        if (n >= (int) SHARES_MAX)
                return -ENOSPC;

        /* The fd names a mount of the host's namespace, which cannot be bound here: open the same
         * path in ours, where it was resolved already (no symlink may be followed now) and must lead
         * to the same inode. */
        (void) snprintf(proc, sizeof(proc), "/proc/self/fd/%d", dir_fd);
        r = readlink_malloc(proc, &host_path);
        if (r < 0)
                return r;
        if (host_path[0] != '/')
                return -ESTALE; /* "(deleted)" or a pseudo file system */
        here = openat2_fd(
                AT_FDCWD, host_path, O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (here < 0)
                return here == -ELOOP || here == -ENOENT ? -ESTALE : here;
        if (fstat(here, &ours) < 0)
                return -errno;
        if (ours.st_dev != theirs.st_dev || ours.st_ino != theirs.st_ino)
                return -ESTALE;

        /* A detached copy of the tree, given its flags before it is attached: mount flags do not
         * propagate, so flags set after the attach would stay ours while virtiofsd's copy (made by
         * propagation at the attach) kept the host's. MS_REC semantics: what is mounted under the
         * directory on the host is shared with it, as the user sees it there. mount_setattr() only
         * adds flags, so the ones the kernel locked on the host's mounts stay. */
        tree = open_tree(here, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (tree < 0)
                return -errno;
        if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0)
                return -errno;
        r = export_mkdir(export, target);
        if (r < 0)
                return r;
        if (move_mount(tree, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0) {
                r = -errno;
                (void) export_rmdir(export, target);
                return r;
        }
        return 0;
}

int export_remove(const char *export, const char *name) {
        _cleanup_free_ char *target = path_join(export, name);

        if (!target)
                return -ENOMEM;
        if (access(target, F_OK) < 0)
                return -errno;
        /* Detached, not unmounted: files the guest has open keep working until closed, and nothing
         * waits for them. The detach propagates to virtiofsd's copy. */
        if (umount2(target, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
                return -errno;
        return export_rmdir(export, target);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dirent-util.h"
#include "fd-util.h"
#include "macro.h"
#include "log.h"
#include "rm-rf.h"
#include "string-util.h"
#include "tremplin-layout.h"
#include "tremplin-lock.h"
#include "tremplin-subvol.h"

int subvol_create(int dfd, const char *name) {
        struct btrfs_ioctl_vol_args args = {};

        strscpy(args.name, name, sizeof(args.name));
        if (ioctl(dfd, BTRFS_IOC_SUBVOL_CREATE, &args) >= 0)
                return 0;
        if (errno != ENOTTY && errno != EOPNOTSUPP && errno != EINVAL)
                return -errno;
        /* Not btrfs (a test VM without a stateful disk): a plain directory. */
        log_warning("%s is not on btrfs: the rootfs is a plain directory.", STATEFUL_LXC_PATH);
        return RET_NERRNO(mkdirat(dfd, name, 0755));
}

int remove_tree_at(int dfd, const char *name) {
        struct btrfs_ioctl_vol_args args = {};
        struct stat st;

        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : -errno;
        if (S_ISDIR(st.st_mode) && st.st_ino == 256 /* BTRFS_FIRST_FREE_OBJECTID */ &&
            strlen(name) < sizeof(args.name)) {
                strscpy(args.name, name, sizeof(args.name));
                if (ioctl(dfd, BTRFS_IOC_SNAP_DESTROY, &args) >= 0)
                        return 0;
                log_debug_errno(errno, "SNAP_DESTROY of '%s' failed, removing file by file: %m", name);
        }
        return rm_rf_at(dfd, name);
}

int remove_container_dir(const char *dirname, bool only_if_unlocked) {
        _cleanup_close_ int lfd = -EBADF, dfd = -EBADF;
        int r;

        lfd = open(STATEFUL_LXC_PATH, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (lfd < 0)
                return -errno;
        dfd = openat(lfd, dirname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (dfd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (only_if_unlocked && flock(dfd, LOCK_EX | LOCK_NB) < 0)
                return -EBUSY;
        r = remove_tree_at(dfd, "rootfs");
        if (r < 0)
                log_warning_errno(r, "Cannot remove %s/%s/rootfs: %m", STATEFUL_LXC_PATH, dirname);
        (void) rm_rf_children(TAKE_FD(dfd));
        return RET_NERRNO(unlinkat(lfd, dirname, AT_REMOVEDIR));
}

void containers_cleanup_leftovers(void) {
        _cleanup_close_ int lock = -EBADF;
        _cleanup_closedir_ DIR *d = NULL;

        /* Under the global lock: a create makes and flocks its .new-* dir while holding it. */
        if (check_stateful(NULL) < 0 || access(STATEFUL_LXC_PATH, F_OK) < 0)
                return;
        lock = lock_lxc();
        if (lock < 0)
                return;
        d = opendir(STATEFUL_LXC_PATH);
        if (!d)
                return;
        FOREACH_DIRENT(de, d) {
                int r;

                if (!startswith(de->d_name, ".new-") && !startswith(de->d_name, ".del-"))
                        continue;
                r = remove_container_dir(de->d_name, true);
                if (r == -EBUSY)
                        continue;
                if (r < 0)
                        log_warning_errno(
                                r, "Cannot remove leftover %s/%s: %m", STATEFUL_LXC_PATH, de->d_name);
                else
                        log_info("Removed leftover %s/%s.", STATEFUL_LXC_PATH, de->d_name);
        }
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bistro-ports.h"
#include "fd-util.h"
#include "macro.h"
#include "mount-util.h"
#include "proto-validate.h"
#include "tremplin-share.h"

#define CARRIER_OPTIONS "mode=0755,size=256k,nr_inodes=1024"
#define DETACH_MAX 64u

/* name below dfd, never through a symlink, a magic link or "..". */
static int open_beneath(int dfd, const char *name, int flags) {
        return openat2_fd(dfd, name, flags, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
}

/* dfd/name as a directory, created (mode 0755, owner) when missing. */
static int open_or_make_dir(int dfd, const char *name, uid_t owner) {
        int fd = open_beneath(dfd, name, O_PATH | O_DIRECTORY);

        if (fd != -ENOENT)
                return fd;
        if (mkdirat(dfd, name, 0755) < 0 && errno != EEXIST)
                return -errno;
        fd = open_beneath(dfd, name, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
                return fd;
        if (fchown(fd, owner, owner) < 0) {
                int r = -errno;

                safe_close(fd);
                return r;
        }
        return fd;
}

int share_prepare_target(int rootfs_fd, uid_t owner) {
        _cleanup_close_ int mnt = -EBADF, shared = -EBADF;

        mnt = open_or_make_dir(rootfs_fd, "mnt", owner);
        if (mnt < 0)
                return mnt;
        shared = open_or_make_dir(mnt, "shared", owner);
        return shared < 0 ? shared : 0;
}

static int carrier_path(char *buf, size_t size, const char *container) {
        if (!proto_name_ok(container))
                return -EINVAL;
        if ((size_t) snprintf(buf, size, SHARE_CARRIER_DIR "/%s", container) >= size)
                return -ENAMETOOLONG;
        return 0;
}

int share_carrier_setup(const char *container) {
        char path[PATH_MAX];
        int r;

        r = carrier_path(path, sizeof(path), container);
        if (r < 0)
                return r;
        r = mkdir_p(path, 0755);
        if (r < 0)
                return r;
        r = umount_detach_all(path, DETACH_MAX);
        if (r < 0)
                return r;
        if (mount("bistro-shares", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, CARRIER_OPTIONS) < 0)
                return -errno;
        /* Its own peer group: what is mounted below reaches the container's copy, a slave. */
        if (mount(NULL, path, NULL, MS_SHARED, NULL) < 0) {
                r = -errno;
                (void) umount2(path, MNT_DETACH);
                return r;
        }
        return 0;
}

void share_carrier_remove(const char *container) {
        char path[PATH_MAX];

        if (carrier_path(path, sizeof(path), container) < 0)
                return;
        (void) umount_detach_all(path, DETACH_MAX);
        (void) rmdir(path);
}

/* The carrier's root, only when it is mounted (a plain directory is no carrier). */
static int open_carrier(const char *container, struct stat *ret) {
        _cleanup_close_ int fd = -EBADF;
        char path[PATH_MAX];
        struct stat st, parent;
        int r;

        r = carrier_path(path, sizeof(path), container);
        if (r < 0)
                return r;
        fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || stat(SHARE_CARRIER_DIR, &parent) < 0)
                return -errno;
        if (st.st_dev == parent.st_dev)
                return -ENOTCONN;
        if (ret)
                *ret = st;
        return TAKE_FD(fd);
}

int share_bind(const char *container, const char *name, bool read_only) {
        _cleanup_close_ int carrier = -EBADF, root = -EBADF, src = -EBADF, dst = -EBADF;
        uint64_t attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (read_only ? MOUNT_ATTR_RDONLY : 0);
        int r;

        if (!proto_share_name_ok(name))
                return -EINVAL;
        carrier = open_carrier(container, NULL);
        if (carrier < 0)
                return carrier;
        root = open(SHARES_MOUNT, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (root < 0)
                return -errno;
        src = open_beneath(root, name, O_PATH | O_DIRECTORY);
        if (src < 0)
                return src;
        r = share_unbind(container, name);
        if (r < 0)
                return r;
        if (mkdirat(carrier, name, 0755) < 0 && errno != EEXIST)
                return -errno;
        dst = open_beneath(carrier, name, O_PATH | O_DIRECTORY);
        if (dst < 0)
                return dst;
        return mount_bind_fd(src, dst, attr);
}

int share_unbind(const char *container, const char *name) {
        _cleanup_close_ int carrier = -EBADF;
        char path[PATH_MAX];
        int r;

        if (!proto_share_name_ok(name))
                return -EINVAL;
        r = carrier_path(path, sizeof(path), container);
        if (r < 0)
                return r;
        carrier = open_carrier(container, NULL);
        if (carrier == -ENOENT || carrier == -ENOTCONN)
                return 0;
        if (carrier < 0)
                return carrier;
        if (strlen(path) + 1 + strlen(name) >= sizeof(path))
                return -ENAMETOOLONG;
        strcat(strcat(path, "/"), name);
        r = umount_detach_all(path, DETACH_MAX);
        if (r < 0)
                return r;
        if (unlinkat(carrier, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int share_check_container(pid_t pid, const char *container) {
        _cleanup_close_ int carrier = -EBADF, root = -EBADF, target = -EBADF;
        char path[64];
        struct stat want, st;

        carrier = open_carrier(container, &want);
        if (carrier < 0)
                return carrier;
        (void) snprintf(path, sizeof(path), "/proc/%d/root", (int) pid);
        root = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root < 0)
                return -errno;
        target = open_beneath(root, "mnt/shared", O_PATH | O_DIRECTORY);
        if (target == -ENOENT || target == -ELOOP || target == -ENOTDIR)
                return -ENOTDIR;
        if (target < 0)
                return target;
        if (fstat(target, &st) < 0)
                return -errno;
        return st.st_dev == want.st_dev && st.st_ino == want.st_ino ? 0 : -ENOTDIR;
}

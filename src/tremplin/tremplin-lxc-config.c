/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "macro.h"
#include "tremplin-idmap.h"
#include "tremplin-layout.h"
#include "tremplin-lxc-config.h"
#include "tremplin-network.h"
#include "tremplin-rootfs.h"
#include "tremplin-share.h"
#include "tremplin-user.h"

int stat_in_root(int rootfs_fd, const char *path, struct stat *ret) {
        struct open_how how = { .flags = O_PATH | O_CLOEXEC,
                                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        _cleanup_close_ int fd = -EBADF;

        fd = (int) syscall(SYS_openat2, rootfs_fd, path, &how, sizeof(how));
        if (fd < 0 || fstat(fd, ret) < 0)
                return -errno;
        return 0;
}

/* /sbin/init inside the rootfs (resolved inside it) is an executable file. */
InitKind rootfs_init(int rootfs_fd) {
        struct stat st, sd;

        if (stat_in_root(rootfs_fd, "sbin/init", &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111))
                return INIT_NONE;
        if ((stat_in_root(rootfs_fd, "lib/systemd/systemd", &sd) >= 0 ||
             stat_in_root(rootfs_fd, "usr/lib/systemd/systemd", &sd) >= 0) &&
            sd.st_dev == st.st_dev && sd.st_ino == st.st_ino)
                return INIT_SYSTEMD;
        return INIT_OTHER;
}

void garcon_ids(int rootfs_fd, const ContainerMeta *m, uid_t *ret_uid, gid_t *ret_gid) {
        if (m->n_users > 0 && rootfs_fd >= 0 &&
            rootfs_user_ids(rootfs_fd, m->users[0], ret_uid, ret_gid) > 0)
                return;
        *ret_uid = USER_UID_DEFAULT;
        *ret_gid = USER_UID_DEFAULT;
}

int write_lxc_config(
        const char *writedir,
        const char *dir,
        const char *name,
        const ContainerMeta *m,
        int rootfs_fd,
        bool shares) {
        char path[PATH_MAX], tmp[PATH_MAX + 8];
        _cleanup_fclose_ FILE *f = NULL;
        int r;

        (void) snprintf(path, sizeof(path), "%s/config", writedir);
        (void) snprintf(tmp, sizeof(tmp), "%s/.config.new", writedir);
        f = fopen(tmp, "we");
        if (!f)
                return -errno;
        fprintf(f,
                "# Written by tremplin at each start; edits are lost.\n"
                "lxc.include = /usr/share/lxc/config/common.conf\n"
                "lxc.include = /usr/share/lxc/config/userns.conf\n"
                "lxc.uts.name = %s\n"
                "lxc.rootfs.path = dir:%s/rootfs\n",
                name, dir);
        r = lxc_idmap_write(f, m);
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        fprintf(f,
                /* The Termina root has no AppArmor profiles (etc/apparmor.d is pruned) and loading
                 * one costs seconds per boot; the container is confined by its user namespace,
                 * LXC's default seccomp policy (common.conf) and the capability drops. */
                "lxc.apparmor.profile = unconfined\n"
                "lxc.mount.entry = " OPT_BISTRO " opt/bistro none bind,ro,create=dir 0 0\n"
                "lxc.mount.entry = " TOKEN_DIR "/%s dev/.container_token none bind,ro,create=file 0 0\n"
                "lxc.log.file = " LXC_LOG_DIR "/%s.log\n"
                "lxc.log.level = WARN\n"
                /* FUSE in the container's own user and mount namespaces (the module is loaded
                 * at boot, /dev/fuse is 0666 as udev would make it). The container cannot mknod,
                 * and userns.conf clears LXC's device rules: binding a node is what grants it. */
                "lxc.mount.entry = /dev/fuse dev/fuse none bind,create=file,optional 0 0\n",
                name, name);
        /* The shares' carrier (tremplin-share.h); mnt/shared was made in the rootfs beforehand,
         * refusing symlinks, so no create= here: LXC must not make a path itself. */
        if (shares)
                fprintf(f, "lxc.mount.entry = " SHARE_CARRIER_DIR "/%s mnt/shared none rbind 0 0\n", name);
        switch (rootfs_fd >= 0 ? rootfs_init(rootfs_fd) : INIT_OTHER) {
        case INIT_NONE: {
                uid_t uid;
                gid_t gid;

                fprintf(f, "# No executable /sbin/init in the rootfs.\nlxc.init.cmd = " BISTRO_INIT);
                /* bistro-init runs garcon as the default user when the VM has garcon. */
                if (access(GARCON_PATH, X_OK) == 0) {
                        garcon_ids(rootfs_fd, m, &uid, &gid);
                        fprintf(f, " --garcon-uid %u --garcon-gid %u", (unsigned) uid, (unsigned) gid);
                }
                fputc('\n', f);
                break;
        }
        case INIT_SYSTEMD:
                /* systemd halts on SIGRTMIN+3 and manages its cgroup subtree (LXC delegates the
                 * container's cgroup2 directory to the container's root; the cgroup namespace
                 * makes it the container's /sys/fs/cgroup, mounted read-write). */
                fprintf(f, "lxc.signal.halt = SIGRTMIN+3\n"
                           "lxc.mount.auto = cgroup:rw:force\n");
                break;
        case INIT_OTHER:
                break;
        }
        r = network_write_lxc_config(f, m->slot);
        if (r < 0) {
                (void) unlink(tmp);
                return r;
        }
        if (fflush(f) != 0 || fsync(fileno(f)) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        if (rename(tmp, path) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "macro.h"
#include "string-util.h"
#include "tremplin-rootfs.h"
#include "tremplin-user.h"

static int open_in_root(int rootfs_fd, const char *path, int flags) {
        return openat2_fd(rootfs_fd, path, flags, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
}

int rootfs_open_dir(int rootfs_fd, const char *path, bool create, uid_t owner) {
        _cleanup_close_ int fd = -EBADF;
        char prefix[4096];
        size_t n = strlen(path);

        if (n == 0 || n >= sizeof(prefix) || path[0] == '/')
                return -EINVAL;
        /* Component by component from the rootfs, each prefix resolved inside it. */
        for (size_t i = 0; i <= n; i++) {
                _cleanup_close_ int parent = -EBADF, d = -EBADF;
                const char *base;

                if (path[i] != '/' && path[i] != 0)
                        continue;
                memcpy(prefix, path, i);
                prefix[i] = 0;
                fd = safe_close(fd);
                fd = open_in_root(rootfs_fd, prefix, O_PATH | O_DIRECTORY);
                if (fd != -ENOENT || !create) {
                        if (fd < 0)
                                return fd;
                        continue;
                }
                base = strrchr(prefix, '/');
                if (base) {
                        prefix[base - prefix] = 0;
                        parent = open_in_root(rootfs_fd, prefix, O_PATH | O_DIRECTORY);
                        base++;
                } else {
                        parent = fcntl(rootfs_fd, F_DUPFD_CLOEXEC, 3);
                        base = prefix;
                        if (parent < 0)
                                parent = -errno;
                }
                if (parent < 0)
                        return parent;
                if (mkdirat(parent, base, 0755) < 0 && errno != EEXIST)
                        return -errno;
                d = openat(parent, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (d < 0)
                        return -errno;
                if (fchown(d, owner, owner) < 0)
                        return -errno;
                fd = TAKE_FD(d);
        }
        return TAKE_FD(fd);
}

/* The temp name ".NAME.bistro-PID" next to name, with what a crashed earlier run left there gone. */
static int temp_name(int dir_fd, char *buf, size_t size, const char *name) {
        if ((size_t) snprintf(buf, size, ".%s.bistro-%d", name, (int) getpid()) >= size)
                return -ENAMETOOLONG;
        if (unlinkat(dir_fd, buf, 0) < 0 && errno != ENOENT)
                return -errno;
        return 0;
}

int rootfs_write_file_at(
        int dir_fd, const char *name, const void *data, size_t n, mode_t mode, uid_t owner) {
        _cleanup_close_ int fd = -EBADF;
        char tmp[256];
        int r;

        r = temp_name(dir_fd, tmp, sizeof(tmp), name);
        if (r < 0)
                return r;
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        r = n > 0 ? loop_write(fd, data, n) : 0;
        if (r >= 0 && fchown(fd, owner, owner) < 0)
                r = -errno;
        if (r >= 0 && fchmod(fd, mode) < 0)
                r = -errno;
        if (r >= 0 && renameat(dir_fd, tmp, dir_fd, name) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(dir_fd, tmp, 0);
        return r < 0 ? r : 0;
}

int rootfs_symlink_at(int dir_fd, const char *name, const char *target, uid_t owner) {
        char tmp[256];
        int r;

        r = temp_name(dir_fd, tmp, sizeof(tmp), name);
        if (r < 0)
                return r;
        if (symlinkat(target, dir_fd, tmp) < 0)
                return -errno;
        if (fchownat(dir_fd, tmp, owner, owner, AT_SYMLINK_NOFOLLOW) < 0 ||
            renameat(dir_fd, tmp, dir_fd, name) < 0) {
                r = -errno;
                (void) unlinkat(dir_fd, tmp, 0);
                return r;
        }
        return 0;
}

bool rootfs_is_executable(int rootfs_fd, const char *path) {
        _cleanup_close_ int fd = open_in_root(rootfs_fd, path, O_PATH);
        struct stat st;

        return fd >= 0 && fstat(fd, &st) >= 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

int rootfs_user_ids(int rootfs_fd, const char *user, uid_t *ret_uid, gid_t *ret_gid) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *text = NULL;
        struct stat st;
        ssize_t n;
        size_t len = strlen(user);

        fd = open_in_root(rootfs_fd, "etc/passwd", O_RDONLY | O_NOCTTY | O_NONBLOCK);
        if (fd == -ENOENT)
                return 0;
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        if (st.st_size > (off_t) USER_DB_MAX)
                return -EFBIG;
        text = malloc((size_t) st.st_size + 1);
        if (!text)
                return -ENOMEM;
        n = loop_read(fd, text, (size_t) st.st_size);
        if (n < 0)
                return (int) n;
        text[n] = 0;
        /* name:x:uid:gid:... */
        for (char *p = text; p && *p;) {
                char *nl = strchr(p, '\n');
                unsigned long u, g;
                char *e;

                if (nl)
                        *nl = 0;
                if (strncmp(p, user, len) == 0 && p[len] == ':') {
                        char *f = strchr(p + len + 1, ':');

                        if (!f)
                                return -EBADMSG;
                        errno = 0;
                        u = strtoul(f + 1, &e, 10);
                        if (errno != 0 || *e != ':' || e == f + 1)
                                return -EBADMSG;
                        g = strtoul(e + 1, &e, 10);
                        if (errno != 0 || *e != ':' || u >= 65536 || g >= 65536)
                                return -EBADMSG;
                        *ret_uid = (uid_t) u;
                        *ret_gid = (gid_t) g;
                        return 1;
                }
                p = nl ? nl + 1 : NULL;
        }
        return 0;
}

char *garcon_unit_text(const char *user) {
        char *s = NULL;

        if (asprintf(
                    &s,
                    "# Written by tremplin at each container start; edits are lost.\n"
                    "[Unit]\n"
                    "Description=Bistro garcon: this container's apps, links and zone for the host\n"
                    "ConditionPathExists=" GARCON_PATH "\n"
                    "%s%s%s"
                    "StartLimitIntervalSec=0\n"
                    "\n"
                    "[Service]\n"
                    "ExecStart=" GARCON_PATH " --server\n"
                    "Restart=always\n"
                    "RestartSec=1\n"
                    /* The apps garcon launched live in its cgroup: a restart of garcon must not kill them.
                     */
                    "KillMode=process\n"
                    "Environment=XDG_DATA_DIRS=/usr/local/share:/usr/share\n"
                    "Environment=BROWSER=/opt/bistro/bin/bistro-open\n"
                    "\n"
                    "[Install]\n"
                    "WantedBy=default.target\n",
                    user ? "ConditionUser=" : "", user ?: "", user ? "\n" : "") < 0)
                return NULL;
        return s;
}

int rootfs_install_garcon_unit(int rootfs_fd, uid_t owner, const char *user, bool have_garcon) {
        _cleanup_close_ int dir = -EBADF, wants = -EBADF;
        _cleanup_free_ char *text = NULL;
        int r;

        if (!have_garcon) {
                /* Nothing to remove when the directories are not there. */
                dir = rootfs_open_dir(rootfs_fd, "etc/systemd/user", false, owner);
                if (dir >= 0)
                        (void) unlinkat(dir, GARCON_UNIT, 0);
                wants = rootfs_open_dir(rootfs_fd, "etc/systemd/user/default.target.wants", false, owner);
                if (wants >= 0)
                        (void) unlinkat(wants, GARCON_UNIT, 0);
                return 0;
        }
        text = garcon_unit_text(user);
        if (!text)
                return -ENOMEM;
        dir = rootfs_open_dir(rootfs_fd, "etc/systemd/user", true, owner);
        if (dir < 0)
                return dir;
        r = rootfs_write_file_at(dir, GARCON_UNIT, text, strlen(text), 0644, owner);
        if (r < 0)
                return r;
        wants = rootfs_open_dir(rootfs_fd, "etc/systemd/user/default.target.wants", true, owner);
        if (wants < 0)
                return wants;
        return rootfs_symlink_at(wants, GARCON_UNIT, "/etc/systemd/user/" GARCON_UNIT, owner);
}

int rootfs_enable_linger(int rootfs_fd, uid_t owner, const char *user) {
        _cleanup_close_ int dir = -EBADF;
        struct stat st;
        int r;

        if (!user || !user[0] || strchr(user, '/') || user[0] == '.')
                return -EINVAL;
        dir = rootfs_open_dir(rootfs_fd, "var/lib/systemd/linger", true, owner);
        if (dir < 0)
                return dir;
        if (fstatat(dir, user, &st, AT_SYMLINK_NOFOLLOW) >= 0 && S_ISREG(st.st_mode))
                return 0;
        r = rootfs_write_file_at(dir, user, "", 0, 0644, owner);
        return r < 0 ? r : 1;
}

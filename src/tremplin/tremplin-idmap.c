/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "dirent-util.h"
#include "fd-util.h"
#include "macro.h"
#include "tremplin-idmap.h"
#include "tremplin-layout.h"

#define REMAP_DEPTH_MAX 256u /* deeper directories are counted as skipped: fds are bounded */
#define XATTR_CAPS "security.capability"
#define XATTR_CAPS_MAX 64u

void container_idmaps(const ContainerMeta *m, IdMap *ret_uid, IdMap *ret_gid) {
        uint32_t base = slot_id_base(m->slot);

        if (m->idmap_uid == 0 ||
            idmap_shift_except(ret_uid, base, ID_COUNT, m->idmap_uid, SHARE_OWNER_ID) < 0 ||
            idmap_shift_except(ret_gid, base, ID_COUNT, m->idmap_gid, SHARE_OWNER_ID) < 0) {
                idmap_shift(ret_uid, base, ID_COUNT);
                idmap_shift(ret_gid, base, ID_COUNT);
        }
}

int lxc_idmap_write(FILE *f, const ContainerMeta *m) {
        IdMap u, g;

        container_idmaps(m, &u, &g);
        for (unsigned i = 0; i < u.n; i++)
                fprintf(f, "lxc.idmap = u %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", u.ranges[i].inner,
                        u.ranges[i].outer, u.ranges[i].count);
        for (unsigned i = 0; i < g.n; i++)
                fprintf(f, "lxc.idmap = g %" PRIu32 " %" PRIu32 " %" PRIu32 "\n", g.ranges[i].inner,
                        g.ranges[i].outer, g.ranges[i].count);
        return ferror(f) ? -EIO : 0;
}

typedef struct Remap {
        const IdMap *from_uid, *from_gid, *to_uid, *to_gid;
        RemapStats stats;
} Remap;

/* The new VM id of owner id under the maps (unchanged when the from map does not have it). */
static uint32_t remap_one(const IdMap *from, const IdMap *to, uint32_t id) {
        uint32_t inner, out;

        if (idmap_to_inner(from, id, &inner) < 0 || idmap_to_outer(to, inner, &out) < 0)
                return id;
        return out;
}

/* dfd/name (never followed; "" is dfd itself, a directory), whose lstat is st. */
static int remap_entry(Remap *rm, int dfd, const char *name, const struct stat *st) {
        uint32_t uid = remap_one(rm->from_uid, rm->to_uid, st->st_uid),
                 gid = remap_one(rm->from_gid, rm->to_gid, st->st_gid);
        char caps[XATTR_CAPS_MAX];
        ssize_t ncaps = -1;
        _cleanup_close_ int fd = -EBADF;

        rm->stats.entries++;
        if (uid == st->st_uid && gid == st->st_gid)
                return 0;
        if (S_ISLNK(st->st_mode)) {
                if (fchownat(dfd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                        return -errno;
                rm->stats.changed++;
                return 0;
        }
        /* Regular files keep what chown drops: setuid/setgid bits and file capabilities. Only
         * regular files are opened (O_PATH would not do for fgetxattr): never a fifo or device. */
        if (S_ISREG(st->st_mode)) {
                fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
                if (fd < 0)
                        return -errno;
                ncaps = fgetxattr(fd, XATTR_CAPS, caps, sizeof(caps));
                if (fchown(fd, uid, gid) < 0)
                        return -errno;
                if ((st->st_mode & (S_ISUID | S_ISGID)) && fchmod(fd, st->st_mode & 07777) < 0)
                        return -errno;
                if (ncaps > 0 && fsetxattr(fd, XATTR_CAPS, caps, (size_t) ncaps, 0) < 0)
                        return -errno;
        } else if (fchownat(dfd, name, uid, gid, name[0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH) < 0)
                return -errno;
        rm->stats.changed++;
        return 0;
}

/* The entries of directory dfd (consumed). */
static int remap_children(Remap *rm, int dfd, unsigned depth) {
        _cleanup_closedir_ DIR *d = NULL;
        int r = 0;

        d = fdopendir(dfd);
        if (!d) {
                r = -errno;
                safe_close(dfd);
                return r;
        }
        FOREACH_DIRENT(de, d) {
                struct stat st;
                int k;

                if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        rm->stats.skipped++;
                        continue;
                }
                k = remap_entry(rm, dirfd(d), de->d_name, &st);
                if (k < 0 && r == 0)
                        r = k;
                if (!S_ISDIR(st.st_mode))
                        continue;
                if (depth >= REMAP_DEPTH_MAX) {
                        rm->stats.skipped++;
                        continue;
                }
                k = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (k < 0) {
                        rm->stats.skipped++;
                        continue;
                }
                k = remap_children(rm, k, depth + 1);
                if (k < 0 && r == 0)
                        r = k;
        }
        return r;
}

int rootfs_remap_ids(
        int rootfs_fd,
        const IdMap *from_uid,
        const IdMap *from_gid,
        const IdMap *to_uid,
        const IdMap *to_gid,
        RemapStats *ret_stats) {
        Remap rm = { .from_uid = from_uid, .from_gid = from_gid, .to_uid = to_uid, .to_gid = to_gid };
        struct stat st;
        int fd, r;

        if (fstat(rootfs_fd, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode))
                return -ENOTDIR;
        r = remap_entry(&rm, rootfs_fd, "", &st);
        fd = openat(rootfs_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        {
                int k = remap_children(&rm, fd, 0);

                if (k < 0 && r == 0)
                        r = k;
        }
        if (ret_stats)
                *ret_stats = rm.stats;
        return r;
}

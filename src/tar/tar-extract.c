/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "macro.h"
#include "tar-extract.h"
#include "tar-header.h"

#define WRITE_BUFFER_SIZE (256u * 1024u)
#define WRITE_DIRECT_MIN (64u * 1024u)

typedef enum State {
        STATE_HEADER,
        STATE_DATA, /* regular file contents */
        STATE_META, /* pax 'x', GNU 'L'/'K' contents being collected */
        STATE_SKIP, /* data we do not use, and padding */
        STATE_END,  /* after the end-of-archive block: the rest is ignored */
        STATE_FINISHED,
} State;

typedef struct DeferredDir {
        char *path; /* normalized, "" for the root */
        uint32_t mode;
        struct timespec mtime;
} DeferredDir;

struct TarExtract {
        int root_fd;
        TarExtractOptions options;

        int error;
        char message[512];
        uint64_t entries;
        uint64_t skipped;

        State state;
        uint8_t block[TAR_BLOCK_SIZE];
        size_t block_fill;
        uint64_t remaining; /* bytes of the current state's data left */
        uint64_t padding;   /* padding after the current data */

        /* extended headers that apply to the next entry */
        char meta_type; /* 'x', 'L' or 'K' while collecting */
        uint8_t *meta;
        size_t meta_size;
        TarPax pax;
        char *long_name;
        char *long_link;

        /* the regular file being written */
        int file_fd;
        char *file_path;
        uint32_t file_mode;
        struct timespec file_mtime;
        uint32_t file_uid, file_gid;
        TarXattr *file_xattrs;
        size_t file_n_xattrs;
        uint8_t *wbuf;
        size_t wfill;

        DeferredDir *dirs;
        size_t n_dirs, n_dirs_allocated;

        /* the parent directory of the last entry, re-used while entries stay in it */
        char *parent_path;
        int parent_fd;
        bool parent_stale; /* something was removed or replaced: drop the cache after this entry */
};

/* Names from the archive may contain anything: keep messages printable and short. */
static void sanitize(char *dst, size_t size, const char *src) {
        size_t i = 0;

        for (; src && *src && i + 1 < size; src++)
                dst[i++] = ((unsigned char) *src < 0x20 || *src == 0x7f) ? '?' : *src;
        dst[i] = 0;
}

_printf_(4, 5) static int set_error(TarExtract *t, int r, const char *path, const char *fmt, ...) {
        char name[200], msg[256];
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        sanitize(name, sizeof(name), path);
        if (path && *path)
                snprintf(t->message, sizeof(t->message), "%s: %s", name, msg);
        else if (path)
                snprintf(t->message, sizeof(t->message), "(root directory): %s", msg);
        else
                snprintf(t->message, sizeof(t->message), "%s", msg);
        t->error = r < 0 ? r : -EIO;
        return t->error;
}

static int set_errno(TarExtract *t, int r, const char *path, const char *what) {
        return set_error(t, r, path, "%s: %s", what, strerror(-r));
}

int tar_extract_new(int root_fd, const TarExtractOptions *o, TarExtract **ret) {
        _cleanup_(tar_extract_freep) TarExtract *t = NULL;

        if (root_fd < 0 || !o || !ret)
                return -EINVAL;
        if ((uint64_t) o->id_shift + o->id_count > UINT32_MAX)
                return -EINVAL;
        if (!o->uid_map != !o->gid_map)
                return -EINVAL;

        t = calloc(1, sizeof(TarExtract));
        if (!t)
                return -ENOMEM;
        t->file_fd = t->parent_fd = -EBADF;
        t->options = *o;
        t->root_fd = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (t->root_fd < 0)
                return -errno;

        *ret = TAKE_PTR(t);
        return 0;
}

static void free_xattrs(TarXattr *x, size_t n) {
        for (size_t i = 0; i < n; i++) {
                free(x[i].name);
                free(x[i].value);
        }
        free(x);
}

static void file_reset(TarExtract *t) {
        if (t->file_fd >= 0)
                close(t->file_fd);
        t->file_fd = -EBADF;
        t->file_path = mfree(t->file_path);
        free_xattrs(t->file_xattrs, t->file_n_xattrs);
        t->file_xattrs = NULL;
        t->file_n_xattrs = 0;
        t->wfill = 0;
}

static void parent_cache_drop(TarExtract *t) {
        if (t->parent_fd >= 0)
                close(t->parent_fd);
        t->parent_fd = -EBADF;
        t->parent_path = mfree(t->parent_path);
}

static void pending_reset(TarExtract *t) {
        tar_pax_done(&t->pax);
        t->long_name = mfree(t->long_name);
        t->long_link = mfree(t->long_link);
}

TarExtract *tar_extract_free(TarExtract *t) {
        if (!t)
                return NULL;
        file_reset(t);
        parent_cache_drop(t);
        pending_reset(t);
        free(t->meta);
        free(t->wbuf);
        for (size_t i = 0; i < t->n_dirs; i++)
                free(t->dirs[i].path);
        free(t->dirs);
        if (t->root_fd >= 0)
                close(t->root_fd);
        free(t);
        return NULL;
}

const char *tar_extract_error(const TarExtract *t) {
        return t ? t->message : "";
}

uint64_t tar_extract_entries(const TarExtract *t) {
        return t ? t->entries : 0;
}

uint64_t tar_extract_skipped(const TarExtract *t) {
        return t ? t->skipped : 0;
}

/* Paths: strip leading "/" and "./", drop "." and empty components, refuse "..". Returns the
 * normalized relative path, "" for the root itself. */
static int path_normalize(const char *in, char **ret) {
        size_t n = strlen(in);
        char *out, *o;

        if (n > TAR_PATH_MAX)
                return -ENAMETOOLONG;
        out = o = malloc(n + 1);
        if (!out)
                return -ENOMEM;

        for (const char *p = in; *p;) {
                size_t len = strcspn(p, "/");

                if (len == 2 && p[0] == '.' && p[1] == '.') {
                        free(out);
                        return -EPERM;
                }
                if (len > 255) {
                        free(out);
                        return -ENAMETOOLONG;
                }
                if (len > 0 && !(len == 1 && p[0] == '.')) {
                        if (o != out)
                                *o++ = '/';
                        memcpy(o, p, len);
                        o += len;
                }
                p += len;
                while (*p == '/')
                        p++;
        }
        *o = 0;
        *ret = out;
        return 0;
}

static int openat2_dir(int root_fd, const char *path) {
        struct open_how how = {
                .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
        };

        for (unsigned attempt = 0;; attempt++) {
                long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
                if (fd >= 0)
                        return (int) fd;
                /* EAGAIN: a concurrent rename, retry a few times */
                if (errno != EAGAIN || attempt >= 8)
                        return -errno;
        }
}

static int shift_ids(
        TarExtract *t, const char *path, uint64_t uid, uint64_t gid, uint32_t *ret_uid, uint32_t *ret_gid);

/* Creates the missing directories of path (relative to the root), each inside the root. */
static int mkdir_parents(TarExtract *t, const char *path) {
        _cleanup_free_ char *p = strdup(path);
        _cleanup_close_ int cur = -EBADF;

        if (!p)
                return -ENOMEM;
        cur = fcntl(t->root_fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0)
                return -errno;

        for (char *s = p;;) {
                char *slash = strchr(s, '/'), saved = 0;
                int fd;

                if (slash) {
                        saved = *slash;
                        *slash = 0;
                }
                fd = openat2_dir(t->root_fd, p);
                if (fd == -ENOENT) {
                        if (mkdirat(cur, s, 0755) < 0) {
                                if (errno != EEXIST)
                                        return -errno;
                        } else if (t->options.id_count > 0) {
                                uint32_t root_uid, root_gid;

                                /* Implicit parents belong to the container's root. */
                                if (shift_ids(t, p, 0, 0, &root_uid, &root_gid) < 0)
                                        return -EBADMSG;
                                if (fchownat(cur, s, root_uid, root_gid, AT_SYMLINK_NOFOLLOW) < 0)
                                        return -errno;
                        }
                        fd = openat2_dir(t->root_fd, p);
                }
                if (fd < 0)
                        return fd;
                close(cur);
                cur = fd;
                if (!slash)
                        return TAKE_FD(cur);
                *slash = saved;
                s = slash + 1;
        }
}

/* Splits path into its parent (opened inside the root) and last component. The returned fd is
 * borrowed (the cache, or the root). */
static int open_parent(TarExtract *t, const char *path, const char **ret_name) {
        const char *slash = strrchr(path, '/');
        _cleanup_free_ char *parent = NULL;
        int fd;

        if (!slash) {
                *ret_name = path;
                return t->root_fd;
        }
        *ret_name = slash + 1;

        parent = strndup(path, (size_t) (slash - path));
        if (!parent)
                return -ENOMEM;
        if (t->parent_path && streq(t->parent_path, parent))
                return t->parent_fd;

        fd = openat2_dir(t->root_fd, parent);
        if (fd == -ENOENT)
                fd = mkdir_parents(t, parent);
        if (fd < 0)
                return fd;
        parent_cache_drop(t);
        t->parent_fd = fd;
        t->parent_path = TAKE_PTR(parent);
        return fd;
}

/* Replace an existing entry the way GNU tar does: unlink a non-directory, rmdir an empty
 * directory. */
static int remove_existing(TarExtract *t, int dir_fd, const char *name) {
        t->parent_stale = true; /* a removal may change what a cached path resolves to */
        if (unlinkat(dir_fd, name, 0) >= 0)
                return 0;
        if (errno == EISDIR || errno == EPERM) {
                if (unlinkat(dir_fd, name, AT_REMOVEDIR) >= 0)
                        return 0;
        }
        return errno == ENOENT ? 0 : -errno;
}

static int shift_ids(
        TarExtract *t, const char *path, uint64_t uid, uint64_t gid, uint32_t *ret_uid, uint32_t *ret_gid) {
        if (uid >= t->options.id_count)
                return set_error(
                        t, -EBADMSG, path, "owner uid %llu outside the id range (0-%llu)",
                        (unsigned long long) uid, (unsigned long long) t->options.id_count - 1);
        if (gid >= t->options.id_count)
                return set_error(
                        t, -EBADMSG, path, "owner gid %llu outside the id range (0-%llu)",
                        (unsigned long long) gid, (unsigned long long) t->options.id_count - 1);
        if (t->options.uid_map) {
                if (idmap_to_outer(t->options.uid_map, (uint32_t) uid, ret_uid) < 0 ||
                    idmap_to_outer(t->options.gid_map, (uint32_t) gid, ret_gid) < 0)
                        return set_error(
                                t, -EBADMSG, path, "owner %llu:%llu not in the container's id map",
                                (unsigned long long) uid, (unsigned long long) gid);
                return 0;
        }
        *ret_uid = (uint32_t) uid + t->options.id_shift;
        *ret_gid = (uint32_t) gid + t->options.id_shift;
        return 0;
}

static int times_set(int fd, const char *name, int flags, struct timespec mtime) {
        struct timespec ts[2] = {
                { .tv_nsec = UTIME_OMIT },
                mtime,
        };
        if (name)
                return RET_NERRNO(utimensat(fd, name, ts, flags));
        return RET_NERRNO(futimens(fd, ts));
}

/* user.* xattrs are applied; trusted.*, security.*, system.* (ACLs) are skipped. */
static int xattrs_apply(TarExtract *t, int fd, const char *path, const TarXattr *x, size_t n) {
        for (size_t i = 0; i < n; i++) {
                if (strncmp(x[i].name, "user.", 5) != 0)
                        continue;
                if (fsetxattr(fd, x[i].name, x[i].value, x[i].size, 0) < 0) {
                        if (errno == EOPNOTSUPP)
                                continue;
                        return set_errno(t, -errno, path, "setting xattr");
                }
        }
        return 0;
}

static int wbuf_flush(TarExtract *t) {
        int r;

        if (t->wfill == 0)
                return 0;
        r = loop_write(t->file_fd, t->wbuf, t->wfill);
        t->wfill = 0;
        if (r < 0)
                return set_errno(t, r, t->file_path, "write");
        return 0;
}

static int data_write(TarExtract *t, const uint8_t *buf, size_t n) {
        int r;

        if (t->wfill == 0 && n >= WRITE_DIRECT_MIN) {
                r = loop_write(t->file_fd, buf, n);
                if (r < 0)
                        return set_errno(t, r, t->file_path, "write");
                return 0;
        }
        if (!t->wbuf) {
                t->wbuf = malloc(WRITE_BUFFER_SIZE);
                if (!t->wbuf)
                        return set_errno(t, -ENOMEM, t->file_path, "write buffer");
        }
        while (n > 0) {
                size_t k = MIN(n, WRITE_BUFFER_SIZE - t->wfill);

                memcpy(t->wbuf + t->wfill, buf, k);
                t->wfill += k;
                buf += k;
                n -= k;
                if (t->wfill == WRITE_BUFFER_SIZE) {
                        r = wbuf_flush(t);
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

/* The file's data is complete: owner, mode (after the data, so a write never clears setuid),
 * xattrs, mtime. */
static int file_finish(TarExtract *t) {
        int r;

        r = wbuf_flush(t);
        if (r < 0)
                return r;
        if (fchown(t->file_fd, t->file_uid, t->file_gid) < 0)
                return set_errno(t, -errno, t->file_path, "chown");
        if (fchmod(t->file_fd, t->file_mode) < 0)
                return set_errno(t, -errno, t->file_path, "chmod");
        r = xattrs_apply(t, t->file_fd, t->file_path, t->file_xattrs, t->file_n_xattrs);
        if (r < 0)
                return r;
        r = times_set(t->file_fd, NULL, 0, t->file_mtime);
        if (r < 0)
                return set_errno(t, r, t->file_path, "setting mtime");
        r = close(TAKE_FD(t->file_fd));
        if (r < 0)
                return set_errno(t, -errno, t->file_path, "close");
        file_reset(t);
        return 0;
}

static void start_skip(TarExtract *t, uint64_t size) {
        /* size + padding cannot overflow: size comes from a checked field < 2^63 */
        t->padding = 0;
        t->state = STATE_SKIP;
        t->remaining = size + ((TAR_BLOCK_SIZE - size % TAR_BLOCK_SIZE) % TAR_BLOCK_SIZE);
        if (t->remaining == 0)
                t->state = STATE_HEADER;
}

static int create_file(TarExtract *t, const char *path, int dir_fd, const char *name) {
        int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST) {
                int r = remove_existing(t, dir_fd, name);
                if (r < 0)
                        return set_errno(t, r, path, "replacing the existing entry");
                fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        }
        if (fd < 0)
                return set_errno(t, -errno, path, "create");
        t->file_fd = fd;
        return 0;
}

static int make_directory(
        TarExtract *t,
        const char *path,
        int dir_fd,
        const char *name,
        uint32_t uid,
        uint32_t gid,
        uint32_t mode,
        struct timespec mtime) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *copy = NULL;
        int r;

        if (*name == 0)
                fd = fcntl(t->root_fd, F_DUPFD_CLOEXEC, 3);
        else {
                if (mkdirat(dir_fd, name, 0700) < 0) {
                        struct stat st;

                        if (errno != EEXIST)
                                return set_errno(t, -errno, path, "mkdir");
                        if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                                return set_errno(t, -errno, path, "stat");
                        if (!S_ISDIR(st.st_mode)) {
                                r = remove_existing(t, dir_fd, name);
                                if (r < 0)
                                        return set_errno(t, r, path, "replacing the existing entry");
                                if (mkdirat(dir_fd, name, 0700) < 0)
                                        return set_errno(t, -errno, path, "mkdir");
                        }
                }
                fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0)
                return set_errno(t, -errno, path, "open directory");
        if (fchown(fd, uid, gid) < 0)
                return set_errno(t, -errno, path, "chown");
        r = xattrs_apply(t, fd, path, t->pax.xattrs, t->pax.n_xattrs);
        if (r < 0)
                return r;

        copy = strdup(path);
        if (!copy)
                return set_errno(t, -ENOMEM, path, "directory list");
        if (t->n_dirs == t->n_dirs_allocated) {
                size_t n = MAX(t->n_dirs_allocated * 2, (size_t) 64);
                DeferredDir *d = reallocarray(t->dirs, n, sizeof(DeferredDir));
                if (!d)
                        return set_errno(t, -ENOMEM, path, "directory list");
                t->dirs = d;
                t->n_dirs_allocated = n;
        }
        t->dirs[t->n_dirs++] = (DeferredDir){ .path = TAKE_PTR(copy), .mode = mode, .mtime = mtime };
        return 0;
}

static int make_symlink(
        TarExtract *t,
        const char *path,
        int dir_fd,
        const char *name,
        const char *target,
        uint32_t uid,
        uint32_t gid,
        struct timespec mtime) {
        int r;

        if (*target == 0)
                return set_error(t, -EBADMSG, path, "empty symlink target");
        if (symlinkat(target, dir_fd, name) < 0) {
                if (errno != EEXIST)
                        return set_errno(t, -errno, path, "symlink");
                r = remove_existing(t, dir_fd, name);
                if (r < 0)
                        return set_errno(t, r, path, "replacing the existing entry");
                if (symlinkat(target, dir_fd, name) < 0)
                        return set_errno(t, -errno, path, "symlink");
        }
        t->parent_stale = true; /* be conservative: drop the cache after a new symlink */
        if (fchownat(dir_fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                return set_errno(t, -errno, path, "chown");
        r = times_set(dir_fd, name, AT_SYMLINK_NOFOLLOW, mtime);
        if (r < 0)
                return set_errno(t, r, path, "setting mtime");
        return 0;
}

static int make_hardlink(
        TarExtract *t, const char *path, int dir_fd, const char *name, const char *target_raw) {
        _cleanup_free_ char *target = NULL, *target_parent = NULL;
        _cleanup_close_ int target_fd = -EBADF;
        const char *target_name;
        int r;

        r = path_normalize(target_raw, &target);
        if (r < 0)
                return set_error(t, -EBADMSG, path, "refusing hard link target \"%.100s\"", target_raw);
        if (*target == 0)
                return set_error(t, -EBADMSG, path, "empty hard link target");

        const char *slash = strrchr(target, '/');
        if (slash) {
                target_parent = strndup(target, (size_t) (slash - target));
                if (!target_parent)
                        return set_errno(t, -ENOMEM, path, "link");
                target_fd = openat2_dir(t->root_fd, target_parent);
                if (target_fd < 0)
                        return set_errno(t, target_fd, path, "opening the hard link target's directory");
                target_name = slash + 1;
        } else
                target_name = target;

        /* no AT_SYMLINK_FOLLOW: a link to a symlink links the symlink itself */
        if (linkat(slash ? target_fd : t->root_fd, target_name, dir_fd, name, 0) < 0) {
                if (errno != EEXIST)
                        return set_errno(t, -errno, path, "hard link");
                if (streq(target, path))
                        return 0; /* a link to itself: already there */
                r = remove_existing(t, dir_fd, name);
                if (r < 0)
                        return set_errno(t, r, path, "replacing the existing entry");
                if (linkat(slash ? target_fd : t->root_fd, target_name, dir_fd, name, 0) < 0)
                        return set_errno(t, -errno, path, "hard link");
        }
        return 0;
}

static int make_fifo(
        TarExtract *t,
        const char *path,
        int dir_fd,
        const char *name,
        uint32_t uid,
        uint32_t gid,
        uint32_t mode,
        struct timespec mtime) {
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (mknodat(dir_fd, name, S_IFIFO | 0600, 0) < 0) {
                if (errno != EEXIST)
                        return set_errno(t, -errno, path, "mkfifo");
                r = remove_existing(t, dir_fd, name);
                if (r < 0)
                        return set_errno(t, r, path, "replacing the existing entry");
                if (mknodat(dir_fd, name, S_IFIFO | 0600, 0) < 0)
                        return set_errno(t, -errno, path, "mkfifo");
        }
        /* opening a FIFO read-only and non-blocking does not wait for a writer */
        fd = openat(dir_fd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return set_errno(t, -errno, path, "open fifo");
        if (fchown(fd, uid, gid) < 0)
                return set_errno(t, -errno, path, "chown");
        if (fchmod(fd, mode) < 0)
                return set_errno(t, -errno, path, "chmod");
        r = times_set(fd, NULL, 0, mtime);
        if (r < 0)
                return set_errno(t, r, path, "setting mtime");
        return 0;
}

/* A complete header of a real entry (not an extended header): apply it. */
static int apply_entry(TarExtract *t, const TarHeader *h) {
        _cleanup_free_ char *path = NULL;
        const char *raw_name, *link, *name;
        uint64_t size, uid, gid;
        uint32_t suid = 0, sgid = 0;
        struct timespec mtime;
        int dir_fd, r = 0;

        t->entries++;

        raw_name = t->pax.path ?: t->long_name ?: h->name;
        link = t->pax.linkpath ?: t->long_link ?: h->linkname;
        size = t->pax.has_size ? t->pax.size : h->size;
        uid = t->pax.has_uid ? t->pax.uid : h->uid;
        gid = t->pax.has_gid ? t->pax.gid : h->gid;
        if (t->pax.has_mtime)
                mtime = (struct timespec){ .tv_sec = (time_t) t->pax.mtime, .tv_nsec = t->pax.mtime_nsec };
        else
                mtime = (struct timespec){ .tv_sec = (time_t) h->mtime };

        if (size > (uint64_t) INT64_MAX)
                return set_error(t, -EBADMSG, raw_name, "size out of range");
        if (t->pax.sparse || h->typeflag == 'S')
                return set_error(t, -EOPNOTSUPP, raw_name, "sparse files are not supported");

        switch (h->typeflag) {
        case '0':
        case '7':
        case '1':
        case '2':
        case '5':
        case '6':
                break;
        default:
                /* devices ('3', '4': unprivileged containers get /dev from LXC), volume labels,
                 * unknown types: skipped with their data */
                t->skipped++;
                start_skip(t, size);
                return 0;
        }

        r = path_normalize(raw_name, &path);
        if (r == -EPERM)
                return set_error(t, -EBADMSG, raw_name, "refusing a path with a \"..\" component");
        if (r == -ENOMEM)
                return set_errno(t, r, raw_name, "bad path");
        if (r < 0)
                return set_error(t, -EBADMSG, raw_name, "bad path: %s", strerror(-r));
        if (*path == 0 && h->typeflag != '5')
                return set_error(t, -EBADMSG, raw_name, "empty name");

        r = shift_ids(t, path, uid, gid, &suid, &sgid);
        if (r < 0)
                return r;

        if (*path == 0) {
                dir_fd = t->root_fd;
                name = path;
        } else {
                dir_fd = open_parent(t, path, &name);
                if (dir_fd < 0)
                        return set_errno(t, dir_fd, path, "opening the parent directory");
        }

        switch (h->typeflag) {
        case '0':
        case '7':
                r = create_file(t, path, dir_fd, name);
                if (r < 0)
                        return r;
                t->file_path = TAKE_PTR(path);
                t->file_mode = h->mode;
                t->file_mtime = mtime;
                t->file_uid = suid;
                t->file_gid = sgid;
                t->file_xattrs = TAKE_PTR(t->pax.xattrs);
                t->file_n_xattrs = t->pax.n_xattrs;
                t->pax.n_xattrs = 0;
                if (size == 0)
                        return file_finish(t);
                t->state = STATE_DATA;
                t->remaining = size;
                t->padding = (TAR_BLOCK_SIZE - size % TAR_BLOCK_SIZE) % TAR_BLOCK_SIZE;
                return 0;
        case '1':
                r = make_hardlink(t, path, dir_fd, name, link);
                break;
        case '2':
                r = make_symlink(t, path, dir_fd, name, link, suid, sgid, mtime);
                break;
        case '5':
                r = make_directory(t, path, dir_fd, name, suid, sgid, h->mode, mtime);
                break;
        case '6':
                r = make_fifo(t, path, dir_fd, name, suid, sgid, h->mode, mtime);
                break;
        }
        if (r < 0)
                return r;
        /* data of a link or directory (a pax hard link may carry some, GNU dumpdirs do) */
        start_skip(t, size);
        return 0;
}

static int process_entry(TarExtract *t, const TarHeader *h) {
        int r = apply_entry(t, h);

        /* extended headers apply to one entry only */
        pending_reset(t);
        if (t->parent_stale) {
                parent_cache_drop(t);
                t->parent_stale = false;
        }
        return r;
}

static int process_header(TarExtract *t) {
        const char *msg = NULL;
        TarHeader h;
        int r;

        r = tar_header_parse(t->block, &h, &msg);
        if (r < 0)
                return set_error(t, r, NULL, "entry %llu: %s", (unsigned long long) t->entries + 1, msg);
        if (r == TAR_HEADER_ZERO) {
                t->state = STATE_END;
                return 0;
        }

        switch (h.typeflag) {
        case 'x':
        case 'L':
        case 'K': {
                uint64_t max = h.typeflag == 'x' ? TAR_PAX_MAX : TAR_PATH_MAX + 1;

                if (h.size > max)
                        return set_error(
                                t, -EBADMSG, NULL, "entry %llu: extended header too large (%llu bytes)",
                                (unsigned long long) t->entries + 1, (unsigned long long) h.size);
                free(t->meta);
                t->meta = malloc(h.size + 1);
                if (!t->meta)
                        return set_errno(t, -ENOMEM, NULL, "extended header");
                t->meta_type = h.typeflag;
                t->meta_size = 0;
                t->remaining = h.size;
                t->padding = (TAR_BLOCK_SIZE - h.size % TAR_BLOCK_SIZE) % TAR_BLOCK_SIZE;
                t->state = STATE_META; /* size 0: handled by the feed loop at once */
                return 0;
        }
        case 'g':
                /* global pax header: nothing in it matters to us */
                start_skip(t, h.size);
                return 0;
        default:
                return process_entry(t, &h);
        }
}

static int process_meta(TarExtract *t) {
        const char *msg = NULL;
        int r;

        t->meta[t->meta_size] = 0;
        switch (t->meta_type) {
        case 'x':
                r = tar_pax_parse(t->meta, t->meta_size, &t->pax, &msg);
                if (r == -ENOMEM)
                        return set_errno(t, r, NULL, "pax header");
                if (r < 0)
                        return set_error(
                                t, r, NULL, "entry %llu: %s", (unsigned long long) t->entries + 1, msg);
                break;
        case 'L':
        case 'K': {
                /* the name, NUL terminated (GNU tar writes the NUL and counts it) */
                size_t len = strlen((char *) t->meta);
                char **dst = t->meta_type == 'L' ? &t->long_name : &t->long_link;

                if (len == 0 || len > TAR_PATH_MAX)
                        return set_error(
                                t, -EBADMSG, NULL, "entry %llu: bad GNU long name",
                                (unsigned long long) t->entries + 1);
                free(*dst);
                *dst = strdup((char *) t->meta);
                if (!*dst)
                        return set_errno(t, -ENOMEM, NULL, "long name");
                break;
        }
        }
        t->meta = mfree(t->meta);
        t->remaining = t->padding;
        t->state = t->remaining > 0 ? STATE_SKIP : STATE_HEADER;
        return 0;
}

int tar_extract_feed(TarExtract *t, const void *buf, size_t n) {
        const uint8_t *p = buf;
        int r;

        if (!t || (!buf && n > 0))
                return -EINVAL;
        if (t->error < 0)
                return t->error;
        if (t->state == STATE_FINISHED)
                return set_error(t, -EINVAL, NULL, "data after the end of the stream");

        for (;;) {
                size_t k;

                switch (t->state) {
                case STATE_HEADER:
                        if (n == 0)
                                return 0;
                        k = MIN(n, TAR_BLOCK_SIZE - t->block_fill);
                        memcpy(t->block + t->block_fill, p, k);
                        t->block_fill += k;
                        p += k;
                        n -= k;
                        if (t->block_fill < TAR_BLOCK_SIZE)
                                return 0;
                        t->block_fill = 0;
                        r = process_header(t);
                        if (r < 0)
                                return r;
                        break;

                case STATE_DATA:
                        if (t->remaining == 0) {
                                r = file_finish(t);
                                if (r < 0)
                                        return r;
                                t->remaining = t->padding;
                                t->state = t->remaining > 0 ? STATE_SKIP : STATE_HEADER;
                                break;
                        }
                        if (n == 0)
                                return 0;
                        k = (size_t) MIN((uint64_t) n, t->remaining);
                        r = data_write(t, p, k);
                        if (r < 0)
                                return r;
                        p += k;
                        n -= k;
                        t->remaining -= k;
                        break;

                case STATE_META:
                        if (t->remaining == 0) {
                                r = process_meta(t);
                                if (r < 0)
                                        return r;
                                break;
                        }
                        if (n == 0)
                                return 0;
                        k = (size_t) MIN((uint64_t) n, t->remaining);
                        memcpy(t->meta + t->meta_size, p, k);
                        t->meta_size += k;
                        p += k;
                        n -= k;
                        t->remaining -= k;
                        break;

                case STATE_SKIP:
                        if (t->remaining == 0) {
                                t->state = STATE_HEADER;
                                break;
                        }
                        if (n == 0)
                                return 0;
                        k = (size_t) MIN((uint64_t) n, t->remaining);
                        p += k;
                        n -= k;
                        t->remaining -= k;
                        break;

                case STATE_END:
                        /* the second zero block, record padding: ignored */
                        return 0;

                case STATE_FINISHED:
                        return 0;
                }
        }
}

int tar_extract_finish(TarExtract *t) {
        int r;

        if (!t)
                return -EINVAL;
        if (t->error < 0)
                return t->error;
        if (t->state == STATE_FINISHED)
                return 0;

        /* complete states: a feed may have stopped right at the end of a file's data */
        if (t->state == STATE_DATA && t->remaining == 0) {
                r = file_finish(t);
                if (r < 0)
                        return r;
                t->remaining = t->padding;
                t->state = t->remaining > 0 ? STATE_SKIP : STATE_HEADER;
        }
        if (t->state == STATE_SKIP && t->remaining == 0)
                t->state = STATE_HEADER;

        if (t->state == STATE_DATA)
                return set_error(t, -EBADMSG, t->file_path, "archive truncated inside the file's data");
        if (t->state != STATE_END && !(t->state == STATE_HEADER && t->block_fill == 0))
                return set_error(
                        t, -EBADMSG, NULL, "archive truncated inside entry %llu",
                        (unsigned long long) t->entries + 1);
        if (t->pax.path || t->long_name || t->long_link)
                return set_error(t, -EBADMSG, NULL, "archive ends after an extended header");

        parent_cache_drop(t);

        /* in archive order, so the last entry for a directory wins (we run as root in the VM:
         * a read-only parent does not keep us out of its children) */
        for (size_t i = 0; i < t->n_dirs; i++) {
                DeferredDir *d = &t->dirs[i];
                struct open_how how = {
                        .flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC,
                        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
                };
                _cleanup_close_ int fd = -EBADF;

                fd = *d->path ? (int) syscall(SYS_openat2, t->root_fd, d->path, &how, sizeof(how))
                              : fcntl(t->root_fd, F_DUPFD_CLOEXEC, 3);
                if (fd < 0) {
                        /* replaced by a later entry (a symlink, a file): nothing to apply */
                        if (errno == ENOENT || errno == ENOTDIR || errno == ELOOP || errno == EXDEV)
                                continue;
                        return set_errno(t, -errno, d->path, "open directory");
                }
                if (fchmod(fd, d->mode) < 0)
                        return set_errno(t, -errno, d->path, "chmod");
                r = times_set(fd, NULL, 0, d->mtime);
                if (r < 0)
                        return set_errno(t, r, d->path, "setting mtime");
        }

        t->state = STATE_FINISHED;
        return 0;
}

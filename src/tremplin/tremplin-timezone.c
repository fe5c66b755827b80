/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "hash-util.h"
#include "macro.h"
#include "proto-validate.h"
#include "string-util.h"
#include "tremplin-rootfs.h"
#include "tremplin-timezone.h"

static bool isempty(const char *s) {
        return !s || !s[0];
}

void timezone_file_id(const void *data, size_t n, char ret[static META_TZFILE_MAX + 1]) {
        (void) snprintf(ret, META_TZFILE_MAX + 1, "%zx:%016" PRIx64, n, fnv1a64(FNV1A64_INIT, data, n));
}

bool timezone_managed(const LocaltimeState *s, const char *rec_tz, const char *rec_tzfile) {
        char want[sizeof(ZONEINFO_DIR) + PROTO_TIMEZONE_MAX + 1];

        if (s->kind == LOCALTIME_MISSING)
                return true;
        if (isempty(rec_tz))
                return false; /* the image's or the user's: not ours */
        switch (s->kind) {
        case LOCALTIME_LINK:
                (void) snprintf(want, sizeof(want), ZONEINFO_DIR "%s", rec_tz);
                return isempty(rec_tzfile) && streq(s->target, want);
        case LOCALTIME_FILE:
                return !isempty(rec_tzfile) && streq(s->fileid, rec_tzfile);
        default:
                return false;
        }
}

TimezoneAction timezone_plan(bool managed, bool have_zoneinfo, size_t tzif_len) {
        if (!managed)
                return TIMEZONE_SKIP;
        if (have_zoneinfo)
                return TIMEZONE_LINK;
        return tzif_len > 0 ? TIMEZONE_FILE : TIMEZONE_SKIP;
}

static int open_etc(int rootfs_fd, uid_t owner, bool create) {
        return rootfs_open_dir(rootfs_fd, "etc", create, owner);
}

static int read_state_at(int etc_fd, LocaltimeState *ret) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        size_t len;
        ssize_t n;
        int r;

        *ret = (LocaltimeState){ .kind = LOCALTIME_OTHER };
        if (fstatat(etc_fd, "localtime", &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT) {
                        ret->kind = LOCALTIME_MISSING;
                        return 0;
                }
                return -errno;
        }
        if (S_ISLNK(st.st_mode)) {
                n = readlinkat(etc_fd, "localtime", ret->target, sizeof(ret->target) - 1);
                if (n < 0)
                        return -errno;
                if ((size_t) n >= sizeof(ret->target) - 1)
                        return 0; /* too long to be ours: OTHER */
                ret->target[n] = 0;
                ret->kind = LOCALTIME_LINK;
                return 0;
        }
        if (!S_ISREG(st.st_mode) || st.st_size > (off_t) TIMEZONE_TZIF_MAX)
                return 0;
        fd = openat(etc_fd, "localtime", O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        r = read_fd_max(fd, TIMEZONE_TZIF_MAX, &buf, &len);
        if (r == -EFBIG)
                return 0;
        if (r < 0)
                return r;
        timezone_file_id(buf, len, ret->fileid);
        ret->kind = LOCALTIME_FILE;
        return 0;
}

int timezone_read_state(int rootfs_fd, LocaltimeState *ret) {
        _cleanup_close_ int etc = open_etc(rootfs_fd, 0, false);

        if (etc == -ENOENT) {
                *ret = (LocaltimeState){ .kind = LOCALTIME_MISSING };
                return 0;
        }
        if (etc < 0)
                return etc;
        return read_state_at(etc, ret);
}

/* usr/share/zoneinfo/NAME is a regular file inside the rootfs (resolved in it). */
static bool have_zoneinfo(int rootfs_fd, const char *name) {
        struct open_how how = { .flags = O_PATH | O_CLOEXEC,
                                .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
        char path[sizeof(ZONEINFO_DIR) + PROTO_TIMEZONE_MAX + 1];
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        (void) snprintf(path, sizeof(path), "usr/share/zoneinfo/%s", name);
        fd = (int) syscall(SYS_openat2, rootfs_fd, path, &how, sizeof(how));
        return fd >= 0 && fstat(fd, &st) >= 0 && S_ISREG(st.st_mode) && st.st_size >= 44;
}

int timezone_apply(
        int rootfs_fd, uid_t owner, const char *name, const void *tzif, size_t tzif_len, ContainerMeta *m) {
        char target[sizeof(ZONEINFO_DIR) + PROTO_TIMEZONE_MAX + 1], line[PROTO_TIMEZONE_MAX + 2];
        _cleanup_close_ int etc = -EBADF;
        LocaltimeState s;
        TimezoneAction a;
        int r;

        if (!proto_timezone_ok(name) || tzif_len > TIMEZONE_TZIF_MAX)
                return -EINVAL;
        etc = open_etc(rootfs_fd, owner, true);
        if (etc < 0)
                return etc;
        r = read_state_at(etc, &s);
        if (r < 0)
                return r;
        a = timezone_plan(timezone_managed(&s, m->tz, m->tzfile), have_zoneinfo(rootfs_fd, name), tzif_len);
        if (a == TIMEZONE_SKIP)
                return a;
        if (a == TIMEZONE_LINK) {
                (void) snprintf(target, sizeof(target), ZONEINFO_DIR "%s", name);
                /* Already right: nothing to write (a start or a repeated SetTimezone). */
                if (!(s.kind == LOCALTIME_LINK && streq(s.target, target))) {
                        r = rootfs_symlink_at(etc, "localtime", target, owner);
                        if (r < 0)
                                return r;
                }
                m->tzfile[0] = 0;
        } else {
                r = rootfs_write_file_at(etc, "localtime", tzif, tzif_len, 0644, owner);
                if (r < 0)
                        return r;
                timezone_file_id(tzif, tzif_len, m->tzfile);
        }
        strscpy(m->tz, name, sizeof(m->tz));
        (void) snprintf(line, sizeof(line), "%s\n", name);
        r = rootfs_write_file_at(etc, "timezone", line, strlen(line), 0644, owner);
        if (r < 0)
                return r;
        return a;
}

int timezone_save(const char *path, const char *name, const void *tzif, size_t len) {
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        char tmp[4096];
        size_t nl = strlen(name);
        int r;

        if (!proto_timezone_ok(name) || len > TIMEZONE_TZIF_MAX)
                return -EINVAL;
        buf = malloc(nl + 1 + len);
        if (!buf)
                return -ENOMEM;
        memcpy(buf, name, nl);
        buf[nl] = '\n';
        if (len > 0)
                memcpy(buf + nl + 1, tzif, len);
        if ((size_t) snprintf(tmp, sizeof(tmp), "%s.new", path) >= sizeof(tmp))
                return -ENAMETOOLONG;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, buf, nl + 1 + len);
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r < 0 ? r : 0;
}

int timezone_load(const char *path, char *name, size_t name_size, void **ret_tzif, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0, nl;
        char *eol;
        int r;

        r = read_file(path, PROTO_TIMEZONE_MAX + 2 + TIMEZONE_TZIF_MAX, &buf, &n);
        if (r < 0)
                return r;
        eol = memchr(buf, '\n', n);
        if (!eol)
                return -EBADMSG;
        nl = (size_t) (eol - buf);
        *eol = 0;
        if (nl >= name_size || !proto_timezone_ok(buf))
                return -EBADMSG;
        memcpy(name, buf, nl + 1);
        *ret_len = n - nl - 1;
        *ret_tzif = NULL;
        if (*ret_len > 0) {
                *ret_tzif = memdup(eol + 1, *ret_len);
                if (!*ret_tzif)
                        return -ENOMEM;
        }
        return 0;
}

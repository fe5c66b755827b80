/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "time-util.h"
#include "macro.h"

ssize_t loop_read(int fd, void *buf, size_t n) {
        size_t done = 0;

        while (done < n) {
                ssize_t k = read(fd, (char *) buf + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                done += (size_t) k;
        }
        return (ssize_t) done;
}

int loop_write(int fd, const void *buf, size_t n) {
        size_t done = 0;

        while (done < n) {
                ssize_t k = write(fd, (const char *) buf + done, n - done);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        return -EIO;
                done += (size_t) k;
        }
        return 0;
}

static int fd_flag(int fd, int get, int set, int flag, bool on) {
        int flags, nflags;

        flags = fcntl(fd, get);
        if (flags < 0)
                return -errno;
        nflags = on ? flags | flag : flags & ~flag;
        if (nflags == flags)
                return 0;
        return RET_NERRNO(fcntl(fd, set, nflags)) < 0 ? -errno : 0;
}

int fd_nonblock(int fd, bool nonblock) {
        return fd_flag(fd, F_GETFL, F_SETFL, O_NONBLOCK, nonblock);
}

int fd_cloexec(int fd, bool cloexec) {
        return fd_flag(fd, F_GETFD, F_SETFD, FD_CLOEXEC, cloexec);
}

int write_file_atomic_full(const char *path, const char *s, mode_t mode, uid_t uid, gid_t gid) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *base;
        int r;

        if (!path || !*path)
                return -EINVAL;
        /* The temp file is hidden (".NAME.tmp.PID" next to NAME): it can never be the name of another
         * file that lives in the same directory, such as a token or state file named after a user-chosen
         * name, which may contain dots but never starts with one. */
        base = strrchr(path, '/');
        base = base ? base + 1 : path;
        if (asprintf(&tmp, "%.*s.%s.tmp.%d", (int) (base - path), path, base, (int) getpid()) < 0)
                return -ENOMEM;
        /* A stale temp file (a crash) is replaced, never reused: O_EXCL gives the new file exactly mode. */
        (void) unlink(tmp);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
        if (fd < 0)
                return -errno;
        r = loop_write(fd, s, strlen(s));
        if (r >= 0 && (uid != (uid_t) -1 || gid != (gid_t) -1) && fchown(fd, uid, gid) < 0)
                r = -errno;
        if (r >= 0 && fsync(fd) < 0)
                r = -errno;
        if (r >= 0 && rename(tmp, path) < 0)
                r = -errno;
        if (r < 0)
                (void) unlink(tmp);
        return r;
}

int write_file_atomic(const char *path, const char *s, mode_t mode) {
        return write_file_atomic_full(path, s, mode, (uid_t) -1, (gid_t) -1);
}

int read_fd_max(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        ssize_t n;

        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        n = loop_read(fd, buf, max + 1);
        if (n < 0)
                return (int) n;
        if ((size_t) n > max)
                return -EFBIG;
        buf[n] = 0;
        if (ret_size)
                *ret_size = (size_t) n;
        *ret = TAKE_PTR(buf);
        return 0;
}

int read_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_fd_max(fd, max, ret, ret_size);
}

int read_regular_file_at(
        int dfd, const char *path, bool nofollow, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = openat(dfd, path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | (nofollow ? O_NOFOLLOW : 0));
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADF;
        if (st.st_size < 0 || (uint64_t) st.st_size > max)
                return -EFBIG;
        return read_fd_max(fd, max, ret, ret_size); /* -EFBIG too if it grew since fstat() */
}

int read_regular_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        return read_regular_file_at(AT_FDCWD, path, false, max, ret, ret_size);
}

int mkdir_p(const char *path, mode_t mode) {
        _cleanup_free_ char *p = NULL;

        if (!path || !*path)
                return -EINVAL;
        p = strdup(path);
        if (!p)
                return -ENOMEM;
        for (char *s = p + 1; *s; s++) {
                if (*s != '/')
                        continue;
                *s = 0;
                if (mkdir(p, mode) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        if (mkdir(p, mode) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

int fd_wait_until(int fd, short events, int64_t deadline_msec) {
        for (;;) {
                struct pollfd p = { .fd = fd, .events = events };
                int timeout = -1, r;

                if (deadline_msec >= 0) {
                        int64_t left = deadline_msec - (int64_t) now_msec(CLOCK_MONOTONIC);

                        if (left <= 0)
                                return -ETIMEDOUT;
                        timeout = (int) MIN(left, (int64_t) INT32_MAX);
                }
                r = poll(&p, 1, timeout);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0)
                        return 0;
        }
}

int openat2_fd(int dirfd, const char *path, int flags, uint64_t resolve) {
        struct open_how how = { .flags = (uint64_t) flags | O_CLOEXEC, .resolve = resolve };
        int fd = (int) syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

        return fd < 0 ? -errno : fd;
}

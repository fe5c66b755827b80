/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Reads until n bytes or EOF; returns bytes read (short only at EOF) or -errno. Retries EINTR. */
ssize_t loop_read(int fd, void *buf, size_t n);
/* Writes all n bytes or fails with -errno. Retries EINTR; on a non-blocking fd EAGAIN is an error. */
int loop_write(int fd, const void *buf, size_t n);

/* poll()s fd for events until the monotonic deadline in milliseconds (now_msec(CLOCK_MONOTONIC)
 * scale; negative: no deadline). 0 when ready, -ETIMEDOUT, or -errno. Retries EINTR. */
int fd_wait_until(int fd, short events, int64_t deadline_msec);

int fd_nonblock(int fd, bool nonblock);
int fd_cloexec(int fd, bool cloexec);

/* Writes s to path atomically: a new hidden temp file ".NAME.tmp.PID" in the same directory, created
 * with mode, then fsync + rename. */
int write_file_atomic(const char *path, const char *s, mode_t mode);
/* The same, and the temp file is fchown()ed to uid:gid before the rename ((uid_t) -1 / (gid_t) -1:
 * leave that id), so path never exists with the wrong owner. */
int write_file_atomic_full(const char *path, const char *s, mode_t mode, uid_t uid, gid_t gid);
/* Reads what is left of fd (at most max bytes; -EFBIG when there is more) into a NUL-terminated
 * buffer; *ret_size (may be NULL) gets the length. */
int read_fd_max(int fd, size_t max, char **ret, size_t *ret_size);
/* Reads a whole small file (at most max bytes) into a NUL-terminated buffer. */
int read_file(const char *path, size_t max, char **ret, size_t *ret_size);
/* The same for a file another user controls, without ever blocking: opened O_NONBLOCK (a FIFO or
 * device would hang a plain open or read), then it must be a regular file (-EBADF otherwise) of at
 * most max bytes (-EFBIG). */
int read_regular_file(const char *path, size_t max, char **ret, size_t *ret_size);
/* The same relative to dfd (or AT_FDCWD); nofollow refuses a symlink as the last component
 * (-ELOOP). */
int read_regular_file_at(int dfd, const char *path, bool nofollow, size_t max, char **ret, size_t *ret_size);

/* mkdir -p with the given mode for each component created. */
int mkdir_p(const char *path, mode_t mode);

/* openat2(2) (glibc has no wrapper) with O_CLOEXEC added to flags: the fd, or -errno. resolve is
 * RESOLVE_* (linux/openat2.h). */
int openat2_fd(int dirfd, const char *path, int flags, uint64_t resolve);

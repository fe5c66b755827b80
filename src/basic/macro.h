/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Small macros used everywhere: cleanup attributes, ownership transfer, bounds. Our own versions of
 * the patterns in systemd's cleanup-fundamental.h and crun's utils.h. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _printf_(a, b) __attribute__((format(printf, a, b)))
#define _noreturn_ __attribute__((noreturn))
#define _unused_ __attribute__((unused))
#define _warn_unused_result_ __attribute__((warn_unused_result))
#define _likely_(x) (__builtin_expect(!!(x), 1))
#define _unlikely_(x) (__builtin_expect(!!(x), 0))
#define _cleanup_(f) __attribute__((cleanup(f)))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

#define streq(a, b) (strcmp((a), (b)) == 0)
#define strneq(a, b, n) (strncmp((a), (b), (n)) == 0)

/* Hand ownership over: returns the value and leaves the variable empty, so its cleanup does nothing. */
#define TAKE_GENERIC(var, type, nullvalue) \
        ({                                 \
                type *_pvar_ = &(var);     \
                type _var_ = *_pvar_;      \
                *_pvar_ = (nullvalue);     \
                _var_;                     \
        })
#define TAKE_PTR(p) TAKE_GENERIC(p, __typeof__(p), NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, int, -EBADF)

/* Declares name##p(type **) that calls func on a non-NULL pointer; for _cleanup_(name##p). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func) \
        static inline void func##p(type *p) {   \
                if (*p)                         \
                        func(*p);               \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                (void) close(fd); /* Linux closes the fd even on EINTR: never retry. */
                errno = saved;
        }
        return -EBADF;
}
static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}
#define _cleanup_fclose_ _cleanup_(fclosep)

/* Negative errno from a libc call that returns -1 and sets errno. */
#define RET_NERRNO(expr)                       \
        ({                                     \
                __typeof__(expr) _r_ = (expr); \
                _r_ < 0 ? -errno : _r_;        \
        })

/* errno as a negative value, never 0 (a libc that "fails" without errno still yields an error). */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}

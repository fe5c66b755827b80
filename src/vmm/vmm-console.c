/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "alloc-util.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "string-util.h"
#include "vmm-console.h"

struct ConsoleLog {
        char *path, *rotated_path;
        int fd;   /* console.log, O_APPEND */
        int sock; /* our end of QEMU's chardev */
        uint64_t size, rotate_at;
        bool write_failed;
        sd_event_source *source;
};

static int open_log(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        return fd < 0 ? -errno : fd;
}

int console_log_new(const char *path, uint64_t max_bytes, ConsoleLog **ret, int *ret_qemu_fd) {
        _cleanup_free_ ConsoleLog *c = NULL;
        int sp[2], r;

        if (max_bytes < CONSOLE_LOG_MAX_MIN)
                return -EINVAL;
        c = new0(ConsoleLog, 1);
        if (!c)
                return -ENOMEM;
        *c = (ConsoleLog){ .fd = -EBADF, .sock = -EBADF, .rotate_at = max_bytes / 2 };
        c->path = strdup(path);
        if (!c->path || asprintf(&c->rotated_path, "%s" CONSOLE_LOG_ROTATED_SUFFIX, path) < 0) {
                c->rotated_path = NULL;
                r = -ENOMEM;
                goto fail;
        }
        /* A previous run's rotated half would make the pair exceed the cap and mix two boots. */
        if (unlink(c->rotated_path) < 0 && errno != ENOENT) {
                r = -errno;
                goto fail;
        }
        c->fd = open_log(c->path);
        if (c->fd < 0) {
                r = c->fd;
                goto fail;
        }
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0) {
                r = -errno;
                goto fail;
        }
        c->sock = sp[0];
        /* QEMU's end blocks: its serial emulation waits when we fall behind. */
        r = fd_nonblock(sp[1], false);
        if (r < 0) {
                safe_close(sp[1]);
                goto fail;
        }
        *ret_qemu_fd = sp[1];
        *ret = TAKE_PTR(c);
        return 0;
fail:
        safe_close(c->fd);
        safe_close(c->sock);
        free(c->path);
        free(c->rotated_path);
        return r;
}

/* console.log becomes console.log.1 and a new console.log starts. */
static int rotate(ConsoleLog *c) {
        int fd;

        if (rename(c->path, c->rotated_path) < 0)
                return -errno;
        fd = open_log(c->path);
        if (fd < 0)
                return fd;
        safe_close(c->fd);
        c->fd = fd;
        c->size = 0;
        return 0;
}

static void write_bounded(ConsoleLog *c, const uint8_t *p, size_t n) {
        while (n > 0 && !c->write_failed) {
                size_t k;
                int r;

                if (c->size >= c->rotate_at) {
                        r = rotate(c);
                        if (r < 0) {
                                /* Stop logging rather than grow past the cap; the VM goes on. */
                                log_warning_errno(
                                        r, "Cannot rotate '%s', console output is dropped from now on: %m",
                                        c->path);
                                c->write_failed = true;
                                return;
                        }
                }
                k = MIN(n, (size_t) (c->rotate_at - c->size));
                r = loop_write(c->fd, p, k);
                if (r < 0) {
                        log_warning_errno(
                                r, "Cannot write '%s', console output is dropped from now on: %m", c->path);
                        c->write_failed = true;
                        return;
                }
                c->size += k;
                p += k;
                n -= k;
        }
}

/* Returns 1 after copying, 0 when nothing is queued, -EPIPE at EOF (QEMU is gone), other < 0 on
 * error. */
static int copy_once(ConsoleLog *c) {
        uint8_t buf[64 * 1024];
        ssize_t n;

        n = read(c->sock, buf, sizeof(buf));
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? 0 : -errno;
        if (n == 0)
                return -EPIPE;
        write_bounded(c, buf, (size_t) n);
        return 1;
}

static int on_console(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ConsoleLog *c = userdata;
        int r;

        r = copy_once(c);
        /* EOF or a broken socket: QEMU is gone (its exit is handled elsewhere); without this the
         * level-triggered source would fire at every iteration until the loop ends. */
        if (r < 0) {
                if (r != -EPIPE)
                        log_debug_errno(r, "Console socket: %m");
                c->source = sd_event_source_disable_unref(c->source);
        }
        return 0;
}

int console_log_attach(ConsoleLog *c, sd_event *e) {
        return sd_event_add_io(e, &c->source, c->sock, EPOLLIN, on_console, c);
}

void console_log_drain(ConsoleLog *c) {
        /* Bounded: the socket holds at most its buffer once QEMU is gone. */
        for (unsigned i = 0; i < 1024 && copy_once(c) > 0; i++)
                ;
}

ConsoleLog *console_log_free(ConsoleLog *c) {
        if (!c)
                return NULL;
        sd_event_source_disable_unref(c->source);
        safe_close(c->fd);
        safe_close(c->sock);
        free(c->path);
        free(c->rotated_path);
        return mfree(c);
}

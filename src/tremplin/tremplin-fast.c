/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fd-util.h"
#include "frame.h"
#include "log.h"
#include "macro.h"
#include "message-type.h"
#include "process-util.h"
#include "string-util.h"
#include "tremplin-container.h"
#include "tremplin-fast.h"
#include "tremplin-meta.h"
#include "wire.h"

#define FAST_REPLY_TIMEOUT_MS 1000
#define PEEK_MAX 4096u

typedef struct RunningRecord {
        char name[PROTO_NAME_MAX + 1];
        int32_t pid;
        uint64_t start_time;
} RunningRecord;

void running_cache_init(RunningCache *c) {
        for (size_t i = 0; i < RUNNING_CACHE_MAX; i++)
                c->entries[i] = (RunningEntry){ .pidfd = -EBADF };
}

static void entry_drop(RunningEntry *e) {
        safe_close(e->pidfd);
        *e = (RunningEntry){ .pidfd = -EBADF };
}

void running_cache_done(RunningCache *c) {
        for (size_t i = 0; i < RUNNING_CACHE_MAX; i++)
                entry_drop(&c->entries[i]);
}

int running_report(int fd, const char *name, pid_t pid) {
        RunningRecord rec = { .pid = pid };
        int r;

        if (fd < 0 || pid <= 0 || !proto_name_ok(name))
                return -EINVAL;
        strscpy(rec.name, name, sizeof(rec.name));
        r = pid_get_start_time(pid, &rec.start_time);
        if (r < 0)
                return r;
        /* One write of less than PIPE_BUF: never interleaved with another worker's. */
        return loop_write(fd, &rec, sizeof(rec));
}

static bool entry_alive(const RunningEntry *e) {
        struct pollfd p = { .fd = e->pidfd, .events = POLLIN };

        /* A pidfd becomes readable when its process exits. */
        return e->pidfd >= 0 && poll(&p, 1, 0) == 0;
}

static RunningEntry *cache_find(RunningCache *c, const char *name) {
        for (size_t i = 0; i < RUNNING_CACHE_MAX; i++)
                if (c->entries[i].pidfd >= 0 && streq(c->entries[i].name, name))
                        return &c->entries[i];
        return NULL;
}

static void cache_add(RunningCache *c, const RunningRecord *rec) {
        RunningEntry *e = cache_find(c, rec->name);
        uint64_t start_time;
        int pidfd;

        if (e && e->pid == rec->pid && entry_alive(e))
                return;
        pidfd = (int) syscall(SYS_pidfd_open, rec->pid, 0);
        if (pidfd < 0)
                return;
        /* Opened, then checked: the pidfd names the process the worker saw, not a reuse of its pid. */
        if (pid_get_start_time(rec->pid, &start_time) < 0 || start_time != rec->start_time) {
                safe_close(pidfd);
                return;
        }
        if (!e)
                for (size_t i = 0; i < RUNNING_CACHE_MAX && !e; i++)
                        if (c->entries[i].pidfd < 0 || !entry_alive(&c->entries[i]))
                                e = &c->entries[i];
        if (!e) {
                safe_close(pidfd);
                return;
        }
        entry_drop(e);
        strscpy(e->name, rec->name, sizeof(e->name));
        e->pid = rec->pid;
        e->pidfd = pidfd;
}

void running_cache_read_reports(RunningCache *c, int fd) {
        for (unsigned i = 0; i < 1024; i++) {
                RunningRecord rec;
                ssize_t n = read(fd, &rec, sizeof(rec));

                if (n != (ssize_t) sizeof(rec))
                        return;
                rec.name[sizeof(rec.name) - 1] = 0;
                if (proto_name_ok(rec.name) && rec.pid > 0)
                        cache_add(c, &rec);
        }
}

int fast_start_try(RunningCache *c, int fd) {
        _cleanup_message_ ProtobufCMessage *msg = NULL;
        const Bistro__Tremplin__StartContainerRequest *req;
        Bistro__Tremplin__ContainerInfoResponse resp = BISTRO__TREMPLIN__CONTAINER_INFO_RESPONSE__INIT;
        Bistro__Tremplin__ContainerInfo info = BISTRO__TREMPLIN__CONTAINER_INFO__INIT;
        uint8_t buf[PEEK_MAX];
        RunningEntry *e;
        ContainerMeta m;
        const char *user;
        FrameHeader h;
        size_t total;
        ssize_t n;
        int r;

        n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
        if (n < 0)
                return errno == EAGAIN || errno == EINTR ? -EAGAIN : 0;
        if (n == 0)
                return 0;
        if ((size_t) n < FRAME_HEADER_SIZE)
                return -EAGAIN;
        if (frame_header_parse(buf, &h) < 0 || h.flags != FRAME_REQUEST ||
            h.type != BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST)
                return 0;
        total = FRAME_HEADER_SIZE + (size_t) h.length;
        if (total > sizeof(buf))
                return 0;
        if ((size_t) n < total)
                return -EAGAIN;
        /* The same validation as the worker's wire_recv_sync(). */
        if (wire_unpack(h.type, buf + FRAME_HEADER_SIZE, h.length, &msg) < 0)
                return 0;
        req = (const void *) msg;
        user = req->user ?: "";
        e = cache_find(c, req->name);
        if (!e)
                return 0;
        if (!entry_alive(e)) {
                entry_drop(e);
                return 0;
        }
        if (meta_read_name(req->name, &m) < 0)
                return 0;
        if (user[0] && !streq(user, "root") && !container_meta_has_user(&m, user))
                return 0;

        /* Answered here: take the request off the socket. */
        if (recv(fd, buf, total, MSG_DONTWAIT) != (ssize_t) total)
                return 0;
        r = container_fill_running_info(&info, req->name, &m, e->pid);
        if (r < 0)
                return 0;
        resp.container = &info;
        resp.user_ready = user[0] != 0;
        r = wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__TREMPLIN_CONTAINER_INFO_RESPONSE, FRAME_RESPONSE, h.id, &resp.base,
                FAST_REPLY_TIMEOUT_MS);
        container_info_done(&info);
        if (r < 0)
                log_debug_errno(r, "Cannot answer StartContainer of '%s': %m", req->name);
        else
                log_debug("StartContainer of running '%s' answered without a worker.", req->name);
        return 1;
}

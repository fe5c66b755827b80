/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "concierge-client.h"
#include "config.h"
#include "fd-util.h"
#include "log.h"
#include "message-type.h"
#include "socket-util.h"
#include "string-util.h"
#include "wire.h"

static int runtime_dir(const char **ret) {
        const char *rt = getenv("XDG_RUNTIME_DIR");

        if (!rt || rt[0] != '/')
                return -EINVAL;
        *ret = rt;
        return 0;
}

int concierge_socket_path(char **ret) {
        const char *rt;
        int r;

        r = runtime_dir(&rt);
        if (r < 0)
                return r;
        if (asprintf(ret, "%s/bistro/concierge.sock", rt) < 0)
                return -ENOMEM;
        return 0;
}

int concierge_binary_path(const char *build_root, char **ret) {
        const char *e = getenv("BISTRO_CONCIERGE");
        char self[PATH_MAX];
        ssize_t n;

        if (e && e[0]) {
                *ret = strdup(e);
                return *ret ? 0 : -ENOMEM;
        }
        n = readlink("/proc/self/exe", self, sizeof(self) - 1);
        if (build_root && n > 0) {
                size_t l = strlen(build_root);

                self[n] = 0;
                if (strneq(self, build_root, l) && self[l] == '/') {
                        _cleanup_free_ char *p = NULL;

                        if (asprintf(&p, "%s/src/concierge/concierge", build_root) < 0)
                                return -ENOMEM;
                        if (access(p, X_OK) >= 0) {
                                *ret = TAKE_PTR(p);
                                return 0;
                        }
                }
        }
        *ret = strdup(BISTRO_LIBEXECDIR "/concierge");
        return *ret ? 0 : -ENOMEM;
}

int concierge_spawn(const char *binary) {
        _cleanup_free_ char *dir = NULL, *log = NULL;
        const char *rt;
        pid_t pid;
        int r, status;

        r = runtime_dir(&rt);
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s/bistro", rt) < 0 || asprintf(&log, "%s/concierge.log", dir) < 0)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        if (access(binary, X_OK) < 0)
                return -errno;

        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
                int fd;

                /* Own session, and the grandchild is reparented: concierge outlives us and gets
                 * no signal from our terminal. */
                if (setsid() < 0)
                        _exit(1);
                pid = fork();
                if (pid != 0)
                        _exit(pid < 0 ? 1 : 0);
                fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd >= 0)
                        (void) dup2(fd, 0);
                fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        (void) dup2(fd, 1);
                        (void) dup2(fd, 2);
                }
                (void) close_range(3, ~0U, 0);
                execl(binary, "concierge", (char *) NULL);
                _exit(127);
        }
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                return -ECHILD;
        return 0;
}

static long elapsed_ms(const struct timespec *start) {
        struct timespec now;

        (void) clock_gettime(CLOCK_MONOTONIC, &now);
        return (now.tv_sec - start->tv_sec) * 1000 + (now.tv_nsec - start->tv_nsec) / 1000000;
}

/* Serializes the start of concierge among clients of this runtime dir: without it, two clients
 * finding no socket at once would start two concierges, the second taking the socket over. */
static int lock_spawn(const struct timespec *start) {
        _cleanup_free_ char *dir = NULL, *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        const char *rt;
        int r;

        r = runtime_dir(&rt);
        if (r < 0)
                return r;
        if (asprintf(&dir, "%s/bistro", rt) < 0 || asprintf(&path, "%s/concierge.spawn.lock", dir) < 0)
                return -ENOMEM;
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                struct timespec ts = { 0, 20 * 1000 * 1000 };

                if (errno != EWOULDBLOCK && errno != EINTR)
                        return -errno;
                if (elapsed_ms(start) > 2 * CONCIERGE_SPAWN_TIMEOUT_MS)
                        return -ETIMEDOUT;
                (void) nanosleep(&ts, NULL);
        }
        return TAKE_FD(fd);
}

int concierge_connect(const char *build_root, ConciergeSpawnHandler on_spawn, void *userdata) {
        _cleanup_free_ char *path = NULL, *bin = NULL;
        _cleanup_close_ int lock = -EBADF;
        struct timespec start;
        int fd, r;

        r = concierge_socket_path(&path);
        if (r < 0)
                return r;
        fd = unix_connect(path);
        if (fd >= 0)
                return fd;
        if (fd != -ENOENT && fd != -ECONNREFUSED)
                return fd;

        (void) clock_gettime(CLOCK_MONOTONIC, &start);
        lock = lock_spawn(&start);
        if (lock < 0)
                return lock;
        /* Whoever held the lock may have started it meanwhile. */
        fd = unix_connect(path);
        if (fd >= 0)
                return fd;
        if (fd != -ENOENT && fd != -ECONNREFUSED)
                return fd;
        log_debug("nothing listens on %s, starting concierge", path);

        r = concierge_binary_path(build_root, &bin);
        if (r < 0)
                return r;
        if (on_spawn)
                on_spawn(userdata);
        r = concierge_spawn(bin);
        if (r < 0)
                return r;
        (void) clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
                struct timespec ts = { 0, 20 * 1000 * 1000 };

                fd = unix_connect(path);
                if (fd >= 0)
                        return fd; /* the lock is released only now: concierge listens */
                if (elapsed_ms(&start) > CONCIERGE_SPAWN_TIMEOUT_MS)
                        return -ETIMEDOUT;
                (void) nanosleep(&ts, NULL);
        }
}

typedef struct CallContext {
        ConciergeProgressHandler on_progress;
        void *userdata;
} CallContext;

static int on_event(uint32_t type, uint64_t id, const ProtobufCMessage *msg, void *userdata) {
        CallContext *ctx = userdata;

        if (type != BISTRO__MESSAGE_TYPE__PROGRESS || !ctx->on_progress)
                return 0;
        return ctx->on_progress((const Bistro__Concierge__Progress *) msg, ctx->userdata);
}

int concierge_call(
        int fd,
        uint32_t type,
        const ProtobufCMessage *req,
        int timeout_ms,
        ConciergeProgressHandler on_progress,
        void *userdata,
        ProtobufCMessage **ret_resp,
        char **ret_error) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        CallContext ctx = { on_progress, userdata };
        uint32_t rtype = 0;
        int r;

        if (ret_error)
                *ret_error = NULL;
        r = wire_call_sync_full(
                fd, type, req, message_response_type(type), -1, MAX(timeout_ms, 0), on_event, &ctx, &rtype,
                &resp);
        if (r < 0) {
                if (rtype == BISTRO__MESSAGE_TYPE__ERROR_REPLY && ret_error)
                        (void) wire_error_reply_to_errno((const Bistro__ErrorReply *) resp, ret_error);
                return r;
        }
        if (ret_resp)
                *ret_resp = TAKE_PTR(resp);
        return 0;
}

/* The two enums share their numbering (proto/concierge.proto). */
static const char *const state_words[] = {
        "unknown", "stopped", "starting", "running", "stopping", "failed"
};

const char *concierge_vm_state_to_string(int state) {
        _Static_assert(BISTRO__CONCIERGE__VM_STATE__VM_STATE_FAILED == 5, "state numbering");
        return state >= 0 && (size_t) state < ELEMENTSOF(state_words) ? state_words[state] : "unknown";
}

const char *concierge_container_state_to_string(int state) {
        _Static_assert(BISTRO__CONCIERGE__CONTAINER_STATE__CONTAINER_STATE_FAILED == 5, "state numbering");
        return state >= 0 && (size_t) state < ELEMENTSOF(state_words) ? state_words[state] : "unknown";
}

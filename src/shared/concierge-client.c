/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "build-id.h"
#include "concierge-client.h"
#include "fd-util.h"
#include "log.h"
#include "process-util.h"
#include "message-type.h"
#include "path-lookup.h"
#include "path-util.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "time-util.h"
#include "wire.h"

#define SPAWN_POLL_USEC (20 * USEC_PER_MSEC)

static int runtime_file(const char *name, char **ret) {
        _cleanup_free_ char *dir = NULL;
        int r;

        r = bistro_runtime_dir(&dir);
        if (r < 0)
                return r;
        *ret = path_join(dir, name);
        return *ret ? 0 : -ENOMEM;
}

int concierge_socket_path(char **ret) {
        return runtime_file("concierge.sock", ret);
}

int concierge_binary_path(char **ret) {
        return bistro_find_program("concierge", "BISTRO_CONCIERGE", ret);
}

int concierge_spawn(const char *binary) {
        _cleanup_free_ char *log = NULL;
        _cleanup_close_ int log_fd = -EBADF;
        int r;

        r = runtime_file("concierge.log", &log);
        if (r < 0)
                return r;
        if (access(binary, X_OK) < 0)
                return -errno;
        log_fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (log_fd < 0)
                return -errno;

        /* Own session, and the grandchild is reparented: concierge outlives us and gets no signal
         * from our terminal. The intermediate child's status is the grandchild's fork result. */
        r = safe_fork_full(
                "concierge-spawn",
                FORK_RESET_SIGNALS | FORK_NEW_SESSION | FORK_NULL_STDIN | FORK_CLOSE_ALL_FDS | FORK_WAIT,
                &log_fd, 1, NULL);
        if (r < 0)
                return r;
        if (r == 0) {
                pid_t pid;

                r = safe_fork(NULL, 0, &pid);
                if (r != 0)
                        _exit(r < 0 ? EXIT_FAILURE : EXIT_SUCCESS);
                if (dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
                        _exit(127);
                (void) close(log_fd);
                execl(binary, "concierge", (char *) NULL);
                _exit(127);
        }
        return 0; /* FORK_WAIT: the intermediate child exited 0 */
}

/* Serializes the start of concierge among clients of this runtime dir: without it, two clients
 * finding no socket at once would start two concierges, the second taking the socket over. */
int concierge_lock_spawn(usec_t timeout) {
        _cleanup_free_ char *path = NULL;
        _cleanup_close_ int fd = -EBADF;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        int r;

        r = runtime_file("concierge.spawn.lock", &path);
        if (r < 0)
                return r;
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return -errno;
        while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                struct timespec ts;

                if (errno != EWOULDBLOCK && errno != EINTR)
                        return -errno;
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        return -ETIMEDOUT;
                (void) nanosleep(timespec_store_usec(&ts, SPAWN_POLL_USEC), NULL);
        }
        return TAKE_FD(fd);
}

static int connect_error(int r, char **reterr_message, const char *fmt, ...) _printf_(3, 4);
static int connect_error(int r, char **reterr_message, const char *fmt, ...) {
        va_list ap;

        if (reterr_message) {
                char *m = NULL;

                va_start(ap, fmt);
                errno = -r;
                if (vasprintf(&m, fmt, ap) < 0)
                        m = NULL;
                va_end(ap);
                *reterr_message = m;
        }
        return r;
}

static int runtime_dir_error(int r, char **reterr_message) {
        if (r == -EINVAL)
                return connect_error(
                        r, reterr_message,
                        "$XDG_RUNTIME_DIR is not set (or not absolute): it holds concierge's socket.");
        if (r == -EPERM)
                return connect_error(
                        r, reterr_message,
                        "$XDG_RUNTIME_DIR/bistro is not a directory of ours with mode 0700; fix or remove it.");
        return connect_error(r, reterr_message, "Cannot use $XDG_RUNTIME_DIR/bistro: %m");
}

static int connect_or_spawn(ConciergeSpawnHandler on_spawn, void *userdata, char **reterr_message) {
        _cleanup_free_ char *path = NULL, *bin = NULL;
        _cleanup_close_ int lock = -EBADF;
        usec_t deadline;
        int fd, r;

        r = concierge_socket_path(&path);
        if (r < 0)
                return runtime_dir_error(r, reterr_message);
        fd = unix_connect(path);
        if (fd >= 0)
                return fd;
        if (fd != -ENOENT && fd != -ECONNREFUSED)
                return connect_error(fd, reterr_message, "Cannot connect to concierge at %s: %m", path);

        lock = concierge_lock_spawn(2 * CONCIERGE_SPAWN_TIMEOUT_USEC);
        if (lock == -ETIMEDOUT)
                return connect_error(
                        lock, reterr_message,
                        "Another client has been starting concierge for %llu s; see $XDG_RUNTIME_DIR/bistro/concierge.log.",
                        (unsigned long long) (2 * CONCIERGE_SPAWN_TIMEOUT_USEC / USEC_PER_SEC));
        if (lock < 0)
                return runtime_dir_error(lock, reterr_message);
        /* Whoever held the lock may have started it meanwhile. */
        fd = unix_connect(path);
        if (fd >= 0)
                return fd;
        if (fd != -ENOENT && fd != -ECONNREFUSED)
                return connect_error(fd, reterr_message, "Cannot connect to concierge at %s: %m", path);
        log_debug("nothing listens on %s, starting concierge", path);

        r = concierge_binary_path(&bin);
        if (r < 0)
                return connect_error(
                        r, reterr_message,
                        "Cannot find concierge (set $BISTRO_CONCIERGE or install it): %m");
        if (on_spawn)
                on_spawn(userdata);
        r = concierge_spawn(bin);
        if (r < 0)
                return connect_error(r, reterr_message, "Cannot start %s: %m", bin);
        deadline = now_usec(CLOCK_MONOTONIC) + CONCIERGE_SPAWN_TIMEOUT_USEC;
        for (;;) {
                struct timespec ts;

                fd = unix_connect(path);
                if (fd >= 0)
                        return fd; /* the lock is released only now: concierge listens */
                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        return connect_error(
                                -ETIMEDOUT, reterr_message,
                                "concierge did not come up within %llu s (see $XDG_RUNTIME_DIR/bistro/concierge.log).",
                                (unsigned long long) (CONCIERGE_SPAWN_TIMEOUT_USEC / USEC_PER_SEC));
                (void) nanosleep(timespec_store_usec(&ts, SPAWN_POLL_USEC), NULL);
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
        char **reterr_message) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        CallContext ctx = { on_progress, userdata };
        uint32_t rtype = 0;
        int r;

        r = wire_call_sync_full(
                fd, type, req, message_response_type(type), -1, MAX(timeout_ms, 0), on_event, &ctx, &rtype,
                &resp);
        if (r < 0) {
                if (rtype == BISTRO__MESSAGE_TYPE__ERROR_REPLY && reterr_message)
                        (void) wire_error_reply_to_errno((const Bistro__ErrorReply *) resp, reterr_message);
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

/* Whether the concierge on fd runs the binary we would start, told without a call: the build id of
 * the listening process's executable (/proc/PID/exe). False whenever it cannot be told that way (a
 * socket-activated concierge: the listener is the service manager; a binary replaced on disk). */
static bool peer_is_build(int fd, const char *ours) {
        _cleanup_free_ char *theirs = NULL;
        char exe[64];
        pid_t pid;

        if (unix_peer_pid(fd, &pid) < 0)
                return false;
        (void) snprintf(exe, sizeof(exe), "/proc/%d/exe", (int) pid);
        return build_id_of_file(exe, &theirs) >= 0 && streq(theirs, ours);
}

/* Which build the concierge on fd is. 1: ours (or we cannot tell which build we are: nothing to
 * compare); 0: another build, described in *ret (NULL when it is too old to say). */
static int same_build(int fd, ProtobufCMessage **ret) {
        Bistro__Concierge__GetVersionRequest req = BISTRO__CONCIERGE__GET_VERSION_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_free_ char *ours = NULL;
        int r;

        *ret = NULL;
        if (build_id_concierge(&ours, NULL) < 0)
                return 1;
        /* The usual case costs no round trip: a warm bistro is one concierge call. */
        if (peer_is_build(fd, ours))
                return 1;
        r = concierge_call(
                fd, BISTRO__MESSAGE_TYPE__GET_VERSION_REQUEST, &req.base, 10000, NULL, NULL, &resp, NULL);
        if (r < 0)
                return r == -EOPNOTSUPP || r == -EBADMSG ? 0 : r; /* a concierge from before GetVersion */
        if (streq(((Bistro__Concierge__GetVersionResponse *) resp)->build_id, ours))
                return 1;
        *ret = TAKE_PTR(resp);
        return 0;
}

/* Asks an idle concierge of another build to exit and waits (bounded) until it has. */
static int replace_idle(int fd, const Bistro__Concierge__GetVersionResponse *v) {
        Bistro__Concierge__ExitRequest req = BISTRO__CONCIERGE__EXIT_REQUEST__INIT;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + 15 * USEC_PER_SEC;
        int r;

        req.if_idle = true;
        r = concierge_call(fd, BISTRO__MESSAGE_TYPE__EXIT_REQUEST, &req.base, 10000, NULL, NULL, NULL, NULL);
        if (r < 0)
                return r; /* -EBUSY: a VM started meanwhile */
        /* Its data directory lock goes with the process: wait for the process itself (an exited one
         * that its parent has not reaped yet has closed its fds: it counts as gone). */
        while (v->pid > 0 && pid_is_alive(v->pid)) {
                struct timespec ts;

                if (now_usec(CLOCK_MONOTONIC) >= deadline)
                        return -ETIMEDOUT;
                (void) nanosleep(timespec_store_usec(&ts, SPAWN_POLL_USEC), NULL);
        }
        return 0;
}

int concierge_connect(
        ConciergeSpawnHandler on_spawn, void *userdata, char **ret_notice, char **reterr_message) {
        _cleanup_message_ ProtobufCMessage *m = NULL;
        const Bistro__Concierge__GetVersionResponse *v;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (ret_notice)
                *ret_notice = NULL;
        fd = connect_or_spawn(on_spawn, userdata, reterr_message);
        if (fd < 0)
                return fd;
        r = same_build(fd, &m);
        v = (const Bistro__Concierge__GetVersionResponse *) m;
        if (r != 0)
                return TAKE_FD(fd); /* ours, or it could not say: the call itself will tell */
        /* A concierge from another build (another checkout, an install, a rebuild) runs the other
         * build's vmm and Termina image. Replace it when no VM runs; never stop someone's VM. */
        if (v && v->vms_running == 0 && replace_idle(fd, v) >= 0) {
                if (ret_notice &&
                    asprintf(
                            ret_notice, "Replaced an idle concierge from another build (%s, pid %d).",
                            v->executable[0] ? v->executable : "?", (int) v->pid) < 0)
                        *ret_notice = NULL;
                fd = safe_close(fd);
                return connect_or_spawn(on_spawn, userdata, reterr_message);
        }
        if (ret_notice &&
            asprintf(
                    ret_notice,
                    "The running concierge is from another build (%s, pid %d) and has %u VM(s) running; "
                    "it uses that build's vmm and Termina image. To use this build, stop those VMs with "
                    "that build's 'vmc stop VM' (or stop that concierge), then run this command again.",
                    v && v->executable[0] ? v->executable : "unknown", v ? (int) v->pid : 0,
                    v ? v->vms_running : 0) < 0)
                *ret_notice = NULL;
        return TAKE_FD(fd);
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Maitred service (proto/maitred.proto). Requests arrive validated by the wire layer; every
 * handler answers exactly once (a response or an ErrorReply) and never takes PID 1 down. */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "maitred-init.h"
#include "maitred-network.h"
#include "maitred-process.h"
#include "maitred-service.h"
#include "maitred-util.h"
#include "maitred.h"
#include "socket-util.h"
#include "string-util.h"

#define TIME_MIN INT64_C(1577836800) /* 2020-01-01, as the validator */
#define ZONEINFO_DIR "/usr/share/zoneinfo"
#define LOCALTIME_LINK MAITRED_RUN_DIR "/localtime"

static char *const default_env[] = {
        (char *) "PATH=" MAITRED_DEFAULT_PATH,
        (char *) "HOME=/root",
        (char *) "TERM=linux",
        NULL,
};

static int reply_empty(WireConn *c, uint64_t id) {
        Bistro__Empty e = BISTRO__EMPTY__INIT;

        return wire_reply(c, id, BISTRO__MESSAGE_TYPE__EMPTY, &e.base);
}

static int handle_set_time(WireConn *c, uint64_t id, const Bistro__Maitred__SetTimeRequest *req) {
        struct timespec ts = { .tv_sec = (time_t) req->seconds, .tv_nsec = req->nanos };

        /* A host without a clock sends 0: keeping our own time is better. */
        if (req->seconds < TIME_MIN)
                return wire_reply_error(
                        c, id, -EINVAL, "time %lld is before 2020, refused", (long long) req->seconds);
        if (clock_settime(CLOCK_REALTIME, &ts) < 0) {
                int r = -errno;

                log_error_errno(r, "Failed to set the clock: %m");
                return wire_reply_error(c, id, r, "clock_settime: %s", strerror(-r));
        }
        log_info("Clock set to %lld.", (long long) req->seconds);
        return reply_empty(c, id);
}

static int set_timezone(const char *name) {
        _cleanup_free_ char *target = NULL;
        const char *tmp = MAITRED_RUN_DIR "/.localtime.new";
        int r;

        r = timezone_path(ZONEINFO_DIR, name, &target);
        if (r < 0)
                return r;
        if (access(target, R_OK) < 0)
                return -errno;
        r = mkdir_p(MAITRED_RUN_DIR, 0755);
        if (r < 0)
                return r;
        (void) unlink(tmp);
        if (symlink(target, tmp) < 0)
                return -errno;
        if (rename(tmp, LOCALTIME_LINK) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

static int handle_set_timezone(WireConn *c, uint64_t id, const Bistro__Maitred__SetTimezoneRequest *req) {
        int r = set_timezone(req->name);

        if (r < 0) {
                log_warning_errno(r, "Failed to set the timezone to '%s': %m", req->name);
                return wire_reply_error(c, id, r, "timezone '%s': %s", req->name, strerror(-r));
        }
        log_info("Timezone set to '%s'.", req->name);
        return reply_empty(c, id);
}

typedef struct MountJob {
        WireConn *conn;
        uint64_t id;
        char *source, *target, *fstype, *data;
        uint64_t flags;
} MountJob;

static MountJob *mount_job_free(MountJob *j) {
        if (!j)
                return NULL;
        wire_conn_unref(j->conn);
        free(j->source);
        free(j->target);
        free(j->fstype);
        free(j->data);
        free(j);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(MountJob *, mount_job_free);

static int mount_job_finish(MountJob *j) {
        _cleanup_free_ char *fl = NULL;
        int r;

        (void) mount_flags_to_string(j->flags, &fl);
        r = RET_NERRNO(
                mount(j->source, j->target, j->fstype[0] ? j->fstype : NULL, (unsigned long) j->flags,
                      j->data[0] ? j->data : NULL));
        if (r < 0) {
                log_warning_errno(
                        r, "Failed to mount '%s' on '%s' (%s, %s): %m", j->source, j->target,
                        j->fstype[0] ? j->fstype : "bind", fl ?: "?");
                return wire_reply_error(
                        j->conn, j->id, r, "mount '%s' on '%s': %s", j->source, j->target, strerror(-r));
        }
        log_info(
                "Mounted '%s' on '%s' (%s, %s).", j->source, j->target, j->fstype[0] ? j->fstype : "bind",
                fl ?: "?");
        return reply_empty(j->conn, j->id);
}

static void mkfs_exited(Manager *m, pid_t pid, const siginfo_t *si, void *userdata) {
        _cleanup_(mount_job_freep) MountJob *j = userdata;

        if (wire_conn_is_closed(j->conn))
                return;
        if (si->si_code != CLD_EXITED || si->si_status != 0) {
                log_warning(
                        "mkfs.%s '%s' failed (%s %d).", j->fstype, j->source,
                        si->si_code == CLD_EXITED ? "status" : "signal", si->si_status);
                (void) wire_reply_error(j->conn, j->id, -EIO, "mkfs.%s '%s' failed", j->fstype, j->source);
                return;
        }
        log_info("Formatted '%s' as %s.", j->source, j->fstype);
        (void) mount_job_finish(j);
}

/* Reads the start of source and looks for a filesystem signature: 1 found, 0 none. */
static int source_has_filesystem(const char *source) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        ssize_t n;

        fd = open(source, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        buf = malloc(FS_PROBE_SIZE);
        if (!buf)
                return -ENOMEM;
        n = loop_read(fd, buf, FS_PROBE_SIZE);
        if (n < 0)
                return (int) n;
        return fs_probe(buf, (size_t) n) ? 1 : 0;
}

static int handle_mount(Manager *m, WireConn *c, uint64_t id, const Bistro__Maitred__MountRequest *req) {
        _cleanup_(mount_job_freep) MountJob *j = NULL;
        _cleanup_strv_free_ char **argv = NULL;
        pid_t pid;
        int r;

        if ((req->flags & ~mount_flags_allowed()) != 0)
                return wire_reply_error(c, id, -EINVAL, "mount flags not allowed");
        j = calloc(1, sizeof(*j));
        if (!j)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        j->conn = wire_conn_ref(c);
        j->id = id;
        j->flags = req->flags;
        /* The host's files: never a setuid program or a device node of the VM's. */
        if (streq(req->fstype, "virtiofs"))
                j->flags |= MS_NOSUID | MS_NODEV;
        j->source = strdup(req->source);
        j->target = strdup(req->target);
        j->fstype = strdup(req->fstype);
        j->data = strdup(req->data);
        if (!j->source || !j->target || !j->fstype || !j->data)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");

        /* A failure here is logged; mount(2) then says what is really missing. */
        (void) modules_load_filesystem(m->kernel_release, j->fstype);

        /* Writable places are tmpfs (the root is read-only): this fails with EROFS elsewhere. */
        r = mkdir_p(j->target, 0755);
        if (r < 0)
                return wire_reply_error(c, id, r, "mkdir '%s': %s", j->target, strerror(-r));

        if (!req->mkfs_if_needed)
                return mount_job_finish(j);

        r = source_has_filesystem(j->source);
        if (r < 0)
                return wire_reply_error(c, id, r, "cannot read '%s': %s", j->source, strerror(-r));
        if (r > 0)
                return mount_job_finish(j);

        r = mkfs_argv(j->fstype, j->source, &argv);
        if (r < 0)
                return wire_reply_error(c, id, r, "no mkfs for '%s'", j->fstype);
        r = process_spawn(argv, default_env, &pid);
        if (r < 0)
                return wire_reply_error(c, id, r, "%s: %s", argv[0], strerror(-r));
        log_info("No filesystem on '%s', running %s (pid %d).", j->source, argv[0], (int) pid);
        r = manager_watch_pid(m, pid, mkfs_exited, j);
        if (r < 0)
                return wire_reply_error(c, id, r, "out of memory");
        TAKE_PTR(j);
        return 0;
}

typedef struct LaunchJob {
        WireConn *conn;
        uint64_t id;
} LaunchJob;

static void launch_exited(Manager *m, pid_t pid, const siginfo_t *si, void *userdata) {
        LaunchJob *j = userdata;
        Bistro__Maitred__LaunchProcessResponse resp = BISTRO__MAITRED__LAUNCH_PROCESS_RESPONSE__INIT;
        bool exited = si->si_code == CLD_EXITED;

        log_info(
                "Process %d %s %d.", (int) pid, exited ? "exited with status" : "killed by signal",
                si->si_status);
        if (j && !wire_conn_is_closed(j->conn)) {
                resp.pid = pid;
                resp.status = exited ? BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_EXITED
                                     : BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_SIGNALED;
                resp.code = si->si_status;
                (void) wire_reply(j->conn, j->id, BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_RESPONSE, &resp.base);
        }
        if (j) {
                wire_conn_unref(j->conn);
                free(j);
        }
}

static int handle_launch(
        Manager *m, WireConn *c, uint64_t id, const Bistro__Maitred__LaunchProcessRequest *req) {
        Bistro__Maitred__LaunchProcessResponse resp = BISTRO__MAITRED__LAUNCH_PROCESS_RESPONSE__INIT;
        _cleanup_strv_free_ char **envp = NULL, **argv = NULL;
        LaunchJob *j = NULL;
        pid_t pid;
        int r;

        r = env_merge(req->env, req->n_env, default_env, &envp);
        if (r < 0)
                return wire_reply_error(c, id, r, "out of memory");
        argv = strv_copy_n(req->argv, req->n_argv);
        if (!argv)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");

        if (req->respawn) {
                const char *b = strrchr(argv[0], '/');
                Service *s;

                r = service_start_new(m, b && b[1] ? b + 1 : argv[0], argv, envp, true, &s);
                if (r < 0)
                        return wire_reply_error(c, id, r, "%s: %s", argv[0], strerror(-r));
                pid = s->pid;
        } else {
                r = process_spawn(argv, envp, &pid);
                if (r < 0) {
                        log_warning_errno(r, "Failed to launch '%s': %m", argv[0]);
                        return wire_reply_error(c, id, r, "%s: %s", argv[0], strerror(-r));
                }
                if (req->wait_for_exit) {
                        j = malloc(sizeof(*j));
                        if (j)
                                *j = (LaunchJob){ .conn = wire_conn_ref(c), .id = id };
                }
                r = manager_watch_pid(m, pid, launch_exited, j);
                if (r < 0 || (req->wait_for_exit && !j)) {
                        /* It runs unwatched (reaped as an orphan); the caller learns it. */
                        if (j) {
                                wire_conn_unref(j->conn);
                                free(j);
                        }
                        return wire_reply_error(
                                c, id, -ENOMEM, "launched as pid %d, cannot wait: out of memory", (int) pid);
                }
                log_info("Launched '%s' (pid %d).", argv[0], (int) pid);
                if (req->wait_for_exit)
                        return 0;
        }
        resp.status = BISTRO__MAITRED__PROCESS_STATUS__PROCESS_STATUS_LAUNCHED;
        resp.pid = pid;
        return wire_reply(c, id, BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_RESPONSE, &resp.base);
}

static int handle_configure_network(
        WireConn *c, uint64_t id, const Bistro__Maitred__ConfigureNetworkRequest *req) {
        const char *step = NULL;
        int r;

        r = network_configure(req, &step);
        if (r < 0) {
                log_warning_errno(r, "ConfigureNetwork failed at %s: %m", step ?: "?");
                return wire_reply_error(c, id, r, "%s: %s", step ?: "?", strerror(-r));
        }
        log_info(
                "Network configured (IPv4/%u%s).", req->ipv4_prefix_len,
                req->ipv6_address.len ? ", IPv6" : "");
        return reply_empty(c, id);
}

static int handle_get_kernel_version(WireConn *c, uint64_t id) {
        Bistro__Maitred__GetKernelVersionResponse resp = BISTRO__MAITRED__GET_KERNEL_VERSION_RESPONSE__INIT;
        struct utsname u;

        if (uname(&u) < 0)
                return wire_reply_error(c, id, -errno, "uname failed");
        /* utsname fields are at most 64 bytes plus NUL, within the response's limits. */
        resp.kernel_release = u.release;
        resp.kernel_version = u.version;
        return wire_reply(c, id, BISTRO__MESSAGE_TYPE__GET_KERNEL_VERSION_RESPONSE, &resp.base);
}

static int rpc_on_message(
        WireConn *c,
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        void *userdata) {
        Manager *m = userdata;

        if (flags != FRAME_REQUEST)
                return 0;
        log_debug("RPC %s.", message_type_to_string(type) ?: "?");
        if (m->shutting_down && type != BISTRO__MESSAGE_TYPE__SHUTDOWN_REQUEST)
                return wire_reply_error(c, id, -ESHUTDOWN, "shutting down");

        switch (type) {
        case BISTRO__MESSAGE_TYPE__CONFIGURE_NETWORK_REQUEST:
                return handle_configure_network(
                        c, id, (const Bistro__Maitred__ConfigureNetworkRequest *) msg);
        case BISTRO__MESSAGE_TYPE__SET_TIME_REQUEST:
                return handle_set_time(c, id, (const Bistro__Maitred__SetTimeRequest *) msg);
        case BISTRO__MESSAGE_TYPE__SET_TIMEZONE_REQUEST:
                return handle_set_timezone(c, id, (const Bistro__Maitred__SetTimezoneRequest *) msg);
        case BISTRO__MESSAGE_TYPE__MOUNT_REQUEST:
                return handle_mount(m, c, id, (const Bistro__Maitred__MountRequest *) msg);
        case BISTRO__MESSAGE_TYPE__LAUNCH_PROCESS_REQUEST:
                return handle_launch(m, c, id, (const Bistro__Maitred__LaunchProcessRequest *) msg);
        case BISTRO__MESSAGE_TYPE__GET_KERNEL_VERSION_REQUEST:
                return handle_get_kernel_version(c, id);
        case BISTRO__MESSAGE_TYPE__SHUTDOWN_REQUEST: {
                int r = reply_empty(c, id);

                log_notice("Shutdown requested by the host.");
                manager_shutdown_start(m, c);
                return r;
        }
        default:
                return wire_reply_error(
                        c, id, -EOPNOTSUPP, "%s is not supported by maitred",
                        message_type_to_string(type) ?: "?");
        }
}

static void rpc_on_close(WireConn *c, int reason, void *userdata) {
        if (reason < 0 && reason != -ECANCELED)
                log_info_errno(reason, "RPC connection closed: %m");
}

/* Only the host (CID 2) may call maitred: a container reaching it through vsock_loopback (CID 1 or
 * the VM's own CID) is refused (docs/design/containers.md). */
static int rpc_on_accept(WireServer *s, WireConn *c, void *userdata) {
        struct sockaddr_vm sa = {};
        socklen_t len = sizeof(sa);

        if (getpeername(wire_conn_get_fd(c), (struct sockaddr *) &sa, &len) < 0 ||
            sa.svm_family != AF_VSOCK || sa.svm_cid != VMADDR_CID_HOST) {
                log_warning("Refused an RPC connection from CID %u: only the host may connect.", sa.svm_cid);
                return -EPERM;
        }
        return 0;
}

int manager_start_rpc(Manager *m) {
        int fd, r;

        fd = vsock_listen(MAITRED_PORT, 16);
        if (fd < 0)
                return log_error_errno(fd, "Failed to listen on vsock port %u: %m", MAITRED_PORT);
        r = wire_server_new(m->event, fd, MAITRED_RPC_CONNS_MAX, &m->rpc);
        if (r < 0) {
                safe_close(fd);
                return log_error_errno(r, "Failed to start the RPC server: %m");
        }
        wire_server_set_handlers(m->rpc, rpc_on_accept, rpc_on_message, rpc_on_close, m);
        log_info("Listening on vsock port %u.", MAITRED_PORT);
        return 0;
}

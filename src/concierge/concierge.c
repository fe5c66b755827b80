/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* concierge: per-user VM manager. API on $XDG_RUNTIME_DIR/bistro/concierge.sock (or a socket-activated
 * fd), state in $XDG_DATA_HOME/bistro/. See docs/design/concierge.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "alloc-util.h"
#include "app-entries.h"
#include "concierge-container.h"
#include "concierge-manager.h"
#include "concierge-timezone.h"
#include "concierge-ops.h"
#include "concierge-ports.h"
#include "concierge-shares.h"
#include "concierge-util.h"
#include "concierge-vm.h"
#include "config.h"
#include "dirent-util.h"
#include "fd-util.h"
#include "log.h"
#include "main-func.h"
#include "path-util.h"
#include "proto-validate.h"
#include "socket-util.h"
#include "string-util.h"
#include "token-store.h"
#include "time-util.h"

#define CLOCK_CHECK_USEC (5 * USEC_PER_SEC)
#define CLOCK_JUMP_USEC (2 * USEC_PER_SEC)
#define CLIENTS_MAX 64u

static const char *arg_image_dir = NULL;
static const char *arg_trust_dir = NULL;

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        manager_begin_exit(userdata);
        return 0;
}

static int on_clock_check(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        ClockSample now;

        clock_sample(&now);
        if (clock_jumped(&m->clock, &now, CLOCK_JUMP_USEC)) {
                log_info("The host clock jumped (suspend or clock change): syncing VM clocks.");
                (void) op_sync_time(m, NULL, 0);
        }
        m->clock = now;
        (void) sd_event_source_set_time_relative(s, CLOCK_CHECK_USEC);
        return 0;
}

static int collect_names(Manager *m, char ***ret, size_t *ret_n) {
        _cleanup_free_ char **names = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        size_t n = 0;

        names = new0(char *, PROTO_LIST_MAX + VMS_MAX);
        if (!names)
                return -ENOMEM;
        d = opendir(m->vms_dir);
        if (d) {
                FOREACH_DIRENT(de, d) {
                        if (n >= PROTO_LIST_MAX)
                                break;
                        if (proto_name_ok(de->d_name) && de->d_name[0] != '.')
                                names[n++] = strdup(de->d_name);
                }
        }
        for (size_t i = 0; i < m->n_vms; i++) {
                bool found = false;

                for (size_t k = 0; k < n; k++)
                        if (names[k] && streq(names[k], m->vms[i]->name))
                                found = true;
                if (!found && vm_is_up(m->vms[i]) && n < PROTO_LIST_MAX)
                        names[n++] = strdup(m->vms[i]->name);
        }
        *ret = TAKE_PTR(names);
        *ret_n = n;
        return 0;
}

static int strcmp_ptr(const void *a, const void *b) {
        const char *x = *(char *const *) a, *y = *(char *const *) b;

        return strcmp(x ?: "", y ?: "");
}

static int handle_list(Manager *m, WireConn *c, uint64_t id) {
        Bistro__Concierge__ListVmsResponse resp = BISTRO__CONCIERGE__LIST_VMS_RESPONSE__INIT;
        _cleanup_free_ Bistro__Concierge__VmInfo *infos = NULL;
        _cleanup_free_ Bistro__Concierge__VmInfo **ptrs = NULL;
        char **names = NULL;
        size_t n = 0, k = 0;
        int r;

        r = collect_names(m, &names, &n);
        if (r < 0)
                return wire_reply_error(c, id, r, "out of memory");
        qsort(names, n, sizeof(char *), strcmp_ptr);
        infos = calloc(n + 1, sizeof(*infos));
        ptrs = calloc(n + 1, sizeof(*ptrs));
        for (size_t i = 0; infos && ptrs && i < n; i++) {
                Vm *vm;

                if (!names[i] || vm_get(m, names[i], false, &vm) < 0)
                        continue;
                bistro__concierge__vm_info__init(&infos[k]);
                vm_fill_info(vm, &infos[k]);
                ptrs[k] = &infos[k];
                k++;
        }
        resp.vms = ptrs;
        resp.n_vms = k;
        r = wire_reply(c, id, BISTRO__MESSAGE_TYPE__LIST_VMS_RESPONSE, &resp.base);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

/* Reads the last bytes of path into the end of buf[0..*room): *room shrinks by what was read.
 * Returns true when the file had more than fit. */
static bool read_tail(int fd, uint8_t *buf, size_t *room) {
        struct stat st;
        off_t off = 0;
        ssize_t n;

        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return false;
        if (st.st_size > (off_t) *room)
                off = st.st_size - (off_t) *room;
        n = pread(fd, buf + *room - (size_t) (st.st_size - off), (size_t) (st.st_size - off), off);
        if (n != st.st_size - off) /* shrunk meanwhile: vmm started anew; show what we have */
                return false;
        *room -= (size_t) n;
        return off > 0;
}

/* The tail of console.log, preceded by the tail of console.log.1 when the first is shorter than
 * asked (vmm rotates it, docs/design/vmm.md). */
static int handle_logs(Vm *vm, WireConn *c, uint64_t id, uint32_t max_bytes) {
        Bistro__Concierge__GetVmLogsResponse resp = BISTRO__CONCIERGE__GET_VM_LOGS_RESPONSE__INIT;
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ char *rotated = NULL;
        _cleanup_close_ int fd = -EBADF, fd1 = -EBADF;
        size_t room;

        if (max_bytes == 0)
                max_bytes = 64 * 1024;
        if (asprintf(&rotated, "%s.1", vm->console_path) < 0)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        /* The older file first: a rotation between the two opens then leaves a gap, it never shows
         * the same bytes twice. */
        fd1 = open(rotated, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        fd = open(vm->console_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return wire_reply_error(c, id, -ENOENT, "VM '%s' has no console log yet", vm->name);
        buf = malloc(max_bytes);
        if (!buf)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        room = max_bytes;
        resp.truncated = read_tail(fd, buf, &room);
        if (room > 0 && !resp.truncated && fd1 >= 0)
                resp.truncated = read_tail(fd1, buf, &room);
        else if (fd1 >= 0)
                resp.truncated = true;
        resp.log.data = buf + room;
        resp.log.len = max_bytes - room;
        return wire_reply(c, id, BISTRO__MESSAGE_TYPE__GET_VM_LOGS_RESPONSE, &resp.base);
}

static int handle_get_version(Manager *m, WireConn *c, uint64_t id) {
        Bistro__Concierge__GetVersionResponse resp = BISTRO__CONCIERGE__GET_VERSION_RESPONSE__INIT;
        _cleanup_free_ char *exe = NULL;

        resp.build_id = m->build_id;
        resp.version = (char *) BISTRO_VERSION;
        resp.executable =
                self_exe_path(&exe) >= 0 && exe[0] == '/' && !strstr(exe, " (deleted)") ? exe : (char *) "";
        resp.vms_running = manager_vms_running(m);
        resp.pid = (int32_t) getpid();
        return wire_reply(c, id, BISTRO__MESSAGE_TYPE__GET_VERSION_RESPONSE, &resp.base);
}

static int handle_exit(Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__ExitRequest *req) {
        Bistro__Empty empty = BISTRO__EMPTY__INIT;
        unsigned n = manager_vms_running(m);
        int r;

        if (req->if_idle && (n > 0 || m->n_requests > 0))
                return wire_reply_error(
                        c, id, -EBUSY, "concierge is not idle (%u VM%s running, %u request%s in progress)",
                        n, n == 1 ? "" : "s", m->n_requests, m->n_requests == 1 ? "" : "s");
        log_info("Asked to exit by a client%s.", req->if_idle ? " (idle)" : "");
        r = wire_reply(c, id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
        if (!m->exit_conn)
                m->exit_conn = wire_conn_ref(c);
        manager_begin_exit(m);
        return r;
}

static int reply_unknown(WireConn *c, uint64_t id, const char *name) {
        return wire_reply_error(c, id, -ENOENT, "no VM named '%s'", name);
}

static int on_message(
        WireConn *c,
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        void *userdata) {
        Manager *m = userdata;
        Vm *vm = NULL;
        int r;

        if (flags != FRAME_REQUEST)
                return -EBADMSG;
        if (m->exiting && type != BISTRO__MESSAGE_TYPE__LIST_VMS_REQUEST &&
            type != BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST &&
            type != BISTRO__MESSAGE_TYPE__GET_VERSION_REQUEST)
                return wire_reply_error(c, id, -ESHUTDOWN, "concierge is shutting down");

        switch (type) {
        case BISTRO__MESSAGE_TYPE__START_VM_REQUEST: {
                const Bistro__Concierge__StartVmRequest *req = (const void *) msg;

                r = vm_get(m, req->name, true, &vm);
                if (r < 0)
                        return wire_reply_error(
                                c, id, r, "cannot start VM '%s': %s", req->name, strerror(-r));
                r = vm_start(vm, c, id, req);
                /* A refused first start leaves nothing behind, not even the object. */
                if (!vm->exists && !vm_is_up(vm) && !vm->job && !vm->busy)
                        vm_forget(m, vm);
                return r;
        }
        case BISTRO__MESSAGE_TYPE__STOP_VM_REQUEST: {
                const Bistro__Concierge__StopVmRequest *req = (const void *) msg;

                if (vm_get(m, req->name, false, &vm) < 0 || (!vm->exists && !vm_is_up(vm)))
                        return reply_unknown(c, id, req->name);
                return vm_stop(vm, c, id, req->force);
        }
        case BISTRO__MESSAGE_TYPE__LIST_VMS_REQUEST:
                return handle_list(m, c, id);
        case BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST: {
                const Bistro__Concierge__GetVmInfoRequest *req = (const void *) msg;
                Bistro__Concierge__VmInfoResponse resp = BISTRO__CONCIERGE__VM_INFO_RESPONSE__INIT;
                Bistro__Concierge__VmInfo info = BISTRO__CONCIERGE__VM_INFO__INIT;

                if (vm_get(m, req->name, false, &vm) < 0 || (!vm->exists && !vm_is_up(vm)))
                        return reply_unknown(c, id, req->name);
                vm_fill_info(vm, &info);
                resp.vm = &info;
                return wire_reply(c, id, BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, &resp.base);
        }
        case BISTRO__MESSAGE_TYPE__DESTROY_VM_REQUEST: {
                const Bistro__Concierge__DestroyVmRequest *req = (const void *) msg;
                Bistro__Empty empty = BISTRO__EMPTY__INIT;
                _cleanup_free_ char *err = NULL;

                if (vm_get(m, req->name, false, &vm) < 0 || (!vm->exists && !vm_is_up(vm)))
                        return reply_unknown(c, id, req->name);
                r = vm_destroy(vm, &err);
                if (r < 0)
                        return wire_reply_error(c, id, r, "%s", err ?: strerror(-r));
                (void) token_store_remove(m->tokens_dir, req->name, NULL);
                r = app_entries_remove(req->name, NULL);
                if (r < 0)
                        log_warning_errno(
                                r, "VM '%s': cannot remove its containers' launcher entries: %m", req->name);
                log_info("VM '%s' destroyed.", req->name);
                return wire_reply(c, id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
        }
        case BISTRO__MESSAGE_TYPE__GET_VM_LOGS_REQUEST: {
                const Bistro__Concierge__GetVmLogsRequest *req = (const void *) msg;

                if (vm_get(m, req->name, false, &vm) < 0 || (!vm->exists && !vm_is_up(vm)))
                        return reply_unknown(c, id, req->name);
                return handle_logs(vm, c, id, req->max_bytes);
        }
        case BISTRO__MESSAGE_TYPE__EXPORT_VM_REQUEST:
                return op_export(m, c, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__IMPORT_VM_REQUEST:
                return op_import(m, c, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__RESIZE_VM_REQUEST:
                return op_resize(m, c, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__SYNC_TIME_REQUEST:
                return op_sync_time(m, c, id);
        case BISTRO__MESSAGE_TYPE__CREATE_CONTAINER_REQUEST:
        case BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST:
        case BISTRO__MESSAGE_TYPE__STOP_CONTAINER_REQUEST:
        case BISTRO__MESSAGE_TYPE__DELETE_CONTAINER_REQUEST:
        case BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_REQUEST:
                return container_request(m, c, type, id, msg);
        case BISTRO__MESSAGE_TYPE__LIST_PORTS_REQUEST:
        case BISTRO__MESSAGE_TYPE__PORT_FORWARD_REQUEST:
                return ports_request(m, c, type, id, msg);
        case BISTRO__MESSAGE_TYPE__SHARE_PATH_REQUEST:
        case BISTRO__MESSAGE_TYPE__UNSHARE_PATH_REQUEST:
        case BISTRO__MESSAGE_TYPE__LIST_SHARES_REQUEST:
                return shares_request(m, c, type, id, msg);
        case BISTRO__MESSAGE_TYPE__GET_VERSION_REQUEST:
                return handle_get_version(m, c, id);
        case BISTRO__MESSAGE_TYPE__EXIT_REQUEST:
                return handle_exit(m, c, id, (const void *) msg);
        default:
                return wire_reply_error(
                        c, id, -EOPNOTSUPP, "concierge does not handle %s",
                        message_type_to_string(type) ?: "this request");
        }
}

static int on_accept(WireServer *s, WireConn *c, void *userdata) {
        uid_t uid;

        /* The socket is 0600 in a 0700 dir; check anyway (socket activation may differ). */
        if (unix_peer_uid(wire_conn_get_fd(c), &uid) < 0 || uid != getuid())
                return -EPERM;
        return 0;
}

static int help(void) {
        printf("Usage: concierge [--image-dir DIR] [--trust-dir DIR]\n"
               "Per-user Bistro VM manager; listens on $XDG_RUNTIME_DIR/bistro/concierge.sock.\n\n"
               "  --image-dir DIR  Termina image (env BISTRO_TERMINA_IMAGE; default\n"
               "                   $XDG_DATA_HOME/bistro/images/termina, else the build tree's)\n"
               "  --trust-dir DIR  trusted image keys (env BISTRO_TRUSTED_KEYS_DIR; default\n"
               "                   ~/.config/bistro/trusted-image-keys)\n"
               "env: BISTRO_VMM, BISTRO_READY_TIMEOUT (s), BISTRO_LOG_LEVEL, BISTRO_IMAGE_STORE (container\n"
               "     images; default $XDG_DATA_HOME/bistro/images/containers)\n");
        return 0;
}

static int run(int argc, char *argv[]) {
        static const struct option options[] = {
                { "image-dir", required_argument, NULL, 'i' },
                { "trust-dir", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                {},
        };
        Manager m = { .lock_fd = -EBADF };
        _cleanup_free_ char *sock = NULL, *holder = NULL;
        bool activated;
        sigset_t mask;
        int c, fd, r;

        /* Usage errors read like a CLI's ("concierge: ..."); the daemon's own log shows its pid. */
        log_set_show_pid(false);
        opterr = 0; /* we say it ourselves, in our format */
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'i':
                        arg_image_dir = optarg;
                        break;
                case 't':
                        arg_trust_dir = optarg;
                        break;
                case 'h':
                        return help();
                case '?':
                        return log_usage_error("Unknown option '%s'.", argv[optind - 1]);
                default:
                        return log_usage_error("Unknown option code '%c'.", c);
                }
        if (optind < argc)
                return log_usage_error("Unexpected argument '%s'.", argv[optind]);
        log_set_show_pid(true);

        (void) umask(0077);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGHUP);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask failed: %m");
        (void) signal(SIGPIPE, SIG_IGN);

        r = manager_init(&m, arg_image_dir, arg_trust_dir);
        if (r < 0)
                goto finish;
        r = sd_event_default(&m.event);
        if (r < 0)
                goto finish;
        (void) sd_event_add_signal(m.event, NULL, SIGTERM, on_term, &m);
        (void) sd_event_add_signal(m.event, NULL, SIGINT, on_term, &m);
        (void) sd_event_add_signal(m.event, NULL, SIGHUP, on_term, &m);

        r = sd_listen_fds(true);
        if (r > 1) {
                r = log_error_errno(
                        SYNTHETIC_ERRNO(EINVAL), "Expected one socket from the service manager.");
                goto finish;
        }
        activated = r == 1;
        if (!activated) {
                sock = path_join(m.runtime_root, "concierge.sock");
                if (!sock) {
                        r = log_oom();
                        goto finish;
                }
        }
        /* Before touching the socket: a second concierge must not unlink the first one's. */
        r = manager_lock_data_dir(&m, sock ?: "", &holder);
        if (r == -EBUSY) {
                r = log_error_errno(
                        r,
                        "Another concierge manages %s already (its socket: %s); stop it first (vmc shutdown, or kill pid in %s/%s).",
                        m.state_root, holder ?: "unknown", m.state_root, CONCIERGE_LOCK_FILE);
                sock = mfree(sock); /* not ours to unlink */
                goto finish;
        }
        if (r < 0) {
                log_error_errno(r, "Cannot lock %s/%s: %m", m.state_root, CONCIERGE_LOCK_FILE);
                sock = mfree(sock);
                goto finish;
        }
        if (activated)
                fd = SD_LISTEN_FDS_START;
        else {
                fd = unix_listen(sock, 64, 0600);
                if (fd < 0) {
                        r = log_error_errno(fd, "Cannot listen on %s: %m", sock);
                        sock = mfree(sock);
                        goto finish;
                }
        }
        r = wire_server_new(m.event, fd, CLIENTS_MAX, &m.server);
        if (r < 0) {
                safe_close(fd);
                log_error_errno(r, "Cannot serve: %m");
                goto finish;
        }
        wire_server_set_handlers(m.server, on_accept, on_message, NULL, &m);
        wire_server_set_timeouts(m.server, 0, 10 * USEC_PER_SEC);

        clock_sample(&m.clock);
        (void) sd_event_add_time_relative(
                m.event, &m.clock_timer, CLOCK_MONOTONIC, CLOCK_CHECK_USEC, 0, on_clock_check, &m);
        (void) timezone_watch_start(&m);
        (void) sd_notify(false, "READY=1");
        log_info("Listening on %s.", sock ?: "the activated socket");
        r = sd_event_loop(m.event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
finish:
        if (sock)
                (void) unlink(sock);
        timezone_watch_stop();
        manager_done(&m);
        return r;
}

static int run_main(int argc, char *argv[]) {
        log_set_ident("concierge");
        log_parse_environment();
        return run(argc, argv);
}

DEFINE_MAIN_FUNCTION(run_main);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One VM's lifecycle. StartVm: a start job verifies the Termina image and creates the disk (both may
 * take long: hashing a GiB image, qemu-img), then the loop spawns vmm, waits for maitred's VmReady
 * and runs the configure job (network, time, mount). Waiters (StartContainer) are woken when the
 * VM leaves STARTING. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc-util.h"
#include "bistro-ports.h"
#include "concierge-cicerone.h"
#include "concierge-ports.h"
#include "concierge-wayland.h"
#include "concierge-util.h"
#include "concierge-timezone.h"
#include "concierge-vm.h"
#include "fd-util.h"
#include "guest.h"
#include "image-verify.h"
#include "log.h"
#include "path-util.h"
#include "proto-validate.h"
#include "rm-rf.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "time-util.h"

#define STOP_GRACEFUL_USEC (20 * USEC_PER_SEC) /* maitred Shutdown -> poweroff */
#define STOP_TERM_USEC (15 * USEC_PER_SEC)     /* vmm: powerdown 5 s, quit 5 s, SIGKILL */
#define STOP_KILL_USEC (5 * USEC_PER_SEC)
#define VMM_STOP_TIMEOUT "5"
#define VMM_LOG_SCAN_MAX (64u * 1024u)

uint64_t qcow2_virtual_size(const char *path) {
        _cleanup_close_ int fd = -EBADF;
        uint8_t h[32];
        uint64_t size;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || pread(fd, h, sizeof(h), 0) != (ssize_t) sizeof(h))
                return 0;
        if (memcmp(h, "QFI\xfb", 4) != 0)
                return 0;
        memcpy(&size, h + 24, sizeof(size));
        return be64toh(size);
}

void vm_config_parse(VmConfig *c, const char *text) {
        _cleanup_free_ char *data = NULL;
        char *line, *save = NULL;

        data = strndup(text, VM_CONFIG_MAX);
        if (!data)
                return;
        for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                uint64_t v;

                if (startswith(line, "cpus=") && safe_atou64(line + 5, &v) >= 0 && v >= 1 &&
                    v <= VM_CPUS_MAX)
                        c->cpus = (uint32_t) v;
                else if (
                        startswith(line, "memory_mib=") && safe_atou64(line + 11, &v) >= 0 &&
                        v >= VM_MEMORY_MIB_MIN && v <= VM_MEMORY_MIB_MAX)
                        c->memory_mib = v;
                else if (streq(line, "grow_pending=1"))
                        c->grow_pending = true;
                else if (streq(line, "mkfs_pending=1"))
                        c->mkfs_pending = true;
                else if (streq(line, "host_loopback=1"))
                        c->host_loopback = true;
        }
}

char *vm_config_format(const VmConfig *c) {
        char *s;

        if (asprintf(
                    &s, "cpus=%u\nmemory_mib=%llu\n%s%s%s", c->cpus, (unsigned long long) c->memory_mib,
                    c->grow_pending ? "grow_pending=1\n" : "", c->mkfs_pending ? "mkfs_pending=1\n" : "",
                    c->host_loopback ? "host_loopback=1\n" : "") < 0)
                return NULL;
        return s;
}

static void vm_load_config(Vm *vm) {
        _cleanup_free_ char *data = NULL;

        if (read_file(vm->config_path, VM_CONFIG_MAX, &data, NULL) < 0)
                return;
        vm_config_parse(&vm->config, data);
}

int vm_save_config(Vm *vm) {
        _cleanup_free_ char *text = vm_config_format(&vm->config);

        if (!text)
                return -ENOMEM;
        return write_file_atomic(vm->config_path, text, 0600);
}

int vm_get(Manager *m, const char *name, bool create, Vm **ret) {
        Vm *vm;
        struct stat st;

        if (!proto_name_ok(name))
                return -EINVAL;
        for (size_t i = 0; i < m->n_vms; i++)
                if (streq(m->vms[i]->name, name)) {
                        m->vms[i]->exists = stat(m->vms[i]->state_dir, &st) >= 0;
                        *ret = m->vms[i];
                        return 0;
                }
        if (m->n_vms >= VMS_MAX)
                return -EUSERS;
        vm = new0(Vm, 1);
        if (!vm)
                return -ENOMEM;
        vm->manager = m;
        strscpy(vm->name, name, sizeof(vm->name));
        vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPED;
        vm->ready_fd = -EBADF;
        vm->config = (VmConfig){ .cpus = DEFAULT_CPUS, .memory_mib = DEFAULT_MEMORY_MIB };
        vm->state_dir = path_join(m->vms_dir, name);
        if (!vm->state_dir) {
                free(vm);
                return -ENOMEM;
        }
        vm->exists = stat(vm->state_dir, &st) >= 0;
        if (!vm->exists && !create) {
                free(vm->state_dir);
                free(vm);
                return -ENOENT;
        }
        if (asprintf(&vm->runtime_dir, "%s/vms/%s", m->runtime_root, name) < 0)
                vm->runtime_dir = NULL;
        if (vm->runtime_dir) {
                vm->vsock_path = path_join(vm->runtime_dir, "vsock.sock");
                if (asprintf(&vm->ready_path, "%s_%u", vm->vsock_path ?: "", MAITRED_READY_PORT) < 0)
                        vm->ready_path = NULL;
                vm->qmp_path = path_join(vm->runtime_dir, "qmp.sock");
                vm->console_path = path_join(vm->runtime_dir, "console.log");
                vm->vmm_log_path = path_join(vm->runtime_dir, "vmm.log");
        }
        vm->disk_path = path_join(vm->state_dir, "disk.qcow2");
        vm->config_path = path_join(vm->state_dir, "config");
        if (!vm->runtime_dir || !vm->disk_path || !vm->config_path || !vm->vsock_path || !vm->ready_path ||
            !vm->qmp_path || !vm->console_path || !vm->vmm_log_path) {
                vm_free(vm);
                return -ENOMEM;
        }
        vm_load_config(vm);
        if (vm_load_shares(vm) < 0)
                log_warning(
                        "VM '%s': cannot read its shares; it has none until they are shared again.", name);
        m->vms[m->n_vms++] = vm;
        *ret = vm;
        return 0;
}

static void pending_reply_error(Pending *p, int error, const char *msg) {
        if (!p->conn)
                return;
        (void) wire_reply_error(p->conn, p->id, error, "%s", msg);
        p->conn = wire_conn_unref(p->conn);
}

static void pending_reply_empty(Pending *p) {
        Bistro__Empty empty = BISTRO__EMPTY__INIT;

        if (!p->conn)
                return;
        (void) wire_reply(p->conn, p->id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
        p->conn = wire_conn_unref(p->conn);
}

static void pending_progress(Pending *p, const char *stage, uint64_t done, uint64_t total) {
        Bistro__Concierge__Progress e = BISTRO__CONCIERGE__PROGRESS__INIT;

        if (!p->conn)
                return;
        e.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM;
        e.done = total ? MIN(done, total) : done;
        e.total = total;
        e.stage = (char *) stage;
        if (message_validate(BISTRO__MESSAGE_TYPE__PROGRESS, &e.base) >= 0)
                (void) wire_send_event(p->conn, BISTRO__MESSAGE_TYPE__PROGRESS, p->id, &e.base);
}

void pending_job_progress(Job *j, const Bistro__Concierge__Progress *p, void *userdata) {
        Pending *pending = userdata;

        if (pending->conn)
                (void) wire_send_event(pending->conn, BISTRO__MESSAGE_TYPE__PROGRESS, pending->id, &p->base);
}

int vm_wait_running(Vm *vm, VmWaitFn fn, void *userdata) {
        VmWaiter *w;

        w = reallocarray_safe(vm->waiters, vm->n_waiters + 1, sizeof(VmWaiter));
        if (!w)
                return -ENOMEM;
        vm->waiters = w;
        vm->waiters[vm->n_waiters++] = (VmWaiter){ .fn = fn, .userdata = userdata };
        return 0;
}

void vm_unwait(Vm *vm, void *userdata) {
        for (size_t i = 0; i < vm->n_waiters; i++)
                if (vm->waiters[i].userdata == userdata) {
                        memmove(vm->waiters + i, vm->waiters + i + 1,
                                (vm->n_waiters - i - 1) * sizeof(VmWaiter));
                        vm->n_waiters--;
                        return;
                }
}

/* The VM left STARTING: wake everyone who waits, once. */
static void vm_wake_waiters(Vm *vm, int error, const char *message) {
        VmWaiter *w = TAKE_PTR(vm->waiters);
        size_t n = vm->n_waiters;

        vm->n_waiters = 0;
        for (size_t i = 0; i < n; i++)
                w[i].fn(vm, error, message ?: "", w[i].userdata);
        free(w);
}

static void vm_close_ready(Vm *vm) {
        vm->ready_source = sd_event_source_disable_unref(vm->ready_source);
        vm->ready_fd = safe_close(vm->ready_fd);
        if (vm->ready_conn) {
                wire_conn_close(vm->ready_conn, 0);
                vm->ready_conn = wire_conn_unref(vm->ready_conn);
        }
        if (vm->ready_path)
                (void) unlink(vm->ready_path);
}

Vm *vm_free(Vm *vm) {
        if (!vm)
                return NULL;
        vm_close_ready(vm);
        vm->timer = sd_event_source_disable_unref(vm->timer);
        vm->vmm_source = sd_event_source_disable_unref(vm->vmm_source);
        vm->job = job_free(vm->job);
        pending_reply_error(&vm->start, -ECANCELED, "concierge is exiting");
        for (size_t i = 0; i < vm->n_stops; i++)
                pending_reply_error(&vm->stops[i], -ECANCELED, "concierge is exiting");
        vm_wake_waiters(vm, -ECANCELED, "concierge is exiting");
        free(vm->stops);
        share_list_clear(&vm->shares);
        free(vm->start_error);
        free(vm->state_dir);
        free(vm->disk_path);
        free(vm->config_path);
        free(vm->runtime_dir);
        free(vm->vsock_path);
        free(vm->ready_path);
        free(vm->qmp_path);
        free(vm->console_path);
        free(vm->vmm_log_path);
        free(vm);
        return NULL;
}

bool vm_is_active(const Vm *vm) {
        return vm->vmm_pid > 0;
}

bool vm_is_up(const Vm *vm) {
        return vm->starting || vm_is_active(vm);
}

void vm_fill_info(Vm *vm, Bistro__Concierge__VmInfo *info) {
        struct stat st;

        info->name = vm->name;
        info->state = vm->state;
        info->pid = vm->vmm_pid > 0 ? vm->vmm_pid : 0;
        info->cpus = vm->config.cpus;
        info->memory_mib = vm->config.memory_mib;
        info->disk_path = vm->disk_path;
        info->disk_size = MIN(qcow2_virtual_size(vm->disk_path), UINT64_C(64) << 40);
        if (stat(vm->disk_path, &st) >= 0)
                info->disk_used = (uint64_t) st.st_blocks * 512u;
        info->kernel_version = vm->kernel_version;
        info->image_version = vm->image_version;
        info->started_at = vm->vmm_pid > 0 ? vm->started_at : 0;
        info->host_loopback = vm->config.host_loopback;
}

static int vm_reply_info(Vm *vm, Pending *p) {
        Bistro__Concierge__VmInfoResponse resp = BISTRO__CONCIERGE__VM_INFO_RESPONSE__INIT;
        Bistro__Concierge__VmInfo info = BISTRO__CONCIERGE__VM_INFO__INIT;
        int r;

        if (!p->conn)
                return 0;
        vm_fill_info(vm, &info);
        resp.vm = &info;
        r = wire_reply(p->conn, p->id, BISTRO__MESSAGE_TYPE__VM_INFO_RESPONSE, &resp.base);
        p->conn = wire_conn_unref(p->conn);
        return r;
}

static int vm_set_timer(Vm *vm, uint64_t usec, sd_event_time_handler_t cb) {
        vm->timer = sd_event_source_disable_unref(vm->timer);
        return sd_event_add_time_relative(vm->manager->event, &vm->timer, CLOCK_MONOTONIC, usec, 0, cb, vm);
}

static int on_stop_timer(sd_event_source *s, uint64_t usec, void *userdata);

/* Moves the stop sequence to stage (2: SIGTERM vmm, 3: SIGKILL vmm), never backwards. */
static void vm_escalate(Vm *vm, int stage) {
        if (vm->vmm_pid <= 0 || stage <= vm->stop_stage)
                return;
        vm->stop_stage = stage;
        if (stage == 2) {
                log_info("VM '%s': asking vmm to power off.", vm->name);
                (void) kill(vm->vmm_pid, SIGTERM);
                (void) vm_set_timer(vm, STOP_TERM_USEC, on_stop_timer);
        } else {
                log_warning("VM '%s': killing vmm.", vm->name);
                (void) kill(vm->vmm_pid, SIGKILL);
                (void) vm_set_timer(vm, STOP_KILL_USEC, on_stop_timer);
        }
}

static int on_stop_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Vm *vm = userdata;

        vm_escalate(vm, vm->stop_stage < 2 ? 2 : 3);
        return 0;
}

static void vm_fail_start(Vm *vm, int error, const char *msg) {
        log_error("VM '%s': start failed: %s", vm->name, msg);
        (void) free_and_strdup(&vm->start_error, msg);
        pending_reply_error(&vm->start, error, msg);
        vm_wake_waiters(vm, error, msg);
        if (vm->vmm_pid > 0) {
                vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPING;
                vm_escalate(vm, 2);
        } else {
                vm->starting = false;
                vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPED;
                manager_check_exit(vm->manager);
        }
}

char *vmm_log_explain(const char *vmm_log_path, const char *disk_path) {
        _cleanup_free_ char *log = NULL;
        size_t n = 0;
        char *s;

        if (read_file(vmm_log_path, VMM_LOG_SCAN_MAX, &log, &n) < 0 || !log)
                return NULL;
        /* QEMU: "Failed to get "write" lock" / "Failed to get shared "write" lock": another
         * process (a second concierge, a qemu-img) has the image open. */
        if (!memmem(log, n, "Failed to get", strlen("Failed to get")) || !memmem(log, n, "lock", 4))
                return NULL;
        if (asprintf(
                    &s,
                    "disk %s is in use by another process (another concierge with another runtime "
                    "directory, or a qemu-img?)",
                    disk_path) < 0)
                return NULL;
        return s;
}

static int on_vmm_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Vm *vm = userdata;
        Manager *m = vm->manager;

        log_info(
                "VM '%s': vmm exited (%s %d).", vm->name, si->si_code == CLD_EXITED ? "status" : "signal",
                si->si_status);
        vm->vmm_source = sd_event_source_disable_unref(vm->vmm_source);
        vm->timer = sd_event_source_disable_unref(vm->timer);
        vm->vmm_pid = 0;
        vm_close_ready(vm);
        ports_vm_stopped(vm);
        wayland_vm_stopped(vm);
        cicerone_vm_stopped(vm);
        if (vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_STARTING) {
                _cleanup_free_ char *why = vmm_log_explain(vm->vmm_log_path, vm->disk_path), *msg = NULL;

                if (why)
                        (void) set_error_message(&msg, 0, "VM '%s' cannot start: %s", vm->name, why);
                else
                        (void) set_error_message(
                                &msg, 0,
                                "VM '%s' stopped while starting (vmm %s %d); see 'vmc logs %s' and %s",
                                vm->name, si->si_code == CLD_EXITED ? "status" : "signal", si->si_status,
                                vm->name, vm->vmm_log_path);
                vm_fail_start(vm, why ? -EBUSY : -EIO, msg ?: "VM stopped while starting");
        }
        vm->job = job_cancel(vm->job);
        vm->busy = false;
        for (size_t i = 0; i < vm->n_stops; i++)
                pending_reply_empty(&vm->stops[i]);
        vm->n_stops = 0;
        vm->stop_stage = 0;
        vm->started_at = 0;
        vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPED;
        manager_check_exit(m);
        return 0;
}

/* The configure job: runs in a worker once maitred called VmReady. */
static int configure_job(Job *j, void *userdata) {
        Vm *vm = userdata;
        Bistro__Maitred__SetTimezoneRequest tz = BISTRO__MAITRED__SET_TIMEZONE_REQUEST__INIT;
        Bistro__Maitred__MountRequest mr = BISTRO__MAITRED__MOUNT_REQUEST__INIT;
        Bistro__Concierge__JobResult res = BISTRO__CONCIERGE__JOB_RESULT__INIT;
        static const char *const recovery[] = { "rescue=usebackuproot", "ro,rescue=all" };
        _cleanup_free_ char *err = NULL, *first_err = NULL, *warning = NULL;
        char tzname[128];
        char *resize[] = { (char *) "/usr/bin/btrfs", (char *) "filesystem",
                           (char *) "resize",         (char *) "max",
                           (char *) STATEFUL_MOUNT,   NULL };
        uint64_t t[5];
        int r;

        t[0] = now_msec(CLOCK_MONOTONIC);

        /* The kernel may lack IPv6: IPv4 alone is still worth having. A VM without network still
         * runs, so neither failure fails the start. */
        r = guest_configure_network(vm->vsock_path, true, &err);
        if (r < 0) {
                log_warning_errno(
                        r, "VM '%s': ConfigureNetwork with IPv6 failed, retrying IPv4 only: %s", vm->name,
                        strnull(err));
                err = mfree(err);
                r = guest_configure_network(vm->vsock_path, false, &err);
                if (r < 0)
                        log_warning_errno(r, "VM '%s': ConfigureNetwork failed: %s", vm->name, strnull(err));
                err = mfree(err);
        }

        job_progress(j, 1, 4, "setting the time");
        r = guest_set_time(vm->vsock_path, &err);
        if (r < 0)
                return job_fail(j, r, "SetTime failed: %s", strnull(err));
        t[1] = now_msec(CLOCK_MONOTONIC);
        job_progress(j, 2, 4, "setting the time zone");
        (void) host_timezone(NULL, tzname, sizeof(tzname));
        tz.name = tzname;
        r = guest_call(
                vm->vsock_path, BISTRO__MESSAGE_TYPE__SET_TIMEZONE_REQUEST, &tz.base, 20000, NULL, &err);
        if (r < 0)
                log_warning_errno(
                        r, "VM '%s': SetTimezone '%s' failed, ignoring: %s", vm->name, tzname, strnull(err));
        err = mfree(err);
        t[2] = now_msec(CLOCK_MONOTONIC);

        job_progress(j, 3, 4, "mounting the stateful disk");
        mr.source = (char *) STATEFUL_DEVICE;
        mr.target = (char *) STATEFUL_MOUNT;
        mr.fstype = (char *) "btrfs";
        mr.data = (char *) "";
        /* Format only a disk we created and never mounted: a used disk that lost its superblock
         * must fail loudly (and go to recovery), never be silently reformatted. */
        mr.mkfs_if_needed = vm->config.mkfs_pending;
        r = guest_call(
                vm->vsock_path, BISTRO__MESSAGE_TYPE__MOUNT_REQUEST, &mr.base, 180000, NULL, &first_err);
        if (r < 0) {
                /* The normal mount failed: try btrfs' recovery options; data written after the
                 * backup roots may be gone, so say so. */
                mr.mkfs_if_needed = false;
                for (size_t i = 0; i < ELEMENTSOF(recovery); i++) {
                        mr.data = (char *) recovery[i];
                        mr.flags = i == 1 ? 1 /* MS_RDONLY */ : 0;
                        r = guest_call(
                                vm->vsock_path, BISTRO__MESSAGE_TYPE__MOUNT_REQUEST, &mr.base, 180000, NULL,
                                NULL);
                        if (r >= 0) {
                                if (asprintf(
                                            &warning,
                                            "partial data loss: the stateful disk mounted only with "
                                            "'%s' (normal mount: %s)",
                                            recovery[i], strnull(first_err)) < 0)
                                        return -ENOMEM;
                                job_text_sanitize(warning, PROTO_ERROR_MESSAGE_MAX);
                                res.warning = warning;
                                return job_set_result(j, BISTRO__MESSAGE_TYPE__JOB_RESULT, &res.base);
                        }
                }
                return job_fail(j, -EIO, "cannot mount the stateful disk: %s", strnull(first_err));
        }
        /* The shares' failures are warnings in vmm.log: a VM without them still runs. */
        (void) shares_setup_in_worker(vm);
        t[3] = now_msec(CLOCK_MONOTONIC);
        /* Only after the disk grew while the file system could not follow (offline, or a failed
         * live grow): it costs a process start in the guest. */
        if (vm->config.grow_pending) {
                job_progress(j, 4, 4, "growing the file system");
                r = guest_run(vm->vsock_path, resize, 60000, &err);
                if (r != 0) {
                        if (asprintf(&warning, "growing the file system failed (%d): %s", r, strnull(err)) <
                            0)
                                return -ENOMEM;
                        job_text_sanitize(warning, PROTO_ERROR_MESSAGE_MAX);
                        res.warning = warning;
                } else
                        res.fs_grown = true;
        }
        t[4] = now_msec(CLOCK_MONOTONIC);
        log_info(
                "VM '%s': configured in %llu ms (time %llu, zone %llu, mount %llu, fs resize %llu).",
                vm->name, (unsigned long long) (t[4] - t[0]), (unsigned long long) (t[1] - t[0]),
                (unsigned long long) (t[2] - t[1]), (unsigned long long) (t[3] - t[2]),
                (unsigned long long) (t[4] - t[3]));
        return job_set_result(j, BISTRO__MESSAGE_TYPE__JOB_RESULT, &res.base);
}

static void start_progress(Job *j, const Bistro__Concierge__Progress *p, void *userdata) {
        Vm *vm = userdata;

        pending_progress(&vm->start, p->stage, p->done, p->total);
}

static void configure_done(
        Job *j,
        int error,
        const char *message,
        uint32_t type,
        const ProtobufCMessage *result,
        void *userdata) {
        Vm *vm = userdata;
        const Bistro__Concierge__JobResult *res = NULL;

        vm->job = NULL;
        if (error < 0) {
                vm_fail_start(vm, error, message[0] ? message : "configuring the VM failed");
                return;
        }
        if (type == BISTRO__MESSAGE_TYPE__JOB_RESULT)
                res = (const void *) result;
        if (vm->config.mkfs_pending || (res && res->fs_grown)) {
                /* Mounted once: from now on the disk holds the user's data. */
                vm->config.mkfs_pending = false;
                if (res && res->fs_grown)
                        vm->config.grow_pending = false;
                (void) vm_save_config(vm);
        }
        if (res && res->warning[0]) {
                _cleanup_free_ char *stage = NULL;

                /* The start succeeded with a warning: vmc prints stages starting "warning:". */
                log_warning("VM '%s': %s", vm->name, res->warning);
                if (asprintf(&stage, "warning: %.119s", res->warning) >= 0) {
                        stage[strcspn(stage, "\n\t")] = 0;
                        pending_progress(&vm->start, stage, 0, 0);
                }
        }
        vm->timer = sd_event_source_disable_unref(vm->timer);
        vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING;
        log_info("VM '%s' is running.", vm->name);
        ports_vm_running(vm);
        wayland_vm_running(vm);
        cicerone_vm_running(vm);
        timezone_vm_running(vm);
        (void) vm_reply_info(vm, &vm->start);
        vm_wake_waiters(vm, 0, NULL);
}

static int on_ready_message(
        WireConn *c,
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        void *userdata) {
        Vm *vm = userdata;
        const Bistro__Maitred__VmReadyRequest *req = (const void *) msg;
        Bistro__Empty empty = BISTRO__EMPTY__INIT;
        int r;

        if (type != BISTRO__MESSAGE_TYPE__VM_READY_REQUEST ||
            vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_STARTING || vm->job)
                return -EBADMSG;
        strscpy(vm->kernel_version, req->kernel_version, sizeof(vm->kernel_version));
        strscpy(vm->image_version, req->image_version, sizeof(vm->image_version));
        (void) wire_reply(c, id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
        log_info("VM '%s': maitred is ready (kernel %s).", vm->name, vm->kernel_version);
        r = job_start(
                vm->manager->event, "configure", BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM,
                configure_job, start_progress, configure_done, vm, &vm->job);
        if (r < 0)
                vm_fail_start(vm, r, "cannot start the configuration worker");
        return 0;
}

static int on_ready_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Vm *vm = userdata;
        _cleanup_close_ int cfd = -EBADF;
        int r;

        cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0)
                return 0;
        if (vm->ready_conn) /* one ready call per boot */
                return 0;
        r = wire_conn_new(vm->manager->event, cfd, &vm->ready_conn);
        if (r < 0)
                return 0;
        TAKE_FD(cfd);
        (void) wire_conn_set_timeouts(vm->ready_conn, 0, 10 * USEC_PER_SEC);
        wire_conn_set_handlers(vm->ready_conn, on_ready_message, NULL, vm);
        /* The guest cannot call twice: stop listening. */
        vm->ready_source = sd_event_source_disable_unref(vm->ready_source);
        vm->ready_fd = safe_close(vm->ready_fd);
        (void) unlink(vm->ready_path);
        return 0;
}

static int on_ready_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Vm *vm = userdata;
        _cleanup_free_ char *msg = NULL;

        (void) set_error_message(
                &msg, 0, "VM '%s' did not become ready within %llu s; see 'vmc logs %s'", vm->name,
                (unsigned long long) (vm->manager->ready_timeout_usec / USEC_PER_SEC), vm->name);
        vm_fail_start(vm, -ETIMEDOUT, msg ?: "VM did not become ready");
        vm->job = job_cancel(vm->job);
        return 0;
}

/* Is a vmm (maybe one left behind by a previous concierge, still shutting down) holding the
 * runtime dir? vmm flocks it while it runs. */
static int runtime_dir_in_use(const char *dir) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0)
                return errno == EWOULDBLOCK ? 1 : -errno;
        (void) flock(fd, LOCK_UN);
        return 0;
}

/* Worker side: the image's signature and hashes (reads the whole image). */
static int verify_image(Job *j, Manager *m, char **ret_cmdline) {
        _cleanup_free_ ImageKey *keys = NULL;
        _cleanup_free_ char *error = NULL;
        ImageManifest manifest;
        size_t n_keys = 0;
        int r;

        r = image_keys_load_dir(m->trust_dir, &keys, &n_keys, &error);
        if (r < 0)
                return job_fail(
                        j, r, "cannot load trusted image keys from %s: %s", m->trust_dir,
                        error ?: strerror(-r));
        if (n_keys == 0)
                return job_fail(j, -ENOKEY, "no trusted image keys in %s", m->trust_dir);
        r = image_verify(m->image_dir, keys, n_keys, &manifest, &error);
        if (r < 0)
                return job_fail(
                        j, r, "the Termina image in %s is refused: %s", m->image_dir, error ?: strerror(-r));
        return image_manifest_kernel_cmdline(&manifest, ret_cmdline);
}

/* The start job: everything before vmm that may take long. */
static int prepare_job(Job *j, void *userdata) {
        Vm *vm = userdata;
        Bistro__Concierge__JobResult res = BISTRO__CONCIERGE__JOB_RESULT__INIT;
        _cleanup_free_ char *cmdline = NULL, *out = NULL;
        char sz[32];
        struct stat st;
        int r;

        job_progress(j, 0, 2, "verifying the image");
        r = verify_image(j, vm->manager, &cmdline);
        if (r < 0)
                return r;
        /* Only now: a refused image creates nothing. */
        r = mkdir_p(vm->state_dir, 0700);
        if (r < 0)
                return job_fail(j, r, "cannot create %s: %s", vm->state_dir, strerror(-r));
        if (stat(vm->disk_path, &st) < 0) {
                char *argv[] = { (char *) "qemu-img",
                                 (char *) "create",
                                 (char *) "-q",
                                 (char *) "-f",
                                 (char *) "qcow2",
                                 vm->disk_path,
                                 sz,
                                 NULL };

                job_progress(j, 1, 2, "creating the disk");
                (void) snprintf(sz, sizeof(sz), "%llu", (unsigned long long) vm->new_disk_size);
                r = run_command(argv, &out);
                if (r != 0) {
                        (void) unlink(vm->disk_path);
                        return job_fail(
                                j, r < 0 ? r : -EIO, "qemu-img create failed: %s",
                                r < 0 ? strerror(-r) : strnull(out));
                }
                res.disk_created = true;
        }
        res.kernel_cmdline = cmdline;
        return job_set_result(j, BISTRO__MESSAGE_TYPE__JOB_RESULT, &res.base);
}

static int spawn_vmm(Vm *vm, const char *cmdline) {
        Manager *m = vm->manager;
        _cleanup_free_ char *kernel = NULL, *initrd = NULL, *rootfs = NULL, *disk = NULL;
        char mem[32], cpus[16];
        pid_t pid;
        int r;

        kernel = path_join(m->image_dir, "vmlinuz");
        initrd = path_join(m->image_dir, "initramfs.img");
        if (asprintf(&rootfs, "ro:%s/rootfs.img", m->image_dir) < 0)
                rootfs = NULL;
        if (asprintf(&disk, "rw:%s", vm->disk_path) < 0)
                disk = NULL;
        if (!kernel || !initrd || !rootfs || !disk)
                return -ENOMEM;
        (void) snprintf(mem, sizeof(mem), "%lluM", (unsigned long long) vm->config.memory_mib);
        (void) snprintf(cpus, sizeof(cpus), "%u", vm->config.cpus);
        /* A session of its own: a ^C meant for concierge's terminal is not for the VMs. No
         * FORK_DEATHSIG: a VM outlives a crashed concierge long enough to shut down cleanly. */
        r = safe_fork(
                "vmm", FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_NEW_SESSION | FORK_NULL_STDIN, &pid);
        if (r < 0)
                return r;
        if (r == 0) {
                /* slirpd: QEMU keeps no part of the host's network. */
                char *argv[] = { m->vmm_path,
                                 (char *) "--name",
                                 vm->name,
                                 (char *) "--kernel",
                                 kernel,
                                 (char *) "--initrd",
                                 initrd,
                                 (char *) "--runtime-dir",
                                 vm->runtime_dir,
                                 (char *) "--mem",
                                 mem,
                                 (char *) "--cpus",
                                 cpus,
                                 (char *) "--disk",
                                 rootfs,
                                 (char *) "--disk",
                                 disk,
                                 (char *) "--append",
                                 (char *) cmdline,
                                 (char *) "--stop-timeout",
                                 (char *) VMM_STOP_TIMEOUT,
                                 (char *) "--net",
                                 (char *) "slirpd",
                                 (char *) "--shares",
                                 vm->config.host_loopback ? (char *) "--host-loopback" : NULL,
                                 NULL };
                int fd;

                fd = open(vm->vmm_log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        (void) dup2(fd, 1);
                        (void) dup2(fd, 2);
                }
                execv(argv[0], argv);
                dprintf(2, "cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }
        vm->vmm_pid = pid;
        return 0;
}

/* The start job is done: spawn vmm and wait for maitred. */
static void prepare_done(
        Job *j,
        int error,
        const char *message,
        uint32_t type,
        const ProtobufCMessage *result,
        void *userdata) {
        Vm *vm = userdata;
        Manager *m = vm->manager;
        const Bistro__Concierge__JobResult *res = (const void *) result;
        _cleanup_free_ char *msg = NULL;
        int r;

        vm->job = NULL;
        vm->exists = access(vm->state_dir, F_OK) >= 0;
        if (error >= 0 && (type != BISTRO__MESSAGE_TYPE__JOB_RESULT || !res->kernel_cmdline[0])) {
                error = -EPROTO;
                message = "the start worker sent no kernel command line";
        }
        if (error == -ECANCELED) {
                /* job_cancel() from vm_stop(), which goes on using vm: never forget it here. */
                vm_fail_start(vm, error, "start cancelled by a stop request");
                return;
        }
        if (error < 0) {
                vm_fail_start(vm, error, message[0] ? message : "preparing the VM failed");
                /* A refused first start leaves nothing behind, not even the object. */
                if (!vm->exists && !vm_is_up(vm))
                        vm_forget(m, vm);
                return;
        }
        vm->starting = false;
        if (res->disk_created) {
                log_info("VM '%s': created %s.", vm->name, vm->disk_path);
                vm->config.mkfs_pending = true;
        }
        r = vm_save_config(vm);
        if (r < 0)
                log_warning_errno(r, "Cannot save %s, ignoring: %m", vm->config_path);

        r = mkdir_p(vm->runtime_dir, 0700);
        if (r < 0) {
                (void) set_error_message(&msg, 0, "cannot create %s: %s", vm->runtime_dir, strerror(-r));
                goto fail;
        }
        (void) unlink(vm->console_path);
        vm->ready_fd = unix_listen(vm->ready_path, 4, 0600);
        if (vm->ready_fd < 0) {
                r = vm->ready_fd;
                (void) set_error_message(&msg, 0, "cannot listen on %s: %s", vm->ready_path, strerror(-r));
                goto fail;
        }
        r = sd_event_add_io(m->event, &vm->ready_source, vm->ready_fd, EPOLLIN, on_ready_accept, vm);
        if (r >= 0)
                r = spawn_vmm(vm, res->kernel_cmdline);
        if (r >= 0) {
                r = sd_event_add_child(m->event, &vm->vmm_source, vm->vmm_pid, WEXITED, on_vmm_exit, vm);
                if (r < 0) {
                        sigkill_wait(vm->vmm_pid);
                        vm->vmm_pid = 0;
                }
        }
        if (r < 0) {
                (void) set_error_message(&msg, 0, "cannot start VM '%s': %s", vm->name, strerror(-r));
                goto fail;
        }
        (void) vm_set_timer(vm, m->ready_timeout_usec, on_ready_timeout);
        vm->started_at = time(NULL);
        log_info("VM '%s': starting (vmm pid %d).", vm->name, (int) vm->vmm_pid);
        pending_progress(&vm->start, "booting", 0, 0);
        return;
fail:
        vm_close_ready(vm);
        vm_fail_start(vm, r, msg ?: "cannot start the VM");
}

int vm_start(Vm *vm, WireConn *c, uint64_t id, const Bistro__Concierge__StartVmRequest *req) {
        Manager *m = vm->manager;
        int r;

        if (vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING)
                return c ? wire_reply_error(c, id, -EEXIST, "VM '%s' is already running", vm->name)
                         : -EEXIST;
        if (vm_is_up(vm) || vm->busy || vm->job)
                return c ? wire_reply_error(
                                   c, id, -EBUSY, "VM '%s' is busy (%s)", vm->name,
                                   vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_STARTING   ? "starting"
                                   : vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPING ? "stopping"
                                                                                                 : "in use")
                         : -EBUSY;
        r = runtime_dir_in_use(vm->runtime_dir);
        if (r > 0)
                return c ? wire_reply_error(
                                   c, id, -EBUSY,
                                   "VM '%s' is still shutting down (left by a previous concierge); try again",
                                   vm->name)
                         : -EBUSY;
        if (req->cpus)
                vm->config.cpus = req->cpus;
        if (req->memory_mib)
                vm->config.memory_mib = req->memory_mib;
        if (req->host_loopback != BISTRO__CONCIERGE__HOST_LOOPBACK__HOST_LOOPBACK_UNCHANGED)
                vm->config.host_loopback =
                        req->host_loopback == BISTRO__CONCIERGE__HOST_LOOPBACK__HOST_LOOPBACK_ON;
        if (vm->config.host_loopback)
                log_warning(
                        "VM '%s' starts with host loopback access: its containers reach every service on "
                        "the host's 127.0.0.1 and ::1.",
                        vm->name);
        vm->new_disk_size = req->disk_size ?: DEFAULT_DISK_SIZE;
        r = job_start(
                m->event, "start", BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM, prepare_job,
                start_progress, prepare_done, vm, &vm->job);
        if (r < 0)
                return c ? wire_reply_error(c, id, r, "cannot start the start worker: %s", strerror(-r)) : r;
        vm->starting = true;
        vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STARTING;
        vm->kernel_version[0] = vm->image_version[0] = 0;
        vm->start_error = mfree(vm->start_error);
        if (c) {
                vm->start.conn = wire_conn_ref(c);
                vm->start.id = id;
        }
        return 0;
}

static int shutdown_job(Job *j, void *userdata) {
        Vm *vm = userdata;
        Bistro__Maitred__ShutdownRequest sd = BISTRO__MAITRED__SHUTDOWN_REQUEST__INIT;
        _cleanup_free_ char *err = NULL;
        int r;

        r = guest_call(vm->vsock_path, BISTRO__MESSAGE_TYPE__SHUTDOWN_REQUEST, &sd.base, 10000, NULL, &err);
        if (r < 0)
                return job_fail(j, r, "%s", strnull(err));
        return 0;
}

static void shutdown_done(
        Job *j,
        int error,
        const char *message,
        uint32_t type,
        const ProtobufCMessage *result,
        void *userdata) {
        Vm *vm = userdata;

        vm->job = NULL;
        if (error < 0 && error != -ECANCELED) {
                log_warning("VM '%s': maitred Shutdown failed (%s), asking vmm.", vm->name, message);
                vm_escalate(vm, 2);
        }
}

int vm_stop(Vm *vm, WireConn *c, uint64_t id, bool force) {
        Pending *p;

        if (vm->starting)
                /* Still verifying the image or creating the disk: nothing runs yet. prepare_done()
                 * fails the start. */
                vm->job = job_cancel(vm->job);
        if (!vm_is_active(vm)) {
                Bistro__Empty empty = BISTRO__EMPTY__INIT;

                if (c)
                        return wire_reply(c, id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
                return 0;
        }
        if (c) {
                p = reallocarray_safe(vm->stops, vm->n_stops + 1, sizeof(Pending));
                if (!p)
                        return wire_reply_error(c, id, -ENOMEM, "out of memory");
                vm->stops = p;
                vm->stops[vm->n_stops++] = (Pending){ .conn = wire_conn_ref(c), .id = id };
        }
        if (vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_STARTING) {
                vm->job = job_cancel(vm->job);
                vm_fail_start(vm, -ECANCELED, "start cancelled by a stop request");
        }
        if (force) {
                vm->job = job_cancel(vm->job);
                vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPING;
                vm_escalate(vm, 3);
                return 0;
        }
        if (vm->stop_stage > 0)
                return 0;
        if (vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING) {
                /* Still booting or configuring: maitred may not answer; the power button works. */
                vm->job = job_cancel(vm->job);
                vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPING;
                vm_escalate(vm, 2);
                return 0;
        }
        vm->job = job_cancel(vm->job);
        vm->busy = false;
        vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPING;
        vm->stop_stage = 1;
        log_info("VM '%s': stopping (maitred Shutdown).", vm->name);
        (void) vm_set_timer(vm, STOP_GRACEFUL_USEC, on_stop_timer);
        if (job_start(vm->manager->event, "shutdown", 0, shutdown_job, NULL, shutdown_done, vm, &vm->job) <
            0)
                vm_escalate(vm, 2);
        return 0;
}

int vm_destroy(Vm *vm, char **reterr_message) {
        Manager *m = vm->manager;
        int r;

        if (vm_is_up(vm) || vm->job || vm->busy) {
                if (reterr_message)
                        (void) set_error_message(
                                reterr_message, 0, "VM '%s' is %s; stop it first", vm->name,
                                vm_is_up(vm) ? "running" : "busy");
                return -EBUSY;
        }
        /* Our dirs hold only plain files and sockets; rm_rf never follows a symlink. */
        r = rm_rf(vm->state_dir);
        if (r < 0) {
                if (reterr_message)
                        (void) set_error_message(
                                reterr_message, 0, "cannot remove %s: %s", vm->state_dir, strerror(-r));
                return r;
        }
        (void) rm_rf(vm->runtime_dir);
        vm_forget(m, vm);
        return 0;
}

void vm_forget(Manager *m, Vm *vm) {
        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i] == vm) {
                        m->vms[i] = m->vms[--m->n_vms];
                        break;
                }
        vm_free(vm);
}

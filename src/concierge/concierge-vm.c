/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "concierge.h"
#include "fd-util.h"
#include "guest.h"
#include "image-verify.h"
#include "log.h"
#include "proto-validate.h"
#include "socket-util.h"
#include "string-util.h"

#define USEC_PER_SEC UINT64_C(1000000)
#define STOP_GRACEFUL_USEC (20 * USEC_PER_SEC) /* maitred Shutdown -> poweroff */
#define STOP_TERM_USEC (15 * USEC_PER_SEC)     /* vmm: powerdown 5 s, quit 5 s, SIGKILL */
#define STOP_KILL_USEC (5 * USEC_PER_SEC)
#define VMM_STOP_TIMEOUT "5"

static char *path_join(const char *a, const char *b) {
        char *p;

        if (asprintf(&p, "%s/%s", a, b) < 0)
                return NULL;
        return p;
}

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

static void vm_load_config(Vm *vm) {
        _cleanup_free_ char *data = NULL;
        char *line, *save = NULL;

        if (read_file(vm->config_path, 4096, &data, NULL) < 0)
                return;
        for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                uint64_t v;

                if (startswith(line, "cpus=") && safe_atou64(line + 5, &v) >= 0 && v >= 1 && v <= 256)
                        vm->cpus = (uint32_t) v;
                else if (
                        startswith(line, "memory_mib=") && safe_atou64(line + 11, &v) >= 0 && v >= 64 &&
                        v <= 1024 * 1024)
                        vm->memory_mib = v;
                else if (streq(line, "grow_pending=1"))
                        vm->grow_pending = true;
                else if (streq(line, "mkfs_pending=1"))
                        vm->mkfs_pending = true;
        }
}

int vm_save_config(Vm *vm) {
        char buf[160];

        (void) snprintf(
                buf, sizeof(buf), "cpus=%u\nmemory_mib=%llu\n%s%s", vm->cpus,
                (unsigned long long) vm->memory_mib, vm->grow_pending ? "grow_pending=1\n" : "",
                vm->mkfs_pending ? "mkfs_pending=1\n" : "");
        return write_file_atomic(vm->config_path, buf, 0600);
}

int vm_get(Manager *m, const char *name, bool create, Vm **ret) {
        _cleanup_free_ Vm *vm = NULL;
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
        vm = calloc(1, sizeof(*vm));
        if (!vm)
                return -ENOMEM;
        vm->manager = m;
        strscpy(vm->name, name, sizeof(vm->name));
        vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPED;
        vm->ready_fd = -EBADF;
        vm->cpus = DEFAULT_CPUS;
        vm->memory_mib = DEFAULT_MEMORY_MIB;
        vm->state_dir = path_join(m->vms_dir, name);
        if (!vm->state_dir)
                return -ENOMEM;
        vm->exists = stat(vm->state_dir, &st) >= 0;
        if (!vm->exists && !create) {
                free(vm->state_dir);
                return -ENOENT;
        }
        if (asprintf(&vm->runtime_dir, "%s/vms/%s", m->runtime_root, name) < 0)
                return -ENOMEM;
        vm->disk_path = path_join(vm->state_dir, "disk.qcow2");
        vm->config_path = path_join(vm->state_dir, "config");
        vm->vsock_path = path_join(vm->runtime_dir, "vsock.sock");
        vm->ready_path = path_join(vm->runtime_dir, "vsock.sock_7777");
        vm->qmp_path = path_join(vm->runtime_dir, "qmp.sock");
        vm->console_path = path_join(vm->runtime_dir, "console.log");
        vm->vmm_log_path = path_join(vm->runtime_dir, "vmm.log");
        if (!vm->disk_path || !vm->config_path || !vm->vsock_path || !vm->ready_path || !vm->qmp_path ||
            !vm->console_path || !vm->vmm_log_path) {
                vm_free(TAKE_PTR(vm));
                return -ENOMEM;
        }
        vm_load_config(vm);
        m->vms[m->n_vms++] = vm;
        *ret = TAKE_PTR(vm);
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
        free(vm->stops);
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

void vm_fill_info(Vm *vm, Bistro__Concierge__VmInfo *info) {
        struct stat st;

        info->name = vm->name;
        info->state = vm->state;
        info->pid = vm->vmm_pid > 0 ? vm->vmm_pid : 0;
        info->cpus = vm->cpus;
        info->memory_mib = vm->memory_mib;
        info->disk_path = vm->disk_path;
        info->disk_size = MIN(qcow2_virtual_size(vm->disk_path), UINT64_C(64) << 40);
        if (stat(vm->disk_path, &st) >= 0)
                info->disk_used = (uint64_t) st.st_blocks * 512u;
        info->kernel_version = vm->kernel_version;
        info->image_version = vm->image_version;
        info->started_at = vm->vmm_pid > 0 ? vm->started_at : 0;
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
        strscpy(vm->start_error, msg, sizeof(vm->start_error));
        pending_reply_error(&vm->start, error, msg);
        if (vm->vmm_pid > 0) {
                vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPING;
                vm_escalate(vm, 2);
        }
}

static int on_vmm_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Vm *vm = userdata;
        Manager *m = vm->manager;
        char msg[256];

        log_info(
                "VM '%s': vmm exited (%s %d).", vm->name, si->si_code == CLD_EXITED ? "status" : "signal",
                si->si_status);
        vm->vmm_source = sd_event_source_disable_unref(vm->vmm_source);
        vm->timer = sd_event_source_disable_unref(vm->timer);
        vm->vmm_pid = 0;
        vm_close_ready(vm);
        if (vm->start.conn) {
                (void) snprintf(
                        msg, sizeof(msg),
                        "VM '%s' stopped while starting (vmm %s %d); see 'vmc logs %s' and %s", vm->name,
                        si->si_code == CLD_EXITED ? "status" : "signal", si->si_status, vm->name,
                        vm->vmm_log_path);
                vm_fail_start(vm, -EIO, msg);
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

/* The configure job: runs in a child once maitred called VmReady. */
static uint64_t now_ms(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000u + (uint64_t) ts.tv_nsec / 1000000u;
}

static int configure_job(Job *j, void *userdata) {
        Vm *vm = userdata;
        uint64_t t[5];
        Bistro__Maitred__SetTimezoneRequest tz = BISTRO__MAITRED__SET_TIMEZONE_REQUEST__INIT;
        Bistro__Maitred__MountRequest mr = BISTRO__MAITRED__MOUNT_REQUEST__INIT;
        static const char *const recovery[] = { "rescue=usebackuproot", "ro,rescue=all" };
        char tzname[128], err[256], first_err[256];
        char *resize[] = { (char *) "/usr/bin/btrfs", (char *) "filesystem",
                           (char *) "resize",         (char *) "max",
                           (char *) STATEFUL_MOUNT,   NULL };
        int r;

        t[0] = now_ms();

        /* The kernel may lack IPv6: IPv4 alone is still worth having. A VM without network still
         * runs, so neither failure fails the start. */
        r = guest_configure_network(vm->vsock_path, true, err, sizeof(err));
        if (r < 0) {
                log_warning_errno(
                        r, "VM '%s': ConfigureNetwork with IPv6 failed, retrying IPv4 only: %s", vm->name,
                        err);
                r = guest_configure_network(vm->vsock_path, false, err, sizeof(err));
                if (r < 0)
                        log_warning_errno(r, "VM '%s': ConfigureNetwork failed: %s", vm->name, err);
        }

        job_progress(j, 1, 4, "setting the time");
        r = guest_set_time(vm->vsock_path, err, sizeof(err));
        if (r < 0) {
                job_set_message(j, "SetTime failed: %s", err);
                return r;
        }
        t[1] = now_ms();
        job_progress(j, 2, 4, "setting the time zone");
        (void) host_timezone(tzname, sizeof(tzname));
        tz.name = tzname;
        r = guest_call(
                vm->vsock_path, BISTRO__MESSAGE_TYPE__SET_TIMEZONE_REQUEST, &tz.base, 20000, NULL, err,
                sizeof(err));
        if (r < 0)
                log_warning_errno(
                        r, "VM '%s': SetTimezone '%s' failed, ignoring: %s", vm->name, tzname, err);

        t[2] = now_ms();

        job_progress(j, 3, 4, "mounting the stateful disk");
        mr.source = (char *) STATEFUL_DEVICE;
        mr.target = (char *) STATEFUL_MOUNT;
        mr.fstype = (char *) "btrfs";
        mr.data = (char *) "";
        /* Format only a disk we created and never mounted: a used disk that lost its superblock
         * must fail loudly (and go to recovery), never be silently reformatted. */
        mr.mkfs_if_needed = vm->mkfs_pending;
        r = guest_call(
                vm->vsock_path, BISTRO__MESSAGE_TYPE__MOUNT_REQUEST, &mr.base, 180000, NULL, first_err,
                sizeof(first_err));
        if (r < 0) {
                /* The normal mount failed: try btrfs' recovery options; data written after the
                 * backup roots may be gone, so say so. */
                mr.mkfs_if_needed = false;
                for (size_t i = 0; i < ELEMENTSOF(recovery); i++) {
                        mr.data = (char *) recovery[i];
                        mr.flags = i == 1 ? 1 /* MS_RDONLY */ : 0;
                        r = guest_call(
                                vm->vsock_path, BISTRO__MESSAGE_TYPE__MOUNT_REQUEST, &mr.base, 180000, NULL,
                                err, sizeof(err));
                        if (r >= 0) {
                                job_set_message(
                                        j,
                                        "partial data loss: the stateful disk mounted only with "
                                        "'%s' (normal mount: %s)",
                                        recovery[i], first_err);
                                return 0;
                        }
                }
                job_set_message(j, "cannot mount the stateful disk: %s", first_err);
                return -EIO;
        }
        t[3] = now_ms();
        /* Only after the disk grew while the file system could not follow (offline, or a failed
         * live grow): it costs a process start in the guest. */
        if (vm->grow_pending) {
                job_progress(j, 4, 4, "growing the file system");
                r = guest_run(vm->vsock_path, resize, 60000, err, sizeof(err));
                if (r != 0) {
                        job_set_message(j, "growing the file system failed (%d): %s", r, err);
                        return 0;
                }
                job_set_message(j, "grown");
        }
        t[4] = now_ms();
        log_info(
                "VM '%s': configured in %llu ms (time %llu, zone %llu, mount %llu, fs resize %llu).",
                vm->name, (unsigned long long) (t[4] - t[0]), (unsigned long long) (t[1] - t[0]),
                (unsigned long long) (t[2] - t[1]), (unsigned long long) (t[3] - t[2]),
                (unsigned long long) (t[4] - t[3]));
        return 0;
}

static void configure_progress(Job *j, uint64_t done, uint64_t total, const char *stage, void *userdata) {
        Vm *vm = userdata;
        Bistro__Concierge__Progress p = BISTRO__CONCIERGE__PROGRESS__INIT;

        if (!vm->start.conn)
                return;
        p.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM;
        p.done = done;
        p.total = total;
        p.stage = (char *) stage;
        if (message_validate(BISTRO__MESSAGE_TYPE__PROGRESS, &p.base) >= 0)
                (void) wire_send_event(
                        vm->start.conn, BISTRO__MESSAGE_TYPE__PROGRESS, vm->start.id, &p.base);
}

static void configure_done(Job *j, int error, const char *message, void *userdata) {
        Vm *vm = userdata;

        vm->job = NULL;
        if (error < 0) {
                vm_fail_start(vm, error, message[0] ? message : "configuring the VM failed");
                return;
        }
        if (vm->mkfs_pending) {
                /* Mounted once: from now on the disk holds the user's data. */
                vm->mkfs_pending = false;
                (void) vm_save_config(vm);
        }
        if (streq(message, "grown")) {
                vm->grow_pending = false;
                (void) vm_save_config(vm);
        } else if (message[0]) {
                Bistro__Concierge__Progress p = BISTRO__CONCIERGE__PROGRESS__INIT;

                /* The start succeeded with a warning: vmc prints stages starting "warning:". */
                log_warning("VM '%s': %s", vm->name, message);
                if (vm->start.conn) {
                        char stage[129];

                        (void) snprintf(stage, sizeof(stage), "warning: %s", message);
                        p.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM;
                        p.stage = stage;
                        if (message_validate(BISTRO__MESSAGE_TYPE__PROGRESS, &p.base) >= 0)
                                (void) wire_send_event(
                                        vm->start.conn, BISTRO__MESSAGE_TYPE__PROGRESS, vm->start.id,
                                        &p.base);
                }
        }
        vm->timer = sd_event_source_disable_unref(vm->timer);
        vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING;
        log_info("VM '%s' is running.", vm->name);
        (void) vm_reply_info(vm, &vm->start);
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
                vm->manager->event, "configure", configure_job, configure_progress, configure_done, vm,
                &vm->job);
        if (r < 0)
                vm_fail_start(vm, r, "cannot start the configuration helper");
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
        char msg[256];

        (void) snprintf(
                msg, sizeof(msg), "VM '%s' did not become ready within %llu s; see 'vmc logs %s'", vm->name,
                (unsigned long long) (vm->manager->ready_timeout_usec / USEC_PER_SEC), vm->name);
        vm_fail_start(vm, -ETIMEDOUT, msg);
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

static int verify_image(Manager *m, char **ret_cmdline, char *err, size_t err_size) {
        _cleanup_free_ ImageKey *keys = NULL;
        _cleanup_free_ char *error = NULL;
        ImageManifest manifest;
        size_t n_keys = 0;
        int r;

        r = image_keys_load_dir(m->trust_dir, &keys, &n_keys, &error);
        if (r < 0) {
                (void) snprintf(
                        err, err_size, "cannot load trusted image keys from %s: %s", m->trust_dir,
                        error ?: strerror(-r));
                return r;
        }
        if (n_keys == 0) {
                (void) snprintf(err, err_size, "no trusted image keys in %s", m->trust_dir);
                return -ENOKEY;
        }
        r = image_verify(m->image_dir, keys, n_keys, &manifest, &error);
        if (r < 0) {
                (void) snprintf(
                        err, err_size, "the Termina image in %s is refused: %s", m->image_dir,
                        error ?: strerror(-r));
                return r;
        }
        return image_manifest_kernel_cmdline(&manifest, ret_cmdline);
}

static int spawn_vmm(Vm *vm, const char *cmdline) {
        Manager *m = vm->manager;
        char mem[32], cpus[16];
        _cleanup_free_ char *kernel = NULL, *initrd = NULL, *rootfs = NULL, *disk = NULL;
        pid_t pid;

        kernel = path_join(m->image_dir, "vmlinuz");
        initrd = path_join(m->image_dir, "initramfs.img");
        if (asprintf(&rootfs, "ro:%s/rootfs.img", m->image_dir) < 0 ||
            asprintf(&disk, "rw:%s", vm->disk_path) < 0 || !kernel || !initrd)
                return -ENOMEM;
        (void) snprintf(mem, sizeof(mem), "%lluM", (unsigned long long) vm->memory_mib);
        (void) snprintf(cpus, sizeof(cpus), "%u", vm->cpus);
        pid = fork();
        if (pid < 0)
                return -errno;
        if (pid == 0) {
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
                                 (char *) "user",
                                 NULL };
                sigset_t all;
                int fd;

                /* Own process group: a ^C meant for concierge's terminal is not for the VMs. */
                (void) setpgid(0, 0);
                sigfillset(&all);
                (void) sigprocmask(SIG_UNBLOCK, &all, NULL);
                fd = open(vm->vmm_log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
                if (fd >= 0) {
                        (void) dup2(fd, 1);
                        (void) dup2(fd, 2);
                }
                fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
                if (fd >= 0)
                        (void) dup2(fd, 0);
                execv(argv[0], argv);
                dprintf(2, "cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }
        vm->vmm_pid = pid;
        return 0;
}

static int create_disk(Vm *vm, uint64_t size, char *err, size_t err_size) {
        char sz[32], out[512];
        char *argv[] = { (char *) "qemu-img",
                         (char *) "create",
                         (char *) "-q",
                         (char *) "-f",
                         (char *) "qcow2",
                         vm->disk_path,
                         sz,
                         NULL };
        int r;

        (void) snprintf(sz, sizeof(sz), "%llu", (unsigned long long) size);
        r = run_command(argv, out, sizeof(out));
        if (r != 0) {
                out[strcspn(out, "\n")] = 0;
                (void) snprintf(err, err_size, "qemu-img create failed: %.400s", out);
                (void) unlink(vm->disk_path);
                return -EIO;
        }
        return 0;
}

int vm_start(Vm *vm, WireConn *c, uint64_t id, const Bistro__Concierge__StartVmRequest *req) {
        Manager *m = vm->manager;
        _cleanup_free_ char *cmdline = NULL;
        char err[512];
        struct stat st;
        int r;

        if (vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING)
                return wire_reply_error(c, id, -EEXIST, "VM '%s' is already running", vm->name);
        if (vm_is_active(vm) || vm->busy || vm->job)
                return wire_reply_error(
                        c, id, -EBUSY, "VM '%s' is busy (%s)", vm->name,
                        vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_STARTING   ? "starting"
                        : vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_STOPPING ? "stopping"
                                                                                      : "in use");
        r = runtime_dir_in_use(vm->runtime_dir);
        if (r > 0)
                return wire_reply_error(
                        c, id, -EBUSY,
                        "VM '%s' is still shutting down (left by a previous concierge); try again",
                        vm->name);
        r = verify_image(m, &cmdline, err, sizeof(err));
        if (r < 0)
                return wire_reply_error(c, id, r, "%s", err);

        r = mkdir_p(vm->state_dir, 0700);
        if (r < 0)
                return wire_reply_error(c, id, r, "cannot create %s: %s", vm->state_dir, strerror(-r));
        if (req->cpus)
                vm->cpus = req->cpus;
        if (req->memory_mib)
                vm->memory_mib = req->memory_mib;
        if (stat(vm->disk_path, &st) < 0) {
                r = create_disk(vm, req->disk_size ?: DEFAULT_DISK_SIZE, err, sizeof(err));
                if (r < 0)
                        return wire_reply_error(c, id, r, "%s", err);
                log_info("VM '%s': created %s.", vm->name, vm->disk_path);
                vm->mkfs_pending = true;
        }
        vm->exists = true;
        r = vm_save_config(vm);
        if (r < 0)
                log_warning_errno(r, "Cannot save %s, ignoring: %m", vm->config_path);

        r = mkdir_p(vm->runtime_dir, 0700);
        if (r < 0)
                return wire_reply_error(c, id, r, "cannot create %s: %s", vm->runtime_dir, strerror(-r));
        (void) unlink(vm->console_path);
        vm->ready_fd = unix_listen(vm->ready_path, 4, 0600);
        if (vm->ready_fd < 0)
                return wire_reply_error(
                        c, id, vm->ready_fd, "cannot listen on %s: %s", vm->ready_path,
                        strerror(-vm->ready_fd));
        r = sd_event_add_io(m->event, &vm->ready_source, vm->ready_fd, EPOLLIN, on_ready_accept, vm);
        if (r < 0)
                goto fail;
        r = spawn_vmm(vm, cmdline);
        if (r < 0)
                goto fail;
        r = sd_event_add_child(m->event, &vm->vmm_source, vm->vmm_pid, WEXITED, on_vmm_exit, vm);
        if (r < 0) {
                (void) kill(vm->vmm_pid, SIGKILL);
                (void) waitpid(vm->vmm_pid, NULL, 0);
                vm->vmm_pid = 0;
                goto fail;
        }
        (void) vm_set_timer(vm, m->ready_timeout_usec, on_ready_timeout);
        vm->state = BISTRO__CONCIERGE__VM_STATE__VM_STATE_STARTING;
        vm->started_at = time(NULL);
        vm->kernel_version[0] = vm->image_version[0] = vm->start_error[0] = 0;
        vm->start.conn = wire_conn_ref(c);
        vm->start.id = id;
        log_info("VM '%s': starting (vmm pid %d).", vm->name, (int) vm->vmm_pid);
        return 0;
fail:
        vm_close_ready(vm);
        return wire_reply_error(c, id, r, "cannot start VM '%s': %s", vm->name, strerror(-r));
}

static int shutdown_job(Job *j, void *userdata) {
        Vm *vm = userdata;
        Bistro__Maitred__ShutdownRequest sd = BISTRO__MAITRED__SHUTDOWN_REQUEST__INIT;
        char err[256];
        int r;

        r = guest_call(
                vm->vsock_path, BISTRO__MESSAGE_TYPE__SHUTDOWN_REQUEST, &sd.base, 10000, NULL, err,
                sizeof(err));
        if (r < 0)
                job_set_message(j, "%s", err);
        return r;
}

static void shutdown_done(Job *j, int error, const char *message, void *userdata) {
        Vm *vm = userdata;

        vm->job = NULL;
        if (error < 0 && error != -ECANCELED) {
                log_warning("VM '%s': maitred Shutdown failed (%s), asking vmm.", vm->name, message);
                vm_escalate(vm, 2);
        }
}

int vm_stop(Vm *vm, WireConn *c, uint64_t id, bool force) {
        Pending *p;

        if (!vm_is_active(vm)) {
                Bistro__Empty empty = BISTRO__EMPTY__INIT;

                if (c)
                        return wire_reply(c, id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
                return 0;
        }
        if (c) {
                p = reallocarray(vm->stops, vm->n_stops + 1, sizeof(Pending));
                if (!p)
                        return wire_reply_error(c, id, -ENOMEM, "out of memory");
                vm->stops = p;
                vm->stops[vm->n_stops++] = (Pending){ .conn = wire_conn_ref(c), .id = id };
        }
        if (vm->start.conn)
                pending_reply_error(&vm->start, -ECANCELED, "start cancelled by a stop request");
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
        if (job_start(vm->manager->event, "shutdown", shutdown_job, NULL, shutdown_done, vm, &vm->job) < 0)
                vm_escalate(vm, 2);
        return 0;
}

static void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

static int rm_rf_dir(const char *dir) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int r = 0;

        d = opendir(dir);
        if (!d)
                return errno == ENOENT ? 0 : -errno;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                /* Our dirs hold only plain files and sockets. */
                if (unlinkat(dirfd(d), de->d_name, 0) < 0 && errno != ENOENT)
                        r = -errno;
        }
        if (rmdir(dir) < 0 && errno != ENOENT && r == 0)
                r = -errno;
        return r;
}

int vm_destroy(Vm *vm, char *err, size_t err_size) {
        Manager *m = vm->manager;
        int r;

        if (vm_is_active(vm) || vm->job || vm->busy) {
                (void) snprintf(
                        err, err_size, "VM '%s' is %s; stop it first", vm->name,
                        vm_is_active(vm) ? "running" : "busy");
                return -EBUSY;
        }
        r = rm_rf_dir(vm->state_dir);
        if (r < 0) {
                (void) snprintf(err, err_size, "cannot remove %s: %s", vm->state_dir, strerror(-r));
                return r;
        }
        (void) rm_rf_dir(vm->runtime_dir);
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Requests that run as jobs: export, import, resize, sync-time. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "bistro-ports.h"
#include "concierge-ops.h"
#include "concierge-util.h"
#include "concierge-vm.h"
#include "fd-util.h"
#include "guest.h"
#include "log.h"
#include "proto-validate.h"
#include "spawn-util.h"
#include "string-util.h"

#define CHUNK (1024u * 1024u)

typedef struct Op {
        Pending reply; /* first: the job's userdata is also a Pending (pending_job_progress()) */
        Manager *manager;
        Vm *vm; /* NULL for sync-time */
        int operation;
        bool running, force;
        uint64_t size;
        char path[PATH_MAX];
        char name[PROTO_NAME_MAX + 1];
        char **vsock_paths; /* sync-time */
        size_t n_vsock_paths;
} Op;

static Op *op_free(Op *op) {
        if (!op)
                return NULL;
        if (op->reply.conn)
                wire_conn_unref(op->reply.conn);
        for (size_t i = 0; i < op->n_vsock_paths; i++)
                free(op->vsock_paths[i]);
        free(op->vsock_paths);
        free(op);
        return NULL;
}

static void op_done(
        Job *j,
        int error,
        const char *message,
        uint32_t type,
        const ProtobufCMessage *result,
        void *userdata) {
        Op *op = userdata;
        Bistro__Empty empty = BISTRO__EMPTY__INIT;

        op->manager->n_requests--;
        if (op->vm) {
                op->vm->job = NULL;
                op->vm->busy = false;
        }
        if (op->vm && op->operation == BISTRO__CONCIERGE__OPERATION__OPERATION_RESIZE_VM &&
            (!op->running || error < 0)) {
                /* The image may have grown without the file system: finish at the next start. */
                op->vm->config.grow_pending = true;
                (void) vm_save_config(op->vm);
        }
        if (op->reply.conn) {
                if (error < 0)
                        (void) wire_reply_error(
                                op->reply.conn, op->reply.id, error, "%s",
                                message[0] ? message : strerror(-error));
                else
                        (void) wire_reply(
                                op->reply.conn, op->reply.id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
        }
        if (op->vm && op->operation == BISTRO__CONCIERGE__OPERATION__OPERATION_IMPORT_VM) {
                /* The object was a placeholder for the name; reload it from disk next time. */
                vm_forget(op->manager, op->vm);
        }
        op_free(op);
}

static int op_run(Op *op, Vm *vm, const char *what, JobFn fn) {
        int r;

        r = job_start(
                op->manager->event, what, op->operation, fn, pending_job_progress, op_done, op,
                vm ? &vm->job : &(Job *){ NULL });
        if (r < 0) {
                if (op->reply.conn)
                        (void) wire_reply_error(
                                op->reply.conn, op->reply.id, r, "cannot start the %s worker: %s", what,
                                strerror(-r));
                op_free(op);
                return 0;
        }
        op->manager->n_requests++;
        if (vm)
                vm->busy = true;
        return 0;
}

static Op *op_new(Manager *m, Vm *vm, WireConn *c, uint64_t id, int operation) {
        Op *op = new0(Op, 1);

        if (!op)
                return NULL;
        op->manager = m;
        op->vm = vm;
        op->reply.conn = c ? wire_conn_ref(c) : NULL;
        op->reply.id = id;
        op->operation = operation;
        return op;
}

static int lookup(Manager *m, WireConn *c, uint64_t id, const char *name, Vm **ret) {
        Vm *vm;

        if (vm_get(m, name, false, &vm) < 0 || (!vm->exists && !vm_is_up(vm))) {
                (void) wire_reply_error(c, id, -ENOENT, "no VM named '%s'", name);
                return -ENOENT;
        }
        if (vm->job || vm->busy ||
            (vm_is_up(vm) && vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING)) {
                (void) wire_reply_error(
                        c, id, -EBUSY, "VM '%s' is busy (starting, stopping or another operation)", name);
                return -EBUSY;
        }
        *ret = vm;
        return 0;
}

/* Streams src into argv's stdin (stdout to out_fd), hashing what it writes when hash != NULL and
 * reporting progress. Returns the program's exit status or a negative errno. */
static int pipe_through(
        Job *j,
        const char *stage,
        int src,
        uint64_t total,
        char *const *argv,
        int out_fd,
        crypto_hash_sha256_state *hash) {
        _cleanup_free_ uint8_t *buf = malloc(CHUNK);
        _cleanup_sigkill_wait_ pid_t pid = 0;
        int pfd[2], r = 0, status;
        uint64_t done = 0, last = 0;

        if (!buf)
                return -ENOMEM;
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        r = safe_fork_full(
                argv[0], FORK_RESET_SIGNALS | FORK_DEATHSIG | FORK_CLOSE_ALL_FDS,
                (const int[]){ pfd[0], out_fd }, 2, &pid);
        if (r < 0) {
                safe_close(pfd[0]);
                safe_close(pfd[1]);
                return r;
        }
        if (r == 0) {
                if (dup2(pfd[0], 0) < 0 || dup2(out_fd, 1) < 0)
                        _exit(127);
                execvp(argv[0], argv);
                _exit(127);
        }
        r = 0;
        safe_close(pfd[0]);
        for (;;) {
                ssize_t n = read(src, buf, CHUNK);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        break;
                }
                if (n == 0)
                        break;
                if (hash)
                        crypto_hash_sha256_update(hash, buf, (size_t) n);
                r = loop_write(pfd[1], buf, (size_t) n);
                if (r < 0)
                        break;
                done += (uint64_t) n;
                if (done - last >= 16 * CHUNK) {
                        job_progress(j, done, total, stage);
                        last = done;
                }
        }
        safe_close(pfd[1]);
        status = wait_for_terminate(pid);
        pid = 0;
        job_progress(j, done, total, stage);
        if (r < 0)
                return r;
        return status;
}

static int sha256_file(Job *j, const char *path, char hex[65]) {
        _cleanup_free_ uint8_t *buf = malloc(CHUNK);
        _cleanup_close_ int fd = -EBADF;
        crypto_hash_sha256_state st;
        uint8_t digest[32];
        uint64_t done = 0, last = 0;
        struct stat s;

        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (!buf || fd < 0 || fstat(fd, &s) < 0)
                return fd < 0 ? -errno : -ENOMEM;
        crypto_hash_sha256_init(&st);
        for (;;) {
                ssize_t n = read(fd, buf, CHUNK);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                crypto_hash_sha256_update(&st, buf, (size_t) n);
                done += (uint64_t) n;
                if (done - last >= 16 * CHUNK) {
                        job_progress(j, done, (uint64_t) s.st_size, "verifying");
                        last = done;
                }
        }
        crypto_hash_sha256_final(&st, digest);
        for (size_t i = 0; i < 32; i++)
                (void) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
        return 0;
}

/* Export: a compact qcow2 copy of the disk, zstd-compressed into FILE, with FILE.sha256
 * (sha256sum format, of FILE) next to it. */
static int export_job(Job *j, void *userdata) {
        Op *op = userdata;
        Vm *vm = op->vm;
        char tmp[PATH_MAX + 16], part[PATH_MAX + 16], sumpath[PATH_MAX + 16], hex[65];
        _cleanup_free_ char *out = NULL;
        _cleanup_close_ int src = -EBADF, dst = -EBADF;
        struct stat s;
        const char *base;
        int r;

        (void) snprintf(tmp, sizeof(tmp), "%s.qcow2-tmp", op->path);
        (void) snprintf(part, sizeof(part), "%s.part", op->path);
        (void) snprintf(sumpath, sizeof(sumpath), "%s.sha256", op->path);
        if (op->running) {
                /* Termina has no sync(1); this commits the stateful file system. */
                char *sync[] = { (char *) "/usr/bin/btrfs", (char *) "filesystem", (char *) "sync",
                                 (char *) STATEFUL_MOUNT, NULL };
                _cleanup_free_ char *err = NULL;

                job_progress(j, 0, 0, "syncing the guest");
                r = guest_run(vm->vsock_path, sync, 60000, &err);
                if (r != 0)
                        log_warning(
                                "VM '%s': sync before export failed (%d), continuing: %s", vm->name, r,
                                strnull(err));
        }
        job_progress(j, 0, 0, "copying the disk");
        {
                char *argv[] = { (char *) "qemu-img",
                                 (char *) "convert",
                                 (char *) "-O",
                                 (char *) "qcow2",
                                 op->running ? (char *) "-U" : (char *) "-q",
                                 vm->disk_path,
                                 tmp,
                                 NULL };

                r = run_command(argv, &out);
        }
        if (r != 0) {
                (void) unlink(tmp);
                return job_fail(j, -EIO, "qemu-img convert failed: %s", r < 0 ? strerror(-r) : strnull(out));
        }
        src = open(tmp, O_RDONLY | O_CLOEXEC);
        if (src < 0 || fstat(src, &s) < 0) {
                r = -errno;
                (void) unlink(tmp);
                return job_fail(j, r, "cannot read the disk copy: %s", strerror(-r));
        }
        (void) unlink(tmp);
        dst = open(part, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (dst < 0) {
                r = -errno;
                return job_fail(j, r, "cannot create %s: %s", part, strerror(-r));
        }
        {
                char *argv[] = { (char *) "zstd", (char *) "-q", (char *) "-c", (char *) "-T0", NULL };

                r = pipe_through(j, "compressing", src, (uint64_t) s.st_size, argv, dst, NULL);
        }
        if (r != 0 || fsync(dst) < 0) {
                (void) unlink(part);
                return job_fail(j, -EIO, "zstd failed (%d)", r);
        }
        r = sha256_file(j, part, hex);
        if (r < 0) {
                (void) unlink(part);
                return job_fail(j, r, "cannot hash %s: %s", part, strerror(-r));
        }
        base = strrchr(op->path, '/') + 1;
        {
                _cleanup_free_ char *line = NULL;

                r = asprintf(&line, "%s  %s\n", hex, base) < 0 ? -ENOMEM
                                                               : write_file_atomic(sumpath, line, 0600);
        }
        if (r < 0 || link(part, op->path) < 0) {
                r = r < 0 ? r : -errno;
                (void) unlink(part);
                (void) unlink(sumpath);
                return job_fail(j, r, "cannot write %s: %s", op->path, strerror(-r));
        }
        (void) unlink(part);
        return 0;
}

int op_export(Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__ExportVmRequest *req) {
        Vm *vm;
        Op *op;
        struct stat s;

        if (lookup(m, c, id, req->name, &vm) < 0)
                return 0;
        if (vm_is_active(vm) && !req->force)
                return wire_reply_error(
                        c, id, -EBUSY, "VM '%s' is running; stop it or use --force", req->name);
        if (strlen(req->path) + 16 >= PATH_MAX)
                return wire_reply_error(c, id, -ENAMETOOLONG, "path too long");
        if (lstat(req->path, &s) >= 0)
                return wire_reply_error(c, id, -EEXIST, "'%s' already exists", req->path);
        op = op_new(m, vm, c, id, BISTRO__CONCIERGE__OPERATION__OPERATION_EXPORT_VM);
        if (!op)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        op->running = vm_is_active(vm);
        strscpy(op->path, req->path, sizeof(op->path));
        return op_run(op, vm, "export", export_job);
}

static int import_job(Job *j, void *userdata) {
        Op *op = userdata;
        Manager *m = op->manager;
        char sumpath[PATH_MAX + 16], tmpdir[PATH_MAX], disk[PATH_MAX + 16], final[PATH_MAX], hex[65];
        _cleanup_free_ char *sum = NULL, *out = NULL;
        _cleanup_close_ int src = -EBADF, dst = -EBADF;
        struct stat s;
        int r;

        (void) snprintf(sumpath, sizeof(sumpath), "%s.sha256", op->path);
        r = read_file(sumpath, 4096, &sum, NULL);
        if (r < 0)
                return job_fail(j, r, "cannot read the checksum file %s: %s", sumpath, strerror(-r));
        r = sha256_file(j, op->path, hex);
        if (r < 0)
                return job_fail(j, r, "cannot read %s: %s", op->path, strerror(-r));
        if (strlen(sum) < 64 || strncasecmp(sum, hex, 64) != 0)
                return job_fail(
                        j, -EBADMSG, "%s does not match its checksum: the file is truncated or corrupted",
                        op->path);
        (void) snprintf(tmpdir, sizeof(tmpdir), "%s/.import-%s", m->vms_dir, op->name);
        (void) snprintf(final, sizeof(final), "%s/%s", m->vms_dir, op->name);
        (void) snprintf(disk, sizeof(disk), "%s/disk.qcow2", tmpdir);
        (void) unlink(disk);
        (void) rmdir(tmpdir);
        if (mkdir(tmpdir, 0700) < 0) {
                r = -errno;
                return job_fail(j, r, "cannot create %s: %s", tmpdir, strerror(-r));
        }
        src = open(op->path, O_RDONLY | O_CLOEXEC);
        dst = open(disk, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (src < 0 || dst < 0 || fstat(src, &s) < 0) {
                r = job_fail(j, -errno, "cannot open: %s", strerror(errno));
                goto fail;
        }
        {
                char *argv[] = { (char *) "zstd", (char *) "-d", (char *) "-q", (char *) "-c", NULL };

                r = pipe_through(j, "decompressing", src, (uint64_t) s.st_size, argv, dst, NULL);
        }
        if (r != 0 || fsync(dst) < 0) {
                r = job_fail(j, -EBADMSG, "%s is not a valid export (zstd failed)", op->path);
                goto fail;
        }
        {
                char *argv[] = { (char *) "qemu-img",
                                 (char *) "check",
                                 (char *) "-q",
                                 (char *) "-f",
                                 (char *) "qcow2",
                                 disk,
                                 NULL };

                r = run_command(argv, &out);
        }
        if (r != 0) {
                r = job_fail(
                        j, -EBADMSG, "%s does not hold a valid disk: %s", op->path,
                        r < 0 ? strerror(-r) : strnull(out));
                goto fail;
        }
        /* rename() of a directory onto an existing non-empty one fails: nothing existing is touched. */
        if (rename(tmpdir, final) < 0) {
                r = job_fail(
                        j, -errno, "VM '%s' exists already or cannot be created: %s", op->name,
                        strerror(errno));
                goto fail;
        }
        return 0;
fail:
        (void) unlink(disk);
        (void) rmdir(tmpdir);
        return r;
}

int op_import(Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__ImportVmRequest *req) {
        Vm *vm;
        Op *op;
        int r;

        if (vm_get(m, req->name, false, &vm) >= 0 && (vm->exists || vm_is_up(vm) || vm->job || vm->busy))
                return wire_reply_error(c, id, -EEXIST, "VM '%s' exists already", req->name);
        if (access(req->path, R_OK) < 0)
                return wire_reply_error(c, id, -errno, "cannot read '%s': %s", req->path, strerror(errno));
        /* A placeholder object holds the name while the job runs. */
        r = vm_get(m, req->name, true, &vm);
        if (r < 0)
                return wire_reply_error(c, id, r, "cannot import: %s", strerror(-r));
        op = op_new(m, vm, c, id, BISTRO__CONCIERGE__OPERATION__OPERATION_IMPORT_VM);
        if (!op)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        strscpy(op->path, req->path, sizeof(op->path));
        strscpy(op->name, req->name, sizeof(op->name));
        return op_run(op, vm, "import", import_job);
}

static int resize_job(Job *j, void *userdata) {
        Op *op = userdata;
        Vm *vm = op->vm;
        _cleanup_free_ char *out = NULL;
        char cmd[256], sz[32];
        int r;

        if (op->running) {
                char *argv[] = { (char *) "/usr/bin/btrfs", (char *) "filesystem",
                                 (char *) "resize",         (char *) "max",
                                 (char *) STATEFUL_MOUNT,   NULL };
                _cleanup_free_ char *err = NULL;

                job_progress(j, 0, 2, "growing the disk");
                (void) snprintf(
                        cmd, sizeof(cmd),
                        "{\"execute\":\"block_resize\",\"arguments\":{\"device\":\"%s\",\"size\":%llu}}",
                        STATEFUL_DRIVE, (unsigned long long) op->size);
                r = qmp_command_run(vm->qmp_path, cmd, 30000, &err);
                if (r < 0)
                        return job_fail(j, r, "block_resize failed: %s", err ?: strerror(-r));
                job_progress(j, 1, 2, "growing the file system");
                r = guest_run(vm->vsock_path, argv, 120000, &out);
                if (r != 0)
                        return job_fail(
                                j, r < 0 ? r : -EIO, "btrfs filesystem resize failed (%d): %s", r,
                                strnull(out));
                return 0;
        }
        {
                char *argv[] = {
                        (char *) "qemu-img", (char *) "resize", (char *) "-q", vm->disk_path, sz, NULL
                };

                (void) snprintf(sz, sizeof(sz), "%llu", (unsigned long long) op->size);
                r = run_command(argv, &out);
        }
        if (r != 0)
                return job_fail(j, -EIO, "qemu-img resize failed: %s", r < 0 ? strerror(-r) : strnull(out));
        return 0;
}

int op_resize(Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__ResizeVmRequest *req) {
        uint64_t cur;
        Vm *vm;
        Op *op;

        if (lookup(m, c, id, req->name, &vm) < 0)
                return 0;
        cur = qcow2_virtual_size(vm->disk_path);
        if (cur == 0)
                return wire_reply_error(
                        c, id, -ENOENT, "VM '%s' has no disk yet (start it once)", req->name);
        if (req->size < cur)
                return wire_reply_error(
                        c, id, -EINVAL,
                        "cannot shrink VM '%s' from %llu to %llu bytes: shrinking is not supported",
                        req->name, (unsigned long long) cur, (unsigned long long) req->size);
        if (req->size == cur)
                return wire_reply(
                        c, id, BISTRO__MESSAGE_TYPE__EMPTY, &(Bistro__Empty) BISTRO__EMPTY__INIT.base);
        op = op_new(m, vm, c, id, BISTRO__CONCIERGE__OPERATION__OPERATION_RESIZE_VM);
        if (!op)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        op->running = vm_is_active(vm);
        op->size = req->size;
        return op_run(op, vm, "resize", resize_job);
}

static int sync_time_job(Job *j, void *userdata) {
        Op *op = userdata;
        int r, ret = 0;

        for (size_t i = 0; i < op->n_vsock_paths; i++) {
                _cleanup_free_ char *err = NULL;

                r = guest_set_time(op->vsock_paths[i], &err);
                if (r < 0)
                        ret = job_fail(j, r, "SetTime failed for %s: %s", op->vsock_paths[i], strnull(err));
        }
        return ret;
}

int op_sync_time(Manager *m, WireConn *c, uint64_t id) {
        Op *op;

        op = op_new(m, NULL, c, id, BISTRO__CONCIERGE__OPERATION__OPERATION_UNKNOWN);
        if (!op || !(op->vsock_paths = new0(char *, m->n_vms + 1))) {
                op_free(op);
                return c ? wire_reply_error(c, id, -ENOMEM, "out of memory") : -ENOMEM;
        }
        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i]->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING) {
                        char *p = strdup(m->vms[i]->vsock_path);

                        if (!p) {
                                op_free(op);
                                return c ? wire_reply_error(c, id, -ENOMEM, "out of memory") : -ENOMEM;
                        }
                        op->vsock_paths[op->n_vsock_paths++] = p;
                }
        return op_run(op, NULL, "sync-time", sync_time_job);
}

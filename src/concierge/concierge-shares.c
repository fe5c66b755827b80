/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shares: the list (pure, unit-tested), the path rules (unit-tested), the requests. Every call into
 * a running VM (seneschal's control socket, tremplin) runs in a job, as the container verbs do. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "alloc-util.h"
#include "bistro-ports.h"
#include "concierge-cicerone.h"
#include "concierge-shares.h"
#include "concierge-util.h"
#include "concierge-vm.h"
#include "fd-util.h"
#include "guest.h"
#include "log.h"
#include "path-lookup.h"
#include "path-util.h"
#include "string-util.h"
#include "wire-client.h"

#define SENESCHAL_TIMEOUT_MS 10000
#define TREMPLIN_SHARE_TIMEOUT_MS 30000
#define MOUNT_TIMEOUT_MS 30000

void share_list_clear(ShareList *l) {
        for (size_t i = 0; i < l->n; i++)
                l->items[i].host_path = mfree(l->items[i].host_path);
        l->n = 0;
}

int share_list_find(const ShareList *l, const char *name) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->items[i].name, name))
                        return (int) i;
        return -ENOENT;
}

int share_list_add(ShareList *l, const Share *s) {
        char *p;

        if (share_list_find(l, s->name) >= 0)
                return -EEXIST;
        if (l->n >= SHARES_MAX)
                return -ENOSPC;
        p = strdup(s->host_path);
        if (!p)
                return -ENOMEM;
        l->items[l->n] = *s;
        l->items[l->n++].host_path = p;
        return 0;
}

int share_list_remove(ShareList *l, const char *name) {
        int i = share_list_find(l, name);

        if (i < 0)
                return i;
        free(l->items[i].host_path);
        memmove(&l->items[i], &l->items[i + 1], (l->n - (size_t) i - 1) * sizeof(Share));
        l->n--;
        return 0;
}

int share_list_parse(const char *text, ShareList *ret) {
        _cleanup_free_ char *copy = strdup(text);
        char *line, *save = NULL;

        if (!copy)
                return -ENOMEM;
        share_list_clear(ret);
        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *f[4];
                Share s = {};
                size_t k = 0;
                int r;

                f[k++] = line;
                for (char *p = line; *p && k < 4; p++)
                        if (*p == '\t') {
                                *p = 0;
                                f[k++] = p + 1;
                        }
                if (k != 4 || !share_name_is_valid(f[0]) || !proto_name_ok(f[1]) ||
                    !(streq(f[2], "ro") || streq(f[2], "rw")) || !proto_abs_path_ok(f[3], true))
                        continue;
                strscpy(s.name, f[0], sizeof(s.name));
                strscpy(s.container, f[1], sizeof(s.container));
                s.read_only = streq(f[2], "ro");
                s.host_path = f[3];
                r = share_list_add(ret, &s);
                if (r == -ENOMEM)
                        return r;
        }
        return 0;
}

char *share_list_format(const ShareList *l) {
        size_t size = 1;
        char *s, *p;

        for (size_t i = 0; i < l->n; i++)
                size += strlen(l->items[i].name) + strlen(l->items[i].container) +
                        strlen(l->items[i].host_path) + 8;
        s = p = malloc(size);
        if (!s)
                return NULL;
        *p = 0;
        for (size_t i = 0; i < l->n; i++)
                p +=
                        sprintf(p, "%s\t%s\t%s\t%s\n", l->items[i].name, l->items[i].container,
                                l->items[i].read_only ? "ro" : "rw", l->items[i].host_path);
        return s;
}

/* a == b or a below b ("/x/y" under "/x"). */
static bool path_is_under(const char *a, const char *b) {
        size_t n = strlen(b);

        if (streq(b, "/"))
                return true;
        return strncmp(a, b, n) == 0 && (a[n] == 0 || a[n] == '/');
}

int share_path_check(
        const char *path,
        const SharePathRules *rules,
        char **ret_resolved,
        struct stat *ret_st,
        char **reterr_message) {
        _cleanup_free_ char *resolved = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        if (!path || path[0] != '/')
                return set_error_message(
                        reterr_message, -EINVAL, "'%s': not an absolute path", strnull(path));
        resolved = realpath(path, NULL);
        if (!resolved)
                return set_error_message(reterr_message, -errno, "'%s': %m", path);
        if (strchr(resolved, '\n') || strchr(resolved, '\t'))
                return set_error_message(
                        reterr_message, -EINVAL, "'%s': a path with a tab or newline cannot be shared",
                        path);
        /* Resolved once, here; from now on no symlink is followed. */
        fd = open(resolved, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return set_error_message(
                        reterr_message, -errno, errno == ENOTDIR ? "'%s' is not a directory" : "'%s': %m",
                        resolved);
        if (fstat(fd, &st) < 0)
                return set_error_message(reterr_message, -errno, "'%s': %m", resolved);
        if (streq(resolved, "/"))
                return set_error_message(reterr_message, -EPERM, "'/' cannot be shared: share a folder");
        if (rules->home && streq(resolved, rules->home))
                return set_error_message(
                        reterr_message, -EPERM,
                        "'%s' is your whole home directory (keys, browser profiles, bistro's own data): "
                        "share a folder inside it",
                        resolved);
        if (rules->data_dir &&
            (path_is_under(resolved, rules->data_dir) || path_is_under(rules->data_dir, resolved)))
                return set_error_message(
                        reterr_message, -EPERM,
                        "'%s' holds bistro's data (the VM disks and images in '%s'): a container must not "
                        "reach it",
                        resolved, rules->data_dir);
        if (st.st_uid != rules->uid && faccessat(AT_FDCWD, resolved, W_OK, AT_EACCESS) < 0)
                return set_error_message(
                        reterr_message, -EACCES,
                        "'%s' is neither yours nor writable for you: only your own folders can be shared",
                        resolved);
        *ret_resolved = TAKE_PTR(resolved);
        *ret_st = st;
        return 0;
}

int share_default_name(const char *resolved, char *ret, size_t size) {
        const char *b = strrchr(resolved, '/');

        b = b ? b + 1 : resolved;
        if (!share_name_is_valid(b) || strlen(b) >= size)
                return -EINVAL;
        strscpy(ret, b, size);
        return 0;
}

static char *vm_shares_path(Vm *vm) {
        return path_join(vm->state_dir, "shares");
}

int vm_load_shares(Vm *vm) {
        _cleanup_free_ char *p = vm_shares_path(vm), *text = NULL;
        int r;

        if (!p)
                return -ENOMEM;
        r = read_file(p, SHARES_FILE_MAX, &text, NULL);
        if (r == -ENOENT)
                return 0;
        if (r < 0)
                return r;
        return share_list_parse(text, &vm->shares);
}

int vm_save_shares(Vm *vm) {
        _cleanup_free_ char *p = vm_shares_path(vm), *text = share_list_format(&vm->shares);

        if (!p || !text)
                return -ENOMEM;
        return write_file_atomic(p, text, 0600);
}

/* Worker side. */

/* The resolved path opened again without following any symlink; it must still be the directory
 * that was checked. */
static int open_share_dir(const Share *s, dev_t dev, ino_t ino) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        fd = openat2_fd(
                AT_FDCWD, s->host_path, O_PATH | O_DIRECTORY, RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS);
        if (fd < 0)
                return fd;
        if (fstat(fd, &st) < 0)
                return -errno;
        if ((dev || ino) && (st.st_dev != dev || st.st_ino != ino))
                return -ESTALE;
        return TAKE_FD(fd);
}

static int seneschal_add(Vm *vm, const Share *s, dev_t dev, ino_t ino) {
        _cleanup_free_ char *sock = path_join(vm->runtime_dir, "seneschal.sock");
        _cleanup_close_ int fd = -EBADF;
        SeneschalRequest req = { .op = SENESCHAL_OP_ADD,
                                 .flags = s->read_only ? SENESCHAL_FLAG_READ_ONLY : 0 };

        if (!sock)
                return -ENOMEM;
        fd = open_share_dir(s, dev, ino);
        if (fd < 0)
                return fd;
        strscpy(req.name, s->name, sizeof(req.name));
        return seneschal_call(sock, &req, fd, SENESCHAL_TIMEOUT_MS);
}

static int seneschal_remove(Vm *vm, const char *name) {
        _cleanup_free_ char *sock = path_join(vm->runtime_dir, "seneschal.sock");
        SeneschalRequest req = { .op = SENESCHAL_OP_REMOVE };

        if (!sock)
                return -ENOMEM;
        strscpy(req.name, name, sizeof(req.name));
        return seneschal_call(sock, &req, -EBADF, SENESCHAL_TIMEOUT_MS);
}

static int tremplin_share_call(Vm *vm, uint32_t type, const ProtobufCMessage *req, char **reterr_message) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint32_t rtype = 0;
        int r;

        fd = guest_connect(vm->vsock_path, TREMPLIN_PORT, 10000);
        if (fd < 0)
                return set_error_message(reterr_message, fd, "cannot reach tremplin: %m");
        r = wire_call_sync(
                fd, type, req, BISTRO__MESSAGE_TYPE__EMPTY, TREMPLIN_SHARE_TIMEOUT_MS, &rtype, &resp);
        if (r < 0 && rtype == BISTRO__MESSAGE_TYPE__ERROR_REPLY) {
                _cleanup_free_ char *m = NULL;

                (void) wire_error_reply_to_errno((const Bistro__ErrorReply *) resp, &m);
                return set_error_message(reterr_message, r, "tremplin: %s", strnull(m));
        }
        if (r < 0)
                return set_error_message(reterr_message, r, "tremplin: %m");
        return 0;
}

static int tremplin_add_share(Vm *vm, const Share *s, char **reterr_message) {
        Bistro__Tremplin__AddShareRequest req = BISTRO__TREMPLIN__ADD_SHARE_REQUEST__INIT;
        Bistro__Tremplin__ShareMount sm = BISTRO__TREMPLIN__SHARE_MOUNT__INIT;

        sm.name = (char *) s->name;
        sm.read_only = s->read_only;
        req.container = (char *) s->container;
        req.share = &sm;
        return tremplin_share_call(
                vm, BISTRO__MESSAGE_TYPE__TREMPLIN_ADD_SHARE_REQUEST, &req.base, reterr_message);
}

static int tremplin_remove_share(Vm *vm, const Share *s, char **reterr_message) {
        Bistro__Tremplin__RemoveShareRequest req = BISTRO__TREMPLIN__REMOVE_SHARE_REQUEST__INIT;

        req.container = (char *) s->container;
        req.name = (char *) s->name;
        return tremplin_share_call(
                vm, BISTRO__MESSAGE_TYPE__TREMPLIN_REMOVE_SHARE_REQUEST, &req.base, reterr_message);
}

int shares_setup_in_worker(Vm *vm) {
        Bistro__Maitred__MountRequest mr = BISTRO__MAITRED__MOUNT_REQUEST__INIT;
        _cleanup_free_ char *sock = path_join(vm->runtime_dir, "seneschal.sock"), *err = NULL;
        int failed = 0, r;

        if (!sock)
                return -ENOMEM;
        if (access(sock, F_OK) < 0) {
                if (vm->shares.n > 0)
                        log_warning(
                                "VM '%s' runs without shares (seneschal did not start: see '%s').", vm->name,
                                vm->vmm_log_path);
                return (int) vm->shares.n;
        }
        mr.source = (char *) SHARES_TAG;
        mr.target = (char *) SHARES_MOUNT;
        mr.fstype = (char *) "virtiofs";
        mr.flags = MS_NOSUID | MS_NODEV;
        mr.data = (char *) "";
        r = guest_call(
                vm->vsock_path, BISTRO__MESSAGE_TYPE__MOUNT_REQUEST, &mr.base, MOUNT_TIMEOUT_MS, NULL, &err);
        if (r < 0) {
                log_warning_errno(
                        r, "VM '%s': cannot mount the shares at %s: %s", vm->name, SHARES_MOUNT,
                        strnull(err));
                return (int) vm->shares.n;
        }
        for (size_t i = 0; i < vm->shares.n; i++) {
                r = seneschal_add(vm, &vm->shares.items[i], 0, 0);
                if (r < 0) {
                        log_warning_errno(
                                r, "VM '%s': cannot share '%s' ('%s'): %m", vm->name,
                                vm->shares.items[i].name, vm->shares.items[i].host_path);
                        failed++;
                }
        }
        return failed;
}

int shares_for_container(
        Vm *vm,
        const char *container,
        Bistro__Tremplin__ShareMount **ret_mounts,
        Bistro__Tremplin__ShareMount ***ret_ptrs,
        size_t *ret_n) {
        _cleanup_free_ Bistro__Tremplin__ShareMount *mounts = NULL;
        _cleanup_free_ Bistro__Tremplin__ShareMount **ptrs = NULL;
        size_t n = 0;

        mounts = new0(Bistro__Tremplin__ShareMount, SHARES_MAX);
        ptrs = new0(Bistro__Tremplin__ShareMount *, SHARES_MAX);
        if (!mounts || !ptrs)
                return -ENOMEM;
        for (size_t i = 0; i < vm->shares.n; i++) {
                if (!streq(vm->shares.items[i].container, container))
                        continue;
                mounts[n] = (Bistro__Tremplin__ShareMount) BISTRO__TREMPLIN__SHARE_MOUNT__INIT;
                mounts[n].name = vm->shares.items[i].name;
                mounts[n].read_only = vm->shares.items[i].read_only;
                ptrs[n] = &mounts[n];
                n++;
        }
        *ret_mounts = TAKE_PTR(mounts);
        *ret_ptrs = TAKE_PTR(ptrs);
        *ret_n = n;
        return 0;
}

/* Requests. */

typedef struct ShareOp {
        Pending reply;
        Manager *manager;
        char vm_name[PROTO_NAME_MAX + 1];
        Share share;
        dev_t dev;
        ino_t ino;
        bool add;
} ShareOp;

static ShareOp *share_op_free(ShareOp *op) {
        if (!op)
                return NULL;
        wire_conn_unref(op->reply.conn);
        free(op->share.host_path);
        free(op);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(ShareOp *, share_op_free);

void shared_dir_from(Bistro__Concierge__SharedDir *d, const Share *s) {
        *d = (Bistro__Concierge__SharedDir) BISTRO__CONCIERGE__SHARED_DIR__INIT;
        d->name = (char *) s->name;
        d->host_path = s->host_path;
        d->container = (char *) s->container;
        d->read_only = s->read_only;
}

static int reply_one(WireConn *c, uint64_t id, const Share *s) {
        Bistro__Concierge__ListSharesResponse resp = BISTRO__CONCIERGE__LIST_SHARES_RESPONSE__INIT;
        Bistro__Concierge__SharedDir d, *dp = &d;

        shared_dir_from(&d, s);
        resp.shares = &dp;
        resp.n_shares = 1;
        return wire_reply(c, id, BISTRO__MESSAGE_TYPE__LIST_SHARES_RESPONSE, &resp.base);
}

static int share_job(Job *j, void *userdata) {
        ShareOp *op = userdata;
        _cleanup_free_ char *err = NULL;
        Vm *vm;
        int r;

        r = vm_get(op->manager, op->vm_name, false, &vm);
        if (r < 0)
                return job_fail(j, r, "VM '%s': %s", op->vm_name, strerror(-r));
        if (op->add) {
                r = seneschal_add(vm, &op->share, op->dev, op->ino);
                if (r == -ENOENT || r == -ECONNREFUSED)
                        return job_fail(
                                j, -EOPNOTSUPP,
                                "VM '%s' runs without shares (seneschal did not start: see '%s'); the share "
                                "was not made",
                                op->vm_name, vm->vmm_log_path);
                if (r == -ESTALE)
                        return job_fail(
                                j, r, "'%s' changed while it was being shared: try again",
                                op->share.host_path);
                if (r < 0)
                        return job_fail(j, r, "cannot share '%s': %s", op->share.host_path, strerror(-r));
                r = tremplin_add_share(vm, &op->share, &err);
                if (r < 0 && r != -ESRCH) {
                        (void) seneschal_remove(vm, op->share.name);
                        return job_fail(j, r, "container '%s': %s", op->share.container, strnull(err));
                }
                return 0;
        }
        r = tremplin_remove_share(vm, &op->share, &err);
        if (r < 0 && r != -ESRCH && r != -ENOENT)
                log_warning_errno(
                        r, "VM '%s': container '%s': %s", op->vm_name, op->share.container, strnull(err));
        r = seneschal_remove(vm, op->share.name);
        if (r < 0 && r != -ENOENT && r != -ECONNREFUSED)
                return job_fail(j, r, "cannot unshare '%s': %s", op->share.name, strerror(-r));
        return 0;
}

static void share_done(
        Job *j,
        int error,
        const char *message,
        uint32_t type,
        const ProtobufCMessage *result,
        void *userdata) {
        _cleanup_(share_op_freep) ShareOp *op = userdata;
        Bistro__Empty empty = BISTRO__EMPTY__INIT;
        Vm *vm;
        int r;

        op->manager->n_requests--;
        if (error < 0) {
                (void) wire_reply_error(
                        op->reply.conn, op->reply.id, error, "%s", message[0] ? message : strerror(-error));
                return;
        }
        r = vm_get(op->manager, op->vm_name, false, &vm);
        if (r < 0) {
                (void) wire_reply_error(op->reply.conn, op->reply.id, r, "VM '%s' is gone", op->vm_name);
                return;
        }
        r = op->add ? share_list_add(&vm->shares, &op->share)
                    : share_list_remove(&vm->shares, op->share.name);
        if (r >= 0 || r == -ENOENT)
                r = vm_save_shares(vm);
        if (r < 0) {
                (void) wire_reply_error(
                        op->reply.conn, op->reply.id, r, "cannot save the shares of VM '%s': %s",
                        op->vm_name, strerror(-r));
                return;
        }
        cicerone_vm_shares_changed(vm);
        log_info(
                "VM '%s': %s '%s'%s.", op->vm_name, op->add ? "shared" : "unshared", op->share.name,
                op->add && op->share.read_only ? " read-only" : "");
        if (op->add)
                (void) reply_one(op->reply.conn, op->reply.id, &op->share);
        else
                (void) wire_reply(op->reply.conn, op->reply.id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
}

static int share_run(ShareOp *op) {
        Job *j = NULL;
        int r;

        r = job_start(
                op->manager->event, op->add ? "share" : "unshare", 0, share_job, NULL, share_done, op, &j);
        if (r < 0)
                return r;
        op->manager->n_requests++;
        return 0;
}

static int handle_share(
        Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__SharePathRequest *req) {
        _cleanup_(share_op_freep) ShareOp *op = NULL;
        _cleanup_free_ char *resolved = NULL, *err = NULL, *data_dir = NULL;
        const char *home = getenv("HOME");
        struct stat st;
        Share s = {};
        Vm *vm;
        int r;

        if (vm_get(m, req->vm_name, false, &vm) < 0 || (!vm->exists && !vm_is_up(vm)))
                return wire_reply_error(c, id, -ENOENT, "no VM named '%s'", req->vm_name);
        (void) bistro_data_dir(&data_dir);
        r = share_path_check(
                req->host_path,
                &(SharePathRules){ .uid = getuid(),
                                   .home = home && home[0] == '/' ? home : NULL,
                                   .data_dir = data_dir },
                &resolved, &st, &err);
        if (r < 0)
                return wire_reply_error(c, id, r, "cannot share: %s", err ?: strerror(-r));
        if (req->name[0])
                strscpy(s.name, req->name, sizeof(s.name));
        else if (share_default_name(resolved, s.name, sizeof(s.name)) < 0)
                return wire_reply_error(
                        c, id, -EINVAL, "'%s' is not a valid share name: give one with --name", resolved);
        strscpy(s.container, req->container[0] ? req->container : DEFAULT_CONTAINER, sizeof(s.container));
        s.read_only = req->read_only;
        s.host_path = resolved;
        if (share_list_find(&vm->shares, s.name) >= 0)
                return wire_reply_error(
                        c, id, -EEXIST, "VM '%s' already has a share named '%s'", vm->name, s.name);
        if (vm->shares.n >= SHARES_MAX)
                return wire_reply_error(
                        c, id, -ENOSPC, "VM '%s' has %u shares, the most it can have", vm->name, SHARES_MAX);
        if (vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_STARTING ||
            (vm_is_up(vm) && vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING))
                return wire_reply_error(
                        c, id, -EBUSY, "VM '%s' is starting or stopping: try again", vm->name);
        if (vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING) {
                r = share_list_add(&vm->shares, &s);
                if (r >= 0)
                        r = vm_save_shares(vm);
                if (r < 0)
                        return wire_reply_error(
                                c, id, r, "cannot save the shares of VM '%s': %s", vm->name, strerror(-r));
                log_info("VM '%s': shared '%s' (at its next start).", vm->name, s.name);
                return reply_one(c, id, &s);
        }
        op = new0(ShareOp, 1);
        if (!op)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        op->manager = m;
        op->reply = (Pending){ .conn = wire_conn_ref(c), .id = id };
        strscpy(op->vm_name, vm->name, sizeof(op->vm_name));
        op->share = s;
        op->share.host_path = TAKE_PTR(resolved);
        op->dev = st.st_dev;
        op->ino = st.st_ino;
        op->add = true;
        r = share_run(op);
        if (r < 0)
                return wire_reply_error(c, id, r, "cannot start the share job: %s", strerror(-r));
        TAKE_PTR(op);
        return 0;
}

static int handle_unshare(
        Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__UnsharePathRequest *req) {
        _cleanup_(share_op_freep) ShareOp *op = NULL;
        Bistro__Empty empty = BISTRO__EMPTY__INIT;
        Vm *vm;
        int i, r;

        if (vm_get(m, req->vm_name, false, &vm) < 0 || (!vm->exists && !vm_is_up(vm)))
                return wire_reply_error(c, id, -ENOENT, "no VM named '%s'", req->vm_name);
        i = share_list_find(&vm->shares, req->name);
        if (i < 0)
                return wire_reply_error(
                        c, id, -ENOENT, "VM '%s' has no share named '%s'", vm->name, req->name);
        if (vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING) {
                if (vm_is_up(vm))
                        return wire_reply_error(
                                c, id, -EBUSY, "VM '%s' is starting or stopping: try again", vm->name);
                r = share_list_remove(&vm->shares, req->name);
                if (r >= 0)
                        r = vm_save_shares(vm);
                if (r < 0)
                        return wire_reply_error(
                                c, id, r, "cannot save the shares of VM '%s': %s", vm->name, strerror(-r));
                log_info("VM '%s': unshared '%s'.", vm->name, req->name);
                return wire_reply(c, id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
        }
        op = new0(ShareOp, 1);
        if (!op)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        op->manager = m;
        op->reply = (Pending){ .conn = wire_conn_ref(c), .id = id };
        strscpy(op->vm_name, vm->name, sizeof(op->vm_name));
        op->share = vm->shares.items[i];
        op->share.host_path = strdup(vm->shares.items[i].host_path);
        if (!op->share.host_path)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        r = share_run(op);
        if (r < 0)
                return wire_reply_error(c, id, r, "cannot start the unshare job: %s", strerror(-r));
        TAKE_PTR(op);
        return 0;
}

static int handle_list(
        Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__ListSharesRequest *req) {
        Bistro__Concierge__ListSharesResponse resp = BISTRO__CONCIERGE__LIST_SHARES_RESPONSE__INIT;
        Bistro__Concierge__SharedDir d[SHARES_MAX], *dp[SHARES_MAX];
        Vm *vm;

        if (vm_get(m, req->vm_name, false, &vm) < 0 || (!vm->exists && !vm_is_up(vm)))
                return wire_reply_error(c, id, -ENOENT, "no VM named '%s'", req->vm_name);
        for (size_t i = 0; i < vm->shares.n; i++) {
                shared_dir_from(&d[i], &vm->shares.items[i]);
                dp[i] = &d[i];
        }
        resp.shares = dp;
        resp.n_shares = vm->shares.n;
        return wire_reply(c, id, BISTRO__MESSAGE_TYPE__LIST_SHARES_RESPONSE, &resp.base);
}

int shares_request(Manager *m, WireConn *c, uint32_t type, uint64_t id, const ProtobufCMessage *msg) {
        switch (type) {
        case BISTRO__MESSAGE_TYPE__SHARE_PATH_REQUEST:
                return handle_share(m, c, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__UNSHARE_PATH_REQUEST:
                return handle_unshare(m, c, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__LIST_SHARES_REQUEST:
                return handle_list(m, c, id, (const void *) msg);
        default:
                return -EOPNOTSUPP;
        }
}

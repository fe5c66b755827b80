/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The container verbs (proto/concierge.proto), forwarded to tremplin in the VM (guest vsock
 * TREMPLIN_PORT, proto/tremplin.proto). Every guest call runs in a job (job.h) with timeouts; the
 * job's worker turns tremplin's answer into the concierge response and hands it to the loop as the
 * job's result, which the loop sends on as it is. CreateContainer streams a rootfs tarball from the
 * host image store (or any file), decompressed by zstd/gzip/xz in the worker, with PROGRESS events.
 * StartContainer starts the VM first when needed (waiting for it to leave STARTING, woken by the
 * VM), creates the container first when it is missing and create_if_missing is set, and gives the
 * container its token (kept here per VM and container, for cicerone). tremplin serves one request
 * per connection: a running container costs one connection, a missing one three (start, create,
 * start). See docs/design/containers.md. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "app-entries.h"
#include "bistro-ports.h"
#include "concierge-container.h"
#include "concierge-util.h"
#include "concierge-vm.h"
#include "fd-util.h"
#include "guest.h"
#include "log.h"
#include "path-lookup.h"
#include "proto-validate.h"
#include "json-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "token-store.h"
#include "time-util.h"

#define DEFAULT_IMAGE "debian"
#define CONNECT_TIMEOUT_MS 10000
#define CONNECT_RETRIES 120u /* x 250 ms */
#define CONNECT_RETRY_USEC (250u * 1000u)
#define CALL_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS 60000
#define DELETE_TIMEOUT_MS 180000
#define CREATE_REPLY_TIMEOUT_MS 300000
#define SEND_TIMEOUT_MS 60000
#define IMAGE_CHUNK (64u * 1024u)
#define TOKEN_LEN 43

typedef struct CtOp {
        Pending reply; /* first: the job's userdata is also a Pending (pending_job_progress()) */
        Manager *manager;
        uint32_t type; /* the concierge request */
        char vm_name[PROTO_NAME_MAX + 1];
        char name[PROTO_NAME_MAX + 1];
        char image[PROTO_IMAGE_NAME_MAX + 1];
        char image_path[PATH_MAX];
        char token[TOKEN_LEN + 1];
        char *vsock_path;
        char *image_request; /* StartContainer: the request's image, resolved when creating */
        char user[32 + 1];   /* StartContainer: ensure this user ("" for none; proto_user_ok: <= 32) */
        uint32_t uid;
        uint64_t unpacked_size;
        bool force, create_if_missing;
        Vm *waiting_on; /* StartContainer waiting for the VM to leave STARTING */
} CtOp;

static CtOp *ct_op_free(CtOp *op) {
        if (!op)
                return NULL;
        if (op->waiting_on)
                vm_unwait(op->waiting_on, op);
        wire_conn_unref(op->reply.conn);
        free(op->vsock_path);
        free(op->image_request);
        free(op);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(CtOp *, ct_op_free);

/* Tokens: one per VM + container, made at its first start and kept in the token store (on disk, so
 * that a concierge or cicerone restart while the container runs changes nothing); dropped when the
 * container is deleted or the VM destroyed. */
static int token_get(Manager *m, const char *vm, const char *name, TokenBuf ret) {
        static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        int r;

        r = token_store_get(m->tokens_dir, vm, name, ret);
        if (r != -ENOENT)
                return r;
        for (size_t i = 0; i < TOKEN_LEN; i++)
                ret[i] = chars[randombytes_uniform(sizeof(chars) - 1)];
        ret[TOKEN_LEN] = 0;
        return token_store_put(m->tokens_dir, vm, name, ret);
}

#define IMAGE_JSON_MAX 65536u

uint64_t image_json_unpacked_size(const char *path) {
        _cleanup_free_ char *text = NULL;
        json_object *root = NULL, *v;
        size_t len;
        int64_t n;

        if (read_file(path, IMAGE_JSON_MAX, &text, &len) < 0)
                return 0;
        /* Bounded (size, depth), strict, valid UTF-8 without NUL, an object. */
        if (json_parse_object(text, len, IMAGE_JSON_MAX, &root) < 0)
                return 0;
        if (!json_object_object_get_ex(root, "unpacked_size", &v) ||
            !json_object_is_type(v, json_type_int)) {
                json_object_put(root);
                return 0;
        }
        n = json_object_get_int64(v); /* clamped to INT64_MAX beyond it */
        json_object_put(root);
        if (n < 0 || (uint64_t) n > IMAGE_UNPACKED_SIZE_MAX)
                return 0;
        return (uint64_t) n;
}

/* A name for an imported file: its base name without .tar*, reduced to the name characters. */
static void image_name_from_path(const char *path, char *out, size_t size) {
        const char *b = strrchr(path, '/');
        size_t n = 0;
        char *dot;

        b = b ? b + 1 : path;
        for (; *b && n + 1 < size && n < PROTO_IMAGE_NAME_MAX; b++) {
                char ch = *b;

                if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                      ch == '.' || ch == '_' || ch == '-'))
                        ch = '_';
                if (n == 0 && (ch == '.' || ch == '-'))
                        continue;
                out[n++] = ch;
        }
        out[n] = 0;
        dot = strstr(out, ".tar");
        if (dot && dot != out)
                *dot = 0;
        if (!proto_image_name_ok(out))
                out[0] = 0;
}

/* Fills op->image, op->image_path and op->unpacked_size from an image name of the store (empty:
 * the default) or, with image_path set, any readable file (image then names it, may be empty). */
static int resolve_image(CtOp *op, const char *image, const char *image_path, char **reterr_message) {
        _cleanup_free_ char *store = NULL, *json = NULL;
        int r;

        if (image_path && image_path[0]) {
                if (access(image_path, R_OK) < 0) {
                        r = -errno;
                        (void) set_error_message(
                                reterr_message, 0, "cannot read '%s': %s", image_path, strerror(-r));
                        return r;
                }
                strscpy(op->image_path, image_path, sizeof(op->image_path));
                if (image && image[0])
                        strscpy(op->image, image, sizeof(op->image));
                else
                        image_name_from_path(image_path, op->image, sizeof(op->image));
                return 0;
        }
        strscpy(op->image, image && image[0] ? image : DEFAULT_IMAGE, sizeof(op->image));
        r = bistro_image_store(&store);
        if (r < 0) {
                (void) set_error_message(
                        reterr_message, 0,
                        "cannot find the image store ($BISTRO_IMAGE_STORE must be absolute): %s",
                        strerror(-r));
                return r;
        }
        (void) snprintf(op->image_path, sizeof(op->image_path), "%s/%s.tar.zst", store, op->image);
        if (access(op->image_path, R_OK) < 0) {
                (void) set_error_message(reterr_message, 0, "no image '%s' in %s", op->image, store);
                return -ENOENT;
        }
        if (asprintf(&json, "%s/%s.json", store, op->image) < 0)
                return -ENOMEM;
        op->unpacked_size = image_json_unpacked_size(json);
        return 0;
}

/* Worker side from here to ct_done(). */

/* tremplin starts with the VM (a maitred service) and may still be coming up, or respawning, when
 * the VM is reported running: a refused connection is retried for a while. */
static int tremplin_connect(Job *j, CtOp *op) {
        int fd;

        for (unsigned i = 0;; i++) {
                fd = guest_connect(op->vsock_path, TREMPLIN_PORT, CONNECT_TIMEOUT_MS);
                if (fd >= 0 || (fd != -ECONNREFUSED && fd != -ECONNRESET) || i >= CONNECT_RETRIES)
                        break;
                (void) usleep(CONNECT_RETRY_USEC);
        }
        if (fd < 0)
                return job_fail(j, fd, "cannot reach tremplin in VM '%s': %s", op->vm_name, strerror(-fd));
        return fd;
}

/* One call on a fresh connection (tremplin serves one request per connection). tremplin's error
 * message (with the LXC log tail) is kept whole for the user. */
static int tremplin_call(
        Job *j,
        CtOp *op,
        uint32_t type,
        const ProtobufCMessage *req,
        int timeout_ms,
        uint32_t expected,
        ProtobufCMessage **ret) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint32_t rtype = 0;
        int r;

        fd = tremplin_connect(j, op);
        if (fd < 0)
                return fd;
        r = wire_call_sync(fd, type, req, expected, timeout_ms, &rtype, &resp);
        if (r < 0) {
                _cleanup_free_ char *m = NULL;

                if (rtype == BISTRO__MESSAGE_TYPE__ERROR_REPLY)
                        (void) wire_error_reply_to_errno((const Bistro__ErrorReply *) resp, &m);
                if (m)
                        return job_fail(j, r, "%s", m);
                return job_fail(j, r, "tremplin call failed: %s", strerror(-r));
        }
        if (rtype != expected)
                return job_fail(
                        j, -EBADMSG, "tremplin sent an unexpected answer (%s)",
                        message_type_to_string(rtype) ?: "unknown type");
        if (ret)
                *ret = TAKE_PTR(resp);
        return 0;
}

static void fill_info(
        const CtOp *op, const Bistro__Tremplin__ContainerInfo *t, Bistro__Concierge__ContainerInfo *c) {
        bistro__concierge__container_info__init(c);
        c->vm_name = (char *) op->vm_name;
        c->name = t->name;
        c->state = (int) t->state; /* the two enums have the same values */
        c->image = t->image;
        c->ipv4_address = t->ipv4_address;
        c->ipv6_address = t->ipv6_address;
}

/* The job's result: the concierge ContainerInfoResponse for tremplin's. */
static int result_info(Job *j, const CtOp *op, const ProtobufCMessage *tremplin_resp, bool created) {
        const Bistro__Tremplin__ContainerInfoResponse *t = (const void *) tremplin_resp;
        Bistro__Concierge__ContainerInfoResponse out = BISTRO__CONCIERGE__CONTAINER_INFO_RESPONSE__INIT;
        Bistro__Concierge__ContainerInfo info;
        int r;

        fill_info(op, t->container, &info);
        out.container = &info;
        out.created = created;
        out.started = t->started;
        out.user_created = t->user_created;
        r = job_set_result(j, BISTRO__MESSAGE_TYPE__CONTAINER_INFO_RESPONSE, &out.base);
        if (r < 0)
                return job_fail(j, r, "tremplin sent container information concierge cannot pass on");
        return 0;
}

/* The decompressor for the file's magic, NULL for a plain tar. */
static const char *decompressor(int fd) {
        uint8_t b[6] = {};

        if (pread(fd, b, sizeof(b), 0) < (ssize_t) sizeof(b))
                return NULL;
        if (b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
                return "zstd";
        if (b[0] == 0x1f && b[1] == 0x8b)
                return "gzip";
        if (memcmp(b,
                   "\xfd"
                   "7zXZ\0",
                   6) == 0)
                return "xz";
        return NULL;
}

/* After a failed send, or with data waiting: tremplin's answer (an error) explains. */
static int read_early_reply(Job *j, int fd, int timeout_ms) {
        _cleanup_message_ ProtobufCMessage *msg = NULL;
        FrameHeader h;
        int r;

        r = wire_recv_sync(fd, timeout_ms, &h, &msg);
        if (r < 0)
                return r;
        if (h.type == BISTRO__MESSAGE_TYPE__ERROR_REPLY) {
                _cleanup_free_ char *m = NULL;

                r = wire_error_reply_to_errno((const Bistro__ErrorReply *) msg, &m);
                return job_fail(j, r, "%s", m ?: strerror(-r));
        }
        return job_fail(j, -EBADMSG, "tremplin answered before the image was complete");
}

/* Streams op->image_path to tremplin's CreateContainer; *ret gets its ContainerInfoResponse. */
static int create_stream(Job *j, CtOp *op, ProtobufCMessage **ret) {
        Bistro__Tremplin__CreateContainerRequest req = BISTRO__TREMPLIN__CREATE_CONTAINER_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_close_ int src = -EBADF, fd = -EBADF, in = -EBADF;
        _cleanup_sigkill_wait_ pid_t pid = 0;
        _cleanup_free_ uint8_t *buf = NULL;
        const char *prog;
        uint64_t done = 0, last = 0, total = op->unpacked_size;
        FrameHeader h;
        int r;

        buf = malloc(IMAGE_CHUNK);
        if (!buf)
                return -ENOMEM;
        src = open(op->image_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (src < 0)
                return job_fail(j, -errno, "cannot read %s: %s", op->image_path, strerror(errno));
        prog = decompressor(src);
        if (prog) {
                int pfd[2];

                if (pipe2(pfd, O_CLOEXEC) < 0)
                        return -errno;
                r = safe_fork_full(
                        prog, FORK_RESET_SIGNALS | FORK_DEATHSIG | FORK_CLOSE_ALL_FDS,
                        (const int[]){ src, pfd[1] }, 2, &pid);
                if (r < 0) {
                        safe_close(pfd[0]);
                        safe_close(pfd[1]);
                        return job_fail(j, r, "cannot start %s: %s", prog, strerror(-r));
                }
                if (r == 0) {
                        int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);

                        if (dup2(src, 0) < 0 || dup2(pfd[1], 1) < 0 ||
                            (devnull >= 0 && dup2(devnull, 2) < 0))
                                _exit(127);
                        execlp(prog, prog, "-d", "-c", NULL);
                        _exit(127);
                }
                safe_close(pfd[1]);
                in = pfd[0];
        } else
                in = TAKE_FD(src);

        fd = tremplin_connect(j, op);
        if (fd < 0)
                return fd;
        req.name = op->name;
        req.image = op->image;
        req.unpacked_size = op->unpacked_size;
        r = wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__TREMPLIN_CREATE_CONTAINER_REQUEST, FRAME_REQUEST, 1, &req.base,
                SEND_TIMEOUT_MS);
        if (r < 0)
                return job_fail(j, r, "cannot send the request to tremplin: %s", strerror(-r));
        job_progress(j, 0, total, "unpacking");
        for (;;) {
                Bistro__Tremplin__ImageChunk chunk = BISTRO__TREMPLIN__IMAGE_CHUNK__INIT;
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                n = loop_read(in, buf, IMAGE_CHUNK);
                if (n < 0)
                        return job_fail(j, (int) n, "reading the image: %s", strerror((int) -n));
                if (n == 0 && pid > 0) {
                        /* The decompressor's verdict comes before the eof chunk. */
                        r = wait_for_terminate(pid);
                        pid = 0;
                        if (r != 0)
                                return job_fail(
                                        j, -EBADMSG, "%s is not a valid %s-compressed file", op->image_path,
                                        prog);
                }
                if (poll(&p, 1, 0) > 0)
                        return read_early_reply(j, fd, 5000);
                chunk.data.data = buf;
                chunk.data.len = (size_t) n;
                chunk.eof = n == 0;
                r = wire_send_sync(
                        fd, BISTRO__MESSAGE_TYPE__TREMPLIN_IMAGE_CHUNK, FRAME_EVENT, 1, &chunk.base,
                        SEND_TIMEOUT_MS);
                if (r < 0) {
                        int k = read_early_reply(j, fd, 2000);

                        if (k < 0 && k != -ETIMEDOUT && k != -ECONNRESET)
                                return k;
                        return job_fail(j, r, "sending the image to tremplin: %s", strerror(-r));
                }
                done += (uint64_t) n;
                if (done - last >= (UINT64_C(1) << 20) || n == 0) {
                        job_progress(j, total ? MIN(done, total) : done, total, "unpacking");
                        last = done;
                }
                if (n == 0)
                        break;
        }
        r = wire_recv_sync(fd, CREATE_REPLY_TIMEOUT_MS, &h, &resp);
        if (r < 0)
                return job_fail(j, r, "no answer from tremplin: %s", strerror(-r));
        if (h.type == BISTRO__MESSAGE_TYPE__ERROR_REPLY) {
                _cleanup_free_ char *m = NULL;

                r = wire_error_reply_to_errno((const Bistro__ErrorReply *) resp, &m);
                return job_fail(j, r, "%s", m ?: strerror(-r));
        }
        if (h.type != BISTRO__MESSAGE_TYPE__TREMPLIN_CONTAINER_INFO_RESPONSE || h.id != 1 ||
            h.flags != FRAME_RESPONSE)
                return job_fail(j, -EBADMSG, "unexpected answer from tremplin");
        *ret = TAKE_PTR(resp);
        return 0;
}

static int create_job(Job *j, void *userdata) {
        CtOp *op = userdata;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        int r;

        r = create_stream(j, op, &resp);
        if (r < 0)
                return r;
        return result_info(j, op, resp, true);
}

static int tremplin_start(Job *j, CtOp *op, ProtobufCMessage **ret) {
        Bistro__Tremplin__StartContainerRequest req = BISTRO__TREMPLIN__START_CONTAINER_REQUEST__INIT;
        _cleanup_free_ Bistro__Tremplin__ShareMount *mounts = NULL;
        _cleanup_free_ Bistro__Tremplin__ShareMount **ptrs = NULL;
        Vm *vm;

        req.name = op->name;
        req.token = op->token;
        req.user = op->user;
        req.uid = op->uid;
        /* The container's shares, bound when it starts (the worker's copy of the VM's list). */
        if (vm_get(op->manager, op->vm_name, false, &vm) >= 0 &&
            shares_for_container(vm, op->name, &mounts, &ptrs, &req.n_shares) >= 0)
                req.shares = ptrs;
        return tremplin_call(
                j, op, BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST, &req.base, CALL_TIMEOUT_MS,
                BISTRO__MESSAGE_TYPE__TREMPLIN_CONTAINER_INFO_RESPONSE, ret);
}

static int start_job(Job *j, void *userdata) {
        CtOp *op = userdata;
        _cleanup_message_ ProtobufCMessage *resp = NULL, *created = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        r = tremplin_start(j, op, &resp);
        if (r != -ENOENT || !op->create_if_missing)
                return r < 0 ? r : result_info(j, op, resp, false);

        /* Missing: create it, then start it. */
        if (op->image_request[0] == '/')
                r = resolve_image(op, NULL, op->image_request, &err);
        else
                r = resolve_image(op, op->image_request, NULL, &err);
        if (r < 0)
                return job_fail(
                        j, r, "container '%s' does not exist and cannot be created: %s", op->name,
                        strnull(err));
        log_info("VM '%s': creating container '%s' from %s.", op->vm_name, op->name, op->image_path);
        r = create_stream(j, op, &created);
        if (r < 0)
                return r;
        job_progress(j, 0, 0, "starting the container");
        r = tremplin_start(j, op, &resp);
        if (r < 0)
                return r;
        return result_info(j, op, resp, true);
}

static int stop_job(Job *j, void *userdata) {
        CtOp *op = userdata;
        Bistro__Tremplin__StopContainerRequest req = BISTRO__TREMPLIN__STOP_CONTAINER_REQUEST__INIT;

        req.name = op->name;
        req.force = op->force;
        return tremplin_call(
                j, op, BISTRO__MESSAGE_TYPE__TREMPLIN_STOP_CONTAINER_REQUEST, &req.base, STOP_TIMEOUT_MS,
                BISTRO__MESSAGE_TYPE__EMPTY, NULL);
}

static int delete_job(Job *j, void *userdata) {
        CtOp *op = userdata;
        Bistro__Tremplin__DeleteContainerRequest req = BISTRO__TREMPLIN__DELETE_CONTAINER_REQUEST__INIT;

        req.name = op->name;
        return tremplin_call(
                j, op, BISTRO__MESSAGE_TYPE__TREMPLIN_DELETE_CONTAINER_REQUEST, &req.base, DELETE_TIMEOUT_MS,
                BISTRO__MESSAGE_TYPE__EMPTY, NULL);
}

static int list_job(Job *j, void *userdata) {
        CtOp *op = userdata;
        Bistro__Tremplin__ListContainersRequest req = BISTRO__TREMPLIN__LIST_CONTAINERS_REQUEST__INIT;
        Bistro__Concierge__ListContainersResponse out = BISTRO__CONCIERGE__LIST_CONTAINERS_RESPONSE__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_free_ Bistro__Concierge__ContainerInfo *infos = NULL;
        _cleanup_free_ Bistro__Concierge__ContainerInfo **ptrs = NULL;
        const Bistro__Tremplin__ListContainersResponse *l;
        int r;

        r = tremplin_call(
                j, op, BISTRO__MESSAGE_TYPE__TREMPLIN_LIST_CONTAINERS_REQUEST, &req.base, CALL_TIMEOUT_MS,
                BISTRO__MESSAGE_TYPE__TREMPLIN_LIST_CONTAINERS_RESPONSE, &resp);
        if (r < 0)
                return r;
        l = (const void *) resp;
        infos = new0(Bistro__Concierge__ContainerInfo, l->n_containers + 1);
        ptrs = new0(Bistro__Concierge__ContainerInfo *, l->n_containers + 1);
        if (!infos || !ptrs)
                return -ENOMEM;
        for (size_t i = 0; i < l->n_containers; i++) {
                fill_info(op, l->containers[i], &infos[i]);
                ptrs[i] = &infos[i];
        }
        out.containers = ptrs;
        out.n_containers = l->n_containers;
        r = job_set_result(j, BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_RESPONSE, &out.base);
        if (r < 0)
                return job_fail(j, r, "tremplin sent a container list concierge cannot pass on");
        return 0;
}

/* Event loop side. */

static void ct_done(
        Job *j,
        int error,
        const char *message,
        uint32_t type,
        const ProtobufCMessage *result,
        void *userdata) {
        _cleanup_(ct_op_freep) CtOp *op = userdata;

        op->manager->n_requests--;
        if (error < 0) {
                if (error == -ECONNREFUSED || error == -ECONNRESET)
                        log_info("VM '%s': tremplin: %s", op->vm_name, message);
                (void) wire_reply_error(
                        op->reply.conn, op->reply.id, error, "%s", message[0] ? message : strerror(-error));
                return;
        }
        if (op->type == BISTRO__MESSAGE_TYPE__DELETE_CONTAINER_REQUEST) {
                int k;

                (void) token_store_remove(op->manager->tokens_dir, op->vm_name, op->name);
                /* What the container brought to the host's launcher goes with it. */
                k = app_entries_remove(op->vm_name, op->name);
                if (k < 0)
                        log_warning_errno(
                                k, "VM '%s': cannot remove the launcher entries of container '%s': %m",
                                op->vm_name, op->name);
                else if (k > 0)
                        log_info(
                                "VM '%s': removed %d launcher entries of container '%s'.", op->vm_name, k,
                                op->name);
        }
        if (op->type == BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST &&
            type == BISTRO__MESSAGE_TYPE__CONTAINER_INFO_RESPONSE)
                log_info(
                        "VM '%s': container '%s' is running%s.", op->vm_name, op->name,
                        ((const Bistro__Concierge__ContainerInfoResponse *) result)->created ? " (created)"
                                                                                             : "");
        (void) wire_reply(op->reply.conn, op->reply.id, type, result);
}

static int ct_run(CtOp *op, Vm *vm, JobFn fn, const char *what, int operation) {
        Job *j = NULL;
        int r;

        op->vsock_path = strdup(vm->vsock_path);
        if (!op->vsock_path) {
                (void) wire_reply_error(op->reply.conn, op->reply.id, -ENOMEM, "out of memory");
                ct_op_free(op);
                return 0;
        }
        r = job_start(op->manager->event, what, operation, fn, pending_job_progress, ct_done, op, &j);
        if (r < 0) {
                (void) wire_reply_error(
                        op->reply.conn, op->reply.id, r, "cannot start the %s worker: %s", what,
                        strerror(-r));
                ct_op_free(op);
                return 0;
        }
        op->manager->n_requests++;
        return 0;
}

/* The VM must be running for everything but StartContainer. */
static int running_vm(Manager *m, WireConn *c, uint64_t id, const char *name, Vm **ret) {
        Vm *vm;

        if (vm_get(m, name, false, &vm) < 0 || (!vm->exists && !vm_is_up(vm)))
                return wire_reply_error(c, id, -ENOENT, "no VM named '%s'", name), -ENOENT;
        if (vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING)
                return wire_reply_error(c, id, -EHOSTDOWN, "VM '%s' is not running", name), -EHOSTDOWN;
        *ret = vm;
        return 0;
}

static CtOp *ct_op_new(
        Manager *m, WireConn *c, uint64_t id, uint32_t type, const char *vm, const char *name) {
        CtOp *op = new0(CtOp, 1);

        if (!op)
                return NULL;
        op->manager = m;
        op->reply.conn = wire_conn_ref(c);
        op->reply.id = id;
        op->type = type;
        strscpy(op->vm_name, vm, sizeof(op->vm_name));
        strscpy(op->name, name ?: "", sizeof(op->name));
        return op;
}

static int handle_create(
        Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__CreateContainerRequest *req) {
        _cleanup_(ct_op_freep) CtOp *op = NULL;
        _cleanup_free_ char *err = NULL;
        Vm *vm;
        int r;

        if (running_vm(m, c, id, req->vm_name, &vm) < 0)
                return 0;
        op = ct_op_new(m, c, id, BISTRO__MESSAGE_TYPE__CREATE_CONTAINER_REQUEST, req->vm_name, req->name);
        if (!op)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        r = resolve_image(op, req->image, req->image_path, &err);
        if (r < 0)
                return wire_reply_error(c, id, r, "%s", err ?: strerror(-r));
        log_info("VM '%s': creating container '%s' from %s.", req->vm_name, req->name, op->image_path);
        return ct_run(
                TAKE_PTR(op), vm, create_job, "create-container",
                BISTRO__CONCIERGE__OPERATION__OPERATION_CREATE_CONTAINER);
}

static void start_container_job(CtOp *op, Vm *vm) {
        TokenBuf token;
        int r = token_get(op->manager, op->vm_name, op->name, token);

        if (r < 0) {
                (void) wire_reply_error(
                        op->reply.conn, op->reply.id, r, "cannot keep the container's token in %s: %s",
                        op->manager->tokens_dir, strerror(-r));
                ct_op_free(op);
                return;
        }
        strscpy(op->token, token, sizeof(op->token));
        sodium_memzero(token, sizeof(token));
        (void) ct_run(
                op, vm, start_job, "start-container",
                BISTRO__CONCIERGE__OPERATION__OPERATION_CREATE_CONTAINER);
}

/* The VM left STARTING (woken by the VM, no polling). */
static void on_vm_started(Vm *vm, int error, const char *message, void *userdata) {
        CtOp *op = userdata;

        op->waiting_on = NULL; /* the VM dropped us from its list */
        if (error < 0) {
                (void) wire_reply_error(
                        op->reply.conn, op->reply.id, error == -ECANCELED ? -ECANCELED : -EHOSTDOWN,
                        "VM '%s' did not start: %s", op->vm_name, message[0] ? message : "see 'vmc logs'");
                ct_op_free(op);
                return;
        }
        if (wire_conn_is_closed(op->reply.conn)) {
                ct_op_free(op);
                return;
        }
        start_container_job(op, vm);
}

static int handle_start(
        Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__StartContainerRequest *req) {
        _cleanup_(ct_op_freep) CtOp *op = NULL;
        Vm *vm;
        int r;

        op = ct_op_new(m, c, id, BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST, req->vm_name, req->name);
        if (!op)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        op->create_if_missing = req->create_if_missing;
        strscpy(op->user, req->user, sizeof(op->user)); /* validated: proto_user_ok() or "" */
        op->uid = req->uid;
        op->image_request = strdup(req->image);
        if (!op->image_request)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        r = vm_get(m, req->vm_name, true, &vm);
        if (r < 0)
                return wire_reply_error(c, id, r, "cannot start VM '%s': %s", req->vm_name, strerror(-r));
        if (vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING) {
                start_container_job(TAKE_PTR(op), vm);
                return 0;
        }
        if (!vm_is_up(vm)) {
                Bistro__Concierge__StartVmRequest sv = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;

                sv.name = vm->name;
                log_info("VM '%s': starting it for container '%s'.", req->vm_name, req->name);
                r = vm_start(vm, NULL, 0, &sv);
                if (r < 0) {
                        if (!vm->exists && !vm_is_up(vm) && !vm->job && !vm->busy)
                                vm_forget(m, vm);
                        return wire_reply_error(
                                c, id, r == -EBUSY ? -EBUSY : -EHOSTDOWN, "VM '%s' cannot be started: %s",
                                req->vm_name, r == -EBUSY ? "it is busy" : strerror(-r));
                }
        } else if (vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_STARTING)
                return wire_reply_error(c, id, -EBUSY, "VM '%s' is stopping", req->vm_name);
        {
                Bistro__Concierge__Progress p = BISTRO__CONCIERGE__PROGRESS__INIT;

                p.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM;
                p.stage = (char *) "starting the VM";
                (void) wire_send_event(c, BISTRO__MESSAGE_TYPE__PROGRESS, id, &p.base);
        }
        r = vm_wait_running(vm, on_vm_started, op);
        if (r < 0)
                return wire_reply_error(c, id, r, "out of memory");
        op->waiting_on = vm;
        TAKE_PTR(op);
        return 0;
}

int container_request(Manager *m, WireConn *c, uint32_t type, uint64_t id, const ProtobufCMessage *msg) {
        _cleanup_(ct_op_freep) CtOp *op = NULL;
        Vm *vm;

        switch (type) {
        case BISTRO__MESSAGE_TYPE__CREATE_CONTAINER_REQUEST:
                return handle_create(m, c, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST:
                return handle_start(m, c, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__STOP_CONTAINER_REQUEST: {
                const Bistro__Concierge__StopContainerRequest *req = (const void *) msg;

                if (running_vm(m, c, id, req->vm_name, &vm) < 0)
                        return 0;
                op = ct_op_new(m, c, id, type, req->vm_name, req->name);
                if (!op)
                        return wire_reply_error(c, id, -ENOMEM, "out of memory");
                op->force = req->force;
                return ct_run(TAKE_PTR(op), vm, stop_job, "stop-container", 0);
        }
        case BISTRO__MESSAGE_TYPE__DELETE_CONTAINER_REQUEST: {
                const Bistro__Concierge__DeleteContainerRequest *req = (const void *) msg;

                if (running_vm(m, c, id, req->vm_name, &vm) < 0)
                        return 0;
                op = ct_op_new(m, c, id, type, req->vm_name, req->name);
                if (!op)
                        return wire_reply_error(c, id, -ENOMEM, "out of memory");
                return ct_run(TAKE_PTR(op), vm, delete_job, "delete-container", 0);
        }
        case BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_REQUEST: {
                const Bistro__Concierge__ListContainersRequest *req = (const void *) msg;

                if (running_vm(m, c, id, req->vm_name, &vm) < 0)
                        return 0;
                op = ct_op_new(m, c, id, type, req->vm_name, NULL);
                if (!op)
                        return wire_reply_error(c, id, -ENOMEM, "out of memory");
                return ct_run(TAKE_PTR(op), vm, list_job, "list-containers", 0);
        }
        default:
                return wire_reply_error(c, id, -EOPNOTSUPP, "not a container request");
        }
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The container verbs (proto/concierge.proto), forwarded to tremplin in the VM (guest vsock 8890,
 * proto/tremplin.proto). Every guest call runs in a job (job.h) with timeouts; the job hands the
 * tremplin response back to the event loop through a shared mapping. CreateContainer streams a
 * rootfs tarball from the host image store (or any file), decompressed by zstd/gzip/xz in the job,
 * with PROGRESS events. StartContainer starts the VM first when needed and gives the container its
 * token (kept here per VM and container, for cicerone). See docs/design/containers.md. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "concierge.h"
#include "fd-util.h"
#include "guest.h"
#include "log.h"
#include "proto-validate.h"
#include "string-util.h"

#define TREMPLIN_PORT 8890u
#define USEC_PER_SEC UINT64_C(1000000)
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
#define RESULT_MAX (1024u * 1024u)
#define VM_POLL_USEC (250u * 1000u)
#define TOKEN_LEN 43

typedef struct CtOp {
        Manager *manager;
        WireConn *conn;
        uint64_t id;
        uint32_t type; /* the concierge request */
        char vm_name[PROTO_NAME_MAX + 1];
        char name[PROTO_NAME_MAX + 1];
        char image[PROTO_IMAGE_NAME_MAX + 1];
        char image_path[PATH_MAX];
        char token[TOKEN_LEN + 1];
        char *vsock_path;
        uint64_t unpacked_size;
        bool force;
        sd_event_source *wait_timer; /* StartContainer waiting for the VM */
        uint64_t wait_deadline;
        /* Shared with the job child: [uint32 type][uint32 length][packed tremplin response]. */
        uint8_t *result;
} CtOp;

static CtOp *ct_op_free(CtOp *op) {
        if (!op)
                return NULL;
        wire_conn_unref(op->conn);
        op->wait_timer = sd_event_source_disable_unref(op->wait_timer);
        if (op->result)
                (void) munmap(op->result, RESULT_MAX);
        free(op->vsock_path);
        free(op);
        return NULL;
}
DEFINE_TRIVIAL_CLEANUP_FUNC(CtOp *, ct_op_free);

/* Tokens: one per VM + container, made at the first start, kept for the life of concierge. */
static const char *token_get(Manager *m, const char *vm, const char *name) {
        static const char chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        ContainerToken *t;

        for (size_t i = 0; i < m->n_tokens; i++)
                if (streq(m->tokens[i].vm, vm) && streq(m->tokens[i].name, name))
                        return m->tokens[i].token;
        t = reallocarray(m->tokens, m->n_tokens + 1, sizeof(*t));
        if (!t)
                return NULL;
        m->tokens = t;
        t = &m->tokens[m->n_tokens++];
        strscpy(t->vm, vm, sizeof(t->vm));
        strscpy(t->name, name, sizeof(t->name));
        for (size_t i = 0; i < TOKEN_LEN; i++)
                t->token[i] = chars[randombytes_uniform(sizeof(chars) - 1)];
        t->token[TOKEN_LEN] = 0;
        return t->token;
}

static void token_forget(Manager *m, const char *vm, const char *name) {
        for (size_t i = 0; i < m->n_tokens; i++)
                if (streq(m->tokens[i].vm, vm) && streq(m->tokens[i].name, name)) {
                        sodium_memzero(&m->tokens[i], sizeof(m->tokens[i]));
                        m->tokens[i] = m->tokens[--m->n_tokens];
                        return;
                }
}

const char *container_token(Manager *m, const char *vm, const char *name) {
        for (size_t i = 0; i < m->n_tokens; i++)
                if (streq(m->tokens[i].vm, vm) && streq(m->tokens[i].name, name))
                        return m->tokens[i].token;
        return NULL;
}

/* Child side: keeps the tremplin response for the parent. */
static int keep_result(CtOp *op, uint32_t type, const ProtobufCMessage *msg) {
        size_t n = protobuf_c_message_get_packed_size(msg);

        if (n > RESULT_MAX - 8)
                return -EMSGSIZE;
        (void) protobuf_c_message_pack(msg, op->result + 8);
        memcpy(op->result + 4, &(uint32_t){ (uint32_t) n }, 4);
        memcpy(op->result, &type, 4);
        return 0;
}

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
                job_set_message(j, "cannot reach tremplin in VM '%s': %s", op->vm_name, strerror(-fd));
        return fd;
}

/* One call; the response goes to the result mapping. */
static int tremplin_call(Job *j, CtOp *op, uint32_t type, const ProtobufCMessage *req, int timeout_ms) {
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_close_ int fd = -EBADF;
        uint32_t rtype = 0;
        int r;

        fd = tremplin_connect(j, op);
        if (fd < 0)
                return fd;
        r = wire_call_sync(fd, type, req, message_response_type(type), timeout_ms, &rtype, &resp);
        if (r < 0) {
                if (rtype == BISTRO__MESSAGE_TYPE__ERROR_REPLY)
                        job_set_message(j, "%s", wire_error_message(resp) ?: strerror(-r));
                else
                        job_set_message(j, "tremplin call failed: %s", strerror(-r));
                return r;
        }
        return keep_result(op, rtype, resp);
}

static int start_job(Job *j, void *userdata) {
        CtOp *op = userdata;
        Bistro__Tremplin__StartContainerRequest req = BISTRO__TREMPLIN__START_CONTAINER_REQUEST__INIT;

        job_progress(j, 0, 0, "starting the container");
        req.name = op->name;
        req.token = op->token;
        return tremplin_call(
                j, op, BISTRO__MESSAGE_TYPE__TREMPLIN_START_CONTAINER_REQUEST, &req.base, CALL_TIMEOUT_MS);
}

static int stop_job(Job *j, void *userdata) {
        CtOp *op = userdata;
        Bistro__Tremplin__StopContainerRequest req = BISTRO__TREMPLIN__STOP_CONTAINER_REQUEST__INIT;

        req.name = op->name;
        req.force = op->force;
        return tremplin_call(
                j, op, BISTRO__MESSAGE_TYPE__TREMPLIN_STOP_CONTAINER_REQUEST, &req.base, STOP_TIMEOUT_MS);
}

static int delete_job(Job *j, void *userdata) {
        CtOp *op = userdata;
        Bistro__Tremplin__DeleteContainerRequest req = BISTRO__TREMPLIN__DELETE_CONTAINER_REQUEST__INIT;

        req.name = op->name;
        return tremplin_call(
                j, op, BISTRO__MESSAGE_TYPE__TREMPLIN_DELETE_CONTAINER_REQUEST, &req.base,
                DELETE_TIMEOUT_MS);
}

static int list_job(Job *j, void *userdata) {
        CtOp *op = userdata;
        Bistro__Tremplin__ListContainersRequest req = BISTRO__TREMPLIN__LIST_CONTAINERS_REQUEST__INIT;

        return tremplin_call(
                j, op, BISTRO__MESSAGE_TYPE__TREMPLIN_LIST_CONTAINERS_REQUEST, &req.base, CALL_TIMEOUT_MS);
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
                job_set_message(j, "%s", m ?: strerror(-r));
                return r;
        }
        job_set_message(j, "tremplin answered before the image was complete");
        return -EBADMSG;
}

static int create_job(Job *j, void *userdata) {
        CtOp *op = userdata;
        Bistro__Tremplin__CreateContainerRequest req = BISTRO__TREMPLIN__CREATE_CONTAINER_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        _cleanup_close_ int src = -EBADF, fd = -EBADF, in = -EBADF;
        _cleanup_free_ uint8_t *buf = NULL;
        const char *prog;
        uint64_t done = 0, last = 0, total = op->unpacked_size;
        pid_t pid = 0;
        FrameHeader h;
        int r, status;

        buf = malloc(IMAGE_CHUNK);
        if (!buf)
                return -ENOMEM;
        src = open(op->image_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (src < 0) {
                r = -errno;
                job_set_message(j, "cannot read %s: %s", op->image_path, strerror(-r));
                return r;
        }
        prog = decompressor(src);
        if (prog) {
                int pfd[2];

                if (pipe2(pfd, O_CLOEXEC) < 0)
                        return -errno;
                pid = fork();
                if (pid < 0)
                        return -errno;
                if (pid == 0) {
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
        if (fd < 0) {
                r = fd;
                goto finish;
        }
        req.name = op->name;
        req.image = op->image;
        req.unpacked_size = op->unpacked_size;
        r = wire_send_sync(
                fd, BISTRO__MESSAGE_TYPE__TREMPLIN_CREATE_CONTAINER_REQUEST, FRAME_REQUEST, 1, &req.base,
                SEND_TIMEOUT_MS);
        if (r < 0) {
                job_set_message(j, "cannot send the request to tremplin: %s", strerror(-r));
                goto finish;
        }
        job_progress(j, 0, total, "unpacking");
        for (;;) {
                Bistro__Tremplin__ImageChunk chunk = BISTRO__TREMPLIN__IMAGE_CHUNK__INIT;
                struct pollfd p = { .fd = fd, .events = POLLIN };
                ssize_t n;

                n = loop_read(in, buf, IMAGE_CHUNK);
                if (n < 0) {
                        r = (int) n;
                        job_set_message(j, "reading the image: %s", strerror(-r));
                        goto finish;
                }
                if (n == 0 && pid > 0) {
                        /* The decompressor's verdict comes before the eof chunk. */
                        while (waitpid(pid, &status, 0) < 0)
                                if (errno != EINTR) {
                                        status = -1;
                                        break;
                                }
                        pid = 0;
                        if (status != 0) {
                                r = -EBADMSG;
                                job_set_message(
                                        j, "%s is not a valid %s-compressed file", op->image_path, prog);
                                goto finish;
                        }
                }
                if (poll(&p, 1, 0) > 0) {
                        r = read_early_reply(j, fd, 5000);
                        goto finish;
                }
                chunk.data.data = buf;
                chunk.data.len = (size_t) n;
                chunk.eof = n == 0;
                r = wire_send_sync(
                        fd, BISTRO__MESSAGE_TYPE__TREMPLIN_IMAGE_CHUNK, FRAME_EVENT, 1, &chunk.base,
                        SEND_TIMEOUT_MS);
                if (r < 0) {
                        int k = read_early_reply(j, fd, 2000);

                        if (k < 0 && k != -ETIMEDOUT && k != -ECONNRESET)
                                r = k;
                        else
                                job_set_message(j, "sending the image to tremplin: %s", strerror(-r));
                        goto finish;
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
        if (r < 0) {
                job_set_message(j, "no answer from tremplin: %s", strerror(-r));
                goto finish;
        }
        if (h.type == BISTRO__MESSAGE_TYPE__ERROR_REPLY) {
                _cleanup_free_ char *m = NULL;

                r = wire_error_reply_to_errno((const Bistro__ErrorReply *) resp, &m);
                job_set_message(j, "%s", m ?: strerror(-r));
                goto finish;
        }
        if (h.type != BISTRO__MESSAGE_TYPE__TREMPLIN_CONTAINER_INFO_RESPONSE || h.id != 1) {
                job_set_message(j, "unexpected answer from tremplin");
                r = -EBADMSG;
                goto finish;
        }
        r = keep_result(op, h.type, resp);
finish:
        if (pid > 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
        }
        return r;
}

static void fill_info(
        CtOp *op, const Bistro__Tremplin__ContainerInfo *t, Bistro__Concierge__ContainerInfo *c) {
        bistro__concierge__container_info__init(c);
        c->vm_name = op->vm_name;
        c->name = t->name;
        c->state = (int) t->state; /* the two enums have the same values */
        c->image = t->image;
        c->ipv4_address = t->ipv4_address;
        c->ipv6_address = t->ipv6_address;
}

static void ct_progress(Job *j, uint64_t done, uint64_t total, const char *stage, void *userdata) {
        CtOp *op = userdata;
        Bistro__Concierge__Progress p = BISTRO__CONCIERGE__PROGRESS__INIT;

        if (!op->conn || op->type != BISTRO__MESSAGE_TYPE__CREATE_CONTAINER_REQUEST)
                return;
        p.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_CREATE_CONTAINER;
        p.done = total ? MIN(done, total) : done;
        p.total = total;
        p.stage = (char *) stage;
        if (message_validate(BISTRO__MESSAGE_TYPE__PROGRESS, &p.base) >= 0)
                (void) wire_send_event(op->conn, BISTRO__MESSAGE_TYPE__PROGRESS, op->id, &p.base);
}

static void ct_done(Job *j, int error, const char *message, void *userdata) {
        _cleanup_(ct_op_freep) CtOp *op = userdata;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        uint32_t type = 0, len = 0;
        int r;

        if (error < 0) {
                if (error == -ECONNREFUSED || error == -ECONNRESET)
                        log_info("VM '%s': tremplin: %s", op->vm_name, message);
                (void) wire_reply_error(
                        op->conn, op->id, error, "%s", message[0] ? message : strerror(-error));
                return;
        }
        if (op->type == BISTRO__MESSAGE_TYPE__STOP_CONTAINER_REQUEST ||
            op->type == BISTRO__MESSAGE_TYPE__DELETE_CONTAINER_REQUEST) {
                if (op->type == BISTRO__MESSAGE_TYPE__DELETE_CONTAINER_REQUEST)
                        token_forget(op->manager, op->vm_name, op->name);
                (void) wire_reply(
                        op->conn, op->id, BISTRO__MESSAGE_TYPE__EMPTY,
                        &(Bistro__Empty) BISTRO__EMPTY__INIT.base);
                return;
        }
        memcpy(&type, op->result, 4);
        memcpy(&len, op->result + 4, 4);
        r = len <= RESULT_MAX - 8 ? wire_unpack(type, op->result + 8, len, &resp) : -EMSGSIZE;
        if (r < 0) {
                (void) wire_reply_error(op->conn, op->id, -EBADMSG, "tremplin sent an invalid answer");
                return;
        }
        if (type == BISTRO__MESSAGE_TYPE__TREMPLIN_LIST_CONTAINERS_RESPONSE) {
                const Bistro__Tremplin__ListContainersResponse *l = (const void *) resp;
                Bistro__Concierge__ListContainersResponse out =
                        BISTRO__CONCIERGE__LIST_CONTAINERS_RESPONSE__INIT;
                _cleanup_free_ Bistro__Concierge__ContainerInfo *infos =
                        calloc(l->n_containers + 1, sizeof(*infos));
                _cleanup_free_ Bistro__Concierge__ContainerInfo **ptrs =
                        calloc(l->n_containers + 1, sizeof(*ptrs));

                if (!infos || !ptrs) {
                        (void) wire_reply_error(op->conn, op->id, -ENOMEM, "out of memory");
                        return;
                }
                for (size_t i = 0; i < l->n_containers; i++) {
                        fill_info(op, l->containers[i], &infos[i]);
                        ptrs[i] = &infos[i];
                }
                out.containers = ptrs;
                out.n_containers = l->n_containers;
                (void) wire_reply(
                        op->conn, op->id, BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_RESPONSE, &out.base);
        } else if (type == BISTRO__MESSAGE_TYPE__TREMPLIN_CONTAINER_INFO_RESPONSE) {
                const Bistro__Tremplin__ContainerInfoResponse *t = (const void *) resp;
                Bistro__Concierge__ContainerInfoResponse out =
                        BISTRO__CONCIERGE__CONTAINER_INFO_RESPONSE__INIT;
                Bistro__Concierge__ContainerInfo info;

                fill_info(op, t->container, &info);
                out.container = &info;
                if (op->type == BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST)
                        log_info("VM '%s': container '%s' is running.", op->vm_name, op->name);
                (void) wire_reply(
                        op->conn, op->id, BISTRO__MESSAGE_TYPE__CONTAINER_INFO_RESPONSE, &out.base);
        } else
                (void) wire_reply_error(op->conn, op->id, -EBADMSG, "tremplin sent an unexpected answer");
}

static int ct_run(CtOp *op, Vm *vm, JobFn fn, const char *what) {
        Job *j = NULL;
        int r;

        op->vsock_path = strdup(vm->vsock_path);
        op->result = mmap(NULL, RESULT_MAX, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (!op->vsock_path || op->result == MAP_FAILED) {
                op->result = NULL;
                (void) wire_reply_error(op->conn, op->id, -ENOMEM, "out of memory");
                ct_op_free(op);
                return 0;
        }
        memset(op->result, 0, 8);
        r = job_start(op->manager->event, what, fn, ct_progress, ct_done, op, &j);
        if (r < 0) {
                (void) wire_reply_error(op->conn, op->id, r, "cannot start the %s helper", what);
                ct_op_free(op);
        }
        return 0;
}

/* The VM must be running for everything but StartContainer. */
static int running_vm(Manager *m, WireConn *c, uint64_t id, const char *name, Vm **ret) {
        Vm *vm;

        if (vm_get(m, name, false, &vm) < 0 || (!vm->exists && !vm_is_active(vm)))
                return wire_reply_error(c, id, -ENOENT, "no VM named '%s'", name), -ENOENT;
        if (vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING)
                return wire_reply_error(c, id, -EHOSTDOWN, "VM '%s' is not running", name), -EHOSTDOWN;
        *ret = vm;
        return 0;
}

static CtOp *ct_op_new(
        Manager *m, WireConn *c, uint64_t id, uint32_t type, const char *vm, const char *name) {
        CtOp *op = calloc(1, sizeof(*op));

        if (!op)
                return NULL;
        op->manager = m;
        op->conn = wire_conn_ref(c);
        op->id = id;
        op->type = type;
        strscpy(op->vm_name, vm, sizeof(op->vm_name));
        strscpy(op->name, name ?: "", sizeof(op->name));
        return op;
}

static char *image_store(Manager *m) {
        const char *e = getenv("BISTRO_IMAGE_STORE");
        char *p;

        if (e && e[0] == '/')
                return strdup(e);
        return asprintf(&p, "%s/images/containers", m->state_root) < 0 ? NULL : p;
}

/* "unpacked_size": N from the image's JSON metadata; 0 when missing. */
static uint64_t json_unpacked_size(const char *path) {
        _cleanup_free_ char *text = NULL;
        const char *p;
        uint64_t v = 0;

        if (read_file(path, 65536, &text, NULL) < 0)
                return 0;
        p = strstr(text, "\"unpacked_size\"");
        if (!p)
                return 0;
        p += strlen("\"unpacked_size\"");
        while (*p == ' ' || *p == '\t' || *p == ':')
                p++;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (v > (UINT64_C(64) << 30))
                        return 0;
                v = v * 10 + (uint64_t) (*p - '0');
        }
        return v <= (UINT64_C(64) << 30) ? v : 0;
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

static int handle_create(
        Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__CreateContainerRequest *req) {
        _cleanup_(ct_op_freep) CtOp *op = NULL;
        _cleanup_free_ char *store = NULL, *json = NULL;
        Vm *vm;

        if (running_vm(m, c, id, req->vm_name, &vm) < 0)
                return 0;
        op = ct_op_new(m, c, id, BISTRO__MESSAGE_TYPE__CREATE_CONTAINER_REQUEST, req->vm_name, req->name);
        if (!op)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        if (req->image_path[0]) {
                if (access(req->image_path, R_OK) < 0)
                        return wire_reply_error(
                                c, id, -errno, "cannot read '%s': %s", req->image_path, strerror(errno));
                strscpy(op->image_path, req->image_path, sizeof(op->image_path));
                if (req->image[0])
                        strscpy(op->image, req->image, sizeof(op->image));
                else
                        image_name_from_path(req->image_path, op->image, sizeof(op->image));
        } else {
                strscpy(op->image, req->image[0] ? req->image : DEFAULT_IMAGE, sizeof(op->image));
                store = image_store(m);
                if (!store)
                        return wire_reply_error(c, id, -ENOMEM, "out of memory");
                (void) snprintf(op->image_path, sizeof(op->image_path), "%s/%s.tar.zst", store, op->image);
                if (access(op->image_path, R_OK) < 0)
                        return wire_reply_error(c, id, -ENOENT, "no image '%s' in %s", op->image, store);
                if (asprintf(&json, "%s/%s.json", store, op->image) < 0)
                        return wire_reply_error(c, id, -ENOMEM, "out of memory");
                op->unpacked_size = json_unpacked_size(json);
        }
        log_info("VM '%s': creating container '%s' from %s.", req->vm_name, req->name, op->image_path);
        return ct_run(TAKE_PTR(op), vm, create_job, "create-container");
}

static void start_container_job(CtOp *op, Vm *vm) {
        const char *token = token_get(op->manager, op->vm_name, op->name);

        if (!token) {
                (void) wire_reply_error(op->conn, op->id, -ENOMEM, "out of memory");
                ct_op_free(op);
                return;
        }
        strscpy(op->token, token, sizeof(op->token));
        (void) ct_run(op, vm, start_job, "start-container");
}

static int on_vm_wait(sd_event_source *s, uint64_t usec, void *userdata) {
        CtOp *op = userdata;
        Vm *vm;
        uint64_t now = 0;

        (void) sd_event_now(op->manager->event, CLOCK_MONOTONIC, &now);
        if (wire_conn_is_closed(op->conn)) {
                ct_op_free(op);
                return 0;
        }
        if (vm_get(op->manager, op->vm_name, false, &vm) < 0) {
                (void) wire_reply_error(op->conn, op->id, -ENOENT, "VM '%s' is gone", op->vm_name);
                ct_op_free(op);
                return 0;
        }
        if (vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING) {
                op->wait_timer = sd_event_source_disable_unref(op->wait_timer);
                start_container_job(op, vm);
                return 0;
        }
        if (!vm_is_active(vm) || now >= op->wait_deadline) {
                (void) wire_reply_error(
                        op->conn, op->id, -EHOSTDOWN, "VM '%s' did not start: %s", op->vm_name,
                        vm->start_error[0] ? vm->start_error : "see 'vmc logs'");
                ct_op_free(op);
                return 0;
        }
        (void) sd_event_source_set_time_relative(s, VM_POLL_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

static int handle_start(
        Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__StartContainerRequest *req) {
        _cleanup_(ct_op_freep) CtOp *op = NULL;
        Vm *vm;
        int r;

        op = ct_op_new(m, c, id, BISTRO__MESSAGE_TYPE__START_CONTAINER_REQUEST, req->vm_name, req->name);
        if (!op)
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        r = vm_get(m, req->vm_name, true, &vm);
        if (r < 0)
                return wire_reply_error(c, id, r, "cannot start VM '%s': %s", req->vm_name, strerror(-r));
        if (vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING) {
                start_container_job(TAKE_PTR(op), vm);
                return 0;
        }
        if (!vm_is_active(vm)) {
                Bistro__Concierge__StartVmRequest sv = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;

                if (vm->job || vm->busy)
                        return wire_reply_error(c, id, -EBUSY, "VM '%s' is busy", req->vm_name);
                sv.name = vm->name;
                log_info("VM '%s': starting it for container '%s'.", req->vm_name, req->name);
                /* No connection: the answer comes through the VM's state, polled below. */
                vm->start_error[0] = 0;
                r = vm_start(vm, NULL, 0, &sv);
                if (r < 0 || !vm_is_active(vm)) {
                        if (!vm->exists && !vm_is_active(vm) && !vm->job && !vm->busy)
                                vm_forget(m, vm);
                        return wire_reply_error(
                                c, id, -EHOSTDOWN, "VM '%s' cannot be started (see the concierge log)",
                                req->vm_name);
                }
        } else if (vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_STARTING)
                return wire_reply_error(c, id, -EBUSY, "VM '%s' is stopping", req->vm_name);
        {
                Bistro__Concierge__Progress p = BISTRO__CONCIERGE__PROGRESS__INIT;

                p.operation = BISTRO__CONCIERGE__OPERATION__OPERATION_START_VM;
                p.stage = (char *) "starting the VM";
                (void) wire_send_event(c, BISTRO__MESSAGE_TYPE__PROGRESS, id, &p.base);
        }
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &op->wait_deadline);
        op->wait_deadline += m->ready_timeout_usec + 120 * USEC_PER_SEC;
        r = sd_event_add_time_relative(
                m->event, &op->wait_timer, CLOCK_MONOTONIC, VM_POLL_USEC, 0, on_vm_wait, op);
        if (r < 0)
                return wire_reply_error(c, id, r, "out of memory");
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
                return ct_run(TAKE_PTR(op), vm, stop_job, "stop-container");
        }
        case BISTRO__MESSAGE_TYPE__DELETE_CONTAINER_REQUEST: {
                const Bistro__Concierge__DeleteContainerRequest *req = (const void *) msg;

                if (running_vm(m, c, id, req->vm_name, &vm) < 0)
                        return 0;
                op = ct_op_new(m, c, id, type, req->vm_name, req->name);
                if (!op)
                        return wire_reply_error(c, id, -ENOMEM, "out of memory");
                return ct_run(TAKE_PTR(op), vm, delete_job, "delete-container");
        }
        case BISTRO__MESSAGE_TYPE__LIST_CONTAINERS_REQUEST: {
                const Bistro__Concierge__ListContainersRequest *req = (const void *) msg;

                if (running_vm(m, c, id, req->vm_name, &vm) < 0)
                        return 0;
                op = ct_op_new(m, c, id, type, req->vm_name, NULL);
                if (!op)
                        return wire_reply_error(c, id, -ENOMEM, "out of memory");
                return ct_run(TAKE_PTR(op), vm, list_job, "list-containers");
        }
        default:
                return wire_reply_error(c, id, -EOPNOTSUPP, "not a container request");
        }
}

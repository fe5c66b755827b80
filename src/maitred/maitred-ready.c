/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The StartupListener call: tells the host (CID 2, port 7777) that the VM is up, with the kernel
 * release and the image version. The host may not listen yet (or its vsock backend may still be
 * starting), so failures are retried with exponential back-off; the connect is non-blocking so
 * PID 1 keeps serving meanwhile. */
#include <errno.h>
#include <linux/vm_sockets.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "log.h"
#include "macro.h"
#include "maitred.h"

#define READY_CALL_TIMEOUT_USEC (10u * 1000000u)
#define READY_BACKOFF_MIN_USEC (100u * 1000u)
#define READY_BACKOFF_MAX_USEC (5u * 1000000u)
#define READY_GIVE_UP_USEC (300u * 1000000u)

struct Ready {
        Manager *manager;
        sd_event_source *timer;
        sd_event_source *io;
        WireConn *conn;
        int fd;
        unsigned attempt;
        uint64_t backoff_usec;
        uint64_t start_usec;
        bool closing; /* our own close fails the pending call: not a reason to retry */
};

static void ready_attempt(Ready *r);

static void ready_reset(Ready *r) {
        r->io = sd_event_source_disable_unref(r->io);
        r->fd = safe_close(r->fd);
        if (r->conn) {
                r->closing = true;
                wire_conn_close(r->conn, -ECANCELED);
                r->closing = false;
                r->conn = wire_conn_unref(r->conn);
        }
}

static int on_retry_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        ready_attempt(userdata);
        return 0;
}

static void ready_retry(Ready *r, int error, const char *what) {
        uint64_t now = 0;
        int k;

        ready_reset(r);
        (void) sd_event_now(r->manager->event, CLOCK_MONOTONIC, &now);
        if (now - r->start_usec > READY_GIVE_UP_USEC) {
                log_error_errno(
                        error, "VmReady to the host failed %u times (%s: %m), giving up.", r->attempt, what);
                return;
        }
        if (r->attempt == 1 || r->attempt % 10 == 0)
                log_warning_errno(error, "VmReady attempt %u failed (%s: %m), retrying.", r->attempt, what);
        r->backoff_usec = r->backoff_usec ? MIN(r->backoff_usec * 2, (uint64_t) READY_BACKOFF_MAX_USEC)
                                          : READY_BACKOFF_MIN_USEC;
        r->timer = sd_event_source_disable_unref(r->timer);
        k = sd_event_add_time_relative(
                r->manager->event, &r->timer, CLOCK_MONOTONIC, r->backoff_usec, 0, on_retry_timer, r);
        if (k < 0)
                log_error_errno(k, "Cannot schedule the VmReady retry, giving up: %m");
}

static void on_ready_reply(
        WireConn *c, int error, uint32_t type, const ProtobufCMessage *msg, void *userdata) {
        Ready *r = userdata;

        if (r->closing)
                return;
        if (error < 0) {
                const char *t = msg ? wire_error_message(msg) : NULL;

                ready_retry(r, error, t ?: "call");
                return;
        }
        log_info("The host acknowledged VmReady (attempt %u).", r->attempt);
        ready_reset(r);
}

static void ready_connected(Ready *r) {
        Bistro__Maitred__VmReadyRequest req = BISTRO__MAITRED__VM_READY_REQUEST__INIT;
        int k;

        r->io = sd_event_source_disable_unref(r->io);
        k = wire_conn_new(r->manager->event, r->fd, &r->conn);
        if (k < 0)
                return ready_retry(r, k, "wire");
        r->fd = -EBADF; /* owned by the connection now */
        req.kernel_version = r->manager->kernel_release;
        req.image_version = r->manager->image_version;
        k = wire_call(
                r->conn, BISTRO__MESSAGE_TYPE__VM_READY_REQUEST, &req.base, READY_CALL_TIMEOUT_USEC,
                on_ready_reply, r, NULL);
        if (k < 0)
                return ready_retry(r, k, "send");
}

static int on_connect_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Ready *r = userdata;
        socklen_t len = sizeof(int);
        int err = 0;

        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
                err = errno;
        if (err != 0) {
                ready_retry(r, -err, "connect");
                return 0;
        }
        ready_connected(r);
        return 0;
}

static void ready_attempt(Ready *r) {
        struct sockaddr_vm sa = {
                .svm_family = AF_VSOCK,
                .svm_cid = VMADDR_CID_HOST,
                .svm_port = MAITRED_READY_PORT,
        };
        int k;

        r->timer = sd_event_source_disable_unref(r->timer);
        r->attempt++;
        r->fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (r->fd < 0)
                return ready_retry(r, -errno, "socket");
        if (connect(r->fd, (struct sockaddr *) &sa, sizeof(sa)) >= 0)
                return ready_connected(r);
        if (errno != EINPROGRESS)
                return ready_retry(r, -errno, "connect");
        k = sd_event_add_io(r->manager->event, &r->io, r->fd, EPOLLOUT, on_connect_io, r);
        if (k < 0)
                return ready_retry(r, k, "sd_event_add_io");
}

int manager_start_ready(Manager *m) {
        Ready *r;

        r = calloc(1, sizeof(*r));
        if (!r)
                return log_oom();
        *r = (Ready){ .manager = m, .fd = -EBADF };
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &r->start_usec);
        m->ready = r;
        log_info("Sending VmReady (kernel '%s', image '%s').", m->kernel_release, m->image_version);
        ready_attempt(r);
        return 0;
}

void manager_stop_ready(Manager *m) {
        Ready *r = m->ready;

        if (!r)
                return;
        ready_reset(r);
        r->timer = sd_event_source_disable_unref(r->timer);
        free(r);
        m->ready = NULL;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Launching an application in a container, or opening its files (two control requests): wait
 * until its garcon is ready, dial garcon's port through the VM's hybrid vsock without blocking the
 * loop, make sure by the GarconHello token that it is that container's garcon, then ask it to launch
 * the app, or to start an sftp-server on that connection, which then goes to the client
 * (docs/design/files.md). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc-util.h"
#include "cicerone.h"
#include "common.pb-c.h"
#include "fd-util.h"
#include "gui-settings.h"
#include "log.h"
#include "macro.h"
#include "string-util.h"
#include "vsock-hybrid.h"

#define DIAL_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define HELLO_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define LAUNCH_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define WAIT_MS_MAX 300000u
#define LAUNCHES_MAX 64u /* pending at once */

struct Launch {
        Cicerone *c;
        struct Launch *next;
        WireConn *control;
        uint64_t id;
        NameBuf vm, container;
        char *app; /* NULL: GarconOpenSftp */
        char **uris;
        size_t n_uris;
        uint32_t wait_ms;
        uint32_t port;
        sd_event_source *timer;
        VsockHybridDial *dial;
        WireConn *garcon;
        bool rewaited; /* the port garcon announced was dead once: we waited for it again */
};

void launch_free(Launch *l) {
        Cicerone *c = l->c;

        for (Launch **p = &c->launches; *p; p = &(*p)->next)
                if (*p == l) {
                        *p = l->next;
                        break;
                }
        c->n_launches--;
        sd_event_source_disable_unref(l->timer);
        vsock_hybrid_dial_cancel(l->dial);
        if (l->garcon) {
                wire_conn_close(l->garcon, 0);
                wire_conn_unref(l->garcon);
        }
        wire_conn_unref(l->control);
        free(l->app);
        for (size_t i = 0; i < l->n_uris; i++)
                free(l->uris[i]);
        free(l->uris);
        free(l);
}

static const char *launch_what(const Launch *l) {
        return l->app ?: "the files (sftp)";
}

static void launch_done(Launch *l, int error, const char *message) {
        Bistro__Empty empty = BISTRO__EMPTY__INIT;

        if (error < 0) {
                log_warning("Opening %s in %s/%s failed: %s", launch_what(l), l->vm, l->container, message);
                (void) wire_reply_error(l->control, l->id, error, "%s", message);
        } else {
                log_info("Launched %s in %s/%s.", l->app, l->vm, l->container);
                (void) wire_reply(l->control, l->id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
        }
        launch_free(l);
}

/* garcon answered GarconOpenSftp: the connection now carries sftp, and goes to the client. */
static void on_sftp_opened(
        WireConn *conn, int error, uint32_t type, const ProtobufCMessage *msg, void *userdata) {
        Bistro__Empty empty = BISTRO__EMPTY__INIT;
        Launch *l = userdata;
        _cleanup_free_ char *m = NULL;
        _cleanup_close_ int fd = -EBADF;
        int r;

        if (error < 0) {
                if (asprintf(
                            &m, "garcon of container %s could not serve its files: %s", l->container,
                            msg ? wire_error_message(msg) : strerror(-error)) < 0)
                        m = NULL;
                launch_done(l, error, m ?: "garcon refused to serve the files");
                return;
        }
        fd = wire_conn_detach_fd(conn);
        if (fd < 0) {
                launch_done(l, fd, "the connection to garcon broke");
                return;
        }
        r = wire_reply_fd(l->control, l->id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base, fd);
        if (r < 0)
                log_warning_errno(r, "Cannot pass the sftp connection of %s/%s on: %m", l->vm, l->container);
        else
                log_info("Passed an sftp connection to %s/%s on.", l->vm, l->container);
        launch_free(l); /* our copy closes with fd: the client's is the only one left */
}

static void on_launched(
        WireConn *conn, int error, uint32_t type, const ProtobufCMessage *msg, void *userdata) {
        Launch *l = userdata;
        _cleanup_free_ char *m = NULL;

        if (error < 0) {
                if (asprintf(
                            &m, "garcon of container %s could not launch %s: %s", l->container, l->app,
                            msg ? wire_error_message(msg) : strerror(-error)) < 0)
                        m = NULL;
                launch_done(l, error, m ?: "garcon refused the launch");
                return;
        }
        launch_done(l, 0, NULL);
}

/* The user's scale for the app (vmc app-scale), read at each launch; 0 (none) when gui.conf is
 * broken: the app still starts. */
static uint32_t launch_scale_percent(const Launch *l) {
        unsigned percent;
        int r;

        r = gui_settings_app_scale(l->vm, l->container, l->app, &percent);
        if (r < 0) {
                log_warning_errno(
                        r, "Cannot read the scale of %s from gui.conf, launching unscaled: %m", l->app);
                return 0;
        }
        if (percent > 0)
                log_info("Launching %s in %s/%s at scale %u%%.", l->app, l->vm, l->container, percent);
        return percent;
}

static void on_hello(WireConn *conn, int error, uint32_t type, const ProtobufCMessage *msg, void *userdata) {
        Launch *l = userdata;
        Bistro__Container__LaunchApplicationRequest req =
                BISTRO__CONTAINER__LAUNCH_APPLICATION_REQUEST__INIT;
        _cleanup_free_ char *m = NULL;
        const Bistro__Container__GarconHelloResponse *h;
        TokenBuf stored;
        int r;

        if (error < 0 || type != BISTRO__MESSAGE_TYPE__GARCON_HELLO_RESPONSE) {
                if (asprintf(
                            &m, "the process on port %u of VM %s did not answer as garcon: %s", l->port,
                            l->vm,
                            error < 0 && msg ? wire_error_message(msg)
                                             : strerror(error < 0 ? -error : EBADMSG)) < 0)
                        m = NULL;
                launch_done(l, error < 0 ? error : -EBADMSG, m ?: "garcon did not answer");
                return;
        }
        h = (const void *) msg;
        r = token_store_get(l->c->token_dir, l->vm, l->container, stored);
        if (r < 0 || !token_equal(stored, h->token)) {
                explicit_bzero(stored, sizeof(stored));
                if (asprintf(
                            &m, "the process on port %u is not the garcon of container %s", l->port,
                            l->container) < 0)
                        m = NULL;
                log_warning("Refused: %s (token mismatch).", m ?: "wrong garcon");
                launch_done(l, -EPERM, m ?: "not the container's garcon");
                return;
        }
        explicit_bzero(stored, sizeof(stored));
        if (!l->app) {
                Bistro__Container__GarconOpenSftpRequest o =
                        BISTRO__CONTAINER__GARCON_OPEN_SFTP_REQUEST__INIT;

                r = wire_call(
                        conn, BISTRO__MESSAGE_TYPE__GARCON_OPEN_SFTP_REQUEST, &o.base, LAUNCH_TIMEOUT_USEC,
                        on_sftp_opened, l, NULL);
                if (r < 0)
                        launch_done(l, r, "cannot send the sftp request to garcon");
                return;
        }
        req.desktop_file_id = l->app;
        req.uris = l->uris;
        req.n_uris = l->n_uris;
        req.scale_percent = launch_scale_percent(l);
        r = wire_call(
                conn, BISTRO__MESSAGE_TYPE__LAUNCH_APPLICATION_REQUEST, &req.base, LAUNCH_TIMEOUT_USEC,
                on_launched, l, NULL);
        if (r < 0)
                launch_done(l, r, "cannot send the launch request to garcon");
}

static int on_garcon_message(
        WireConn *conn,
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        void *userdata) {
        return -EBADMSG; /* garcon only answers here */
}

static int on_launch_timeout(sd_event_source *s, uint64_t usec, void *userdata);

/* Nobody listens on the port garcon announced: it died (kill -9, a crash, no ContainerShutdown) and
 * its restart has not registered yet. Forget that port and wait for the next ContainerReady
 * (launches_kick()), once, for the request's own wait. */
static bool launch_rewait(Launch *l) {
        Vm *v = vm_find(l->c, l->vm);
        Container *ct = v ? container_find(v, l->container, false) : NULL;

        if (l->rewaited || l->wait_ms == 0)
                return false;
        l->rewaited = true;
        if (ct && ct->garcon_port == l->port)
                ct->ready = false;
        return sd_event_add_time_relative(
                       l->c->event, &l->timer, CLOCK_MONOTONIC, (uint64_t) l->wait_ms * USEC_PER_MSEC, 0,
                       on_launch_timeout, l) >= 0;
}

static void on_launch_dialed(int fd, int error, const char *message, void *userdata) {
        Launch *l = userdata;
        Bistro__Container__GarconHelloRequest hello = BISTRO__CONTAINER__GARCON_HELLO_REQUEST__INIT;
        _cleanup_free_ char *m = NULL;
        int r;

        l->dial = NULL;
        if (error == -ECONNABORTED && launch_rewait(l)) {
                log_info(
                        "VM %s, container %s: garcon's port %u is closed; waiting for garcon to come back.",
                        l->vm, l->container, l->port);
                return;
        }
        if (error < 0) {
                if (asprintf(
                            &m, "cannot reach the garcon of container %s on port %u: %s", l->container,
                            l->port, message ?: strerror(-error)) < 0)
                        m = NULL;
                launch_done(l, error, m ?: "cannot reach garcon");
                return;
        }
        r = wire_conn_new(l->c->event, fd, &l->garcon);
        if (r < 0) {
                safe_close(fd);
                launch_done(l, r, "out of resources");
                return;
        }
        wire_conn_set_handlers(l->garcon, on_garcon_message, NULL, l);
        r = wire_call(
                l->garcon, BISTRO__MESSAGE_TYPE__GARCON_HELLO_REQUEST, &hello.base, HELLO_TIMEOUT_USEC,
                on_hello, l, NULL);
        if (r < 0)
                launch_done(l, r, "cannot send the hello to garcon");
}

static void launch_start(Launch *l, Container *ct) {
        int r;

        sd_event_source_disable_unref(TAKE_PTR(l->timer));
        l->port = ct->garcon_port;
        r = vsock_hybrid_dial_start(
                l->c->event, ct->vm->vsock_path, l->port, 0, NULL, DIAL_TIMEOUT_USEC, on_launch_dialed, l,
                &l->dial);
        if (r < 0)
                on_launch_dialed(-EBADF, r, NULL, l);
}

static int on_launch_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Launch *l = userdata;
        _cleanup_free_ char *m = NULL;

        if (asprintf(
                    &m, "container %s's garcon did not come up within %u s", l->container,
                    (l->wait_ms + 999) / 1000) < 0)
                m = NULL;
        launch_done(l, -ETIMEDOUT, m ?: "garcon did not come up in time");
        return 0;
}

void launches_kick(Cicerone *c, Container *ct) {
        for (Launch *l = c->launches, *next; l; l = next) {
                next = l->next;
                if (l->timer && streq(l->vm, ct->vm->name) && streq(l->container, ct->name))
                        launch_start(l, ct);
        }
}

void launches_drop_control(Cicerone *c, WireConn *conn) {
        for (Launch *l = c->launches, *next; l; l = next) {
                next = l->next;
                if (l->control == conn)
                        launch_free(l);
        }
}

/* A new pending request of control connection conn; NULL when none can be added (answered). */
static Launch *launch_new(
        Cicerone *c, WireConn *conn, uint64_t id, const char *vm, const char *container, uint32_t wait_ms) {
        Launch *l;

        if (c->n_launches >= LAUNCHES_MAX) {
                (void) wire_reply_error(conn, id, -EBUSY, "%u launches pending already", LAUNCHES_MAX);
                return NULL;
        }
        l = new0(Launch, 1);
        if (!l) {
                (void) wire_reply_error(conn, id, -ENOMEM, "out of memory");
                return NULL;
        }
        l->c = c;
        l->control = wire_conn_ref(conn);
        l->id = id;
        strscpy(l->vm, vm, sizeof(l->vm));
        strscpy(l->container, container, sizeof(l->container));
        l->wait_ms = MIN(wait_ms, WAIT_MS_MAX);
        l->next = c->launches;
        c->launches = l;
        c->n_launches++;
        return l;
}

/* Dials garcon now when the container is ready, else waits for its ContainerReady. */
static void launch_begin(Launch *l) {
        Vm *v = vm_find(l->c, l->vm);
        Container *ct = v ? container_find(v, l->container, false) : NULL;
        int r;

        if (ct && ct->ready) {
                launch_start(l, ct);
                return;
        }
        r = sd_event_add_time_relative(
                l->c->event, &l->timer, CLOCK_MONOTONIC, (uint64_t) l->wait_ms * USEC_PER_MSEC, 0,
                on_launch_timeout, l);
        if (r < 0)
                launch_done(l, r, "cannot arm a timer");
}

int handle_launch(
        Cicerone *c, WireConn *conn, uint64_t id, const Bistro__Cicerone__LaunchApplicationRequest *req) {
        Launch *l;

        l = launch_new(c, conn, id, req->vm_name, req->container_name, req->wait_ms);
        if (!l)
                return 0;
        l->app = strdup(req->desktop_file_id);
        l->uris = new0(char *, req->n_uris + 1);
        if (!l->app || !l->uris) {
                launch_done(l, -ENOMEM, "out of memory");
                return 0;
        }
        for (size_t i = 0; i < req->n_uris; i++) {
                l->uris[i] = strdup(req->uris[i]);
                if (!l->uris[i]) {
                        launch_done(l, -ENOMEM, "out of memory");
                        return 0;
                }
                l->n_uris++;
        }
        launch_begin(l);
        return 0;
}

int handle_open_sftp(
        Cicerone *c, WireConn *conn, uint64_t id, const Bistro__Cicerone__OpenSftpRequest *req) {
        Launch *l;

        l = launch_new(c, conn, id, req->vm_name, req->container_name, req->wait_ms);
        if (l)
                launch_begin(l);
        return 0;
}

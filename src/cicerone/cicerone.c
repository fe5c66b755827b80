/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cicerone: one per user, on the host. Listens on each running VM's hybrid vsock port 8889 for the
 * containers' garcons (apps for the host's launcher, links to open on the host) and on a control
 * socket for concierge and bistro (VM started/stopped, launch an application). A container is known
 * only by its token (token-store.h), never by a name it sends. See docs/design/cicerone.md. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "app-entries.h"
#include "bistro-ports.h"
#include "config.h"
#include "cicerone.pb-c.h"
#include "common.pb-c.h"
#include "container.pb-c.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "main-func.h"
#include "path-lookup.h"
#include "path-util.h"
#include "proto-validate.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "token-store.h"
#include "vsock-hybrid.h"
#include "wire.h"

#define CONTROL_CLIENTS_MAX 32u
#define GUEST_CONNS_MAX 64u /* per VM */
#define GUEST_FRAME_USEC (10 * USEC_PER_SEC)
#define GUEST_UNBOUND_IDLE_USEC (30 * USEC_PER_SEC) /* a connection without a valid token yet */
#define CONTAINER_CONNS_MAX 8u                      /* connections bound to one container */
#define PEER_BURST 64.0 /* requests per guest connection: burst, then one per PEER_PERIOD */
#define PEER_PERIOD_USEC (100 * USEC_PER_MSEC)
#define OPEN_BURST 5.0 /* links per container: burst, then one per OPEN_PERIOD */
#define OPEN_PERIOD_USEC (2 * USEC_PER_SEC)
#define OPEN_GLOBAL_BURST 10.0
#define OPEN_GLOBAL_PERIOD_USEC (1 * USEC_PER_SEC)
#define JOBS_MAX 8u
#define JOB_TIMEOUT_USEC (60 * USEC_PER_SEC)
#define DB_DELAY_USEC (2 * USEC_PER_SEC)
#define ICON_BYTES_PER_CONTAINER (32ull * 1024 * 1024)
#define DIAL_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define HELLO_TIMEOUT_USEC (10 * USEC_PER_SEC)
#define LAUNCH_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define WAIT_MS_MAX 300000u
#define LAUNCHES_MAX 64u /* pending at once */

typedef struct Cicerone Cicerone;
typedef struct Vm Vm;

typedef struct Bucket {
        double tokens;
        usec_t last;
        bool started;
} Bucket;

typedef struct Container {
        Vm *vm;
        struct Container *next;
        NameBuf name;
        unsigned n_conns; /* connections bound to it */
        bool ready;
        uint32_t garcon_port;
        Bucket opens;
        Bistro__Container__UpdateApplicationListRequest *apps; /* our copy of the last list */
        uint64_t *icon_bytes; /* per app of apps: the bytes of its icons on disk */
} Container;

struct Vm {
        Cicerone *c;
        Vm *next;
        NameBuf name;
        char *vsock_path;  /* R/vms/V/vsock.sock */
        char *listen_path; /* R/vms/V/vsock.sock_8889 */
        dev_t dev;
        ino_t ino;
        WireServer *server;
        Container *containers;
};

/* A connection on a VM's 8889 socket: from somewhere inside that VM. */
typedef struct Peer {
        Vm *vm;
        bool bound;
        NameBuf container;
        TokenBuf token;
        Bucket rate;
} Peer;

typedef struct Launch {
        Cicerone *c;
        struct Launch *next;
        WireConn *control;
        uint64_t id;
        NameBuf vm, container;
        char *app;
        char **uris;
        size_t n_uris;
        uint32_t wait_ms;
        uint32_t port;
        sd_event_source *timer;
        VsockHybridDial *dial;
        WireConn *garcon;
} Launch;

typedef struct Job {
        Cicerone *c;
        struct Job *next;
        pid_t pid;
        char what[32];
        sd_event_source *child, *timer;
} Job;

struct Cicerone {
        sd_event *event;
        WireServer *control;
        char *runtime_dir;
        char *token_dir;
        char *exec; /* bistro's launcher, for the Exec lines */
        Vm *vms;
        Launch *launches;
        unsigned n_launches;
        Job *jobs;
        unsigned n_jobs;
        Bucket opens;
        sd_event_source *db_timer;
        bool db_job;
};

static const char *arg_control = NULL;

/* ---- small helpers ---- */

static bool bucket_take(Bucket *b, double burst, usec_t period) {
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (!b->started) {
                b->tokens = burst;
                b->last = now;
                b->started = true;
        }
        b->tokens = MIN(burst, b->tokens + (double) (now - b->last) / (double) period);
        b->last = now;
        if (b->tokens < 1.0)
                return false;
        b->tokens -= 1.0;
        return true;
}

/* Constant time in the content of a (the stored token). */
static bool token_equal(const char *a, const char *b) {
        size_t la = strlen(a), lb = strlen(b);
        unsigned char d = la != lb;

        for (size_t i = 0; i < la; i++)
                d |= (unsigned char) (a[i] ^ b[i < lb ? i : 0]);
        return d == 0;
}

static Vm *vm_find(Cicerone *c, const char *name) {
        for (Vm *v = c->vms; v; v = v->next)
                if (streq(v->name, name))
                        return v;
        return NULL;
}

static Container *container_find(Vm *v, const char *name, bool create) {
        Container *ct;

        for (ct = v->containers; ct; ct = ct->next)
                if (streq(ct->name, name))
                        return ct;
        if (!create)
                return NULL;
        ct = new0(Container, 1);
        if (!ct)
                return NULL;
        ct->vm = v;
        strscpy(ct->name, name, sizeof(ct->name));
        ct->next = v->containers;
        v->containers = ct;
        return ct;
}

static void container_free(Container *ct) {
        if (ct->apps)
                protobuf_c_message_free_unpacked(&ct->apps->base, NULL);
        free(ct->icon_bytes);
        free(ct);
}

/* ---- child processes (xdg-open, update-desktop-database) ---- */

static void job_free(Job *j) {
        Cicerone *c = j->c;

        for (Job **p = &c->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        break;
                }
        c->n_jobs--;
        sd_event_source_disable_unref(j->child);
        sd_event_source_disable_unref(j->timer);
        if (streq(j->what, "update-desktop-database"))
                c->db_job = false;
        free(j);
}

static int on_job_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Job *j = userdata;

        if (si->si_code != CLD_EXITED || si->si_status != 0)
                log_info(
                        "%s (pid %d) %s %d.", j->what, (int) j->pid,
                        si->si_code == CLD_EXITED ? "exited with status" : "killed by signal",
                        si->si_status);
        job_free(j);
        return 0;
}

static int on_job_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;

        log_warning(
                "%s (pid %d) still runs after %llu s: killing it.", j->what, (int) j->pid,
                (unsigned long long) (JOB_TIMEOUT_USEC / USEC_PER_SEC));
        (void) kill(j->pid, SIGKILL);
        return 0;
}

/* Runs argv (argv[0] an absolute path) in its own session, stdin and stdout on /dev/null, stderr
 * ours; reaped by the loop, killed after JOB_TIMEOUT_USEC. -EBUSY when JOBS_MAX run already. */
static int job_spawn(Cicerone *c, const char *what, char *const argv[]) {
        Job *j;
        pid_t pid;
        int r;

        if (c->n_jobs >= JOBS_MAX)
                return -EBUSY;
        j = new0(Job, 1);
        if (!j)
                return -ENOMEM;
        r = safe_fork_full(
                what, FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_NEW_SESSION | FORK_NULL_STDIN, NULL, 0,
                &pid);
        if (r < 0) {
                free(j);
                return r;
        }
        if (r == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (fd >= 0)
                        (void) dup2(fd, STDOUT_FILENO);
                execv(argv[0], argv);
                _exit(127);
        }
        j->c = c;
        j->pid = pid;
        strscpy(j->what, what, sizeof(j->what));
        j->next = c->jobs;
        c->jobs = j;
        c->n_jobs++;
        r = sd_event_add_child(c->event, &j->child, pid, WEXITED, on_job_exit, j);
        if (r >= 0)
                r = sd_event_add_time_relative(
                        c->event, &j->timer, CLOCK_MONOTONIC, JOB_TIMEOUT_USEC, 0, on_job_timeout, j);
        if (r < 0) {
                sigkill_wait(pid);
                job_free(j);
                return r;
        }
        return 0;
}

static int on_db_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Cicerone *c = userdata;
        _cleanup_free_ char *tool = NULL, *home = NULL, *apps = NULL;
        int r;

        if (c->db_job) { /* the last run is still going: once more after it */
                (void) sd_event_source_set_time_relative(s, DB_DELAY_USEC);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        if (find_executable("update-desktop-database", &tool) < 0)
                return 0;
        if (app_entries_data_home(&home) < 0 || asprintf(&apps, "%s/applications", home) < 0)
                return 0;
        r = job_spawn(c, "update-desktop-database", STRV_MAKE(tool, "-q", apps));
        if (r < 0)
                log_warning_errno(r, "Cannot run update-desktop-database: %m");
        else
                c->db_job = true;
        return 0;
}

/* update-desktop-database once, DB_DELAY_USEC after the first change of a batch. */
static void db_schedule(Cicerone *c) {
        int enabled = SD_EVENT_OFF;

        (void) sd_event_source_get_enabled(c->db_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        (void) sd_event_source_set_time_relative(c->db_timer, DB_DELAY_USEC);
        (void) sd_event_source_set_enabled(c->db_timer, SD_EVENT_ONESHOT);
}

/* ---- launching an application (control request) ---- */

static void launch_free(Launch *l) {
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

static void launch_done(Launch *l, int error, const char *message) {
        Bistro__Empty empty = BISTRO__EMPTY__INIT;

        if (error < 0) {
                log_warning("Launching %s in %s/%s failed: %s", l->app, l->vm, l->container, message);
                (void) wire_reply_error(l->control, l->id, error, "%s", message);
        } else {
                log_info("Launched %s in %s/%s.", l->app, l->vm, l->container);
                (void) wire_reply(l->control, l->id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
        }
        launch_free(l);
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
        req.desktop_file_id = l->app;
        req.uris = l->uris;
        req.n_uris = l->n_uris;
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

static void on_launch_dialed(int fd, int error, const char *message, void *userdata) {
        Launch *l = userdata;
        Bistro__Container__GarconHelloRequest hello = BISTRO__CONTAINER__GARCON_HELLO_REQUEST__INIT;
        _cleanup_free_ char *m = NULL;
        int r;

        l->dial = NULL;
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

/* The container just became ready: start the launches waiting for it. */
static void launches_kick(Cicerone *c, Container *ct) {
        for (Launch *l = c->launches, *next; l; l = next) {
                next = l->next;
                if (l->timer && streq(l->vm, ct->vm->name) && streq(l->container, ct->name))
                        launch_start(l, ct);
        }
}

static int handle_launch(
        Cicerone *c, WireConn *conn, uint64_t id, const Bistro__Cicerone__LaunchApplicationRequest *req) {
        Launch *l;
        Vm *v;
        Container *ct = NULL;
        int r;

        if (c->n_launches >= LAUNCHES_MAX)
                return wire_reply_error(conn, id, -EBUSY, "%u launches pending already", LAUNCHES_MAX);
        l = new0(Launch, 1);
        if (!l)
                return wire_reply_error(conn, id, -ENOMEM, "out of memory");
        l->c = c;
        l->control = wire_conn_ref(conn);
        l->id = id;
        strscpy(l->vm, req->vm_name, sizeof(l->vm));
        strscpy(l->container, req->container_name, sizeof(l->container));
        l->wait_ms = MIN(req->wait_ms, WAIT_MS_MAX);
        l->app = strdup(req->desktop_file_id);
        l->uris = new0(char *, req->n_uris + 1);
        l->next = c->launches;
        c->launches = l;
        c->n_launches++;
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
        v = vm_find(c, l->vm);
        if (v)
                ct = container_find(v, l->container, false);
        if (ct && ct->ready) {
                launch_start(l, ct);
                return 0;
        }
        r = sd_event_add_time_relative(
                c->event, &l->timer, CLOCK_MONOTONIC, (uint64_t) l->wait_ms * USEC_PER_MSEC, 0,
                on_launch_timeout, l);
        if (r < 0)
                launch_done(l, r, "cannot arm a timer");
        return 0;
}

/* ---- container side: each VM's port 8889 ---- */

static void peer_close(WireConn *conn, int reason, void *userdata) {
        Peer *p = userdata;
        Container *ct = p->bound ? container_find(p->vm, p->container, false) : NULL;

        if (ct && ct->n_conns > 0)
                ct->n_conns--;
        if (reason == -EBADMSG || reason == -EMSGSIZE)
                /* The wire layer refuses the whole message: a URL other than http/https/mailto, a
                 * name with control characters, an id with shell characters, a list or icon over
                 * its cap. */
                log_warning_errno(
                        reason,
                        "VM %s: refused an invalid message (bad URL, name, id, list or icon) from %s%s, "
                        "connection closed: %m",
                        p->vm->name, p->bound ? "container " : "",
                        p->bound ? p->container : "an unknown peer");
        else if (reason < 0 && reason != -ECANCELED && reason != -ECONNRESET)
                log_info_errno(
                        reason, "VM %s: closed a connection from %s%s: %m", p->vm->name,
                        p->bound ? "container " : "", p->bound ? p->container : "an unknown peer");
        free(p);
}

static int peer_accept(WireServer *s, WireConn *conn, void *userdata) {
        Vm *v = userdata;
        Peer *p;

        p = new0(Peer, 1);
        if (!p) {
                /* The refused connection is closed with the server's handlers: not peer_close(),
                 * whose userdata would be the VM. */
                wire_conn_set_handlers(conn, NULL, NULL, NULL);
                return -ENOMEM;
        }
        p->vm = v;
        wire_conn_set_userdata(conn, p);
        /* Idle connections are free for a container holding a token only. */
        (void) wire_conn_set_timeouts(conn, GUEST_UNBOUND_IDLE_USEC, GUEST_FRAME_USEC);
        return 0;
}

/* Which container sent token: the one the connection is bound to (the token must be the same and still
 * the container's), else the one whose stored token it is. */
static int peer_bind(Peer *p, WireConn *conn, const char *token, Container **ret) {
        Vm *v = p->vm;
        Container *ct;
        TokenBuf stored;
        NameBuf name;
        int r;

        if (p->bound) {
                if (!token_equal(p->token, token))
                        return -EPERM;
                r = token_store_get(v->c->token_dir, v->name, p->container, stored);
                if (r < 0 || !token_equal(stored, token)) {
                        explicit_bzero(stored, sizeof(stored));
                        return -EPERM;
                }
                explicit_bzero(stored, sizeof(stored));
                *ret = container_find(v, p->container, false);
                return *ret ? 0 : -ENOMEM;
        }
        r = token_store_find(v->c->token_dir, v->name, token, name);
        if (r < 0)
                return -EPERM;
        ct = container_find(v, name, true);
        if (!ct)
                return -ENOMEM;
        /* One container cannot take the VM's connections from the others. */
        if (ct->n_conns >= CONTAINER_CONNS_MAX)
                return -EMFILE;
        strscpy(p->container, name, sizeof(p->container));
        strscpy(p->token, token, sizeof(p->token));
        p->bound = true;
        ct->n_conns++;
        (void) wire_conn_set_timeouts(conn, 0, GUEST_FRAME_USEC);
        *ret = ct;
        return 0;
}

static int reply_empty(WireConn *conn, uint64_t id) {
        Bistro__Empty empty = BISTRO__EMPTY__INIT;

        return wire_reply(conn, id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
}

static AppInfo app_info(const Bistro__Container__Application *a) {
        return (AppInfo){
                .id = a->desktop_file_id,
                .name = a->name,
                .comment = a->comment,
                .mime_types = a->mime_types,
                .n_mime_types = a->n_mime_types,
                .no_display = a->no_display,
                .startup_wm_class = a->startup_wm_class,
        };
}

static int handle_app_list(
        Peer *p,
        Container *ct,
        WireConn *conn,
        uint64_t id,
        const Bistro__Container__UpdateApplicationListRequest *req) {
        Cicerone *c = p->vm->c;
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ const char **ids = NULL;
        uint64_t *bytes;
        size_t len;
        unsigned written = 0, failed = 0;
        int r, removed;

        ids = new0(const char *, req->n_apps + 1);
        if (!ids)
                return wire_reply_error(conn, id, -ENOMEM, "out of memory");
        for (size_t i = 0; i < req->n_apps; i++) {
                AppInfo a = app_info(req->apps[i]);

                ids[i] = a.id;
                r = app_entry_write(
                        ct->vm->name, ct->name, &a, c->exec, app_icon_exists(ct->vm->name, ct->name, a.id));
                if (r < 0) {
                        failed++;
                        log_warning_errno(
                                r, "VM %s, container %s: cannot write the entry of %s: %m", ct->vm->name,
                                ct->name, a.id);
                } else
                        written += r;
        }
        removed = app_entries_remove_except(ct->vm->name, ct->name, ids, req->n_apps);
        if (removed < 0)
                log_warning_errno(
                        removed, "VM %s, container %s: cannot remove old entries: %m", ct->vm->name,
                        ct->name);
        if (written > 0 || removed > 0) {
                log_info(
                        "VM %s, container %s: %zu applications (%u written, %d removed).", ct->vm->name,
                        ct->name, req->n_apps, written, MAX(removed, 0));
                db_schedule(c);
        }

        /* Keep the list: icons are accepted for its applications only. */
        len = protobuf_c_message_get_packed_size(&req->base);
        buf = malloc(MAX(len, (size_t) 1));
        if (buf) {
                Bistro__Container__UpdateApplicationListRequest *copy;

                protobuf_c_message_pack(&req->base, buf);
                copy = bistro__container__update_application_list_request__unpack(NULL, len, buf);
                bytes = new0(uint64_t, MAX(req->n_apps, (size_t) 1));
                if (copy && bytes) {
                        /* The icon bytes of the apps that stay (the others' icons are gone). */
                        for (size_t i = 0; ct->apps && i < ct->apps->n_apps; i++)
                                for (size_t j = 0; j < copy->n_apps && ct->icon_bytes[i] > 0; j++)
                                        if (streq(ct->apps->apps[i]->desktop_file_id,
                                                  copy->apps[j]->desktop_file_id)) {
                                                bytes[j] = ct->icon_bytes[i];
                                                break;
                                        }
                        if (ct->apps)
                                protobuf_c_message_free_unpacked(&ct->apps->base, NULL);
                        free(ct->icon_bytes);
                        ct->apps = TAKE_PTR(copy);
                        ct->icon_bytes = TAKE_PTR(bytes);
                }
                if (copy)
                        protobuf_c_message_free_unpacked(&copy->base, NULL);
                free(bytes);
        }
        if (failed > 0)
                return wire_reply_error(
                        conn, id, -EIO, "%u of %zu entries could not be written", failed, req->n_apps);
        return reply_empty(conn, id);
}

static int handle_app_icons(
        Peer *p,
        Container *ct,
        WireConn *conn,
        uint64_t id,
        const Bistro__Container__UpdateApplicationIconsRequest *req) {
        Cicerone *c = p->vm->c;
        const Bistro__Container__Application *app = NULL;
        unsigned written = 0, acceptable = 0;
        uint64_t others = 0, bytes = 0;
        size_t idx = 0;
        AppInfo a;
        int r;

        for (size_t i = 0; ct->apps && i < ct->apps->n_apps; i++) {
                if (!app && streq(ct->apps->apps[i]->desktop_file_id, req->desktop_file_id)) {
                        app = ct->apps->apps[i];
                        idx = i;
                } else
                        others += ct->icon_bytes[i];
        }
        if (!app) {
                log_info(
                        "VM %s, container %s: refused icons: %s is not in the application list.",
                        ct->vm->name, ct->name, req->desktop_file_id);
                return wire_reply_error(
                        conn, id, -ENOENT, "%s is not in the application list", req->desktop_file_id);
        }
        for (size_t i = 0; i < req->n_icons; i++) {
                const Bistro__Container__Icon *icon = req->icons[i];

                if (app_icon_check(icon->size, icon->data.data, icon->data.len) >= 0) {
                        acceptable++;
                        continue;
                }
                log_info(
                        "VM %s, container %s: refused an icon of %s: not a valid %s.", ct->vm->name,
                        ct->name, app->desktop_file_id, icon->size ? "PNG of that size" : "SVG");
        }
        if (acceptable == 0)
                return wire_reply_error(
                        conn, id, -EBADMSG, "no acceptable icon (PNG of the declared size or plain SVG)");

        /* The new set replaces the old one (so what is on disk is what is counted). */
        r = app_icons_remove(ct->vm->name, ct->name, app->desktop_file_id);
        if (r < 0) {
                log_info_errno(
                        r, "VM %s, container %s: refused icons of %s: %s", ct->vm->name, ct->name,
                        app->desktop_file_id,
                        r == -EEXIST ? "its file name belongs to another container's entry"
                                     : "it has no entry");
                return wire_reply_error(conn, id, r, "no entry of %s to add icons to", app->desktop_file_id);
        }
        ct->icon_bytes[idx] = 0;
        for (size_t i = 0; i < req->n_icons; i++) {
                const Bistro__Container__Icon *icon = req->icons[i];

                if (app_icon_check(icon->size, icon->data.data, icon->data.len) < 0)
                        continue;
                if (others + bytes + icon->data.len > ICON_BYTES_PER_CONTAINER) {
                        log_warning(
                                "VM %s, container %s: icon of %s skipped: over %llu MiB of icons.",
                                ct->vm->name, ct->name, app->desktop_file_id,
                                ICON_BYTES_PER_CONTAINER >> 20);
                        continue;
                }
                r = app_icon_write(
                        ct->vm->name, ct->name, app->desktop_file_id, icon->size, icon->data.data,
                        icon->data.len);
                if (r < 0) {
                        log_warning_errno(
                                r, "VM %s, container %s: cannot write an icon of %s: %m", ct->vm->name,
                                ct->name, app->desktop_file_id);
                        continue;
                }
                bytes += icon->data.len;
                written++;
        }
        ct->icon_bytes[idx] = bytes;
        a = app_info(app);
        r = app_entry_write(ct->vm->name, ct->name, &a, c->exec, written > 0);
        if (r < 0)
                log_warning_errno(r, "Cannot rewrite the entry of %s: %m", app->desktop_file_id);
        db_schedule(c);
        if (written == 0)
                return wire_reply_error(
                        conn, id, -EFBIG, "icons of %s not written (over the container's %llu MiB of icons)",
                        app->desktop_file_id, ICON_BYTES_PER_CONTAINER >> 20);
        return reply_empty(conn, id);
}

static int handle_open_url(
        Peer *p, Container *ct, WireConn *conn, uint64_t id, const Bistro__Container__OpenUrlRequest *req) {
        Cicerone *c = p->vm->c;
        _cleanup_free_ char *opener = NULL;
        char *argv[4] = {};
        int r;

        if (!bucket_take(&ct->opens, OPEN_BURST, OPEN_PERIOD_USEC) ||
            !bucket_take(&c->opens, OPEN_GLOBAL_BURST, OPEN_GLOBAL_PERIOD_USEC)) {
                log_info("VM %s, container %s: refused to open a link: rate limit.", ct->vm->name, ct->name);
                return wire_reply_error(conn, id, -EBUSY, "too many links opened, slow down");
        }
        if (find_executable("xdg-open", &opener) >= 0) {
                argv[0] = opener;
                argv[1] = req->url;
        } else if (find_executable("gio", &opener) >= 0) {
                argv[0] = opener;
                argv[1] = (char *) "open";
                argv[2] = req->url;
        } else {
                log_info(
                        "VM %s, container %s: refused to open a link: neither xdg-open nor gio on PATH.",
                        ct->vm->name, ct->name);
                return wire_reply_error(conn, id, -ENOENT, "no xdg-open or gio on the host");
        }
        r = job_spawn(c, "xdg-open", argv);
        if (r == -EBUSY) {
                log_info(
                        "VM %s, container %s: refused to open a link: %u openers still running.",
                        ct->vm->name, ct->name, JOBS_MAX);
                return wire_reply_error(conn, id, -EBUSY, "too many links opened, slow down");
        }
        if (r < 0)
                return wire_reply_error(conn, id, r, "cannot run %s", opener);
        log_info(
                "VM %s, container %s: opening a %.*s link on the host.", ct->vm->name, ct->name,
                (int) strcspn(req->url, ":"), req->url);
        return reply_empty(conn, id);
}

static const char *request_token(uint32_t type, const ProtobufCMessage *msg) {
        switch (type) {
        case BISTRO__MESSAGE_TYPE__CONTAINER_READY_REQUEST:
                return ((const Bistro__Container__ContainerReadyRequest *) msg)->token;
        case BISTRO__MESSAGE_TYPE__CONTAINER_SHUTDOWN_REQUEST:
                return ((const Bistro__Container__ContainerShutdownRequest *) msg)->token;
        case BISTRO__MESSAGE_TYPE__OPEN_URL_REQUEST:
                return ((const Bistro__Container__OpenUrlRequest *) msg)->token;
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_LIST_REQUEST:
                return ((const Bistro__Container__UpdateApplicationListRequest *) msg)->token;
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_ICONS_REQUEST:
                return ((const Bistro__Container__UpdateApplicationIconsRequest *) msg)->token;
        default:
                return NULL;
        }
}

static int on_guest_message(
        WireConn *conn,
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        void *userdata) {
        Peer *p = userdata;
        Container *ct;
        const char *token;
        int r;

        if (flags != FRAME_REQUEST)
                return -EBADMSG;
        if (!bucket_take(&p->rate, PEER_BURST, PEER_PERIOD_USEC))
                return wire_reply_error(conn, id, -EBUSY, "too many requests, slow down");
        token = request_token(type, msg);
        if (!token)
                return wire_reply_error(
                        conn, id, -EOPNOTSUPP, "cicerone does not handle %s here",
                        message_type_to_string(type) ?: "this request");
        r = peer_bind(p, conn, token, &ct);
        if (r == -ENOMEM)
                return wire_reply_error(conn, id, r, "out of memory");
        if (r == -EMFILE) {
                log_warning(
                        "VM %s: refused a connection: its container already has %u.", p->vm->name,
                        CONTAINER_CONNS_MAX);
                (void) wire_reply_error(conn, id, -EBUSY, "too many connections from this container");
                return -EMFILE;
        }
        if (r < 0) {
                /* Never the token itself in the log. */
                log_warning(
                        "VM %s: refused %s: %s.", p->vm->name, message_type_to_string(type) ?: "a request",
                        p->bound ? "not the token of this connection's container" : "unknown token");
                return wire_reply_error(conn, id, -EPERM, "unknown token");
        }

        switch (type) {
        case BISTRO__MESSAGE_TYPE__CONTAINER_READY_REQUEST: {
                const Bistro__Container__ContainerReadyRequest *req = (const void *) msg;

                ct->ready = true;
                ct->garcon_port = req->garcon_port;
                log_info(
                        "VM %s, container %s: garcon ready on port %u.", ct->vm->name, ct->name,
                        req->garcon_port);
                r = reply_empty(conn, id);
                launches_kick(p->vm->c, ct);
                return r;
        }
        case BISTRO__MESSAGE_TYPE__CONTAINER_SHUTDOWN_REQUEST:
                ct->ready = false;
                log_info("VM %s, container %s: shutting down.", ct->vm->name, ct->name);
                return reply_empty(conn, id);
        case BISTRO__MESSAGE_TYPE__OPEN_URL_REQUEST:
                return handle_open_url(p, ct, conn, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_LIST_REQUEST:
                return handle_app_list(p, ct, conn, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_ICONS_REQUEST:
                return handle_app_icons(p, ct, conn, id, (const void *) msg);
        }
        return -EBADMSG;
}

/* ---- VMs ---- */

/* Refuses to replace anything but a socket (or nothing) at path. */
static int listen_safely(const char *path, int backlog) {
        struct stat st;

        if (lstat(path, &st) >= 0 && !S_ISSOCK(st.st_mode))
                return -EEXIST;
        return unix_listen(path, backlog, 0600);
}

static void vm_free(Vm *v) {
        Cicerone *c = v->c;

        for (Vm **p = &c->vms; *p; p = &(*p)->next)
                if (*p == v) {
                        *p = v->next;
                        break;
                }
        wire_server_free(v->server);
        if (v->listen_path) {
                struct stat st;

                /* Only our own socket: a new one may be there already. */
                if (lstat(v->listen_path, &st) >= 0 && st.st_dev == v->dev && st.st_ino == v->ino)
                        (void) unlink(v->listen_path);
        }
        while (v->containers) {
                Container *ct = v->containers;

                v->containers = ct->next;
                container_free(ct);
        }
        free(v->vsock_path);
        free(v->listen_path);
        free(v);
}

static bool vm_listening(Vm *v) {
        struct stat st;

        return v->server && lstat(v->listen_path, &st) >= 0 && st.st_dev == v->dev && st.st_ino == v->ino;
}

static int vm_listen(Vm *v) {
        struct stat st;
        int fd, r;

        v->server = wire_server_free(v->server);
        fd = listen_safely(v->listen_path, 64);
        if (fd < 0)
                return fd;
        if (fstatat(AT_FDCWD, v->listen_path, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                r = -errno;
                safe_close(fd);
                return r;
        }
        v->dev = st.st_dev;
        v->ino = st.st_ino;
        r = wire_server_new(v->c->event, fd, GUEST_CONNS_MAX, &v->server);
        if (r < 0) {
                safe_close(fd);
                return r;
        }
        wire_server_set_handlers(v->server, peer_accept, on_guest_message, peer_close, v);
        wire_server_set_timeouts(v->server, 0, GUEST_FRAME_USEC);
        return 0;
}

static int handle_vm_started(Cicerone *c, WireConn *conn, uint64_t id, const char *name) {
        Vm *v = vm_find(c, name);
        bool created = false;
        int r;

        if (!v) {
                v = new0(Vm, 1);
                if (!v)
                        return wire_reply_error(conn, id, -ENOMEM, "out of memory");
                v->c = c;
                strscpy(v->name, name, sizeof(v->name));
                if (asprintf(&v->vsock_path, "%s/vms/%s/vsock.sock", c->runtime_dir, name) < 0 ||
                    asprintf(&v->listen_path, "%s_%u", v->vsock_path, CICERONE_PORT) < 0) {
                        free(v->vsock_path);
                        free(v);
                        return wire_reply_error(conn, id, -ENOMEM, "out of memory");
                }
                v->next = c->vms;
                c->vms = v;
                created = true;
        }
        if (vm_listening(v))
                return reply_empty(conn, id);
        r = vm_listen(v);
        if (r < 0) {
                if (created)
                        vm_free(v);
                log_warning_errno(r, "VM %s: cannot listen for its containers: %m", name);
                return wire_reply_error(
                        conn, id, r, "cannot listen on VM %s's port %u", name, CICERONE_PORT);
        }
        log_info("VM %s: listening for its containers on port %u.", name, CICERONE_PORT);
        return reply_empty(conn, id);
}

/* ---- control socket ---- */

static int on_control_message(
        WireConn *conn,
        uint32_t type,
        uint32_t flags,
        uint64_t id,
        const ProtobufCMessage *msg,
        void *userdata) {
        Cicerone *c = userdata;

        if (flags != FRAME_REQUEST)
                return -EBADMSG;
        switch (type) {
        case BISTRO__MESSAGE_TYPE__CICERONE_VM_STARTED_REQUEST:
                return handle_vm_started(
                        c, conn, id, ((const Bistro__Cicerone__VmStartedRequest *) msg)->vm_name);
        case BISTRO__MESSAGE_TYPE__CICERONE_VM_STOPPED_REQUEST: {
                Vm *v = vm_find(c, ((const Bistro__Cicerone__VmStoppedRequest *) msg)->vm_name);

                if (v) {
                        log_info("VM %s: stopped.", v->name);
                        vm_free(v);
                }
                return reply_empty(conn, id);
        }
        case BISTRO__MESSAGE_TYPE__CICERONE_LAUNCH_APPLICATION_REQUEST:
                return handle_launch(c, conn, id, (const void *) msg);
        default:
                return wire_reply_error(
                        conn, id, -EOPNOTSUPP, "cicerone does not handle %s",
                        message_type_to_string(type) ?: "this request");
        }
}

/* Nobody waits for the launches of a closed connection any more. */
static void on_control_close(WireConn *conn, int reason, void *userdata) {
        Cicerone *c = userdata;

        for (Launch *l = c->launches, *next; l; l = next) {
                next = l->next;
                if (l->control == conn)
                        launch_free(l);
        }
}

static int on_control_accept(WireServer *s, WireConn *conn, void *userdata) {
        uid_t uid;

        if (unix_peer_uid(wire_conn_get_fd(conn), &uid) < 0 || uid != getuid())
                return -EPERM;
        return 0;
}

/* ---- main ---- */

static int on_term(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Cicerone *c = userdata;

        (void) sd_event_exit(c->event, 0);
        return 0;
}

static int help(void) {
        printf("Usage: cicerone [--control PATH]\n"
               "The containers' peer on the host: their applications in the launcher, their links opened\n"
               "on the host, launches from the host (docs/design/cicerone.md).\n\n"
               "  --control PATH   control socket (default $XDG_RUNTIME_DIR/bistro/cicerone.sock)\n"
               "  -h --help        this help\n"
               "  --version        the version\n");
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        enum {
                ARG_CONTROL = 0x100,
                ARG_VERSION,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "control", required_argument, NULL, ARG_CONTROL },
                {},
        };
        int c;

        opterr = 0;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("cicerone %s\n", BISTRO_VERSION);
                        return 0;
                case ARG_CONTROL:
                        if (!optarg[0])
                                return log_usage_error("--control needs a path");
                        arg_control = optarg;
                        break;
                default:
                        return log_usage_bad_option(argv);
                }
        if (optind < argc)
                return log_usage_error("unexpected argument '%s'", argv[optind]);
        return 1;
}

static int run(int argc, char *argv[]) {
        Cicerone c = {};
        _cleanup_free_ char *control = NULL;
        int fd, r;
        sigset_t mask;

        log_set_ident("cicerone");
        log_parse_environment();
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        r = bistro_runtime_dir(&c.runtime_dir);
        if (r < 0)
                return log_error_errno(r, "Cannot use the runtime directory: %m");
        r = token_store_dir(&c.token_dir);
        if (r < 0)
                return log_error_errno(r, "Cannot locate the token store: %m");
        r = bistro_find_command("bistro", "BISTRO_BISTRO", &c.exec);
        if (r < 0) {
                log_warning_errno(
                        r, "Cannot find bistro's launcher (%m): entries will run 'bistro' from PATH.");
                c.exec = strdup("bistro");
                if (!c.exec)
                        return log_oom();
        }
        if (!arg_control) {
                if (asprintf(&control, "%s/cicerone.sock", c.runtime_dir) < 0)
                        return log_oom();
                arg_control = control;
        }

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask failed: %m");
        (void) signal(SIGPIPE, SIG_IGN);
        (void) umask(0077);

        r = sd_event_new(&c.event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop: %m");
        (void) sd_event_add_signal(c.event, NULL, SIGTERM, on_term, &c);
        (void) sd_event_add_signal(c.event, NULL, SIGINT, on_term, &c);
        r = sd_event_add_time_relative(
                c.event, &c.db_timer, CLOCK_MONOTONIC, DB_DELAY_USEC, 0, on_db_timer, &c);
        if (r >= 0)
                r = sd_event_source_set_enabled(c.db_timer, SD_EVENT_OFF);
        if (r < 0) {
                log_error_errno(r, "Cannot set up a timer: %m");
                goto finish;
        }

        /* A stale socket (nobody answers) is replaced; a live cicerone is not; nor is a non-socket. */
        fd = unix_connect(arg_control);
        if (fd >= 0) {
                safe_close(fd);
                r = log_error_errno(SYNTHETIC_ERRNO(EADDRINUSE), "Another cicerone serves %s.", arg_control);
                goto finish;
        }
        fd = listen_safely(arg_control, 16);
        if (fd < 0) {
                r = log_error_errno(fd, "Cannot listen on %s: %m", arg_control);
                goto finish;
        }
        r = wire_server_new(c.event, fd, CONTROL_CLIENTS_MAX, &c.control);
        if (r < 0) {
                safe_close(fd);
                log_error_errno(r, "Cannot serve %s: %m", arg_control);
                goto finish;
        }
        wire_server_set_handlers(c.control, on_control_accept, on_control_message, on_control_close, &c);
        wire_server_set_timeouts(c.control, 0, 10 * USEC_PER_SEC);

        log_info("Serving %s.", arg_control);
        r = sd_event_loop(c.event);
        if (r < 0)
                log_error_errno(r, "Event loop failed: %m");
finish:
        while (c.launches)
                launch_free(c.launches);
        while (c.vms)
                vm_free(c.vms);
        while (c.jobs)
                job_free(c.jobs);
        wire_server_free(c.control);
        sd_event_source_disable_unref(c.db_timer);
        sd_event_unref(c.event);
        free(c.runtime_dir);
        free(c.token_dir);
        free(c.exec);
        return r < 0 ? r : 0;
}

DEFINE_MAIN_FUNCTION(run);

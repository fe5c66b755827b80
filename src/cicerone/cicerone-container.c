/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The containers' side: each running VM's hybrid vsock port 8889. A connection is bound to the
 * container whose token it first sends, and is limited so that one container cannot take the VM's
 * connections from the others. ContainerReady/Shutdown, the application list and its icons. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "app-entries.h"
#include "bistro-ports.h"
#include "cicerone.h"
#include "common.pb-c.h"
#include "fd-util.h"
#include "gui-settings.h"
#include "log.h"
#include "macro.h"
#include "socket-util.h"
#include "string-util.h"

#define GUEST_CONNS_MAX 64u /* per VM */
#define GUEST_FRAME_USEC (10 * USEC_PER_SEC)
#define GUEST_UNBOUND_IDLE_USEC (30 * USEC_PER_SEC) /* a connection without a valid token yet */
#define CONTAINER_CONNS_MAX 8u                      /* connections bound to one container */
#define PEER_BURST 64.0 /* requests per guest connection: burst, then one per PEER_PERIOD */
#define PEER_PERIOD_USEC (100 * USEC_PER_MSEC)
#define ICON_BYTES_PER_CONTAINER (32ull * 1024 * 1024)

/* A connection on a VM's 8889 socket: from somewhere inside that VM. */
typedef struct Peer {
        Vm *vm;
        bool bound;
        NameBuf container;
        TokenBuf token;
        Bucket rate;
} Peer;

Vm *vm_find(Cicerone *c, const char *name) {
        for (Vm *v = c->vms; v; v = v->next)
                if (streq(v->name, name))
                        return v;
        return NULL;
}

Container *container_find(Vm *v, const char *name, bool create) {
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

/* ---- connections on port 8889 ---- */

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

/* ---- the application list and its icons ---- */

/* The user's window mark (gui.conf), read for each list: a change reaches an entry when it is next
 * written (the container's next start). */
static WindowMark window_mark(void) {
        WindowMark m;
        int r;

        r = gui_settings_window_mark(&m);
        if (r < 0) {
                log_warning_errno(r, "Cannot read the window mark from gui.conf, using 'title': %m");
                return WINDOW_MARK_TITLE;
        }
        return m;
}

static AppInfo app_info(const Bistro__Container__Application *a, WindowMark mark) {
        return (AppInfo){
                .id = a->desktop_file_id,
                .name = a->name,
                .comment = a->comment,
                .mime_types = a->mime_types,
                .n_mime_types = a->n_mime_types,
                .no_display = a->no_display,
                .startup_wm_class = a->startup_wm_class,
                .window_mark = mark,
        };
}

static int handle_app_list(
        Container *ct,
        WireConn *conn,
        uint64_t id,
        const Bistro__Container__UpdateApplicationListRequest *req) {
        Cicerone *c = ct->vm->c;
        _cleanup_free_ uint8_t *buf = NULL;
        _cleanup_free_ const char **ids = NULL;
        uint64_t *bytes;
        size_t len;
        unsigned written = 0, failed = 0;
        WindowMark mark = window_mark();
        int r, removed;

        ids = new0(const char *, req->n_apps + 1);
        if (!ids)
                return wire_reply_error(conn, id, -ENOMEM, "out of memory");
        for (size_t i = 0; i < req->n_apps; i++) {
                AppInfo a = app_info(req->apps[i], mark);

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
        Container *ct,
        WireConn *conn,
        uint64_t id,
        const Bistro__Container__UpdateApplicationIconsRequest *req) {
        Cicerone *c = ct->vm->c;
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
        a = app_info(app, window_mark());
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

/* ---- dispatch ---- */

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
                return handle_open_url(ct, conn, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_LIST_REQUEST:
                return handle_app_list(ct, conn, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_ICONS_REQUEST:
                return handle_app_icons(ct, conn, id, (const void *) msg);
        }
        return -EBADMSG;
}

/* ---- VMs ---- */

static void vm_shares_clear(Vm *v) {
        for (size_t i = 0; i < v->n_shares; i++)
                free(v->shares[i].host_path);
        v->shares = mfree(v->shares);
        v->n_shares = 0;
}

void vm_free(Vm *v) {
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
        vm_shares_clear(v);
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

/* Replaces the VM's shares with req's (validated: names fit NameBuf, paths absolute). */
static int vm_shares_set(Vm *v, const Bistro__Cicerone__VmStartedRequest *req) {
        VmShare *s = NULL;

        if (req->n_shares > 0) {
                s = new0(VmShare, req->n_shares);
                if (!s)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < req->n_shares; i++) {
                strscpy(s[i].name, req->shares[i]->name, sizeof(s[i].name));
                strscpy(s[i].container, req->shares[i]->container, sizeof(s[i].container));
                s[i].host_path = strdup(req->shares[i]->host_path);
                if (!s[i].host_path) {
                        for (size_t j = 0; j < i; j++)
                                free(s[j].host_path);
                        free(s);
                        return -ENOMEM;
                }
        }
        vm_shares_clear(v);
        v->shares = s;
        v->n_shares = req->n_shares;
        return 0;
}

int handle_vm_started(
        Cicerone *c, WireConn *conn, uint64_t id, const Bistro__Cicerone__VmStartedRequest *req) {
        const char *name = req->vm_name;
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
        r = vm_shares_set(v, req);
        if (r < 0) {
                if (created)
                        vm_free(v);
                return wire_reply_error(conn, id, r, "out of memory");
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

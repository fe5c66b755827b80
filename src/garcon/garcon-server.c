/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* garcon --server. One thread, one poll() loop:
 *   - the connection to cicerone (non-blocking, one call in flight, every call bounded by 30 s):
 *     ContainerReady, then the list, then the icons of each listed app whose icons changed; on any
 *     failure it reconnects with backoff (1 s doubling to 30 s) and sends everything again;
 *   - our vsock listener: connections from the host only, each a few requests (GarconHello, then
 *     LaunchApplication), closed after 10 s without one;
 *   - inotify on the applications and icon directories, coalesced into one rescan;
 *   - a signalfd for SIGCHLD (reaping what we launched), SIGTERM and SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "bistro-ports.h"
#include "container-token.h"
#include "desktop-entry.h"
#include "fd-util.h"
#include "gui-env.h"
#include "frame.h"
#include "garcon-apps.h"
#include "garcon-server.h"
#include "garcon-sftp.h"
#include "garcon-sommelier.h"
#include "garcon-util.h"
#include "log.h"
#include "path-util.h"
#include "proto-validate.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "strv.h"
#include "time-util.h"
#include "wire-client.h"

#define CALL_TIMEOUT_USEC (30 * USEC_PER_SEC)
#define BACKOFF_MIN_USEC (1 * USEC_PER_SEC)
#define BACKOFF_MAX_USEC (30 * USEC_PER_SEC)
#define PEER_IDLE_USEC (10 * USEC_PER_SEC)
#define PEERS_MAX 16
#define PEER_REQUESTS_MAX 16
#define RESCAN_DELAY_USEC (1 * USEC_PER_SEC)
#define RESCAN_MAX_DELAY_USEC (3 * USEC_PER_SEC)
#define LAUNCH_TIMEOUT_MS 15000
#define DISPLAY_WAIT_MS 8000 /* at most, once, just after the container started */
#define SHUTDOWN_TIMEOUT_MS 1000
#define APP_LOG_MAX (8u * 1024u * 1024u)
#define LAUNCH_CHDIR_FAILED 100000

typedef struct Stream {
        int fd;
        FrameDecoder dec;
        uint8_t *out;
        size_t out_len, out_off;
} Stream;

typedef struct Peer {
        Stream s;
        usec_t deadline;
        unsigned requests;
        bool close_after_flush;
        bool hello; /* GarconHello answered on this connection: the host checked our token */
} Peer;

typedef enum HostState {
        HOST_DOWN,
        HOST_CONNECTING,
        HOST_UP,
} HostState;

typedef struct Host {
        Stream s;
        HostState state;
        bool ready; /* ContainerReady answered with EMPTY */
        uint64_t next_id;
        uint64_t call_id; /* 0: no call in flight */
        uint32_t call_type;
        char call_app[256]; /* the app of an icons call */
        uint64_t call_icon_sig;
        size_t call_listed; /* the apps a list call carries */
        usec_t deadline;    /* of the connect or the call in flight */
        usec_t retry_at;
        usec_t backoff;
} Host;

typedef struct Server {
        char token[PROTO_TOKEN_MAX + 1];
        char **data_dirs;
        const char *lang;
        GarconAppList *apps;
        size_t n_listed; /* apps[0..n_listed) were in the last list sent */
        bool list_dirty;
        int inotify_fd;
        GarconScanStats watch_info; /* of the scan that set up inotify_fd's watches */
        usec_t rescan_at, first_event_at, last_scan;
        int listen_fd;
        int test_listen_fd; /* $GARCON_TEST_LISTEN_SOCKET, tests only */
        uint32_t port;
        int signal_fd;
        Peer peers[PEERS_MAX];
        Host host;
        SommelierChild sommelier;
        bool quit;
} Server;

static void stream_reset(Stream *s) {
        s->fd = safe_close(s->fd);
        frame_decoder_done(&s->dec);
        s->dec = (FrameDecoder) FRAME_DECODER_INIT;
        s->out = mfree(s->out);
        s->out_len = s->out_off = 0;
}

/* Queues one frame; the stream carries one message at a time, so the queue is one buffer. */
static int stream_queue(Stream *s, uint32_t type, uint32_t flags, uint64_t id, const ProtobufCMessage *m) {
        uint8_t *buf;
        size_t n;
        int r;

        if (s->out)
                return -EBUSY;
        r = frame_encode(type, flags, id, m, &buf, &n);
        if (r < 0)
                return r;
        s->out = buf;
        s->out_len = n;
        s->out_off = 0;
        return 0;
}

/* Writes what it can. 0, or -errno. */
static int stream_flush(Stream *s) {
        while (s->out && s->out_off < s->out_len) {
                ssize_t n = send(
                        s->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                s->out_off += (size_t) n;
        }
        if (s->out && s->out_off == s->out_len) {
                s->out = mfree(s->out);
                s->out_len = s->out_off = 0;
        }
        return 0;
}

/* Reads at most one frame. 1 with *ret, 0 when more is needed, -ECONNRESET at EOF, -errno. */
static int stream_read(Stream *s, Frame *ret) {
        uint8_t buf[16384];

        for (;;) {
                size_t want = MIN(frame_decoder_wanted(&s->dec), sizeof(buf)), used;
                ssize_t n = recv(s->fd, buf, want, MSG_DONTWAIT);
                int r;

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                if (n == 0)
                        return frame_decoder_eof(&s->dec) < 0 ? -EBADMSG : -ECONNRESET;
                r = frame_decoder_feed(&s->dec, buf, (size_t) n, &used, ret);
                if (r != 0)
                        return r;
        }
}

/* ---- the applications ---- */

static bool app_same(const GarconApp *a, const GarconApp *b) {
        if (!streq(a->id, b->id) || !streq(a->name, b->name) || !streq(a->comment, b->comment) ||
            !streq(a->startup_wm_class, b->startup_wm_class) || a->no_display != b->no_display ||
            a->n_mime_types != b->n_mime_types)
                return false;
        for (size_t i = 0; i < a->n_mime_types; i++)
                if (!streq(a->mime_types[i], b->mime_types[i]))
                        return false;
        return true;
}

static int server_rescan(Server *s) {
        _cleanup_(garcon_app_list_freep) GarconAppList *l = NULL;
        _cleanup_close_ int ifd = -EBADF;
        GarconScanStats st = {};
        bool changed;
        int r;

        /* A fresh inotify instance per scan: the watches follow the directories that exist now.
         * It is set up while the scan reads the directories, so nothing is missed in between. */
        ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (ifd < 0)
                log_warning_errno(errno, "inotify_init1() failed, changes will not be noticed: %m");
        r = garcon_scan(
                &(GarconScanOptions){
                        .data_dirs = s->data_dirs,
                        .search_path = getenv("PATH"),
                        .lang = s->lang,
                        .inotify_fd = ifd,
                },
                &l, &st);
        if (r < 0) {
                /* tried again in a second, not at every turn of the loop */
                s->rescan_at = now_usec(CLOCK_MONOTONIC) + RESCAN_DELAY_USEC;
                return log_error_errno(r, "Failed to scan the applications: %m");
        }
        if (st.truncated)
                log_warning(
                        "More than %u files below the applications directories: the rest is ignored.",
                        GARCON_SCAN_FILES_MAX);

        changed = !s->apps || s->apps->n != l->n;
        for (size_t i = 0; i < l->n; i++) {
                const GarconApp *old = garcon_app_list_find(s->apps, l->apps[i]->id);

                if (old)
                        l->apps[i]->icon_sig_sent = old->icon_sig_sent;
                if (!changed && !app_same(l->apps[i], s->apps->apps[i]))
                        changed = true;
        }
        log_debug(
                "Scanned %zu entries: %zu desktop files, %zu applications, %zu skipped, %zu watches%s.",
                st.files, st.desktop_files, l->n, st.skipped, st.watches, changed ? ", changed" : "");
        if (changed)
                s->list_dirty = true;
        garcon_app_list_free(s->apps);
        s->apps = TAKE_PTR(l);
        if (changed)
                s->n_listed = 0; /* no icons until the new list is acknowledged */
        safe_close(s->inotify_fd);
        s->inotify_fd = TAKE_FD(ifd);
        s->watch_info = st;
        s->last_scan = now_usec(CLOCK_MONOTONIC);
        s->rescan_at = USEC_INFINITY;
        return 0;
}

static void server_on_inotify(Server *s) {
        uint8_t buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool any = false;
        usec_t now;

        for (;;) {
                ssize_t n = read(s->inotify_fd, buf, sizeof(buf));

                if (n <= 0)
                        break;
                for (size_t off = 0; off + sizeof(struct inotify_event) <= (size_t) n;) {
                        const struct inotify_event *ev = (const struct inotify_event *) (buf + off);

                        if (garcon_scan_event_matters(&s->watch_info, ev->wd, ev->mask))
                                any = true;
                        off += sizeof(struct inotify_event) + ev->len;
                }
        }
        if (!any)
                return;
        now = now_usec(CLOCK_MONOTONIC);
        if (s->rescan_at == USEC_INFINITY)
                s->first_event_at = now;
        /* 1 s after the last event, but no later than 3 s after the first, and at most one scan
         * a second. */
        s->rescan_at = MIN(now + RESCAN_DELAY_USEC, s->first_event_at + RESCAN_MAX_DELAY_USEC);
        s->rescan_at = MAX(s->rescan_at, s->last_scan + RESCAN_DELAY_USEC);
}

/* ---- the host connection ---- */

static void host_fail(Server *s, int error, const char *what) {
        Host *h = &s->host;
        usec_t now = now_usec(CLOCK_MONOTONIC);

        if (h->state == HOST_UP && h->ready)
                log_warning_errno(error, "Connection to cicerone lost (%s): %m; reconnecting.", what);
        else if (h->backoff == BACKOFF_MIN_USEC)
                log_info_errno(
                        error, "Cannot reach cicerone (%s): %m; retrying with backoff up to 30 s.", what);
        else
                log_debug_errno(
                        error, "Cannot reach cicerone (%s): %m; retrying in %llu s.", what,
                        (unsigned long long) (h->backoff / USEC_PER_SEC));
        stream_reset(&h->s);
        h->state = HOST_DOWN;
        h->ready = false;
        h->call_id = 0;
        h->retry_at = now + h->backoff;
        h->backoff = MIN(h->backoff * 2, BACKOFF_MAX_USEC);
        /* Everything is sent again after the reconnect: cicerone may have restarted. */
        s->list_dirty = true;
        s->n_listed = 0;
        for (size_t i = 0; s->apps && i < s->apps->n; i++)
                s->apps->apps[i]->icon_sig_sent = 0;
}

static int host_call(Server *s, uint32_t type, const ProtobufCMessage *m) {
        Host *h = &s->host;
        int r;

        h->call_id = ++h->next_id;
        h->call_type = type;
        r = stream_queue(&h->s, type, FRAME_REQUEST, h->call_id, m);
        if (r < 0) {
                h->call_id = 0;
                return r;
        }
        h->deadline = now_usec(CLOCK_MONOTONIC) + CALL_TIMEOUT_USEC;
        return stream_flush(&h->s);
}

/* Starts the next call when none is in flight: ContainerReady, the list, then icons. */
static int host_next(Server *s) {
        Host *h = &s->host;
        int r;

        if (h->state != HOST_UP || h->call_id != 0)
                return 0;
        if (!h->ready) {
                Bistro__Container__ContainerReadyRequest m =
                        BISTRO__CONTAINER__CONTAINER_READY_REQUEST__INIT;

                m.token = s->token;
                m.garcon_port = s->port;
                m.sftp_port = 0;
                return host_call(s, BISTRO__MESSAGE_TYPE__CONTAINER_READY_REQUEST, &m.base);
        }
        if (s->list_dirty) {
                AppListMessage m;

                r = app_list_message_build(s->apps, s->token, &m);
                if (r < 0)
                        return r;
                if (m.req.n_apps < s->apps->n)
                        log_warning(
                                "Sending %zu of %zu applications (the message's limits).", m.req.n_apps,
                                s->apps->n);
                r = host_call(s, BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_LIST_REQUEST, &m.req.base);
                s->n_listed = 0;
                h->call_listed = m.req.n_apps;
                app_list_message_done(&m);
                if (r >= 0)
                        s->list_dirty = false;
                return r;
        }
        for (size_t i = 0; s->apps && i < s->n_listed; i++) {
                GarconApp *a = s->apps->apps[i];
                IconsMessage m;

                if (a->icon_sig == a->icon_sig_sent)
                        continue;
                r = icons_message_build(a, s->data_dirs, s->token, &m);
                if (r < 0)
                        return r;
                if (m.req.n_icons == 0 && a->icon_sig_sent == 0) {
                        /* nothing usable, and the host has nothing from us: no message */
                        a->icon_sig_sent = a->icon_sig;
                        icons_message_done(&m);
                        continue;
                }
                strscpy(h->call_app, a->id, sizeof(h->call_app));
                h->call_icon_sig = a->icon_sig;
                r = host_call(s, BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_ICONS_REQUEST, &m.req.base);
                icons_message_done(&m);
                return r;
        }
        return 0;
}

static void host_on_response(Server *s, const Frame *f) {
        Host *h = &s->host;
        _cleanup_message_ ProtobufCMessage *m = NULL;
        _cleanup_free_ char *text = NULL;
        uint32_t type = h->call_type;
        int r, error = 0;

        if (!(f->header.flags & FRAME_RESPONSE) || f->header.id != h->call_id ||
            (f->header.type != BISTRO__MESSAGE_TYPE__EMPTY &&
             f->header.type != BISTRO__MESSAGE_TYPE__ERROR_REPLY))
                return host_fail(s, EBADMSG, "unexpected frame");
        r = wire_unpack(f->header.type, f->payload, f->header.length, &m);
        if (r < 0)
                return host_fail(s, r, "invalid response");
        if (f->header.type == BISTRO__MESSAGE_TYPE__ERROR_REPLY)
                error = wire_error_reply_to_errno((const Bistro__ErrorReply *) m, &text);
        h->call_id = 0;

        switch (type) {
        case BISTRO__MESSAGE_TYPE__CONTAINER_READY_REQUEST:
                if (error < 0) {
                        log_warning_errno(error, "cicerone refused ContainerReady: %s", text ?: "");
                        return host_fail(s, error, "ContainerReady refused");
                }
                log_info("Registered with cicerone (garcon port %u).", s->port);
                h->ready = true;
                h->backoff = BACKOFF_MIN_USEC;
                break;
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_LIST_REQUEST:
                if (error < 0)
                        log_warning_errno(error, "cicerone refused the application list: %s", text ?: "");
                else
                        log_debug("Application list sent (%zu applications).", h->call_listed);
                /* Icons follow for the apps of that list, unless a newer list is already due. */
                if (!s->list_dirty)
                        s->n_listed = error < 0 ? 0 : h->call_listed;
                break;
        case BISTRO__MESSAGE_TYPE__UPDATE_APPLICATION_ICONS_REQUEST: {
                GarconApp *a = (GarconApp *) garcon_app_list_find(s->apps, h->call_app);

                if (error < 0)
                        log_debug_errno(
                                error, "cicerone refused the icons of '%s': %s", h->call_app, text ?: "");
                /* Not retried on refusal: only a change of the icon files sends them again. */
                if (a)
                        a->icon_sig_sent = h->call_icon_sig;
                break;
        }
        default:
                break;
        }
}

static void host_process(Server *s, short revents) {
        Host *h = &s->host;
        usec_t now = now_usec(CLOCK_MONOTONIC);
        int r;

        if (h->state == HOST_DOWN) {
                char token[PROTO_TOKEN_MAX + 1];

                if (now < h->retry_at)
                        return;
                /* The token may have been re-issued (a restarted host): read it again. */
                if (container_token_read(token) >= 0)
                        memcpy(s->token, token, sizeof(token));
                r = garcon_host_connect_start();
                if (r < 0)
                        return host_fail(s, r, "connect");
                h->s.fd = r;
                h->state = HOST_CONNECTING;
                h->deadline = now + CALL_TIMEOUT_USEC;
                return;
        }
        if (h->state == HOST_CONNECTING) {
                int err = 0;
                socklen_t l = sizeof(err);

                if (!(revents & (POLLOUT | POLLERR | POLLHUP))) {
                        if (now >= h->deadline)
                                host_fail(s, ETIMEDOUT, "connect");
                        return;
                }
                if (getsockopt(h->s.fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
                        err = errno;
                if (err != 0)
                        return host_fail(s, err, "connect");
                h->state = HOST_UP;
                revents = 0;
        }
        if (revents & POLLIN) {
                for (;;) {
                        Frame f = {};

                        r = stream_read(&h->s, &f);
                        if (r == 0)
                                break;
                        if (r < 0)
                                return host_fail(s, r, "receive");
                        if (h->call_id == 0) {
                                frame_done(&f);
                                return host_fail(s, EBADMSG, "unsolicited frame");
                        }
                        host_on_response(s, &f);
                        frame_done(&f);
                        if (h->state != HOST_UP)
                                return;
                }
        } else if (revents & (POLLERR | POLLHUP))
                return host_fail(s, ECONNRESET, "hangup");
        if (h->call_id != 0 && now >= h->deadline)
                return host_fail(s, ETIMEDOUT, "call");
        r = stream_flush(&h->s);
        if (r < 0)
                return host_fail(s, r, "send");
        r = host_next(s);
        if (r == -ENOMEM)
                log_oom();
        else if (r < 0)
                return host_fail(s, r, "send");
}

/* ---- requests from the host ---- */

static int open_app_log(void) {
        const char *home = getenv("HOME");
        _cleanup_free_ char *dir = NULL, *p = NULL;
        struct stat st;
        int fd;

        if (!home || home[0] != '/')
                return -ENOENT;
        dir = path_join(home, ".cache");
        if (!dir)
                return -ENOMEM;
        (void) mkdir(dir, 0700);
        p = path_join(dir, "garcon-apps.log");
        if (!p)
                return -ENOMEM;
        fd = open(p, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                safe_close(fd);
                return -EBADF;
        }
        if ((uint64_t) st.st_size > APP_LOG_MAX)
                (void) !ftruncate(fd, 0);
        return fd;
}

/* In the child: the GUI environment (gui-env.h). The toolkit choice does not override what the
 * user set; the app's scale, asked for this launch, does. */
static void apply_gui_env(uint32_t scale_percent) {
        static GuiScaleEnv scale; /* putenv() keeps pointers into it until the exec */
        char rt[GUI_RUNTIME_DIR_MAX];

        if (!getenv("XDG_RUNTIME_DIR")) {
                gui_runtime_dir(getuid(), rt);
                if (gui_runtime_dir_is_users(rt, getuid()))
                        (void) setenv("XDG_RUNTIME_DIR", rt, 1);
        }
        for (const char *const *e = gui_env; *e; e++) {
                const char *eq = strchr(*e, '=');
                char name[64];

                if (!eq || (size_t) (eq - *e) >= sizeof(name))
                        continue;
                memcpy(name, *e, (size_t) (eq - *e));
                name[eq - *e] = 0;
                (void) setenv(name, eq + 1, 0);
        }
        if (gui_scale_env(scale_percent, &scale) < 0)
                return;
        for (size_t i = 0; i < scale.n; i++)
                (void) putenv(scale.entries[i]);
}

/* In the child: just after the container started, sommelier may not serve the Wayland socket yet
 * (systemd makes the runtime directory moments after garcon starts). An app that came up before it
 * would find no display and, being a GUI app, exit: wait for it a little (any app, GUI or not). */
static void wait_for_display(void) {
        const char *rt = getenv("XDG_RUNTIME_DIR"), *d = getenv("WAYLAND_DISPLAY");
        char path[GUI_RUNTIME_DIR_MAX + 64];

        if (!rt || !d || strchr(d, '/') ||
            snprintf(path, sizeof(path), "%s/%s", rt, d) >= (int) sizeof(path))
                return;
        for (unsigned i = 0; i < DISPLAY_WAIT_MS / 50 && access(path, F_OK) < 0; i++)
                (void) usleep(50 * 1000);
}

/* Runs argv (no shell) in a new session, stdin on /dev/null, output to ~/.cache/garcon-apps.log, in
 * the GUI environment. Returns 0 once the exec succeeded, or the errno of what failed in the child. */
static int launch(char **argv, const char *work_dir, uint32_t scale_percent, char **reterr) {
        _cleanup_free_ char *exe = NULL;
        _cleanup_close_ int log_fd = -EBADF;
        int p[2], r, child_err = 0;
        pid_t pid;
        ssize_t n;

        r = find_executable(argv[0], &exe);
        if (r < 0)
                return set_error_message(reterr, r, "'%s' not found: %m", argv[0]);
        log_fd = open_app_log();
        if (pipe2(p, O_CLOEXEC) < 0)
                return set_error_message(reterr, -errno, "pipe2(): %m");
        int keep[] = { p[1], log_fd };
        r = safe_fork_full(
                NULL, FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_NEW_SESSION | FORK_NULL_STDIO, keep,
                log_fd >= 0 ? 2 : 1, &pid);
        if (r < 0) {
                safe_close(p[0]);
                safe_close(p[1]);
                return set_error_message(reterr, r, "fork: %m");
        }
        if (r == 0) {
                const char *home = getenv("HOME");

                if (log_fd >= 0) {
                        (void) dup2(log_fd, STDOUT_FILENO);
                        (void) dup2(log_fd, STDERR_FILENO);
                }
                if (work_dir) {
                        if (chdir(work_dir) < 0) {
                                /* told apart from an exec failure by the offset */
                                child_err = -errno - LAUNCH_CHDIR_FAILED;
                                (void) !write(p[1], &child_err, sizeof(child_err));
                                _exit(127);
                        }
                } else if (!home || chdir(home) < 0)
                        (void) !chdir("/");
                apply_gui_env(scale_percent);
                wait_for_display();
                execv(exe, argv);
                child_err = -errno;
                (void) !write(p[1], &child_err, sizeof(child_err));
                _exit(127);
        }
        safe_close(p[1]);
        r = fd_wait_until(p[0], POLLIN, (int64_t) now_msec(CLOCK_MONOTONIC) + LAUNCH_TIMEOUT_MS);
        if (r < 0) {
                safe_close(p[0]);
                return set_error_message(reterr, r, "'%s' did not start: %m", exe);
        }
        n = read(p[0], &child_err, sizeof(child_err));
        safe_close(p[0]);
        if (n == sizeof(child_err) && child_err <= -LAUNCH_CHDIR_FAILED)
                return set_error_message(
                        reterr, child_err + LAUNCH_CHDIR_FAILED,
                        "cannot change to the directory '%s' (Path=): %m", work_dir);
        if (n == sizeof(child_err) && child_err < 0)
                return set_error_message(reterr, child_err, "cannot run '%s': %m", exe);
        log_info("Launched '%s' (pid %d).", exe, (int) pid);
        return 0;
}

static int handle_launch(Server *s, const Bistro__Container__LaunchApplicationRequest *m, char **reterr) {
        _cleanup_strv_free_ char **argv = NULL;
        const GarconApp *a;
        int r;

        a = garcon_app_list_find(s->apps, m->desktop_file_id);
        if (!a) {
                (void) server_rescan(s);
                a = garcon_app_list_find(s->apps, m->desktop_file_id);
        }
        if (!a)
                return set_error_message(reterr, -ENOENT, "unknown application '%s'", m->desktop_file_id);
        r = exec_line_expand(
                a->exec, m->files, m->n_files, m->uris, m->n_uris, a->icon, a->name, a->file, &argv);
        if (r < 0)
                return set_error_message(reterr, r, "the Exec line of '%s' cannot be used: %m", a->id);
        return launch(argv, a->work_dir, m->scale_percent, reterr);
}

static void peer_close(Peer *p) {
        stream_reset(&p->s);
        *p = (Peer){ .s.fd = -EBADF };
}

/* The connection becomes the sftp-server's: our EMPTY is the last frame on it, and we close our copy
 * once it is out. The host sends nothing after its request until it has that EMPTY (the protocol's
 * rule), and our frame reader never reads past a frame, so no sftp byte can be lost in garcon. */
static int handle_open_sftp(Peer *p, char **reterr) {
        uint8_t b;
        int r;

        /* Only for a host that has asked for our token first, as cicerone does before anything. */
        if (!p->hello)
                return set_error_message(reterr, -EPERM, "GarconOpenSftp needs GarconHello first");
        /* The rule, checked: nothing may follow the request before our EMPTY. Our reader has read
         * only the request; what else is queued on the socket would reach sftp-server as if the
         * host had sent it after the switch. */
        if (recv(p->s.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0 || frame_decoder_busy(&p->s.dec))
                return set_error_message(
                        reterr, -EBADMSG, "bytes after GarconOpenSftp: the host must wait for its answer");
        r = garcon_sftp_start(p->s.fd, reterr);
        if (r < 0)
                return r;
        log_info("Started the sftp-server (pid %d) for the host.", r);
        p->close_after_flush = true;
        return 0;
}

static int peer_on_frame(Server *s, Peer *p, const Frame *f) {
        _cleanup_message_ ProtobufCMessage *m = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        if (!(f->header.flags & FRAME_REQUEST))
                return -EBADMSG;
        r = wire_unpack(f->header.type, f->payload, f->header.length, &m);
        if (r < 0)
                return r;
        p->requests++;
        p->deadline = now_usec(CLOCK_MONOTONIC) + PEER_IDLE_USEC;
        if (p->requests >= PEER_REQUESTS_MAX)
                p->close_after_flush = true;

        switch (f->header.type) {
        case BISTRO__MESSAGE_TYPE__GARCON_HELLO_REQUEST: {
                Bistro__Container__GarconHelloResponse resp = BISTRO__CONTAINER__GARCON_HELLO_RESPONSE__INIT;

                resp.token = s->token;
                p->hello = true;
                return stream_queue(
                        &p->s, BISTRO__MESSAGE_TYPE__GARCON_HELLO_RESPONSE, FRAME_RESPONSE, f->header.id,
                        &resp.base);
        }
        case BISTRO__MESSAGE_TYPE__LAUNCH_APPLICATION_REQUEST:
                r = handle_launch(s, (const Bistro__Container__LaunchApplicationRequest *) m, &err);
                break;
        case BISTRO__MESSAGE_TYPE__GARCON_OPEN_SFTP_REQUEST:
                r = handle_open_sftp(p, &err);
                break;
        default:
                r = set_error_message(
                        &err, -EOPNOTSUPP, "garcon does not serve %s",
                        message_type_to_string(f->header.type) ?: "this request");
                break;
        }
        if (r >= 0) {
                Bistro__Empty e = BISTRO__EMPTY__INIT;

                return stream_queue(
                        &p->s, BISTRO__MESSAGE_TYPE__EMPTY, FRAME_RESPONSE, f->header.id, &e.base);
        } else {
                Bistro__ErrorReply e = BISTRO__ERROR_REPLY__INIT;
                char fallback[64];

                if (!err) {
                        snprintf(fallback, sizeof(fallback), "%s", strerror(-r));
                        err = strdup(fallback);
                }
                if (err)
                        proto_text_sanitize(err, PROTO_ERROR_MESSAGE_MAX, true);
                log_info_errno(
                        r, "%s failed: %s", message_type_to_string(f->header.type) ?: "A request",
                        err ?: "");
                e.error = r < -WIRE_ERRNO_MAX ? -EIO : r;
                e.message = err ?: (char *) "";
                return stream_queue(
                        &p->s, BISTRO__MESSAGE_TYPE__ERROR_REPLY, FRAME_RESPONSE, f->header.id, &e.base);
        }
}

static void peer_process(Server *s, Peer *p, short revents) {
        int r;

        if (revents & POLLIN && !p->s.out) {
                Frame f = {};

                r = stream_read(&p->s, &f);
                if (r < 0) {
                        if (r != -ECONNRESET)
                                log_debug_errno(r, "Closing a host connection: %m");
                        return peer_close(p);
                }
                if (r > 0) {
                        r = peer_on_frame(s, p, &f);
                        frame_done(&f);
                        if (r < 0) {
                                log_debug_errno(r, "Bad request from the host, closing: %m");
                                return peer_close(p);
                        }
                }
        } else if (revents & (POLLERR | POLLHUP) && !(revents & POLLIN))
                return peer_close(p);
        r = stream_flush(&p->s);
        if (r < 0 || (!p->s.out && p->close_after_flush))
                return peer_close(p);
}

static void server_accept(Server *s, int listen_fd, bool vsock) {
        for (;;) {
                struct sockaddr_vm sa = {};
                socklen_t l = sizeof(sa);
                Peer *p = NULL;
                int fd;

                fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd < 0)
                        return;
                /* vsock ignores network namespaces: only the host (CID 2) may talk to us, never
                 * another container of this VM or the VM itself. */
                if (vsock && (getpeername(fd, (struct sockaddr *) &sa, &l) < 0 ||
                              sa.svm_family != AF_VSOCK || sa.svm_cid != VMADDR_CID_HOST)) {
                        log_warning(
                                "Refused a connection from CID %u: only the host may connect.", sa.svm_cid);
                        safe_close(fd);
                        continue;
                }
                for (size_t i = 0; i < PEERS_MAX && !p; i++)
                        if (s->peers[i].s.fd < 0)
                                p = &s->peers[i];
                if (!p) {
                        safe_close(fd); /* over the cap: closed at once, the host sees EOF */
                        continue;
                }
                *p = (Peer){ .s.fd = fd, .s.dec = FRAME_DECODER_INIT };
                p->deadline = now_usec(CLOCK_MONOTONIC) + PEER_IDLE_USEC;
        }
}

static int server_listen(Server *s) {
        const char *test_socket = getenv("GARCON_TEST_LISTEN_SOCKET");

        /* Test hook: the same requests on a unix socket too, so that LaunchApplication can be
         * tested without a VM. Whoever sets it could run the programs directly anyway. */
        if (test_socket && test_socket[0] == '/') {
                s->test_listen_fd = unix_listen(test_socket, PEERS_MAX, 0600);
                if (s->test_listen_fd < 0)
                        return log_error_errno(s->test_listen_fd, "Cannot listen on %s: %m", test_socket);
                (void) fd_nonblock(s->test_listen_fd, true);
        }
        for (uint32_t port = GARCON_PORT_MIN; port <= GARCON_PORT_MAX; port++) {
                int fd = vsock_listen(port, PEERS_MAX), r;

                if (fd == -EADDRINUSE)
                        continue;
                if (fd < 0)
                        return log_error_errno(fd, "Cannot listen on vsock port %u: %m", port);
                r = fd_nonblock(fd, true);
                if (r < 0) {
                        safe_close(fd);
                        return log_error_errno(r, "Cannot make the vsock listener non-blocking: %m");
                }
                s->listen_fd = fd;
                s->port = port;
                log_info("Listening on vsock port %u.", port);
                return 0;
        }
        return log_error_errno(
                SYNTHETIC_ERRNO(EADDRINUSE), "No free vsock port in %u-%u.", GARCON_PORT_MIN,
                GARCON_PORT_MAX);
}

/* ---- ContainerShutdown, the loop ---- */

static void send_shutdown(Server *s) {
        Bistro__Container__ContainerShutdownRequest m = BISTRO__CONTAINER__CONTAINER_SHUTDOWN_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *reply = NULL;
        _cleanup_close_ int fd = -EBADF;
        int64_t deadline = (int64_t) now_msec(CLOCK_MONOTONIC) + SHUTDOWN_TIMEOUT_MS;
        uint32_t type;
        int r;

        m.token = s->token;
        fd = garcon_host_connect(SHUTDOWN_TIMEOUT_MS);
        if (fd < 0) {
                log_debug_errno(fd, "Cannot reach cicerone for ContainerShutdown: %m");
                return;
        }
        r = wire_call_sync(
                fd, BISTRO__MESSAGE_TYPE__CONTAINER_SHUTDOWN_REQUEST, &m.base, BISTRO__MESSAGE_TYPE__EMPTY,
                (int) MAX((int64_t) 1, deadline - (int64_t) now_msec(CLOCK_MONOTONIC)), &type, &reply);
        if (r < 0)
                log_debug_errno(r, "ContainerShutdown failed: %m");
}

static void reap_children(Server *s) {
        int status;
        pid_t pid;

        while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
                (void) sommelier_child_reaped(&s->sommelier, pid, status);
}

static bool server_on_signal(Server *s) {
        struct signalfd_siginfo si;
        bool quit = false;

        while (read(s->signal_fd, &si, sizeof(si)) == sizeof(si)) {
                if (si.ssi_signo == SIGCHLD)
                        reap_children(s);
                else
                        quit = true;
        }
        return quit;
}

/* Waits for a valid token, every second; false when a signal said to stop. */
static bool wait_for_token(Server *s) {
        bool logged = false;

        for (;;) {
                struct pollfd p = { .fd = s->signal_fd, .events = POLLIN };
                int r = container_token_read(s->token);

                if (r >= 0)
                        return true;
                if (!logged)
                        log_info_errno(
                                r, "Waiting for the container token at %s: %m", container_token_path());
                logged = true;
                if (poll(&p, 1, 1000) > 0 && server_on_signal(s))
                        return false;
        }
}

static int server_init(Server *s) {
        sigset_t mask;
        int r;

        *s = (Server){
                .inotify_fd = -EBADF,
                .listen_fd = -EBADF,
                .test_listen_fd = -EBADF,
                .signal_fd = -EBADF,
                .rescan_at = USEC_INFINITY,
                .host = { .s.fd = -EBADF, .backoff = BACKOFF_MIN_USEC },
                .sommelier = { .next_start = USEC_INFINITY },
                .lang = desktop_entry_locale_from_env(),
        };
        for (size_t i = 0; i < PEERS_MAX; i++)
                s->peers[i].s.fd = -EBADF;
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(errno, "sigprocmask(): %m");
        s->signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
        if (s->signal_fd < 0)
                return log_error_errno(errno, "signalfd(): %m");
        (void) signal(SIGPIPE, SIG_IGN);
        r = garcon_data_dirs_from_env(&s->data_dirs);
        if (r < 0)
                return log_oom();
        return 0;
}

static void server_done(Server *s) {
        sommelier_child_stop(&s->sommelier);
        for (size_t i = 0; i < PEERS_MAX; i++)
                peer_close(&s->peers[i]);
        stream_reset(&s->host.s);
        s->apps = garcon_app_list_free(s->apps);
        s->data_dirs = strv_free(s->data_dirs);
        s->inotify_fd = safe_close(s->inotify_fd);
        s->listen_fd = safe_close(s->listen_fd);
        s->test_listen_fd = safe_close(s->test_listen_fd);
        s->signal_fd = safe_close(s->signal_fd);
}

static int server_loop(Server *s) {
        for (;;) {
                struct pollfd pfd[5 + PEERS_MAX];
                int idx_host = -1, idx_listen = -1, idx_test_listen = -1, idx_inotify = -1,
                    idx_peer[PEERS_MAX];
                usec_t now = now_usec(CLOCK_MONOTONIC), deadline = USEC_INFINITY;
                size_t n = 0, n_peers = 0;
                Host *h = &s->host;
                int r;

                if (s->rescan_at != USEC_INFINITY && now >= s->rescan_at) {
                        r = server_rescan(s);
                        if (r == -ENOMEM)
                                return r;
                        now = now_usec(CLOCK_MONOTONIC);
                }
                /* The host connection: start the next call or the reconnect when due. */
                host_process(s, 0);
                sommelier_child_process(&s->sommelier);

                pfd[n++] = (struct pollfd){ .fd = s->signal_fd, .events = POLLIN };
                if (s->inotify_fd >= 0) {
                        idx_inotify = (int) n;
                        pfd[n++] = (struct pollfd){ .fd = s->inotify_fd, .events = POLLIN };
                }
                for (size_t i = 0; i < PEERS_MAX; i++) {
                        Peer *p = &s->peers[i];

                        idx_peer[i] = -1;
                        if (p->s.fd < 0)
                                continue;
                        if (now >= p->deadline) {
                                log_debug("Closing a host connection idle for 10 s.");
                                peer_close(p);
                                continue;
                        }
                        n_peers++;
                        deadline = MIN(deadline, p->deadline);
                        idx_peer[i] = (int) n;
                        pfd[n++] = (struct pollfd){ .fd = p->s.fd, .events = p->s.out ? POLLOUT : POLLIN };
                }
                if (n_peers < PEERS_MAX) {
                        idx_listen = (int) n;
                        pfd[n++] = (struct pollfd){ .fd = s->listen_fd, .events = POLLIN };
                        if (s->test_listen_fd >= 0) {
                                idx_test_listen = (int) n;
                                pfd[n++] = (struct pollfd){ .fd = s->test_listen_fd, .events = POLLIN };
                        }
                }
                if (h->state == HOST_DOWN)
                        deadline = MIN(deadline, h->retry_at);
                else {
                        idx_host = (int) n;
                        pfd[n++] = (struct pollfd){
                                .fd = h->s.fd,
                                .events = h->state == HOST_CONNECTING ? POLLOUT
                                                                      : POLLIN | (h->s.out ? POLLOUT : 0),
                        };
                        if (h->state == HOST_CONNECTING || h->call_id != 0)
                                deadline = MIN(deadline, h->deadline);
                }
                deadline = MIN(deadline, s->rescan_at);
                deadline = MIN(deadline, s->sommelier.next_start);

                r = poll(pfd, n, deadline == USEC_INFINITY ? -1 : deadline_poll_timeout_ms(deadline));
                if (r < 0) {
                        if (errno == EINTR)
                                continue;
                        return log_error_errno(errno, "poll(): %m");
                }
                if (pfd[0].revents && server_on_signal(s))
                        return 0;
                if (idx_inotify >= 0 && pfd[idx_inotify].revents)
                        server_on_inotify(s);
                for (size_t i = 0; i < PEERS_MAX; i++)
                        if (idx_peer[i] >= 0 && pfd[idx_peer[i]].revents)
                                peer_process(s, &s->peers[i], pfd[idx_peer[i]].revents);
                if (idx_listen >= 0 && pfd[idx_listen].revents)
                        server_accept(s, s->listen_fd, true);
                if (idx_test_listen >= 0 && pfd[idx_test_listen].revents)
                        server_accept(s, s->test_listen_fd, false);
                host_process(s, idx_host >= 0 ? pfd[idx_host].revents : 0);
        }
}

int garcon_server_run(bool sommelier) {
        Server s;
        int r;

        r = server_init(&s);
        if (r < 0)
                goto finish;
        if (!wait_for_token(&s)) {
                r = 0;
                goto finish;
        }
        r = server_listen(&s);
        if (r < 0)
                goto finish;
        sommelier_child_init(&s.sommelier, sommelier);
        r = server_rescan(&s);
        if (r < 0)
                goto finish;
        log_info("Found %zu applications.", s.apps->n);
        r = server_loop(&s);
        if (r >= 0) {
                log_info("Stopping: telling cicerone.");
                send_shutdown(&s);
        }
finish:
        server_done(&s);
        return r;
}

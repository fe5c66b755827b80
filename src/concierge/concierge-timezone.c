/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc-util.h"
#include "bistro-ports.h"
#include "concierge-manager.h"
#include "concierge-util.h"
#include "concierge-timezone.h"
#include "concierge-vm.h"
#include "fd-util.h"
#include "guest.h"
#include "hash-util.h"
#include "job.h"
#include "log.h"
#include "message-type.h"
#include "proto-validate.h"
#include "string-util.h"
#include "wire-client.h"

#define DEFAULT_SOURCE "/etc/localtime"
#define CONNECT_TIMEOUT_MS 5000
#define CALL_TIMEOUT_MS 20000
#define TREMPLIN_RETRY_USEC (30 * USEC_PER_SEC)

const char *timezone_source(void) {
        const char *s = getenv("BISTRO_TIMEZONE_SOURCE");

        return s && s[0] == '/' ? s : DEFAULT_SOURCE;
}

int host_timezone(const char *source, char *buf, size_t size) {
        const char *tz = getenv("TZ");
        char link[512];
        ssize_t n;

        if (!source)
                source = timezone_source();
        if (tz && *tz == ':')
                tz++;
        /* $TZ is the host's zone only for the host's own source, not for one a test chose. */
        if (streq(source, DEFAULT_SOURCE) && tz && proto_timezone_ok(tz)) {
                (void) snprintf(buf, size, "%s", tz);
                return 0;
        }
        n = readlink(source, link, sizeof(link) - 1);
        if (n > 0) {
                const char *p;

                link[n] = 0;
                p = strstr(link, "zoneinfo/");
                if (p && proto_timezone_ok(p + strlen("zoneinfo/"))) {
                        (void) snprintf(buf, size, "%s", p + strlen("zoneinfo/"));
                        return 0;
                }
        }
        (void) snprintf(buf, size, "UTC");
        return 0;
}

int host_timezone_read(const char *source, char *name, size_t size, void **ret_tzif, size_t *ret_len) {
        _cleanup_free_ char *buf = NULL;
        char path[PATH_MAX];
        const char *file;
        size_t n = 0;
        int r;

        if (!source)
                source = timezone_source();
        (void) host_timezone(source, name, size);
        *ret_tzif = NULL;
        *ret_len = 0;
        /* The bytes of the zone we named: the source, unless $TZ chose the name. */
        file = source;
        if (streq(source, DEFAULT_SOURCE) && getenv("TZ")) {
                (void) snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
                file = path;
        }
        r = read_file(file, TIMEZONE_TZIF_MAX, &buf, &n);
        if (r < 0 || n < 44 || memcmp(buf, "TZif", 4) != 0)
                return 0;
        *ret_tzif = TAKE_PTR(buf);
        *ret_len = n;
        return 0;
}

/* ---- the job: every running VM's maitred and tremplin ---- */

typedef struct Push {
        char **paths;
        size_t n;
} Push;

static void push_free(Push *p) {
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++)
                free(p->paths[i]);
        free(p->paths);
        free(p);
}

static int tremplin_set(const char *vsock_path, const char *name, void *tzif, size_t len, char **err) {
        Bistro__Tremplin__SetTimezoneRequest req = BISTRO__TREMPLIN__SET_TIMEZONE_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        usec_t deadline = now_usec(CLOCK_MONOTONIC) + TREMPLIN_RETRY_USEC;
        _cleanup_close_ int fd = -EBADF;
        uint32_t type = BISTRO__MESSAGE_TYPE__TREMPLIN_SET_TIMEZONE_REQUEST, rtype = 0;
        int r;

        /* tremplin is a maitred service: just after the boot it may still be starting. */
        for (;;) {
                fd = guest_connect(vsock_path, TREMPLIN_PORT, CONNECT_TIMEOUT_MS);
                if (fd != -ECONNREFUSED || now_usec(CLOCK_MONOTONIC) >= deadline)
                        break;
                (void) usleep(500 * 1000);
        }
        if (fd < 0)
                return set_error_message(err, fd, "cannot reach tremplin: %m");
        req.name = (char *) name;
        req.tzif = (ProtobufCBinaryData){ .len = len, .data = tzif };
        r = wire_call_sync(fd, type, &req.base, message_response_type(type), CALL_TIMEOUT_MS, &rtype, &resp);
        if (r < 0) {
                _cleanup_free_ char *m = NULL;

                if (rtype == BISTRO__MESSAGE_TYPE__ERROR_REPLY)
                        (void) wire_error_reply_to_errno((const Bistro__ErrorReply *) resp, &m);
                return set_error_message(err, r, "tremplin: %s", m ?: strerror(-r));
        }
        return 0;
}

static int push_job(Job *j, void *userdata) {
        Push *p = userdata;
        Bistro__Maitred__SetTimezoneRequest tz = BISTRO__MAITRED__SET_TIMEZONE_REQUEST__INIT;
        _cleanup_free_ void *tzif = NULL;
        char name[128];
        size_t len = 0;
        int r, ret = 0;

        (void) host_timezone_read(NULL, name, sizeof(name), &tzif, &len);
        tz.name = name;
        for (size_t i = 0; i < p->n; i++) {
                _cleanup_free_ char *err = NULL, *err2 = NULL;

                r = guest_call(
                        p->paths[i], BISTRO__MESSAGE_TYPE__SET_TIMEZONE_REQUEST, &tz.base, CALL_TIMEOUT_MS,
                        NULL, &err);
                if (r < 0)
                        ret = job_fail(
                                j, r, "maitred SetTimezone %s failed for %s: %s", name, p->paths[i],
                                strnull(err));
                r = tremplin_set(p->paths[i], name, tzif, len, &err2);
                if (r < 0)
                        ret = job_fail(
                                j, r, "tremplin SetTimezone %s failed for %s: %s", name, p->paths[i],
                                strnull(err2));
        }
        return ret;
}

static struct {
        Manager *m;
        char *source, *dir, *base;
        int inotify_fd;
        sd_event_source *io, *timer;
        char name[128];
        char id[64]; /* name + size + hash of the TZif bytes: what was pushed last */
        Job *job;
        bool again;
} w = { .inotify_fd = -EBADF };

static void push_start(void);

static void push_done(
        Job *j,
        int error,
        const char *message,
        uint32_t type,
        const ProtobufCMessage *result,
        void *userdata) {
        push_free(userdata);
        w.job = NULL;
        if (error < 0 && error != -ECANCELED)
                log_warning_errno(error, "Setting the timezone in the VMs: %s", message);
        if (w.again) {
                w.again = false;
                push_start();
        }
}

static void push_start(void) {
        Push *p;
        int r;

        if (!w.m)
                return;
        if (w.job) {
                w.again = true;
                return;
        }
        p = new0(Push, 1);
        if (!p || !(p->paths = new0(char *, w.m->n_vms + 1))) {
                push_free(p);
                return;
        }
        for (size_t i = 0; i < w.m->n_vms; i++)
                if (w.m->vms[i]->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING) {
                        p->paths[p->n] = strdup(w.m->vms[i]->vsock_path);
                        if (!p->paths[p->n]) {
                                push_free(p);
                                return;
                        }
                        p->n++;
                }
        if (p->n == 0) {
                push_free(p);
                return;
        }
        r = job_start(w.m->event, "timezone", 0, push_job, NULL, push_done, p, &w.job);
        if (r < 0) {
                log_warning_errno(r, "Cannot start the timezone job: %m");
                push_free(p);
                w.job = NULL;
        }
}

/* The zone's name and what identifies its bytes (size and hash). */
static void zone_read(char name[static sizeof(w.name)], char id[static sizeof(w.id)]) {
        _cleanup_free_ void *tzif = NULL;
        size_t len = 0;

        (void) host_timezone_read(w.source, name, sizeof(w.name), &tzif, &len);
        (void) snprintf(id, sizeof(w.id), "%zu:%016" PRIx64, len, fnv1a64(FNV1A64_INIT, tzif, len));
}

/* Pushes when the zone (its name or its bytes) changed since the last look. */
static void check(const char *why) {
        char name[sizeof(w.name)], id[sizeof(w.id)];

        zone_read(name, id);
        if (streq(name, w.name) && streq(id, w.id))
                return;
        log_info("Host timezone %s -> %s (%s).", w.name[0] ? w.name : "(none)", name, why);
        (void) snprintf(w.name, sizeof(w.name), "%s", name);
        (void) snprintf(w.id, sizeof(w.id), "%s", id);
        push_start();
}

static int on_inotify(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        uint8_t buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        bool ours = false;
        ssize_t n;

        while ((n = read(fd, buf, sizeof(buf))) > 0)
                for (uint8_t *p = buf; p < buf + n;) {
                        const struct inotify_event *e = (const void *) p;

                        if (e->len == 0 || streq(e->name, w.base) || (e->mask & IN_Q_OVERFLOW))
                                ours = true;
                        p += sizeof(*e) + e->len;
                }
        if (ours)
                check("changed");
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        check("periodic check");
        (void) sd_event_source_set_time_relative(s, TIMEZONE_CHECK_USEC);
        (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

int timezone_watch_start(Manager *m) {
        _cleanup_free_ char *d = NULL, *b = NULL;
        int r;

        w.m = m;
        w.source = strdup(timezone_source());
        d = strdup(w.source);
        b = strdup(w.source);
        if (!w.source || !d || !b)
                return log_oom();
        w.dir = strdup(dirname(d));
        w.base = strdup(basename(b));
        if (!w.dir || !w.base)
                return log_oom();
        zone_read(w.name, w.id);
        r = sd_event_add_time_relative(
                m->event, &w.timer, CLOCK_MONOTONIC, TIMEZONE_CHECK_USEC, USEC_PER_SEC, on_timer, NULL);
        if (r < 0)
                log_warning_errno(r, "Cannot start the timezone timer: %m");
        w.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (w.inotify_fd < 0)
                return log_warning_errno(
                        errno, "inotify: %m; the zone is checked every %llu s only.",
                        (unsigned long long) (TIMEZONE_CHECK_USEC / USEC_PER_SEC));
        if (inotify_add_watch(
                    w.inotify_fd, w.dir,
                    IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_CLOSE_WRITE | IN_ATTRIB | IN_ONLYDIR) < 0)
                return log_warning_errno(
                        errno, "Cannot watch %s: %m; the zone is checked every %llu s only.", w.dir,
                        (unsigned long long) (TIMEZONE_CHECK_USEC / USEC_PER_SEC));
        r = sd_event_add_io(m->event, &w.io, w.inotify_fd, EPOLLIN, on_inotify, NULL);
        if (r < 0)
                return log_warning_errno(r, "Cannot watch the timezone source: %m");
        log_debug("Timezone %s from %s, watched.", w.name, w.source);
        return 0;
}

void timezone_watch_stop(void) {
        w.io = sd_event_source_disable_unref(w.io);
        w.timer = sd_event_source_disable_unref(w.timer);
        w.inotify_fd = safe_close(w.inotify_fd);
        w.job = job_free(w.job);
        w.source = mfree(w.source);
        w.dir = mfree(w.dir);
        w.base = mfree(w.base);
        w.m = NULL;
}

void timezone_vm_running(Vm *vm) {
        if (!vm || !w.m)
                return;
        push_start();
}

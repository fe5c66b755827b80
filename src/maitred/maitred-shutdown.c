/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shutdown (Crostini's docs/init.md order): SIGTERM to every process, up to 5 s for them to go,
 * SIGKILL to the rest, sync, unmount in reverse order, power off. The sequence runs from the
 * event loop, so SIGCHLD keeps reaping and the host's answer is flushed before the power goes. */
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "maitred-util.h"
#include "maitred.h"
#include "mountinfo-util.h"

#define SHUTDOWN_TICK_USEC (50u * 1000u)
#define SHUTDOWN_TERM_USEC (5u * 1000000u)
#define SHUTDOWN_KILL_USEC (2u * 1000000u)
#define SHUTDOWN_FLUSH_USEC (1u * 1000000u)
#define MOUNTINFO_MAX (1024u * 1024u)

typedef enum ShutdownPhase {
        PHASE_TERM,
        PHASE_KILL,
        PHASE_FLUSH,
        PHASE_DONE,
} ShutdownPhase;

struct ShutdownState {
        sd_event_source *timer;
        WireConn *from;
        ShutdownPhase phase;
        uint64_t phase_start;
};

static bool is_api_mount(const char *t) {
        static const char *const api[] = { "/proc", "/sys", "/dev" };

        if (streq(t, "/"))
                return true;
        for (size_t i = 0; i < ELEMENTSOF(api); i++) {
                size_t n = strlen(api[i]);

                if (strneq(t, api[i], n) && (t[n] == 0 || t[n] == '/'))
                        return true;
        }
        return false;
}

static void unmount_all(void) {
        _cleanup_strv_free_ char **targets = NULL;
        _cleanup_free_ char *text = NULL;
        unsigned ok = 0, failed = 0;
        size_t n;
        int r;

        r = read_file("/proc/self/mountinfo", MOUNTINFO_MAX, &text, NULL);
        if (r >= 0)
                r = mountinfo_targets(text, &targets);
        if (r < 0) {
                log_error_errno(r, "Cannot read the mount table, not unmounting: %m");
                return;
        }
        n = strv_length(targets);
        for (size_t i = n; i > 0; i--) {
                const char *t = targets[i - 1];

                if (is_api_mount(t))
                        continue;
                if (umount2(t, 0) >= 0) {
                        ok++;
                        continue;
                }
                if (errno == EINVAL || errno == ENOENT) /* already gone with a parent */
                        continue;
                /* Busy: make sure nothing more is written, then let it go. */
                log_warning_errno(errno, "Cannot unmount '%s', remounting read-only: %m", t);
                (void) mount(NULL, t, NULL, MS_REMOUNT | MS_RDONLY, NULL);
                (void) umount2(t, MNT_DETACH);
                failed++;
        }
        (void) mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL);
        log_info("Unmounted %u filesystems (%u busy).", ok, failed);
}

static void shutdown_finish(Manager *m) {
        ShutdownState *s = m->shutdown;

        s->timer = sd_event_source_disable_unref(s->timer);
        s->from = wire_conn_unref(s->from);
        s->phase = PHASE_DONE;
        if (!m->pid1) {
                log_notice("Not PID 1: leaving the event loop instead of powering off.");
                (void) sd_event_exit(m->event, 0);
                return;
        }
        m->rpc = wire_server_free(m->rpc);
        sync();
        unmount_all();
        sync();
        log_notice("Powering off.");
        (void) reboot(RB_POWER_OFF);
        /* Still here: PID 1 must not exit, so keep the loop (and the logs) going. */
        log_error_errno(errno, "reboot(RB_POWER_OFF) failed: %m");
}

static int on_shutdown_tick(sd_event_source *src, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        ShutdownState *s = m->shutdown;
        uint64_t now = 0;

        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &now);
        manager_reap(m);
        switch (s->phase) {
        case PHASE_TERM:
                if (!manager_has_children())
                        break;
                if (now - s->phase_start < SHUTDOWN_TERM_USEC)
                        goto again;
                log_warning(
                        "Processes still running after %u s, sending SIGKILL.",
                        SHUTDOWN_TERM_USEC / 1000000u);
                (void) kill(-1, SIGKILL);
                s->phase = PHASE_KILL;
                s->phase_start = now;
                goto again;
        case PHASE_KILL:
                if (manager_has_children() && now - s->phase_start < SHUTDOWN_KILL_USEC)
                        goto again;
                break;
        case PHASE_FLUSH:
                if (s->from && !wire_conn_is_closed(s->from) && wire_conn_get_write_queued(s->from) > 0 &&
                    now - s->phase_start < SHUTDOWN_FLUSH_USEC)
                        goto again;
                shutdown_finish(m);
                return 0;
        case PHASE_DONE:
                return 0;
        }
        log_info("All processes are gone.");
        s->phase = PHASE_FLUSH;
        s->phase_start = now;
again:
        (void) sd_event_source_set_time_relative(src, SHUTDOWN_TICK_USEC);
        (void) sd_event_source_set_enabled(src, SD_EVENT_ONESHOT);
        return 0;
}

void manager_shutdown_start(Manager *m, WireConn *from) {
        ShutdownState *s;
        int r;

        if (m->shutdown)
                return; /* already on its way */
        m->shutting_down = true;
        manager_stop_ready(m);
        s = calloc(1, sizeof(*s));
        if (!s) {
                /* Cannot wait properly: skip straight to the end rather than never powering off. */
                log_oom();
                (void) kill(-1, SIGKILL);
                sync();
                if (m->pid1)
                        (void) reboot(RB_POWER_OFF);
                return;
        }
        m->shutdown = s;
        s->from = from ? wire_conn_ref(from) : NULL;
        (void) sd_event_now(m->event, CLOCK_MONOTONIC, &s->phase_start);

        log_notice("Shutting down: sending SIGTERM to all processes.");
        (void) kill(-1, SIGTERM);
        (void) kill(-1, SIGCONT);
        r = sd_event_add_time_relative(
                m->event, &s->timer, CLOCK_MONOTONIC, SHUTDOWN_TICK_USEC, 0, on_shutdown_tick, m);
        if (r < 0) {
                log_error_errno(r, "Cannot schedule the shutdown, powering off now: %m");
                (void) kill(-1, SIGKILL);
                shutdown_finish(m);
        }
}

static int on_power_key(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        struct input_event ev[16];
        ssize_t n;

        n = read(fd, ev, sizeof(ev));
        if (n < 0) {
                if (errno != EAGAIN && errno != EINTR) {
                        log_warning_errno(errno, "Power button device failed, ignoring it: %m");
                        (void) sd_event_source_set_enabled(src, SD_EVENT_OFF);
                }
                return 0;
        }
        for (size_t i = 0; i < (size_t) n / sizeof(ev[0]); i++)
                if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER && ev[i].value == 1) {
                        log_notice("Power button pressed.");
                        manager_shutdown_start(m, NULL);
                }
        return 0;
}

int manager_watch_power_button(Manager *m) {
        unsigned n = 0;

        for (unsigned i = 0; i < 32 && n < ELEMENTSOF(m->power_sources); i++) {
                unsigned long keys[KEY_MAX / (8 * sizeof(unsigned long)) + 1] = {};
                char path[64];
                int fd, r;

                (void) snprintf(path, sizeof(path), "/dev/input/event%u", i);
                fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
                if (fd < 0)
                        continue;
                if (ioctl(fd, EVIOCGBIT(EV_KEY, sizeof(keys)), keys) < 0 ||
                    !(keys[KEY_POWER / (8 * sizeof(unsigned long))] &
                      (1UL << (KEY_POWER % (8 * sizeof(unsigned long)))))) {
                        safe_close(fd);
                        continue;
                }
                r = sd_event_add_io(m->event, &m->power_sources[n], fd, EPOLLIN, on_power_key, m);
                if (r < 0) {
                        safe_close(fd);
                        log_warning_errno(r, "Cannot watch '%s', ignoring: %m", path);
                        continue;
                }
                (void) sd_event_source_set_io_fd_own(m->power_sources[n], true);
                log_info("Watching '%s' for the power button.", path);
                n++;
        }
        return (int) n;
}

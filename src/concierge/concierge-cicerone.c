/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cicerone's supervision and the notifications it gets. The notifications are level-triggered: each
 * sync sends VmStarted for every running VM (cicerone treats a repeat as nothing) and VmStopped for
 * the VMs that stopped since the last sync, so a restarted cicerone, or one that was not listening
 * yet, learns the whole state at the next sync. A sync that cannot reach cicerone is retried on a
 * timer; each call is small and bounded by CALL_TIMEOUT_MS. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc-util.h"
#include "concierge-cicerone.h"
#include "concierge-shares.h"
#include "concierge-util.h"
#include "concierge-vm.h"
#include "fd-util.h"
#include "log.h"
#include "path-lookup.h"
#include "path-util.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "wire.h"

#define CALL_TIMEOUT_MS 2000
#define SYNC_RETRY_USEC (100 * USEC_PER_MSEC)
#define SYNC_TRIES_MAX 100u /* 10 s for a cicerone to start listening */
#define RESTART_DELAY_MIN_USEC (1 * USEC_PER_SEC)
#define RESTART_DELAY_MAX_USEC (30 * USEC_PER_SEC)
#define STABLE_USEC (60 * USEC_PER_SEC) /* a cicerone that ran this long starts the backoff afresh */

typedef struct Cicerone {
        Manager *manager;
        char *control_path;
        pid_t pid;
        usec_t started_at;
        usec_t restart_delay;
        sd_event_source *child, *restart_timer, *sync_timer;
        unsigned sync_tries;
        char stopped[VMS_MAX][PROTO_NAME_MAX + 1]; /* VMs that stopped since the last sync */
        size_t n_stopped;
} Cicerone;

static Cicerone cicerone;

static void cicerone_sync(void);

static bool any_vm_running(Manager *m) {
        for (size_t i = 0; i < m->n_vms; i++)
                if (m->vms[i]->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING)
                        return true;
        return false;
}

static int call(int fd, uint32_t type, const ProtobufCMessage *req) {
        _cleanup_message_ ProtobufCMessage *reply = NULL;
        uint32_t rtype = 0;
        int r;

        r = wire_call_sync(fd, type, req, BISTRO__MESSAGE_TYPE__EMPTY, CALL_TIMEOUT_MS, &rtype, &reply);
        if (r < 0 && reply)
                log_warning(
                        "cicerone refused %s: %s", message_type_to_string(type),
                        strnull(wire_error_message(reply)));
        return r;
}

/* One connection, the whole state. Returns < 0 when cicerone could not be reached (retry). */
static int sync_once(void) {
        Manager *m = cicerone.manager;
        _cleanup_close_ int fd = -EBADF;
        int r;

        fd = unix_connect(cicerone.control_path);
        if (fd < 0)
                return fd;
        while (cicerone.n_stopped > 0) {
                Bistro__Cicerone__VmStoppedRequest req = BISTRO__CICERONE__VM_STOPPED_REQUEST__INIT;

                req.vm_name = cicerone.stopped[cicerone.n_stopped - 1];
                r = call(fd, BISTRO__MESSAGE_TYPE__CICERONE_VM_STOPPED_REQUEST, &req.base);
                if (r < 0 && r != -EPERM && r != -EINVAL)
                        return r;
                cicerone.n_stopped--;
        }
        for (size_t i = 0; i < m->n_vms; i++) {
                Bistro__Cicerone__VmStartedRequest req = BISTRO__CICERONE__VM_STARTED_REQUEST__INIT;
                Bistro__Concierge__SharedDir d[SHARES_MAX], *dp[SHARES_MAX];

                if (m->vms[i]->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING)
                        continue;
                req.vm_name = m->vms[i]->name;
                /* The shares, for the links containers open on the host (docs/design/cicerone.md). */
                for (size_t k = 0; k < m->vms[i]->shares.n; k++) {
                        shared_dir_from(&d[k], &m->vms[i]->shares.items[k]);
                        dp[k] = &d[k];
                }
                req.shares = dp;
                req.n_shares = m->vms[i]->shares.n;
                r = call(fd, BISTRO__MESSAGE_TYPE__CICERONE_VM_STARTED_REQUEST, &req.base);
                if (r < 0 && r != -EPERM && r != -EINVAL && r != -ENOENT)
                        return r;
        }
        return 0;
}

static int on_sync_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        cicerone.sync_timer = sd_event_source_disable_unref(cicerone.sync_timer);
        cicerone_sync();
        return 0;
}

static void cicerone_sync(void) {
        int r;

        if (cicerone.pid <= 0 || cicerone.sync_timer)
                return; /* a restart, or the pending retry, syncs */
        r = sync_once();
        if (r >= 0) {
                cicerone.sync_tries = 0;
                return;
        }
        if (++cicerone.sync_tries > SYNC_TRIES_MAX) {
                log_error(
                        "cicerone does not answer on %s (%s); apps from containers will not work until it "
                        "restarts.",
                        cicerone.control_path, strerror(-r));
                cicerone.sync_tries = 0;
                return;
        }
        (void) sd_event_add_time_relative(
                cicerone.manager->event, &cicerone.sync_timer, CLOCK_MONOTONIC, SYNC_RETRY_USEC, 0,
                on_sync_timer, NULL);
}

static int cicerone_spawn(void);

static int on_restart_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        cicerone.restart_timer = sd_event_source_disable_unref(cicerone.restart_timer);
        if (any_vm_running(cicerone.manager) && cicerone_spawn() >= 0)
                cicerone_sync();
        return 0;
}

static int on_cicerone_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        usec_t ran = now_usec(CLOCK_MONOTONIC) - cicerone.started_at;

        cicerone.child = sd_event_source_disable_unref(cicerone.child);
        cicerone.sync_timer = sd_event_source_disable_unref(cicerone.sync_timer);
        cicerone.pid = 0;
        if (ran >= STABLE_USEC)
                cicerone.restart_delay = 0;
        cicerone.restart_delay = cicerone.restart_delay == 0
                                         ? RESTART_DELAY_MIN_USEC
                                         : MIN(cicerone.restart_delay * 2, RESTART_DELAY_MAX_USEC);
        log_warning(
                "cicerone exited (%s %d); restarting it in %u s.",
                si->si_code == CLD_EXITED ? "status" : "signal", si->si_status,
                (unsigned) (cicerone.restart_delay / USEC_PER_SEC));
        (void) sd_event_add_time_relative(
                cicerone.manager->event, &cicerone.restart_timer, CLOCK_MONOTONIC, cicerone.restart_delay, 0,
                on_restart_timer, NULL);
        return 0;
}

static int cicerone_spawn(void) {
        _cleanup_free_ char *path = NULL;
        pid_t pid;
        int r;

        r = bistro_find_program("cicerone", "BISTRO_CICERONE", &path);
        if (r < 0)
                return log_error_errno(r, "Cannot find cicerone, apps from containers will not work: %m");
        /* Its own session (a ^C on concierge's terminal is not for it), dies with us; stderr stays
         * concierge's log. */
        r = safe_fork(
                "cicerone",
                FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_NEW_SESSION | FORK_NULL_STDIN | FORK_DEATHSIG,
                &pid);
        if (r < 0)
                return log_error_errno(r, "Cannot start cicerone: %m");
        if (r == 0) {
                char *argv[] = { path, (char *) "--control", cicerone.control_path, NULL };

                execv(argv[0], argv);
                dprintf(2, "cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }
        r = sd_event_add_child(
                cicerone.manager->event, &cicerone.child, pid, WEXITED, on_cicerone_exit, NULL);
        if (r < 0) {
                sigkill_wait(pid);
                return log_error_errno(r, "Cannot watch cicerone: %m");
        }
        cicerone.pid = pid;
        cicerone.started_at = now_usec(CLOCK_MONOTONIC);
        log_debug("cicerone pid %d.", (int) pid);
        return 0;
}

void cicerone_vm_running(Vm *vm) {
        if (!cicerone.manager) {
                cicerone.manager = vm->manager;
                cicerone.control_path = path_join(vm->manager->runtime_root, CICERONE_SOCKET);
                if (!cicerone.control_path) {
                        cicerone.manager = NULL;
                        log_oom();
                        return;
                }
        }
        if (cicerone.pid <= 0 && !cicerone.restart_timer && cicerone_spawn() < 0)
                return;
        cicerone_sync();
}

void cicerone_vm_stopped(Vm *vm) {
        if (!cicerone.manager || cicerone.pid <= 0)
                return;
        if (cicerone.n_stopped < VMS_MAX)
                strscpy(cicerone.stopped[cicerone.n_stopped++], vm->name, PROTO_NAME_MAX + 1);
        cicerone_sync();
}

void cicerone_vm_shares_changed(Vm *vm) {
        if (vm->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING)
                cicerone_sync();
}

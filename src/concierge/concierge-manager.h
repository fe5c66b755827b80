/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* concierge's manager: the state of one concierge, its directories and the lock that makes it the
 * only concierge of its data directory (docs/design/concierge.md). */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "clock-jump.h"
#include "message-type.h"
#include "wire.h"

#define VMS_MAX 64u
#define CONCIERGE_LOCK_FILE "concierge.lock"

typedef struct Vm Vm;

typedef struct Manager {
        sd_event *event;
        WireServer *server;
        Vm *vms[VMS_MAX];
        size_t n_vms;
        char *state_root; /* $XDG_DATA_HOME/bistro */
        char *vms_dir;
        char *runtime_root; /* $XDG_RUNTIME_DIR/bistro */
        char *socket_path;  /* ours, or "" when socket-activated */
        char *image_dir, *trust_dir, *vmm_path;
        char *build_id; /* build_id_get() */
        int lock_fd;    /* flock()ed <state_root>/concierge.lock */
        uint64_t ready_timeout_usec;
        unsigned n_requests; /* jobs answering a client (export, import, resize, containers) */
        bool exiting;
        sd_event_source *exit_timer, *clock_timer, *flush_timer;
        WireConn *exit_conn; /* the client whose ExitRequest must be answered before we exit */
        ClockSample clock;
        char *tokens_dir; /* the token store (token-store.h): <runtime_root>/tokens */
} Manager;

/* Resolves the directories (image_dir/trust_dir override the environment; may be NULL) and
 * creates them. Logs. */
int manager_init(Manager *m, const char *image_dir, const char *trust_dir);
void manager_done(Manager *m);

/* Takes the data directory's lock: -EBUSY (and *ret_holder, malloc'd, the other concierge's
 * socket as its lock file says, or NULL) when another concierge holds it. Then writes socket into
 * the lock file. Does not log. */
int manager_lock_data_dir(Manager *m, const char *socket, char **ret_holder);

/* When exiting and no VM is active any more, ends the event loop. */
void manager_check_exit(Manager *m);
/* Stops every VM, then exits (SIGTERM, ExitRequest). */
void manager_begin_exit(Manager *m);
/* VMs not STOPPED (or FAILED). */
unsigned manager_vms_running(const Manager *m);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* maitred: the guest's PID 1 and agent (docs/design/maitred.md). One single-threaded sd-event
 * loop owns everything: the RPC server, supervised services, watched child processes, the ready
 * call and the shutdown sequence. Nothing here may make PID 1 exit. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "bistro-ports.h"
#include "log.h"
#include "wire.h"

#define MAITRED_CONF_DIR "/etc/bistro"
#define MAITRED_RUN_DIR "/run/bistro"
#define MAITRED_RPC_CONNS_MAX 16u
#define MAITRED_DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

typedef struct Manager Manager;
typedef struct Service Service;
typedef struct ServiceSocket ServiceSocket;
typedef struct ProcessWatch ProcessWatch;
typedef struct Ready Ready;
typedef struct ShutdownState ShutdownState;

/* Called once when a watched child exited (it is already reaped). */
typedef void (*ProcessExitHandler)(Manager *m, pid_t pid, const siginfo_t *si, void *userdata);

struct Manager {
        sd_event *event;
        bool pid1;          /* the early boot ran; shutdown powers the machine off */
        bool no_services;   /* bistro.no_services on the kernel command line */
        bool shutting_down; /* no respawns, no new processes, no new RPCs but Shutdown */
        const char *conf_dir;
        char *kernel_release;
        char *image_version;

        WireServer *rpc;
        ProcessWatch *watches;
        Service *services;
        unsigned n_services;
        ServiceSocket *sockets; /* maitred-service.h */
        size_t n_sockets;
        Ready *ready;
        ShutdownState *shutdown;
        sd_event_source *sigchld;
        sd_event_source *power_sources[8];
};

/* maitred-process.c */
int manager_watch_pid(Manager *m, pid_t pid, ProcessExitHandler cb, void *userdata);
/* Drops the watch (the process is then reaped as an orphan). */
void manager_unwatch_pid(Manager *m, pid_t pid);
/* Reaps every exited child (watched or orphan) and dispatches watches. */
void manager_reap(Manager *m);
bool manager_has_children(void);

/* maitred-rpc.c: the Maitred service on vsock port 8888. */
int manager_start_rpc(Manager *m);

/* maitred-ready.c: VmReady to the host (port 7777) with retries; logs. */
int manager_start_ready(Manager *m);
void manager_stop_ready(Manager *m);

/* maitred-shutdown.c: SIGTERM everything, wait, SIGKILL, sync, unmount, power off. from (may
 * be NULL) is the connection that asked; its answer is flushed before the power goes. */
void manager_shutdown_start(Manager *m, WireConn *from);
/* Watches /dev/input/event* for the ACPI power button (QMP system_powerdown). */
int manager_watch_power_button(Manager *m);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "maitred-util.h"
#include "maitred.h"

/* Crostini's limit (docs/init.md): more than 10 respawns in 30 s stops a service. */
#define SERVICE_RESPAWN_BURST 10u
#define SERVICE_RESPAWN_INTERVAL_USEC (30u * 1000000u)
#define SERVICES_MAX 128u
/* Between an exit and the respawn, so a service that dies at once does not spin PID 1. */
#define SERVICE_RESPAWN_DELAY_USEC (100u * 1000u)

typedef enum ServiceState {
        SERVICE_RUNNING,
        SERVICE_RESPAWNING, /* exited, respawn scheduled */
        SERVICE_EXITED,     /* ended and not respawned (respawn off, or shutting down) */
        SERVICE_FAILED,     /* gave up: respawn limit hit or exec failed */
} ServiceState;

struct Service {
        Manager *manager;
        char *name;
        char **argv;
        char **envp;
        bool respawn;
        pid_t pid;
        ServiceState state;
        unsigned n_respawns;
        RateLimit ratelimit;
        sd_event_source *respawn_timer;
        Service *next;
};

/* Starts a supervised service; takes nothing (copies argv and envp). Logs. */
int service_start_new(
        Manager *m, const char *name, char *const *argv, char *const *envp, bool respawn, Service **ret);
/* Loads and starts dir/services/ *.conf in lexical order. Logs; a bad file is skipped. */
int manager_load_services(Manager *m, const char *conf_dir);
void manager_free_services(Manager *m);

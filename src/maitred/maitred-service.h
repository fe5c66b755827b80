/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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
        ServiceSocket *socket; /* passed as fd 3 at each (re)start; NULL: none */
        Service *next;
};

/* vsock ignores network namespaces: while a guest service's port is free (the service restarting,
 * crashed, given up, or not installed), a container could bind it and receive the host's
 * connections. So maitred listens on each service's port itself from boot to power-off and passes
 * the socket to the service of that name at each (re)start (socket passing as systemd does it). */
typedef struct ServiceSocketSpec {
        const char *name; /* the service: NAME.conf, or the basename of a LaunchProcess argv[0] */
        uint32_t port;
        int backlog;
} ServiceSocketSpec;

struct ServiceSocket {
        Manager *manager;
        const char *name; /* from the spec, which outlives the manager */
        uint32_t port;
        int fd; /* listening, non-blocking, close-on-exec; -EBADF: maitred could not listen */
        /* On while no process of the service may serve: accepts and closes ("refused cleanly"). Off
         * while it runs or waits for its respawn: connections queue for it. */
        sd_event_source *refuse_source;
        bool refusing;
        Service *service; /* the service the socket is passed to; NULL: none yet */
};

/* Termina's services (src/basic/bistro-ports.h); maitred's own 8888 is its RPC server. */
#define SERVICE_SOCKETS_DEFAULT_N 3u
extern const ServiceSocketSpec service_sockets_default[SERVICE_SOCKETS_DEFAULT_N];

/* Listens on every port of specs (which must outlive m); call before starting services. A port
 * that cannot be listened on is logged and left to its service. Logs. */
int manager_open_service_sockets(Manager *m, const ServiceSocketSpec *specs, size_t n);
void manager_close_service_sockets(Manager *m);

/* Starts a supervised service; takes nothing (copies argv and envp). A service named like a service
 * socket gets it unless a service still running (or respawning) has it. Logs. */
int service_start_new(
        Manager *m, const char *name, char *const *argv, char *const *envp, bool respawn, Service **ret);
/* Loads and starts dir/services/ *.conf in lexical order. Logs; a bad file is skipped. */
int manager_load_services(Manager *m, const char *conf_dir);
void manager_free_services(Manager *m);

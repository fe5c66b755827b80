/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* cicerone's state and what its files share (docs/design/cicerone.md): cicerone.c runs the loop and
 * the control socket, cicerone-container.c each VM's port 8889, cicerone-launch.c the launches,
 * cicerone-url.c the links to open, cicerone-job.c the child processes. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "cicerone.pb-c.h"
#include "container.pb-c.h"
#include "time-util.h"
#include "token-store.h"
#include "wire.h"

#define JOBS_MAX 8u

typedef struct Cicerone Cicerone;
typedef struct Vm Vm;
typedef struct Launch Launch;
typedef struct Job Job;

/* A token bucket: a burst, then one token per period. */
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

/* A host folder shared into the VM (concierge's SharedDir), for opening shared files on the host. */
typedef struct VmShare {
        NameBuf name;
        NameBuf container;
        char *host_path;
} VmShare;

struct Vm {
        Cicerone *c;
        Vm *next;
        NameBuf name;
        VmShare *shares; /* as concierge sent them last */
        size_t n_shares;
        char *vsock_path;  /* R/vms/V/vsock.sock */
        char *listen_path; /* R/vms/V/vsock.sock_8889 */
        dev_t dev;
        ino_t ino;
        WireServer *server;
        Container *containers;
};

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

/* cicerone.c */
/* Takes one token of b (full at first use): false when there is none. */
bool bucket_take(Bucket *b, double burst, usec_t period);
int reply_empty(WireConn *conn, uint64_t id);
/* Refuses to replace anything but a socket (or nothing) at path. */
int listen_safely(const char *path, int backlog);

/* cicerone-container.c */
Vm *vm_find(Cicerone *c, const char *name);
/* NULL when unknown (or, with create, out of memory). */
Container *container_find(Vm *v, const char *name, bool create);
/* Stops listening on its port 8889 and forgets its containers. */
void vm_free(Vm *v);
/* Listens on the VM's port 8889 (again, when its socket was replaced) and answers the request. */
int handle_vm_started(
        Cicerone *c, WireConn *conn, uint64_t id, const Bistro__Cicerone__VmStartedRequest *req);

/* cicerone-launch.c */
int handle_launch(
        Cicerone *c, WireConn *conn, uint64_t id, const Bistro__Cicerone__LaunchApplicationRequest *req);
/* OpenSftp: as a launch, but garcon starts an sftp-server and the connection goes to the client. */
int handle_open_sftp(Cicerone *c, WireConn *conn, uint64_t id, const Bistro__Cicerone__OpenSftpRequest *req);
/* The container just became ready: start the launches waiting for it. */
void launches_kick(Cicerone *c, Container *ct);
/* Nobody waits for the launches of a closed control connection any more. */
void launches_drop_control(Cicerone *c, WireConn *conn);
void launch_free(Launch *l);

/* cicerone-url.c */
int handle_open_url(
        Container *ct, WireConn *conn, uint64_t id, const Bistro__Container__OpenUrlRequest *req);

/* cicerone-job.c */
/* Runs argv (argv[0] an absolute path) in its own session, stdin and stdout on /dev/null, stderr
 * ours; reaped by the loop, killed after a minute. -EBUSY when JOBS_MAX run already. */
int job_spawn(Cicerone *c, const char *what, char *const argv[]);
void job_free(Job *j);
/* The timer of db_schedule(), created disabled. */
int db_timer_new(Cicerone *c);
/* update-desktop-database once, a little after the first change of a batch. */
void db_schedule(Cicerone *c);

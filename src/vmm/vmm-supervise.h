/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The running VM: vmm's children (the jailed QEMU and its device processes vsockd, slirpd, seneschal), the
 * signals that stop them, and the exit status that says how the VM ended. See docs/design/vmm.md, "Lifecycle
 * and exit statuses". */

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "vmm-console.h"
#include "vmm-qmp.h"

/* Exit statuses (docs/design/vmm.md). A usage error is 2 as for every program (EXIT_USAGE): it
 * happens before anything started, so it cannot be mistaken for a VM that ran. */
#define EXIT_SETUP 1       /* setup failed before the VM ran */
#define EXIT_QEMU_DIED 2   /* QEMU exited or was killed without a guest poweroff */
#define EXIT_VSOCKD_DIED 3 /* a device process (vsockd, slirpd, seneschal) died; QEMU was killed */
#define EXIT_FORCED_STOP 4 /* asked to stop, the guest did not power off in time: quit/killed */
#define EXIT_GUEST_RESET 5 /* the guest rebooted or panicked (-no-reboot turns that into an exit) */

#define VMM_GUEST_CID 3

typedef enum StopPhase {
        STOP_NONE,
        STOP_POWERDOWN, /* system_powerdown sent, waiting for the guest */
        STOP_QUIT,      /* quit sent */
        STOP_KILL,      /* SIGKILL sent */
        STOP_TERMINATE, /* VM is over (or broken): reaping the remaining processes */
} StopPhase;

typedef struct Child {
        const char *name;
        pid_t pid;
        int pidfd;
        sd_event_source *source;
        bool exited;
} Child;

typedef struct Vmm {
        sd_event *event;
        Qmp *qmp;
        ConsoleLog *console;
        Child qemu, vsockd, net, shares;
        sd_event_source *timer;
        StopPhase phase;
        bool guest_shutdown;
        bool guest_reset;
        char shutdown_reason[32];
        int exit_status;
        uint64_t stop_timeout_usec; /* SIGTERM: how long the guest gets to power off */
        char *vsock_path, *vhost_user_path, *qmp_path, *console_path;
        char *virtiofs_path, *seneschal_path; /* with --shares */
} Vmm;

#define VMM_INIT                                                    \
        {                                                           \
                .qemu = { .name = "qemu", .pidfd = -EBADF },        \
                .vsockd = { .name = "vsockd", .pidfd = -EBADF },    \
                .net = { .name = "slirpd", .pidfd = -EBADF },       \
                .shares = { .name = "seneschal", .pidfd = -EBADF }, \
        }

/* Blocks the signals the event loop handles (children reset their mask) and asks for SIGTERM when
 * our parent dies, so that we stop the VM rather than orphan it. */
void vmm_block_signals(void);

#define VMM_DEVICE_FDS_MAX 3
/* Starts a device process (argv[0]; no namespaces: vsockd and slirpd sandbox themselves) with
 * fds[0..n_fds) as its fds 3, 4, ...: signals reset, everything else closed, stdin /dev/null,
 * stdout/stderr ours, parent death signal. Fills *ret (named name, a static string). Does not log. */
int vmm_spawn_device(const char *name, char **argv, const int *fds, size_t n_fds, Child *ret);
/* Waits for "READY\n" on rfd, the device's death or the timeout. Logs its errors. */
int vmm_wait_device_ready(int rfd, Child *c);
/* SIGKILLs and reaps a device that failed to start (one the VM goes on without). */
void vmm_child_kill_and_reap(Child *c);

/* For QMP: the private connection's events (SHUTDOWN) go here. */
void vmm_on_qmp_event(Qmp *q, const char *event, const char *line, void *userdata);

/* Watches the children and SIGTERM/SIGINT/SIGHUP from v->event; the loop's exit code is then the
 * VM's exit status. Does not log. */
int vmm_watch(Vmm *v);

/* Kills and reaps what is left, copies the console output still queued, frees v and removes our
 * sockets (console.log stays). */
void vmm_done(Vmm *v);

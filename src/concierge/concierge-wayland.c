/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The Wayland gate of each running VM, started when the first app needs it. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "alloc-util.h"
#include "bistro-ports.h"
#include "concierge-vm.h"
#include "concierge-wayland.h"
#include "fd-util.h"
#include "listen-fds.h"
#include "log.h"
#include "macro.h"
#include "path-lookup.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"

#define RESTARTS_MAX 5u
#define KILL_DELAY_USEC (5 * USEC_PER_SEC)
#define LISTEN_BACKLOG 64

typedef struct Gate {
        Manager *manager;
        char vm[PROTO_NAME_MAX + 1];
        char *vsock_path;
        char *listen_path; /* <vsock socket>_7100, what the guest reaches as host port 7100 */
        int listen_fd;
        sd_event_source *io, *child, *timer;
        pid_t pid;
        unsigned restarts;
        bool stopping;
} Gate;

/* By VM name, as chunneld's: a Vm may be freed while its gate runs. */
static Gate *gates[VMS_MAX];

static Gate **gate_slot(const char *vm, bool create) {
        Gate **free_slot = NULL;

        for (size_t i = 0; i < VMS_MAX; i++) {
                if (gates[i] && streq(gates[i]->vm, vm))
                        return &gates[i];
                if (!gates[i] && !free_slot)
                        free_slot = &gates[i];
        }
        return create ? free_slot : NULL;
}

/* Stops listening; the socket file goes unless a successor owns the path now. */
static void gate_close_listener(Gate *g) {
        g->io = sd_event_source_disable_unref(g->io);
        if (g->listen_fd >= 0 && g->listen_path)
                (void) unlink(g->listen_path);
        g->listen_fd = safe_close(g->listen_fd);
}

static void gate_free(Gate *g) {
        Gate **slot;

        if (!g)
                return;
        slot = gate_slot(g->vm, false);
        if (slot && *slot == g)
                *slot = NULL;
        gate_close_listener(g);
        sd_event_source_disable_unref(g->child);
        sd_event_source_disable_unref(g->timer);
        free(g->vsock_path);
        free(g->listen_path);
        free(g);
}

static int on_gate_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Gate *g = userdata;

        g->child = sd_event_source_disable_unref(g->child);
        g->timer = sd_event_source_disable_unref(g->timer);
        g->pid = 0;
        if (g->stopping) {
                gate_free(g);
                return 0;
        }
        if (si->si_code != CLD_EXITED || si->si_status != 0) {
                if (++g->restarts > RESTARTS_MAX) {
                        log_error(
                                "VM '%s': wayland-gate failed %u times; GUI apps are off until the VM restarts.",
                                g->vm, g->restarts);
                        gate_free(g);
                        return 0;
                }
                log_warning(
                        "VM '%s': wayland-gate exited (%s %d); it starts again with the next app.", g->vm,
                        si->si_code == CLD_EXITED ? "status" : "signal", si->si_status);
        }
        /* Started again by the next connection. */
        (void) sd_event_source_set_enabled(g->io, SD_EVENT_ON);
        return 0;
}

static int gate_spawn(Gate *g) {
        _cleanup_free_ char *path = NULL;
        pid_t pid;
        int r;

        r = bistro_find_program("wayland-gate", "BISTRO_WAYLAND_GATE", &path);
        if (r < 0)
                return log_error_errno(r, "VM '%s': cannot find wayland-gate, no GUI apps: %m", g->vm);
        r = safe_fork_full(
                "wayland-gate", FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_NEW_SESSION | FORK_NULL_STDIN,
                &g->listen_fd, 1, &pid);
        if (r < 0)
                return log_error_errno(r, "VM '%s': cannot start wayland-gate: %m", g->vm);
        if (r == 0) {
                char *argv[] = { path, (char *) "--vm", g->vm, (char *) "--vsock", g->vsock_path, NULL };
                char pid_str[16];

                /* systemd's convention (listen-fds.h): the listener as fd 3, for this process. */
                if (dup2(g->listen_fd, LISTEN_FDS_START) < 0)
                        _exit(126);
                (void) snprintf(pid_str, sizeof(pid_str), "%d", (int) getpid());
                if (setenv("LISTEN_FDS", "1", 1) < 0 || setenv("LISTEN_PID", pid_str, 1) < 0)
                        _exit(126);
                (void) unsetenv("LISTEN_FDNAMES");
                execv(argv[0], argv);
                dprintf(2, "cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }
        r = sd_event_add_child(g->manager->event, &g->child, pid, WEXITED, on_gate_exit, g);
        if (r < 0) {
                sigkill_wait(pid);
                return log_error_errno(r, "VM '%s': cannot watch wayland-gate: %m", g->vm);
        }
        g->pid = pid;
        log_debug("VM '%s': wayland-gate pid %d.", g->vm, (int) pid);
        return 0;
}

/* The first app of this run (or since the gate exited): the gate takes the connection from here. */
static int on_first_connection(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Gate *g = userdata;

        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        if (gate_spawn(g) < 0) {
                /* Refuse what waits, so that sommelier says so instead of waiting. */
                int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

                safe_close(c);
                if (++g->restarts > RESTARTS_MAX)
                        gate_free(g);
                else
                        (void) sd_event_source_set_enabled(s, SD_EVENT_ON);
        }
        return 0;
}

void wayland_vm_running(Vm *vm) {
        Gate **slot = gate_slot(vm->name, true);
        Gate *g;
        int r;

        if (!slot)
                return;
        if (*slot) {
                if (!(*slot)->stopping)
                        return;
                *slot = NULL; /* the previous run's, still stopping: it frees itself */
        }
        g = new0(Gate, 1);
        if (!g) {
                log_oom();
                return;
        }
        g->manager = vm->manager;
        g->listen_fd = -EBADF;
        strscpy(g->vm, vm->name, sizeof(g->vm));
        g->vsock_path = strdup(vm->vsock_path);
        if (!g->vsock_path || asprintf(&g->listen_path, "%s_%u", vm->vsock_path, WAYLAND_PORT) < 0) {
                g->listen_path = NULL;
                gate_free(g);
                log_oom();
                return;
        }
        (void) unlink(g->listen_path); /* a previous run's */
        g->listen_fd = unix_listen(g->listen_path, LISTEN_BACKLOG, 0600);
        if (g->listen_fd < 0) {
                log_error_errno(
                        g->listen_fd, "VM '%s': cannot listen on %s, no GUI apps: %m", vm->name,
                        g->listen_path);
                gate_free(g);
                return;
        }
        r = sd_event_add_io(g->manager->event, &g->io, g->listen_fd, EPOLLIN, on_first_connection, g);
        if (r < 0) {
                log_error_errno(r, "VM '%s': cannot watch %s: %m", vm->name, g->listen_path);
                gate_free(g);
                return;
        }
        *slot = g;
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Gate *g = userdata;

        if (g->pid > 0)
                (void) kill(g->pid, SIGKILL);
        return 0;
}

void wayland_vm_stopped(Vm *vm) {
        Gate **slot = gate_slot(vm->name, false);
        Gate *g;

        if (!slot)
                return;
        g = *slot;
        g->stopping = true;
        gate_close_listener(g);
        if (g->pid <= 0) {
                gate_free(g);
                return;
        }
        (void) kill(g->pid, SIGTERM);
        g->timer = sd_event_source_disable_unref(g->timer);
        (void) sd_event_add_time_relative(
                g->manager->event, &g->timer, CLOCK_MONOTONIC, KILL_DELAY_USEC, 0, on_kill_timer, g);
}

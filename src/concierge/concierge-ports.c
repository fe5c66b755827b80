/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* chunneld supervision and the port requests. The control calls are local and small: each is a
 * blocking wire_call_sync() bounded by CONTROL_TIMEOUT_MS, on concierge's loop (a chunneld that hangs
 * costs concierge at most that long per VM asked). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc-util.h"
#include "concierge-ports.h"
#include "concierge-util.h"
#include "concierge-vm.h"
#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "path-lookup.h"
#include "path-util.h"
#include "socket-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "wire.h"

#define CONTROL_TIMEOUT_MS 5000
#define RESTARTS_MAX 5u
#define RESTART_DELAY_USEC (1 * USEC_PER_SEC)
#define KILL_DELAY_USEC (5 * USEC_PER_SEC)
#define FORWARDS_MAX 4096u

typedef struct Chunnel {
        Manager *manager;
        char vm[PROTO_NAME_MAX + 1];
        char *control_path;
        pid_t pid;
        sd_event_source *child, *timer;
        unsigned restarts;
        bool stopping; /* the VM stopped: do not restart */
} Chunnel;

/* By VM name, not Vm pointer: a Vm may be freed (concierge exiting) while its chunneld runs. */
static Chunnel *chunnels[VMS_MAX];

static Chunnel **chunnel_slot(const char *vm, bool create) {
        Chunnel **free_slot = NULL;

        for (size_t i = 0; i < VMS_MAX; i++) {
                if (chunnels[i] && streq(chunnels[i]->vm, vm))
                        return &chunnels[i];
                if (!chunnels[i] && !free_slot)
                        free_slot = &chunnels[i];
        }
        return create ? free_slot : NULL;
}

static void chunnel_free(Chunnel *ch) {
        Chunnel **slot;

        if (!ch)
                return;
        slot = chunnel_slot(ch->vm, false);
        /* A chunneld of the VM's previous run leaves the socket to its successor. */
        if (slot && *slot == ch) {
                *slot = NULL;
                if (ch->control_path)
                        (void) unlink(ch->control_path);
        }
        sd_event_source_disable_unref(ch->child);
        sd_event_source_disable_unref(ch->timer);
        free(ch->control_path);
        free(ch);
}

static Vm *running_vm(Manager *m, const char *name) {
        for (size_t i = 0; i < m->n_vms; i++)
                if (streq(m->vms[i]->name, name))
                        return m->vms[i]->state == BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING ? m->vms[i]
                                                                                                 : NULL;
        return NULL;
}

static int chunnel_spawn(Chunnel *ch, Vm *vm);

static int on_restart_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Chunnel *ch = userdata;
        Vm *vm = running_vm(ch->manager, ch->vm);

        ch->timer = sd_event_source_disable_unref(ch->timer);
        if (!vm || ch->stopping || chunnel_spawn(ch, vm) < 0)
                chunnel_free(ch);
        return 0;
}

static int on_chunneld_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Chunnel *ch = userdata;

        ch->child = sd_event_source_disable_unref(ch->child);
        ch->pid = 0;
        ch->timer = sd_event_source_disable_unref(ch->timer);
        if (ch->stopping || !running_vm(ch->manager, ch->vm)) {
                chunnel_free(ch);
                return 0;
        }
        if (ch->restarts >= RESTARTS_MAX) {
                log_error(
                        "VM '%s': chunneld exited (%s %d) %u times; port forwarding is off until the VM restarts.",
                        ch->vm, si->si_code == CLD_EXITED ? "status" : "signal", si->si_status,
                        ch->restarts + 1);
                chunnel_free(ch);
                return 0;
        }
        ch->restarts++;
        log_warning(
                "VM '%s': chunneld exited (%s %d); restarting it.", ch->vm,
                si->si_code == CLD_EXITED ? "status" : "signal", si->si_status);
        if (sd_event_add_time_relative(
                    ch->manager->event, &ch->timer, CLOCK_MONOTONIC, RESTART_DELAY_USEC, 0, on_restart_timer,
                    ch) < 0)
                chunnel_free(ch);
        return 0;
}

static int chunnel_spawn(Chunnel *ch, Vm *vm) {
        _cleanup_free_ char *path = NULL;
        pid_t pid;
        int r;

        r = bistro_find_program("chunneld", "BISTRO_CHUNNELD", &path);
        if (r < 0)
                return log_error_errno(r, "VM '%s': cannot find chunneld, no port forwarding: %m", vm->name);
        /* Its own session (a ^C on concierge's terminal is not for it); stderr stays concierge's log.
         * It exits by itself when the VM's vsock socket goes away. */
        r = safe_fork(
                "chunneld", FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_NEW_SESSION | FORK_NULL_STDIN,
                &pid);
        if (r < 0)
                return log_error_errno(r, "VM '%s': cannot start chunneld: %m", vm->name);
        if (r == 0) {
                char *argv[] = { path,           (char *) "--vm",      vm->name,         (char *) "--vsock",
                                 vm->vsock_path, (char *) "--control", ch->control_path, NULL };

                execv(argv[0], argv);
                dprintf(2, "cannot execute %s: %m\n", argv[0]);
                _exit(127);
        }
        r = sd_event_add_child(ch->manager->event, &ch->child, pid, WEXITED, on_chunneld_exit, ch);
        if (r < 0) {
                sigkill_wait(pid);
                return log_error_errno(r, "VM '%s': cannot watch chunneld: %m", vm->name);
        }
        ch->pid = pid;
        log_debug("VM '%s': chunneld pid %d.", vm->name, (int) pid);
        return 0;
}

void ports_vm_running(Vm *vm) {
        Chunnel **slot = chunnel_slot(vm->name, true);
        Chunnel *ch;

        if (!slot)
                return;
        ch = *slot;
        if (ch) {
                if (ch->pid > 0 && !ch->stopping)
                        return;
                /* A stopping one from the VM's previous run: let it go, start afresh. */
                ch->stopping = true;
                *slot = NULL;
        }
        ch = new0(Chunnel, 1);
        if (!ch) {
                log_oom();
                return;
        }
        ch->manager = vm->manager;
        strscpy(ch->vm, vm->name, sizeof(ch->vm));
        ch->control_path = path_join(vm->runtime_dir, CHUNNELD_SOCKET);
        if (!ch->control_path) {
                free(ch);
                log_oom();
                return;
        }
        *slot = ch;
        if (chunnel_spawn(ch, vm) < 0)
                chunnel_free(ch);
}

static int on_kill_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Chunnel *ch = userdata;

        if (ch->pid > 0)
                (void) kill(ch->pid, SIGKILL);
        return 0;
}

void ports_vm_stopped(Vm *vm) {
        Chunnel **slot = chunnel_slot(vm->name, false);
        Chunnel *ch;

        if (!slot)
                return;
        ch = *slot;
        ch->stopping = true;
        if (ch->pid <= 0) {
                chunnel_free(ch);
                return;
        }
        (void) kill(ch->pid, SIGTERM);
        ch->timer = sd_event_source_disable_unref(ch->timer);
        (void) sd_event_add_time_relative(
                ch->manager->event, &ch->timer, CLOCK_MONOTONIC, KILL_DELAY_USEC, 0, on_kill_timer, ch);
}

/* One call to a VM's chunneld. *ret_msg: the reply or its ErrorReply (message_free()). */
static int control_call(
        Vm *vm,
        uint32_t type,
        const ProtobufCMessage *req,
        uint32_t expected,
        ProtobufCMessage **ret_msg,
        char **reterr_message) {
        _cleanup_free_ char *path = path_join(vm->runtime_dir, CHUNNELD_SOCKET);
        _cleanup_close_ int fd = -EBADF;
        uint32_t rtype = 0;
        int r;

        if (!path)
                return -ENOMEM;
        fd = unix_connect(path);
        if (fd < 0) {
                (void) set_error_message(
                        reterr_message, 0, "port forwarding of VM '%s' is not available (chunneld: %s)",
                        vm->name, strerror(-fd));
                return fd;
        }
        r = wire_call_sync(fd, type, req, expected, CONTROL_TIMEOUT_MS, &rtype, ret_msg);
        if (r < 0) {
                const char *em = *ret_msg ? wire_error_message(*ret_msg) : NULL;

                (void) set_error_message(reterr_message, 0, "%s", em ?: strerror(-r));
        }
        return r;
}

static int handle_list_ports(
        Manager *m, WireConn *c, uint64_t id, const Bistro__Ports__ListPortsRequest *req) {
        Bistro__Ports__ListForwardsRequest lf = BISTRO__PORTS__LIST_FORWARDS_REQUEST__INIT;
        Bistro__Ports__ListForwardsResponse resp = BISTRO__PORTS__LIST_FORWARDS_RESPONSE__INIT;
        ProtobufCMessage *replies[VMS_MAX] = {};
        _cleanup_free_ Bistro__Ports__Forward **ptrs = NULL;
        _cleanup_free_ Bistro__Ports__Forward *copies = NULL;
        char **labels = NULL;
        size_t n = 0, n_labels = 0;
        bool all = !req->vm_name[0];
        int r;

        if (!all) {
                Vm *vm;

                if (vm_get(m, req->vm_name, false, &vm) < 0 || (!vm->exists && !vm_is_up(vm)))
                        return wire_reply_error(c, id, -ENOENT, "no VM named '%s'", req->vm_name);
                if (vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING)
                        return wire_reply_error(c, id, -EHOSTDOWN, "VM '%s' is not running", req->vm_name);
        }
        ptrs = new0(Bistro__Ports__Forward *, FORWARDS_MAX);
        copies = new0(Bistro__Ports__Forward, FORWARDS_MAX);
        labels = new0(char *, FORWARDS_MAX);
        if (!ptrs || !copies || !labels) {
                free(labels);
                return wire_reply_error(c, id, -ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < m->n_vms; i++) {
                Vm *vm = m->vms[i];
                const Bistro__Ports__ListForwardsResponse *lr;
                _cleanup_free_ char *err = NULL;

                if (vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING ||
                    (!all && !streq(vm->name, req->vm_name)))
                        continue;
                r = control_call(
                        vm, BISTRO__MESSAGE_TYPE__LIST_FORWARDS_REQUEST, &lf.base,
                        BISTRO__MESSAGE_TYPE__LIST_FORWARDS_RESPONSE, &replies[i], &err);
                if (r < 0) {
                        if (!all) {
                                r = wire_reply_error(c, id, r, "%s", strnull(err));
                                goto finish;
                        }
                        /* One VM's chunneld down (restarting) does not hide the others. */
                        log_debug("VM '%s': ListForwards failed: %s", vm->name, strnull(err));
                        continue;
                }
                lr = (const void *) replies[i];
                for (size_t k = 0; k < lr->n_forwards && n < FORWARDS_MAX; k++) {
                        copies[n] = *lr->forwards[k];
                        if (all) {
                                if (asprintf(
                                            &labels[n_labels], "%s/%s", vm->name,
                                            lr->forwards[k]->container) < 0) {
                                        r = wire_reply_error(c, id, -ENOMEM, "out of memory");
                                        goto finish;
                                }
                                copies[n].container = labels[n_labels++];
                        }
                        ptrs[n] = &copies[n];
                        n++;
                }
        }
        resp.forwards = ptrs;
        resp.n_forwards = n;
        r = wire_reply(c, id, BISTRO__MESSAGE_TYPE__LIST_FORWARDS_RESPONSE, &resp.base);
finish:
        for (size_t i = 0; i < n_labels; i++)
                free(labels[i]);
        free(labels);
        for (size_t i = 0; i < VMS_MAX; i++)
                message_free(replies[i]);
        return r;
}

static int handle_port_forward(
        Manager *m, WireConn *c, uint64_t id, const Bistro__Ports__PortForwardRequest *req) {
        Bistro__Empty empty = BISTRO__EMPTY__INIT;
        _cleanup_message_ ProtobufCMessage *reply = NULL;
        _cleanup_free_ char *err = NULL;
        Vm *vm;
        int r;

        if (vm_get(m, req->vm_name, false, &vm) < 0 || (!vm->exists && !vm_is_up(vm)))
                return wire_reply_error(c, id, -ENOENT, "no VM named '%s'", req->vm_name);
        if (vm->state != BISTRO__CONCIERGE__VM_STATE__VM_STATE_RUNNING)
                return wire_reply_error(c, id, -EHOSTDOWN, "VM '%s' is not running", req->vm_name);
        if (req->add)
                r = control_call(
                        vm, BISTRO__MESSAGE_TYPE__ADD_FORWARD_REQUEST, &req->add->base,
                        BISTRO__MESSAGE_TYPE__EMPTY, &reply, &err);
        else if (req->remove)
                r = control_call(
                        vm, BISTRO__MESSAGE_TYPE__REMOVE_FORWARD_REQUEST, &req->remove->base,
                        BISTRO__MESSAGE_TYPE__EMPTY, &reply, &err);
        else
                return wire_reply_error(c, id, -EINVAL, "neither add nor remove");
        if (r < 0)
                return wire_reply_error(c, id, r, "%s", strnull(err));
        return wire_reply(c, id, BISTRO__MESSAGE_TYPE__EMPTY, &empty.base);
}

int ports_request(Manager *m, WireConn *c, uint32_t type, uint64_t id, const ProtobufCMessage *msg) {
        switch (type) {
        case BISTRO__MESSAGE_TYPE__LIST_PORTS_REQUEST:
                return handle_list_ports(m, c, id, (const void *) msg);
        case BISTRO__MESSAGE_TYPE__PORT_FORWARD_REQUEST:
                return handle_port_forward(m, c, id, (const void *) msg);
        default:
                return wire_reply_error(c, id, -EOPNOTSUPP, "not a port request");
        }
}

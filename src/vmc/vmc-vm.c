/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* vmc's VM verbs: start, stop, list, info, destroy, sync-time. */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "cli-util.h"
#include "log.h"
#include "macro.h"
#include "message-type.h"
#include "string-util.h"
#include "vmc.h"

static void print_info(const Bistro__Concierge__VmInfo *v) {
        char size[32], used[32];

        if (arg_json) {
                vmc_print_vm_json(v);
                putchar('\n');
                return;
        }
        format_bytes(v->disk_size, size, sizeof(size));
        format_bytes(v->disk_used, used, sizeof(used));
        printf("Name:        %s\nState:       %s\n", v->name, concierge_vm_state_to_string(v->state));
        if (v->pid)
                printf("PID:         %d\n", (int) v->pid);
        printf("CPUs:        %u\nMemory:      %llu MiB\nDisk:        %s\nDisk size:   %s (%s used on the host)\n",
               v->cpus, (unsigned long long) v->memory_mib, v->disk_path, size, used);
        printf("Host loopback: %s\n",
               v->host_loopback ? "yes (the VM and its containers reach the host's 127.0.0.1 and ::1)"
                                : "no");
        if (v->kernel_version[0])
                printf("Kernel:      %s\n", v->kernel_version);
        if (v->image_version[0])
                printf("Image:       %s\n", v->image_version);
        if (v->started_at) {
                time_t t = (time_t) v->started_at;
                char buf[64];

                (void) strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", localtime(&t));
                printf("Started:     %s\n", buf);
        }
}

int verb_start(char **args) {
        Bistro__Concierge__StartVmRequest req = BISTRO__CONCIERGE__START_VM_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        int r;

        req.name = args[0] ?: (char *) VMC_DEFAULT_VM;
        r = vmc_check_vm_name(req.name);
        if (r < 0)
                return r;
        req.cpus = arg_cpus;
        req.memory_mib = arg_mem_mib;
        req.disk_size = arg_disk_size;
        req.host_loopback = arg_host_loopback < 0 ? BISTRO__CONCIERGE__HOST_LOOPBACK__HOST_LOOPBACK_UNCHANGED
                            : arg_host_loopback   ? BISTRO__CONCIERGE__HOST_LOOPBACK__HOST_LOOPBACK_ON
                                                  : BISTRO__CONCIERGE__HOST_LOOPBACK__HOST_LOOPBACK_OFF;
        r = vmc_call(
                &(VmcCall){ .what = "start" }, BISTRO__MESSAGE_TYPE__START_VM_REQUEST, &req.base, &resp);
        if (r < 0)
                return r;
        /* Also when the setting was kept from an earlier start: the user should not forget it. */
        if (((Bistro__Concierge__VmInfoResponse *) resp)->vm->host_loopback)
                log_warning(
                        "warning: VM '%s' has host loopback access: its containers can reach every service "
                        "listening on the host's 127.0.0.1 and ::1 (vmc start %s --no-host-loopback turns it off).",
                        req.name, req.name);
        if (arg_json)
                print_info(((Bistro__Concierge__VmInfoResponse *) resp)->vm);
        else if (!arg_quiet)
                printf("VM '%s' is running.\n", req.name);
        return 0;
}

int verb_stop(char **args) {
        Bistro__Concierge__StopVmRequest req = BISTRO__CONCIERGE__STOP_VM_REQUEST__INIT;
        int r;

        req.name = args[0] ?: (char *) VMC_DEFAULT_VM;
        r = vmc_check_vm_name(req.name);
        if (r < 0)
                return r;
        req.force = arg_force;
        return vmc_call(
                &(VmcCall){ .what = "stop" }, BISTRO__MESSAGE_TYPE__STOP_VM_REQUEST, &req.base, NULL);
}

int verb_list(char **args) {
        Bistro__Concierge__ListVmsRequest req = BISTRO__CONCIERGE__LIST_VMS_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        const Bistro__Concierge__ListVmsResponse *l;
        int r;

        r = vmc_call(&(VmcCall){ .what = "list" }, BISTRO__MESSAGE_TYPE__LIST_VMS_REQUEST, &req.base, &resp);
        if (r < 0)
                return r;
        l = (const void *) resp;
        if (arg_json) {
                putchar('[');
                for (size_t i = 0; i < l->n_vms; i++) {
                        if (i)
                                putchar(',');
                        vmc_print_vm_json(l->vms[i]);
                }
                printf("]\n");
                return 0;
        }
        if (arg_quiet) {
                for (size_t i = 0; i < l->n_vms; i++)
                        printf("%s\n", l->vms[i]->name);
                return 0;
        }
        printf("%-24s %-9s %4s %8s %10s %10s\n", "NAME", "STATE", "CPUS", "MEMORY", "DISK", "USED");
        for (size_t i = 0; i < l->n_vms; i++) {
                const Bistro__Concierge__VmInfo *v = l->vms[i];
                char size[32], used[32], mem[32];

                format_bytes(v->disk_size, size, sizeof(size));
                format_bytes(v->disk_used, used, sizeof(used));
                format_bytes(v->memory_mib << 20, mem, sizeof(mem));
                printf("%-24s %-9s %4u %8s %10s %10s\n", v->name, concierge_vm_state_to_string(v->state),
                       v->cpus, mem, size, used);
        }
        return 0;
}

int verb_info(char **args) {
        Bistro__Concierge__GetVmInfoRequest req = BISTRO__CONCIERGE__GET_VM_INFO_REQUEST__INIT;
        _cleanup_message_ ProtobufCMessage *resp = NULL;
        int r;

        req.name = args[0] ?: (char *) VMC_DEFAULT_VM;
        r = vmc_check_vm_name(req.name);
        if (r < 0)
                return r;
        r = vmc_call(
                &(VmcCall){ .what = "info" }, BISTRO__MESSAGE_TYPE__GET_VM_INFO_REQUEST, &req.base, &resp);
        if (r < 0)
                return r;
        print_info(((Bistro__Concierge__VmInfoResponse *) resp)->vm);
        return 0;
}

int verb_destroy(char **args) {
        Bistro__Concierge__DestroyVmRequest req = BISTRO__CONCIERGE__DESTROY_VM_REQUEST__INIT;
        _cleanup_free_ char *question = NULL;
        int r;

        req.name = args[0];
        r = vmc_check_vm_name(req.name);
        if (r < 0)
                return r;
        if (!arg_yes) {
                if (asprintf(&question, "Destroy VM '%s' and all its data?", req.name) < 0)
                        return log_oom();
                r = cli_confirm(question);
                if (r == -ENOTTY)
                        return log_error_errno(
                                SYNTHETIC_ERRNO(EPERM),
                                "destroy: refusing without a terminal to ask on; use --yes");
                if (r <= 0)
                        return log_error_errno(SYNTHETIC_ERRNO(ECANCELED), "not destroyed");
        }
        return vmc_call(
                &(VmcCall){ .what = "destroy" }, BISTRO__MESSAGE_TYPE__DESTROY_VM_REQUEST, &req.base, NULL);
}

int verb_sync_time(char **args) {
        Bistro__Concierge__SyncTimeRequest req = BISTRO__CONCIERGE__SYNC_TIME_REQUEST__INIT;

        return vmc_call(
                &(VmcCall){ .what = "sync-time" }, BISTRO__MESSAGE_TYPE__SYNC_TIME_REQUEST, &req.base, NULL);
}

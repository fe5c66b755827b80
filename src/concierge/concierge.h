/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* concierge: the per-user VM manager (docs/design/concierge.md). */

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "clock-jump.h"
#include "job.h"
#include "message-type.h"
#include "wire.h"

#define VMS_MAX 64u
#define DEFAULT_CPUS 1u
#define DEFAULT_MEMORY_MIB 512u
#define DEFAULT_DISK_SIZE (UINT64_C(8) << 30)
#define STATEFUL_MOUNT "/mnt/stateful"
#define STATEFUL_DEVICE "/dev/vdb"
#define STATEFUL_DRIVE "disk1" /* vmm's drive id of the second --disk */

typedef struct Manager Manager;

/* A container's token (docs/design/containers.md): made by concierge at its first start, written
 * by tremplin to the file the container sees at /dev/.container_token. */
typedef struct ContainerToken {
        char vm[PROTO_NAME_MAX + 1];
        char name[PROTO_NAME_MAX + 1];
        char token[PROTO_TOKEN_MAX + 1];
} ContainerToken;

typedef struct Pending {
        WireConn *conn;
        uint64_t id;
} Pending;

typedef struct Vm {
        Manager *manager;
        char name[PROTO_NAME_MAX + 1];
        int state; /* BISTRO__CONCIERGE__VM_STATE__* */
        char *state_dir, *disk_path, *config_path;
        char *runtime_dir, *vsock_path, *ready_path, *qmp_path, *console_path, *vmm_log_path;
        uint32_t cpus;
        uint64_t memory_mib;

        pid_t vmm_pid;
        sd_event_source *vmm_source;
        int ready_fd;
        sd_event_source *ready_source;
        WireConn *ready_conn;
        sd_event_source *timer;
        Job *job;       /* configure, stop, export, import, resize */
        bool busy;      /* a job other than the lifecycle ones runs (export, resize, import) */
        int stop_stage; /* 0: not stopping; 1 maitred Shutdown; 2 vmm SIGTERM; 3 SIGKILL */

        Pending start;
        Pending *stops;
        size_t n_stops;

        char kernel_version[65], image_version[65];
        char start_error[256];
        int64_t started_at;
        bool exists;       /* has a state dir */
        bool grow_pending; /* the disk grew but btrfs may not have: resize at the next start */
        bool mkfs_pending; /* the disk is new and never mounted: the first mount may format it */
} Vm;

struct Manager {
        sd_event *event;
        WireServer *server;
        Vm *vms[VMS_MAX];
        size_t n_vms;
        char *state_root; /* $XDG_DATA_HOME/bistro */
        char *vms_dir;
        char *runtime_root; /* $XDG_RUNTIME_DIR/bistro */
        char *image_dir, *trust_dir, *vmm_path;
        uint64_t ready_timeout_usec;
        bool exiting;
        sd_event_source *exit_timer, *clock_timer;
        ClockSample clock;
        ContainerToken *tokens;
        size_t n_tokens;
};

/* concierge-vm.c */
int vm_get(Manager *m, const char *name, bool create, Vm **ret);
Vm *vm_free(Vm *vm);
/* Removes vm from the manager and frees it. */
void vm_forget(Manager *m, Vm *vm);
void vm_fill_info(Vm *vm, Bistro__Concierge__VmInfo *info);
int vm_start(Vm *vm, WireConn *c, uint64_t id, const Bistro__Concierge__StartVmRequest *req);
int vm_stop(Vm *vm, WireConn *c, uint64_t id, bool force);
int vm_destroy(Vm *vm, char *err, size_t err_size);
bool vm_is_active(const Vm *vm);
int vm_save_config(Vm *vm);
void manager_check_exit(Manager *m);

/* concierge-ops.c: jobs answering requests. */
int op_export(Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__ExportVmRequest *req);
int op_import(Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__ImportVmRequest *req);
int op_resize(Manager *m, WireConn *c, uint64_t id, const Bistro__Concierge__ResizeVmRequest *req);
int op_sync_time(Manager *m, WireConn *c, uint64_t id);

/* concierge-container.c: the container verbs, forwarded to tremplin in the VM. */
int container_request(Manager *m, WireConn *c, uint32_t type, uint64_t id, const ProtobufCMessage *msg);
/* The token given to container name of VM vm, NULL before its first start by this concierge. */
const char *container_token(Manager *m, const char *vm, const char *name);

/* The virtual size from a qcow2 header, 0 when unreadable. */
uint64_t qcow2_virtual_size(const char *path);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* One VM: its configuration (<state_root>/vms/NAME/config), its lifecycle (start job, vmm,
 * maitred's VmReady, configure job, stop sequence) and the requests waiting on it. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "concierge-manager.h"
#include "concierge-shares.h"
#include "job.h"

#define DEFAULT_CPUS 1u
#define DEFAULT_MEMORY_MIB 512u
#define DEFAULT_DISK_SIZE (UINT64_C(8) << 30)
#define VM_CPUS_MAX 256u
#define VM_MEMORY_MIB_MIN 64u
#define VM_MEMORY_MIB_MAX (1024u * 1024u)
#define VM_CONFIG_MAX 4096u
#define STATEFUL_DEVICE "/dev/vdb"
#define STATEFUL_DRIVE "disk1" /* vmm's drive id of the second --disk */

/* A request waiting for its reply: the connection (a reference, or NULL when nobody waits) and the
 * request id. Also the first member of the job-backed requests (Op, CtOp). */
typedef struct Pending {
        WireConn *conn;
        uint64_t id;
} Pending;

/* A JobProgressFn for a job whose userdata starts with a Pending: passes the worker's PROGRESS
 * event on to the requester as it is (nothing when conn is NULL). */
void pending_job_progress(Job *j, const Bistro__Concierge__Progress *p, void *userdata);

/* Called once when the VM leaves STARTING: error 0 when it is RUNNING, else why it is not (message
 * never NULL). */
typedef void (*VmWaitFn)(Vm *vm, int error, const char *message, void *userdata);

typedef struct VmWaiter {
        VmWaitFn fn;
        void *userdata;
} VmWaiter;

typedef struct VmConfig {
        uint32_t cpus;       /* 1-256 */
        uint64_t memory_mib; /* 64-1048576 */
        bool grow_pending;   /* the disk grew but btrfs may not have: resize at the next start */
        bool mkfs_pending;   /* the disk is new and never mounted: the first mount may format it */
        bool host_loopback;  /* opt-in: the guest's gateway reaches the host's loopback (slirpd) */
} VmConfig;

struct Vm {
        Manager *manager;
        char name[PROTO_NAME_MAX + 1];
        int state; /* BISTRO__CONCIERGE__VM_STATE__* */
        char *state_dir, *disk_path, *config_path;
        char *runtime_dir, *vsock_path, *ready_path, *qmp_path, *console_path, *vmm_log_path;
        VmConfig config;
        ShareList shares; /* <state_dir>/shares (concierge-shares.h) */

        pid_t vmm_pid;
        sd_event_source *vmm_source;
        int ready_fd;
        sd_event_source *ready_source;
        WireConn *ready_conn;
        sd_event_source *timer;
        Job *job;               /* prepare, configure, stop, export, import, resize */
        bool busy;              /* a job other than the lifecycle ones runs (export, resize, import) */
        bool starting;          /* the start job runs (vmm not spawned yet) */
        uint64_t new_disk_size; /* the start job creates a missing disk with this size */
        int stop_stage;         /* 0: not stopping; 1 maitred Shutdown; 2 vmm SIGTERM; 3 SIGKILL */

        Pending start;
        Pending *stops;
        size_t n_stops;
        VmWaiter *waiters;
        size_t n_waiters;

        char kernel_version[65], image_version[65];
        char *start_error;
        int64_t started_at;
        bool exists; /* has a state dir */
};

/* Parses a config file's text into c (which holds the defaults or earlier values): unknown lines
 * and out-of-range values are ignored. */
void vm_config_parse(VmConfig *c, const char *text);
/* The config file's text (malloc'd), or NULL on OOM. */
char *vm_config_format(const VmConfig *c);

/* The VM named name (proto_name_ok(), else -EINVAL): -ENOENT when it has no state dir and create
 * is false; -EUSERS beyond VMS_MAX. */
int vm_get(Manager *m, const char *name, bool create, Vm **ret);
Vm *vm_free(Vm *vm);
/* Removes vm from the manager and frees it. */
void vm_forget(Manager *m, Vm *vm);
void vm_fill_info(Vm *vm, Bistro__Concierge__VmInfo *info);
/* Starts vm; c may be NULL (a StartContainer that waits with vm_wait_running()). Answers c. */
int vm_start(Vm *vm, WireConn *c, uint64_t id, const Bistro__Concierge__StartVmRequest *req);
int vm_stop(Vm *vm, WireConn *c, uint64_t id, bool force);
/* -EBUSY when active or busy; *reterr_message (may be NULL) says why. */
int vm_destroy(Vm *vm, char **reterr_message);
bool vm_is_active(const Vm *vm);
/* STARTING or RUNNING, or the start job runs. */
bool vm_is_up(const Vm *vm);
int vm_save_config(Vm *vm);
/* Calls fn once the VM is RUNNING or failed to start (vm must be starting). -ENOMEM. */
int vm_wait_running(Vm *vm, VmWaitFn fn, void *userdata);
/* Drops a waiter registered with userdata (its request went away). */
void vm_unwait(Vm *vm, void *userdata);

/* The virtual size from a qcow2 header, 0 when unreadable. */
uint64_t qcow2_virtual_size(const char *path);

/* vmm.log's explanation of a failed start, or NULL: "disk ... is in use by another process" for
 * QEMU's "Failed to get ... lock". malloc'd. */
char *vmm_log_explain(const char *vmm_log_path, const char *disk_path);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* vmc: one file per verb group (vmc-vm.c, vmc-container.c, vmc-disk.c, vmc-logs.c), the dispatcher in
 * vmc.c and the call helpers in vmc-util.c. Verbs return 0, a negative errno they have reported
 * (exit 1) or -EUSAGE (exit 2, main-func.h). */

#include <stdbool.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#include "concierge-client.h"
#include "concierge.pb-c.h"

#define VMC_CALL_TIMEOUT_MS (300 * 1000)
#define VMC_DEFAULT_VM "termina"

extern bool arg_json;
extern bool arg_quiet;
extern bool arg_force;
extern bool arg_yes;
extern uint32_t arg_cpus;
extern int arg_host_loopback; /* -1: unchanged, 0: off, 1: on */
extern uint64_t arg_mem_mib;
extern uint64_t arg_disk_size;
extern const char *arg_image;
extern const char *arg_host_port;
extern bool arg_udp;
extern bool arg_remove;
extern const char *arg_container;
extern const char *arg_share_name;
extern bool arg_read_only;
extern bool arg_list;

typedef struct VmcCall {
        const char *what;    /* the verb, put before concierge's error */
        const int *quiet;    /* errnos (positive, 0-terminated) not to print */
        bool progress_lines; /* progress lines even when stderr is not a terminal */
} VmcCall;

/* One call to concierge on its own connection (concierge is started when nothing listens). Prints
 * failures (concierge's message, else the errno) unless listed in quiet; *ret may be NULL. */
int vmc_call(const VmcCall *c, uint32_t type, const ProtobufCMessage *req, ProtobufCMessage **ret);

/* Usage errors (logged, -EUSAGE) for a bad VM or container name. */
int vmc_check_vm_name(const char *name);
int vmc_check_container_name(const char *name);
int vmc_check_vm_and_container(const char *vm, const char *container);

/* p made absolute against the working directory (concierge has another one). -ENOMEM, -errno. */
int vmc_absolute_path(const char *p, char **ret);

void vmc_print_vm_json(const Bistro__Concierge__VmInfo *v);
void vmc_print_container_json(const Bistro__Concierge__ContainerInfo *c);

int verb_start(char **args);
int verb_stop(char **args);
int verb_list(char **args);
int verb_info(char **args);
int verb_destroy(char **args);
int verb_sync_time(char **args);
int verb_share(char **args);
int verb_unshare(char **args);
int verb_shares(char **args);
int verb_logs(char **args);
int verb_export(char **args);
int verb_import(char **args);
int verb_resize(char **args);
int verb_container(char **args);
int verb_container_stop(char **args);
int verb_container_delete(char **args);
int verb_container_list(char **args);
int verb_ports(char **args);
int verb_port_forward(char **args);
int verb_apps(char **args);
int verb_app_scale(char **args);
int verb_window_mark(char **args);

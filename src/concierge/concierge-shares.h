/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Host folders shared into a VM's containers (docs/design/shares.md): the list kept in the VM's
 * state dir (<state_root>/vms/NAME/shares), the path rules, and SharePath / UnsharePath /
 * ListShares. A running VM gets a change at once: seneschal binds the folder into the virtio-fs
 * export, tremplin into the container. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "bistro-ports.h" /* SHARES_MOUNT */
#include "concierge-manager.h"
#include "proto-validate.h"
#include "seneschal-control.h"

#define SHARES_FILE_MAX (SHARES_MAX * (PATH_MAX + 256))
#define DEFAULT_CONTAINER "penguin"

typedef struct Share {
        char name[SHARE_NAME_MAX + 1];
        char container[PROTO_NAME_MAX + 1];
        bool read_only;
        char *host_path; /* absolute, symlinks resolved when it was shared */
} Share;

typedef struct ShareList {
        Share items[SHARES_MAX];
        size_t n;
} ShareList;

void share_list_clear(ShareList *l);
/* The shares file: one share a line, "NAME\tCONTAINER\tro|rw\tPATH". Lines that do not parse, repeat a
 * name or go past SHARES_MAX are dropped (the file is ours; a damaged line must not stop a VM). */
int share_list_parse(const char *text, ShareList *ret);
char *share_list_format(const ShareList *l);
/* Index of name, or -ENOENT. */
int share_list_find(const ShareList *l, const char *name);
/* Appends a copy: -EEXIST, -ENOSPC. */
int share_list_add(ShareList *l, const Share *s);
int share_list_remove(ShareList *l, const char *name);

typedef struct SharePathRules {
        uid_t uid;
        const char *home;     /* the user's home (may be NULL): refused whole */
        const char *data_dir; /* bistro's data dir (VM disks, images): refused, and its ancestors */
} SharePathRules;

/* Resolves path (symlinks, once) and checks it: a directory, owned by rules->uid or writable for
 * it, not "/", not the home itself, not bistro's data dir, inside it or above it. Returns the
 * resolved path and its stat; *reterr_message says why a path is refused. */
int share_path_check(
        const char *path,
        const SharePathRules *rules,
        char **ret_resolved,
        struct stat *ret_st,
        char **reterr_message);
/* The default name: the last component of the resolved path, when it is a valid share name. */
int share_default_name(const char *resolved, char *ret, size_t size);

/* The wire form of s (pointing into it). */
void shared_dir_from(Bistro__Concierge__SharedDir *d, const Share *s);

/* Vm glue. */
int vm_load_shares(Vm *vm);
int vm_save_shares(Vm *vm);
int shares_request(Manager *m, WireConn *c, uint32_t type, uint64_t id, const ProtobufCMessage *msg);

/* Configure job (worker side): mounts the VM's virtio-fs at SHARES_MOUNT and adds every share of
 * vm to seneschal. Failures are warnings (a VM without its shares still runs); returns how many
 * shares failed. */
int shares_setup_in_worker(Vm *vm);
/* StartContainer (worker side): the shares of container for tremplin's StartContainerRequest,
 * pointing into vm's list. Free *ret_ptrs and *ret_mounts with free(). */
int shares_for_container(
        Vm *vm,
        const char *container,
        Bistro__Tremplin__ShareMount **ret_mounts,
        Bistro__Tremplin__ShareMount ***ret_ptrs,
        size_t *ret_n);

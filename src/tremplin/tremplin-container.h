/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Container operations of tremplin (docs/design/containers.md, "Guest layout"). Each runs in a
 * worker process forked for one connection; they block (liblxc, btrfs, the image stream) and
 * never touch the main loop. Errors come back as a negative errno plus a message in err. */

#include <stdbool.h>
#include <stdint.h>

#include "message-type.h"

#define LXC_PATH "/mnt/stateful/lxc"
#define TOKEN_DIR "/run/bistro/tokens"
#define OPT_BISTRO "/opt/bistro"
#define BISTRO_INIT OPT_BISTRO "/bin/bistro-init"
#define ID_BASE 100000u
#define ID_COUNT 65536u
#define CONTAINERS_MAX 250u

typedef struct ContainerMeta {
        char image[PROTO_IMAGE_NAME_MAX + 1];
        unsigned slot;
} ContainerMeta;

static inline uint32_t slot_id_base(unsigned slot) {
        return ID_BASE + ID_COUNT * (slot - 1);
}

/* Parses bistro-meta text (key=value lines). Unknown keys are ignored; -EBADMSG without a valid
 * slot. */
int container_meta_parse(const char *text, ContainerMeta *ret);

/* Removes leftover .new-* / .del-* directories of interrupted creates and deletes (those of a
 * create or delete in progress are flocked and left alone). */
void containers_cleanup_leftovers(void);

/* The stream is read from fd: IMAGE_CHUNK events with id req_id. */
int container_create(
        int fd,
        uint64_t req_id,
        const Bistro__Tremplin__CreateContainerRequest *req,
        Bistro__Tremplin__ContainerInfo *info,
        char *err,
        size_t err_size);
int container_start(
        const char *name,
        const char *token,
        Bistro__Tremplin__ContainerInfo *info,
        char *err,
        size_t err_size);
int container_stop(const char *name, bool force, char *err, size_t err_size);
int container_delete(const char *name, char *err, size_t err_size);
/* info's strings are allocated: container_info_done() frees them. */
int container_get_info(const char *name, Bistro__Tremplin__ContainerInfo *info, char *err, size_t err_size);
/* *ret is an array of n infos (free with container_infos_free). */
int container_list(Bistro__Tremplin__ContainerInfo ***ret, size_t *ret_n, char *err, size_t err_size);
void container_info_done(Bistro__Tremplin__ContainerInfo *info);
void container_infos_free(Bistro__Tremplin__ContainerInfo **l, size_t n);

/* Stops every running container: the halt signal to all, up to timeout_ms, then kill. */
void containers_stop_all(int timeout_ms);

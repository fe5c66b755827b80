/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The container's meta file, STATEFUL_LXC_PATH/NAME/bistro-meta: "key=value" lines tremplin writes
 * (atomically) and reads back. It lives beside the rootfs, not in it, so the container cannot
 * write it; it is parsed strictly all the same:
 *   image=NAME   the image the container was created from (may be empty), at most once
 *   slot=N       1..CONTAINERS_MAX: the id range and addresses; exactly once
 *   user=NAME    a user StartContainer made sure of (proto_user_ok), distinct, at most
 *                META_USERS_MAX
 *   tz=NAME      the zone tremplin last put in the rootfs' /etc/localtime (proto_timezone_ok)
 *   tzfile=S:H   when that was a regular file: its size and FNV-1a 64 hash (hex); absent for
 *                a symlink (tremplin-timezone.h)
 *   idmap=U:G    the container's uid U and gid G (1..ID_COUNT-1) are the VM's SHARE_OWNER_ID (the
 *                host user's files in shares, tremplin-idmap.h); absent: a container of an older
 *                tremplin, whose ids are all shifted (migrated at its next start)
 * Unknown keys are ignored (a newer tremplin may add some); anything else is -EBADMSG. */

#include <stdbool.h>

#include "message-type.h"
#include "proto-validate.h"

#define META_FILE "bistro-meta"
#define META_USER_MAX 32u
#define META_USERS_MAX 8u
#define META_TEXT_MAX 2048u
#define META_TZFILE_MAX 40u

typedef struct ContainerMeta {
        char image[PROTO_IMAGE_NAME_MAX + 1];
        unsigned slot;
        char users[META_USERS_MAX][META_USER_MAX + 1];
        unsigned n_users;
        char tz[PROTO_TIMEZONE_MAX + 1];
        char tzfile[META_TZFILE_MAX + 1];
        uint32_t idmap_uid, idmap_gid; /* 0: no idmap= line */
} ContainerMeta;

int container_meta_parse(const char *text, ContainerMeta *ret);
/* The text container_meta_parse() reads back; *ret is malloc'd. */
int container_meta_format(const ContainerMeta *m, char **ret);
bool container_meta_has_user(const ContainerMeta *m, const char *user);
/* Records user (a no-op when present); when the list is full, the oldest entry goes. */
int container_meta_add_user(ContainerMeta *m, const char *user);

/* dir/bistro-meta relative to dfd, never following a symlink; -EFBIG beyond META_TEXT_MAX. */
int meta_read_at(int dfd, const char *dir, ContainerMeta *ret);
int meta_read_name(const char *name, ContainerMeta *ret);
/* Writes dir/bistro-meta (an absolute path) atomically. */
int meta_write(const char *dir, const ContainerMeta *m);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* seneschal's user namespace (docs/design/shares.md, "uid mapping"): 65536 ids where the host user
 * is the namespace's 1000 (the guest's and the container's default user) and every other id is a
 * subordinate id, so that nothing but the user's own files is writable as the user. */

#include <stdint.h>
#include <sys/types.h>

#define USERNS_USER_ID 1000u
#define USERNS_IDS 65536u
/* Subordinate ids needed: the namespace's 0..999 and 1001..65535. */
#define USERNS_SUBIDS (USERNS_IDS - 1)
/* As root there is no /etc/subuid entry: a block no distribution hands out. */
#define USERNS_ROOT_SUBID_BASE UINT32_C(0x7f000000)

typedef struct SubidRange {
        uint32_t start;
        uint32_t count;
} SubidRange;

/* Finds the first line "NAME:START:COUNT" or "UID:START:COUNT" of an /etc/subuid-style text for
 * name or uid with COUNT >= USERNS_SUBIDS. -ENOENT when there is none; malformed lines are skipped. */
int subid_find(const char *text, const char *name, uid_t uid, SubidRange *ret);

/* The three lines of a uid_map/gid_map ("inside outside count"). malloc'd, NULL on OOM. */
char *userns_map_format(uint32_t outer_id, const SubidRange *sub);

/* Moves the calling process into a new user and mount namespace mapped as above (newuidmap and
 * newgidmap for a user, direct map writes as root) and makes it root there. On failure,
 * *reterr_message says why in words for the user. Does not log. */
int userns_enter(char **reterr_message);

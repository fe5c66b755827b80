/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The user StartContainer makes sure of (like Crostini's tremplin SetUpUser; the rules bistro
 * applied before): an existing user with a uid in USER_UID_MIN..USER_UID_END-1 is fine, any other
 * existing account is refused (a system account); a missing one is created with the requested uid
 * (default 1000) when it is free (else the next free one useradd picks), a home, bash when the
 * container has it (else /bin/sh), the sudo group when there is one, no password, and sudo without
 * one when sudo is installed. "root" needs nothing. The decisions are made here from the
 * container's /etc/passwd and /etc/group; the changes are made by the container's own useradd. */

#include <stdbool.h>
#include <stdint.h>

struct lxc_container;

#define USER_UID_MIN 1000u
#define USER_UID_END 60000u
#define USER_UID_DEFAULT 1000u
#define USER_DB_MAX (4u << 20) /* /etc/passwd or /etc/group larger than this: refused */

typedef enum UserAction {
        USER_EXISTS, /* nothing to do */
        USER_CREATE,
} UserAction;

typedef struct UserPlan {
        UserAction action;
        uint32_t uid;    /* USER_CREATE: the uid to ask for, 0: let useradd pick */
        bool bash;       /* USER_CREATE: /bin/bash as the shell */
        bool sudo_group; /* USER_CREATE: add to the group "sudo" */
} UserPlan;

/* Finds name in passwd-format text (name:pw:uid:...): 1 with *ret_uid, 0 when absent; lines
 * that do not parse are skipped. */
int user_db_find(const char *text, const char *name, uint32_t *ret_uid);
/* Whether some line of passwd-format text has this uid. */
bool user_db_uid_taken(const char *text, uint32_t uid);
/* Whether group-format text (name:pw:gid:members) has the group name. */
bool group_db_has(const char *text, const char *name);

/* Decides what to do for user (proto_user_ok, not "root") given the container's passwd and group
 * texts. want_uid: 0 for the default. -EEXIST: user is a system account; -EINVAL: bad input. */
int user_plan(
        const char *passwd,
        const char *group,
        const char *user,
        uint32_t want_uid,
        bool have_bash,
        UserPlan *ret);

/* Makes sure user exists in the running container c (attaching to it). *ret_created tells whether
 * it was created now. */
int container_ensure_user(
        struct lxc_container *c, const char *user, uint32_t uid, bool *ret_created, char **reterr_message);

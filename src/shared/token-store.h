/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Container tokens on the host: one file per VM and container, <runtime dir>/tokens/VM/CONTAINER
 * (directories 0700, files 0600, in $XDG_RUNTIME_DIR, which only the user reads and which goes at
 * logout, as the VMs do). concierge makes a token at a container's first start and gives it to
 * tremplin; cicerone reads it to learn which container a garcon is. Kept on disk so that either
 * daemon can restart while containers run. Non-logging; -errno. */

#include <stdbool.h>

#include "message-type.h"

typedef char TokenBuf[PROTO_TOKEN_MAX + 1];
typedef char NameBuf[PROTO_NAME_MAX + 1];

/* <runtime dir>/tokens (not created). */
int token_store_dir(char **ret);

/* The token of VM + container: -ENOENT when there is none. */
int token_store_get(const char *dir, const char *vm, const char *container, TokenBuf ret);
/* Writes it atomically (a reader sees the old or the new token, never part of one). */
int token_store_put(const char *dir, const char *vm, const char *container, const char *token);
/* Removes one container's token, or every token of the VM when container is NULL. Missing is fine. */
int token_store_remove(const char *dir, const char *vm, const char *container);
/* Whether the presented token b equals the stored token a, in time that depends on a's length
 * only, not on where they differ: a garcon cannot learn a token byte by byte. */
bool token_equal(const char *a, const char *b);
/* The container of VM whose token is token (compared in constant time): -ENOENT when none. */
int token_store_find(const char *dir, const char *vm, const char *token, NameBuf ret_container);

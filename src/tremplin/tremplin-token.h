/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The container token (StartContainerRequest.token), bind-mounted read-only at
 * /dev/.container_token in the container. */

#include <stdint.h>

/* Writes TOKEN_DIR/name atomically, mode 0400, owned by the container's root (uid base). */
int token_write(const char *name, const char *token, uint32_t base);
/* Removes it (a missing token is fine). */
void token_remove(const char *name);

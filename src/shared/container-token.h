/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The container's token, as tremplin writes it into every container: how garcon and sommelier
 * prove to the host which container they speak for. Libc and the validators only (the static
 * container programs compile it in). Nothing here logs. */

/* Where the token is: /dev/.container_token, or $GARCON_TOKEN_FILE (for tests). */
const char *container_token_path(void);

/* Reads the token: 16..128 bytes of [A-Za-z0-9_-], one trailing newline tolerated. Returns 0,
 * -ENOENT, -EBADMSG (present but not a token), -errno. ret must hold PROTO_TOKEN_MAX + 1 bytes. */
int container_token_read(char *ret);

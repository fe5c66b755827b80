/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* file:// URLs of files in a share: what a container may ask the host to open (docs/design/files.md,
 * "Opening shared files on the host"). Shares are /mnt/shared/<name> in Termina and in the container
 * that sees them; nothing else of a container exists on the host. */

#include <stdbool.h>

#define SHARE_MOUNT_DIR "/mnt/shared"
#define SHARE_URL_PREFIX "file://" SHARE_MOUNT_DIR "/"

/* A path of the container (absolute, symlinks already resolved there) as a share URL: 1 and
 * *ret = SHARE_URL_PREFIX + the percent-encoded rest; 0 when path is not /mnt/shared/<name> or
 * below; -E2BIG when the URL would be longer than PROTO_URL_MAX; -ENOMEM. */
int share_url_from_path(const char *path, char **ret);

/* Splits a share URL into the share's name and the path below it ("" for the share's root; no
 * leading or trailing '/', no empty, "." or ".." component), both decoded and malloc'd. -EINVAL for
 * anything else: another scheme or prefix, bad percent-encoding, a NUL, a name that is not a valid
 * share name, bytes that are not printable ASCII before decoding, more than PROTO_URL_MAX bytes. */
int share_url_split(const char *url, char **ret_name, char **ret_rest);

/* share_url_split() would accept it. */
bool share_url_ok(const char *url);

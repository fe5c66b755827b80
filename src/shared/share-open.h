/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A container's request to open a shared file on the host (docs/design/files.md, "Opening shared
 * files on the host"): which host path the host's opener may be given. */

/* rest (a path below the share, from share_url_split(): no "..", no empty component; "" for the
 * share's root) resolved below root (the share's host directory) with openat2(): no symlink, no
 * magic link, no other mount, never above root. It must be a directory, or a regular file that is
 * not executable (no x bit) and whose name does not say it runs when opened (".desktop", ".exe",
 * ".jar", ...). Returns 0 with *ret = "root/rest" (malloc'd), or -ENOENT, -ELOOP (a symlink on the
 * way), -EXDEV (another mount), -EACCES (executable or launcher), -EPERM (neither file nor
 * directory), -ENOMEM, other errnos of openat2(). */
int share_host_path(const char *root, const char *rest, char **ret);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Writing into a container's rootfs from the VM, which the container's root owns and may have
 * filled with symlinks: every path is resolved inside the rootfs (openat2 RESOLVE_IN_ROOT), the last
 * component is never followed (a new entry renamed over it), and what tremplin creates is owned by
 * the container's root (owner), like the rootfs directory itself. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The directory path (relative, e.g. "etc/systemd/user") inside the rootfs, as an O_PATH fd;
 * missing components are created (0755, owner:owner) when create is set. */
int rootfs_open_dir(int rootfs_fd, const char *path, bool create, uid_t owner);
/* dir_fd/name := data (n bytes), mode, owner:owner; a temp file renamed over name. */
int rootfs_write_file_at(int dir_fd, const char *name, const void *data, size_t n, mode_t mode, uid_t owner);
/* dir_fd/name := a symlink to target, owner:owner; a temp link renamed over name. */
int rootfs_symlink_at(int dir_fd, const char *name, const char *target, uid_t owner);
/* A regular executable file at path resolved inside the rootfs. */
bool rootfs_is_executable(int rootfs_fd, const char *path);
/* The uid and gid of user in the rootfs' etc/passwd (read inside the rootfs, bounded): 1 found, 0
 * not there, < 0 error. */
int rootfs_user_ids(int rootfs_fd, const char *user, uid_t *ret_uid, gid_t *ret_gid);

/* /opt/bistro/bin/garcon as the VM has it (the container sees it read-only at the same path). */
#define GARCON_PATH "/opt/bistro/bin/garcon"
#define GARCON_UNIT "bistro-garcon.service"

/* The text of the user unit that runs garcon (user: ConditionUser=, NULL for none); malloc'd. */
char *garcon_unit_text(const char *user);
/* Installs (or, when the VM has no garcon, removes) the user unit and its enable symlink in
 * etc/systemd/user of a systemd rootfs. */
int rootfs_install_garcon_unit(int rootfs_fd, uid_t owner, const char *user, bool have_garcon);
/* Creates var/lib/systemd/linger/USER (empty, owner:owner): 1 created, 0 it was there. */
int rootfs_enable_linger(int rootfs_fd, uid_t owner, const char *user);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The directory virtiofsd exports (docs/design/shares.md): an empty tmpfs, read-only to the guest,
 * holding one bind mount per share at <export>/<name>. Runs in seneschal's mount namespace. */

#include <stdbool.h>

/* Mounts the tmpfs at export (an existing empty directory), read-only and shared so that later bind
 * mounts under it propagate into virtiofsd's copy of it. Nothing of it reaches the host's namespace. */
int export_setup(const char *export);

/* Binds the directory dir_fd (an O_PATH fd from the host's namespace) at <export>/<name>: the same
 * path is opened here without following any symlink and must be the same inode (else -ESTALE), so a
 * path swapped in between is not shared. nosuid, nodev (and read-only) on the whole subtree.
 * -EEXIST when the name is in use, -ENOSPC past SHARES_MAX. */
int export_add(const char *export, const char *name, int dir_fd, bool read_only);

/* Detaches <export>/<name> (lazily: files open in the guest stay usable) and removes the directory.
 * -ENOENT when there is no such share. */
int export_remove(const char *export, const char *name);

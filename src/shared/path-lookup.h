/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Where Bistro's files are: the one place that resolves them. Non-logging; every function returns
 * -errno and writes *ret (malloc'd) only on success. */

/* $XDG_DATA_HOME, else $HOME/.local/share (the user's data: launcher entries and icons go below
 * it). -EINVAL when neither variable holds an absolute path. Not created. */
int xdg_data_home(char **ret);

/* $XDG_CONFIG_HOME, else $HOME/.config (the user's settings). -EINVAL when neither variable holds an
 * absolute path. Not created. */
int xdg_config_home(char **ret);

/* $XDG_CONFIG_HOME/bistro, else $HOME/.config/bistro (the user's settings: gui.conf). -EINVAL as
 * above. Not created. */
int bistro_config_dir(char **ret);

/* Where `bistro files` mounts a container's home ("Linux files", docs/design/files.md):
 * $HOME/Bistro/<container> for the VM termina, $HOME/Bistro/<container>@<vm> for another VM ('@' is
 * in no VM or container name, so no two pairs share a directory). -EINVAL when $HOME is not
 * absolute. */
int bistro_files_mountpoint(const char *vm, const char *container, char **ret);

/* $XDG_DATA_HOME/bistro, else $HOME/.local/share/bistro (state: VM disks, configs, images).
 * -EINVAL when neither variable holds an absolute path. Not created. */
int bistro_data_dir(char **ret);

/* $XDG_RUNTIME_DIR/bistro (sockets, per-VM runtime files), created with mode 0700 when missing.
 * Refused unless it is a real directory (not a symlink) owned by us with no group or other access:
 * -EINVAL when $XDG_RUNTIME_DIR is unset or relative, -EPERM when the directory is not ours. */
int bistro_runtime_dir(char **ret);

/* The host's Wayland display socket as libwayland finds it: $WAYLAND_DISPLAY, absolute or a name in
 * $XDG_RUNTIME_DIR. -ENXIO when WAYLAND_DISPLAY is unset or empty (no Wayland session), -EINVAL when
 * it is a relative path or $XDG_RUNTIME_DIR is unusable, -ENAMETOOLONG beyond a socket address. */
int host_wayland_socket(char **ret);

/* The container image store: $BISTRO_IMAGE_STORE (which must be absolute: -EINVAL otherwise), else
 * <data dir>/images/containers. */
int bistro_image_store(char **ret);

/* True when our executable lies in the build tree this library was built in. */
int bistro_running_from_build_tree(void);
/* <build root>/rel when running from the build tree, else -ENOENT. */
int bistro_build_path(const char *rel, char **ret);

/* One of our programs ("vmm", "vsockd", "concierge", ...): the path in the environment variable env
 * (when env is not NULL and it is set; it must be executable), else src/<name>/<name> in the build tree
 * when we run from it, else BISTRO_LIBEXECDIR/<name>. -ENOENT when the chosen one is not executable. */
int bistro_find_program(const char *name, const char *env, char **ret);
/* One of our user commands ("vsh", "vmc"): as bistro_find_program(), but installed beside the
 * running program (bindir) rather than in BISTRO_LIBEXECDIR. */
int bistro_find_command(const char *name, const char *env, char **ret);

/* The directory of the waypipe bundle (basic/waypipe-bundle.h) on the host: $BISTRO_WAYPIPE_BUNDLE
 * (which must be absolute: -EINVAL otherwise), else <build>/image/waypipe/bundle when we run from the
 * build tree, else BISTRO_WAYPIPE_BUNDLE_DIR. -ENOENT when the chosen directory has no executable
 * loader or no waypipe. */
int bistro_find_waypipe_bundle(char **ret_dir);

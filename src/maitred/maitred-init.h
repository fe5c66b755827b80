/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The early boot of PID 1 (kvmtool guest/init.c and systemd mount-setup.c style): everything
 * here logs its own failures and carries on when it can. */

/* Mounts /dev first and puts /dev/console on fds 0-2 if the kernel left them closed (an
 * initramfs without /dev/console). */
void init_console(void);
/* The API and tmpfs mounts; a mount point that is already mounted is left alone. */
void init_mounts(void);
void init_hostname(const char *conf_dir);
/* Lets /dev/kmsg take every line (the kernel rate-limits user messages by default). */
void init_kmsg(void);
void init_overcommit(void);
/* Loads the modules named in conf_dir/modules (one per line, '#' comments), each after its
 * dependencies from /lib/modules/<release>/modules.dep. Returns the number of failures. */
int init_modules(const char *conf_dir, const char *kernel_release);
/* Loads the module of filesystem fstype (and its dependencies) unless /proc/filesystems knows it
 * already. Expensive modules (btrfs calibrates raid6 and xor for seconds under TCG) are loaded
 * here, on the first Mount that needs them, instead of before the ready call. Logs failures. */
/* What udev's default rules would do for the nodes the modules made: /dev/fuse 0666 (FUSE in
 * containers: the node is bound into them and opened by unprivileged users). Logs. */
void init_device_modes(void);
int modules_load_filesystem(const char *kernel_release, const char *fstype);

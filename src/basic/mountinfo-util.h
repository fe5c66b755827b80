/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* What is mounted where, from a mountinfo file (proc(5): /proc/self/mountinfo). */

/* Looks for the topmost mount on path (absolute, normalized, no trailing '/') in the mountinfo file
 * (NULL: /proc/self/mountinfo). 1 with *ret_fstype ("fuse.sshfs") and *ret_source (both may be
 * NULL, malloc'd, octal escapes undone), 0 when nothing is mounted there, -errno; a line that does
 * not parse is -EBADMSG. */
int mountinfo_find(const char *mountinfo, const char *path, char **ret_fstype, char **ret_source);

/* The mount points of mountinfo text, in its order (a mount before what is mounted on it), octal
 * escapes undone; a line without one is skipped. *ret is a strv (strv.h). */
int mountinfo_targets(const char *text, char ***ret);

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Kernel modules without kmod (the Termina root has no modprobe): modules.dep lookups and
 * finit_module(), dependencies first. Used by maitred at boot and by tremplin on demand. */

/* Module name normalised: basename, without .ko[.xz|.zst|.gz], '-' -> '_'. */
int module_name_normalize(const char *s, char **ret);
/* Paths (relative to the modules dir, as in modules.dep) to load for module name, dependencies
 * first, each once. -ENOENT when modules.dep has no such module, -ELOOP on a cycle. */
int modules_dep_resolve(const char *dep_text, const char *name, char ***ret);

/* /lib/modules/<release> and its modules.dep text (*ret_dep NULL when unreadable: logged, and
 * modules then load by absolute path only). Fails only with -ENOMEM, which it does not log. */
int read_modules_dep(const char *kernel_release, char **ret_dir, char **ret_dep);
/* Loads module name (or an absolute .ko path) after its dependencies, skipping what *loaded lists
 * and adding what it loads. dep may be NULL (no modules.dep). A module built into the kernel is
 * not an error. Logs its own failures, except -ENOMEM, which the caller logs. */
int load_module(const char *dir, const char *dep, const char *name, char ***loaded);
/* Loads each of the NULL-terminated names for the running kernel; returns the first error
 * (-ENOMEM not logged). */
int modules_load(char *const *names);

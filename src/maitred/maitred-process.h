/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <sys/types.h>

/* fork + exec of argv (PATH search as execvpe) with envp: signal mask and dispositions reset,
 * a new session, stdin /dev/null, stdout and stderr on /dev/console (or /dev/null), every other
 * fd closed. Returns 0 and the pid once the exec succeeded, or the exec's negative errno (the
 * child is reaped then). Does not log. */
int process_spawn(char *const *argv, char *const *envp, pid_t *ret_pid);
/* Where stdout and stderr of spawned processes go (default /dev/console; tests use /dev/null).
 * The string must outlive every spawn. */
void process_set_output(const char *path);

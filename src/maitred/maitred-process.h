/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <sys/types.h>

/* fork + exec of argv (PATH search as execvpe) with envp: signal mask and dispositions reset,
 * a new session, stdin /dev/null, stdout and stderr on /dev/console (or /dev/null), every other
 * fd closed. Returns 0 and the pid once the exec succeeded, or the exec's negative errno (the
 * child is reaped then). Does not log.
 * listen_fd >= 0 passes a listening socket to a service the way systemd does (sd_listen_fds(3)): the child
 * gets it as fd 3 (the only inheritable fd above stderr), LISTEN_FDS=1 and LISTEN_PID=<its pid> in front of
 * envp (whose own LISTEN_* entries are dropped). */
int process_spawn_full(char *const *argv, char *const *envp, int listen_fd, pid_t *ret_pid);
/* No socket: nothing above stderr. */
static inline int process_spawn(char *const *argv, char *const *envp, pid_t *ret_pid) {
        return process_spawn_full(argv, envp, -EBADF, ret_pid);
}
/* Where stdout and stderr of spawned processes go (default /dev/console; tests use /dev/null).
 * The string must outlive every spawn. */
void process_set_output(const char *path);

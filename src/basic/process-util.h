/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Whether pid names a process that has not exited: false when there is none, and false for a zombie
 * (it has exited and closed its fds and locks; only its parent has not reaped it yet). */
bool pid_is_alive(pid_t pid);

/* The state letter of /proc/PID/stat ('R', 'S', 'Z', ...) or -errno (-ESRCH when there is no such
 * process, -EBADMSG when the line has no state). */
int pid_get_state(pid_t pid);

/* The start time of PID (/proc/PID/stat field 22, clock ticks since boot): with the pid it names one
 * process for good, a reused pid has another. -ESRCH, -EBADMSG as above. */
int pid_get_start_time(pid_t pid, uint64_t *ret);

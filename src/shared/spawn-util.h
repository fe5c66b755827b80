/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* The one way to start a process: every fork() in the tree is in spawn-util.c. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "time-util.h"

typedef enum ForkFlags {
        FORK_RESET_SIGNALS = 1 << 0, /* child: default dispositions for all signals, empty signal mask */
        FORK_CLOSE_ALL_FDS = 1 << 1, /* child: close every fd > 2 except the ones passed as except_fds */
        FORK_DEATHSIG = 1 << 2,      /* child: SIGKILL when the forking thread dies (PR_SET_PDEATHSIG) */
        FORK_NEW_SESSION = 1 << 3,   /* child: setsid(), no controlling terminal */
        FORK_NULL_STDIO = 1 << 4,    /* child: stdin, stdout and stderr on /dev/null */
        FORK_NULL_STDIN = 1 << 5,    /* child: stdin on /dev/null */
        FORK_WAIT = 1 << 6,          /* parent: wait for the child (see below) */
} ForkFlags;

/* Forks and applies flags in the child. Returns 0 in the child and 1 in the parent, with the pid in
 * *ret_pid (which may be NULL only with FORK_WAIT). With FORK_WAIT the parent waits and returns 1 when
 * the child exited with status 0, -EPROTO for any other exit status or a signal (callers that need the
 * status itself use wait_for_terminate()). If the child cannot apply a flag, the parent gets that error
 * (negative errno) and the child is reaped: the caller never sees a half-set-up child. Fails with the
 * errno of fork()/pipe2() itself, never a made-up one. name, when set, becomes the child's comm.
 * Does not log. Async-signal-safe in the child until it returns. */
int safe_fork_full(
        const char *name, ForkFlags flags, const int except_fds[], size_t n_except_fds, pid_t *ret_pid);
static inline int safe_fork(const char *name, ForkFlags flags, pid_t *ret_pid) {
        return safe_fork_full(name, flags, NULL, 0, ret_pid);
}

/* Waits for pid, retrying EINTR. Returns the exit status as above, or -errno. */
int wait_for_terminate(pid_t pid);
/* Same, but SIGKILLs and reaps the child once timeout has passed (-ETIMEDOUT). USEC_INFINITY: no limit. */
int wait_for_terminate_timeout(pid_t pid, usec_t timeout);

/* For _cleanup_(sigkill_waitp): SIGKILL and reap a child still held on an error path. */
void sigkill_wait(pid_t pid);
static inline void sigkill_waitp(pid_t *pid) {
        if (*pid > 0)
                sigkill_wait(*pid);
        *pid = 0;
}
#define _cleanup_sigkill_wait_ _cleanup_(sigkill_waitp)

typedef struct SpawnOptions {
        int stdin_fd;       /* < 0: /dev/null */
        int stdout_fd;      /* >= 0: stdout goes there and is not captured; < 0: captured */
        bool merge_stderr;  /* stderr captured with stdout (else it goes to the caller's stderr) */
        usec_t timeout;     /* 0 or USEC_INFINITY: none; else SIGKILL after it and -ETIMEDOUT */
        size_t max_output;  /* bytes of output kept; the rest is read and dropped (0: 64 KiB) */
        char *const *envp;  /* NULL: our environment */
        bool close_all_fds; /* child: close every fd but stdin, stdout and stderr (FORK_CLOSE_ALL_FDS) */
        /* Set: the captured output goes to on_line as it arrives, a line at a time (NUL-terminated,
         * without its '\n', writable until on_line returns), and is not kept (*ret_output is ""). A
         * line longer than max_output comes in pieces of max_output bytes; an unterminated last line
         * comes at EOF, and also before -ETIMEDOUT or an error return. */
        void (*on_line)(char *line, void *userdata);
        void *userdata;
} SpawnOptions;

/* Runs argv[0] (a path, or a name looked up in $PATH) with the options, reading its output until it
 * exits. Returns its exit status (0..255, 128 + N for signal N; 127: could not be executed) or -errno;
 * *ret_output (may be NULL) gets the captured output, NUL-terminated, even when the status is not 0.
 * Does not log. */
int spawn_capture(char *const argv[], const SpawnOptions *opts, char **ret_output);

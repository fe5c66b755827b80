/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "maitred-process.h"
#include "maitred.h"
#include "spawn-util.h"

struct ProcessWatch {
        pid_t pid;
        ProcessExitHandler cb;
        void *userdata;
        ProcessWatch *next;
};

static const char *output_path = "/dev/console";

void process_set_output(const char *path) {
        output_path = path;
}

/* Runs in the child forked by safe_fork(): signals, session and fds are already set up. */
_noreturn_ static void child_exec(char *const *argv, char *const *envp, int errfd) {
        int null, out, e;

        /* O_CLOEXEC: dup2() makes the copies on 0-2 inheritable, the originals go with the exec. */
        null = open("/dev/null", O_RDWR | O_NOCTTY | O_CLOEXEC);
        out = open(output_path, O_WRONLY | O_NOCTTY | O_CLOEXEC);
        if (out < 0)
                out = null;
        if (null >= 0)
                (void) dup2(null, STDIN_FILENO);
        if (out >= 0) {
                (void) dup2(out, STDOUT_FILENO);
                (void) dup2(out, STDERR_FILENO);
        }

        execvpe(argv[0], argv, envp);
        e = errno;
        (void) !write(errfd, &e, sizeof(e));
        _exit(127);
}

int process_spawn(char *const *argv, char *const *envp, pid_t *ret_pid) {
        _cleanup_close_ int err_r = -EBADF, err_w = -EBADF;
        int p[2], e = 0, r;
        ssize_t n;
        pid_t pid;

        if (!argv || !argv[0])
                return -EINVAL;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        err_r = p[0];
        err_w = p[1];
        r = safe_fork_full(
                NULL, FORK_RESET_SIGNALS | FORK_NEW_SESSION | FORK_CLOSE_ALL_FDS, &err_w, 1, &pid);
        if (r < 0)
                return r;
        if (r == 0)
                child_exec(argv, envp, err_w);

        err_w = safe_close(err_w);
        /* EOF means the exec succeeded (the pipe is CLOEXEC); an int is the exec's errno. */
        do
                n = read(err_r, &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        if (n == sizeof(e)) {
                (void) wait_for_terminate(pid);
                return e > 0 ? -e : -EIO;
        }
        *ret_pid = pid;
        return 0;
}

int manager_watch_pid(Manager *m, pid_t pid, ProcessExitHandler cb, void *userdata) {
        ProcessWatch *w = malloc(sizeof(*w));

        if (!w)
                return -ENOMEM;
        *w = (ProcessWatch){ .pid = pid, .cb = cb, .userdata = userdata, .next = m->watches };
        m->watches = w;
        return 0;
}

static ProcessWatch *watch_unlink(Manager *m, pid_t pid) {
        for (ProcessWatch **w = &m->watches; *w; w = &(*w)->next)
                if ((*w)->pid == pid) {
                        ProcessWatch *found = *w;

                        *w = found->next;
                        return found;
                }
        return NULL;
}

void manager_unwatch_pid(Manager *m, pid_t pid) {
        free(watch_unlink(m, pid));
}

void manager_reap(Manager *m) {
        for (;;) {
                siginfo_t si = {};
                ProcessWatch *w;

                if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG) < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != ECHILD)
                                log_warning_errno(errno, "waitid() failed, ignoring: %m");
                        return;
                }
                if (si.si_pid <= 0)
                        return;
                w = watch_unlink(m, si.si_pid);
                if (!w) {
                        log_debug("Reaped orphan %d.", (int) si.si_pid);
                        continue;
                }
                w->cb(m, si.si_pid, &si, w->userdata);
                free(w);
        }
}

bool manager_has_children(void) {
        siginfo_t si = {};

        return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) >= 0 || errno != ECHILD;
}

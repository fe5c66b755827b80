/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "listen-fds.h"
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

/* Async-signal-safe decimal formatting of a pid, for the child. */
static void format_pid(char *buf, pid_t pid) {
        char digits[16];
        size_t n = 0;

        do
                digits[n++] = (char) ('0' + pid % 10);
        while ((pid /= 10) > 0 && n < sizeof(digits));
        while (n > 0)
                *buf++ = digits[--n];
        *buf = 0;
}

/* In the child: listen_fd becomes fd 3, inheritable, and pid_var gets our pid (systemd's
 * sd_listen_fds() convention: LISTEN_FDS=1 and LISTEN_PID are already in the environment). errfd is
 * moved out of the way when it sits on fd 3. Returns 0 or -errno. */
static int child_pass_listen_fd(int listen_fd, int *errfd, char *pid_var) {
        if (*errfd == LISTEN_FDS_START) {
                int fd = fcntl(*errfd, F_DUPFD_CLOEXEC, LISTEN_FDS_START + 1);

                if (fd < 0)
                        return -errno;
                *errfd = fd; /* the copy on fd 3 goes with the dup2() below */
        }
        if (listen_fd == LISTEN_FDS_START) {
                if (fcntl(listen_fd, F_SETFD, 0) < 0)
                        return -errno;
        } else if (dup2(listen_fd, LISTEN_FDS_START) < 0)
                return -errno;
        format_pid(pid_var, getpid());
        return 0;
}

/* Runs in the child forked by safe_fork(): signals, session and fds are already set up. */
_noreturn_ static void child_exec(
        char *const *argv, char *const *envp, int errfd, int listen_fd, char *pid_var) {
        int null, out, e, r;

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
        /* Last: null or out may have landed on fd 3, which dup2() then replaces. */
        if (listen_fd >= 0) {
                r = child_pass_listen_fd(listen_fd, &errfd, pid_var);
                if (r < 0) {
                        e = -r;
                        (void) !write(errfd, &e, sizeof(e));
                        _exit(127);
                }
        }

        execvpe(argv[0], argv, envp);
        e = errno;
        (void) !write(errfd, &e, sizeof(e));
        _exit(127);
}

static bool is_listen_var(const char *s) {
        return strneq(s, "LISTEN_PID=", 11) || strneq(s, "LISTEN_FDS=", 11) ||
               strneq(s, "LISTEN_FDNAMES=", 15);
}

int process_spawn_full(char *const *argv, char *const *envp, int listen_fd, pid_t *ret_pid) {
        /* "LISTEN_PID=" and the child's pid, written by the child itself after the fork. */
        char pid_var[32] = "LISTEN_PID=";
        _cleanup_close_ int err_r = -EBADF, err_w = -EBADF;
        _cleanup_free_ char **env = NULL;
        int p[2], e = 0, r;
        ssize_t n;
        pid_t pid;

        if (!argv || !argv[0])
                return -EINVAL;
        if (listen_fd >= 0) {
                size_t k = 0, len = 0;

                while (envp && envp[len])
                        len++;
                env = calloc(len + 3, sizeof(char *));
                if (!env)
                        return -ENOMEM;
                /* Ours first, and no other LISTEN_* (a service file could set them). */
                env[k++] = (char *) "LISTEN_FDS=1";
                env[k++] = pid_var;
                for (size_t i = 0; i < len; i++)
                        if (!is_listen_var(envp[i]))
                                env[k++] = envp[i];
                env[k] = NULL;
        }
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        err_r = p[0];
        err_w = p[1];
        r = safe_fork_full(
                NULL, FORK_RESET_SIGNALS | FORK_NEW_SESSION | FORK_CLOSE_ALL_FDS,
                (const int[]){ err_w, listen_fd }, listen_fd >= 0 ? 2 : 1, &pid);
        if (r < 0)
                return r;
        if (r == 0)
                child_exec(argv, env ?: envp, err_w, listen_fd, pid_var + strlen("LISTEN_PID="));

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

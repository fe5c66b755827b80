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

#include "log.h"
#include "macro.h"
#include "maitred-process.h"
#include "maitred.h"

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

static void close_all_from(int from) {
        DIR *d;
        struct dirent *de;

        /* Mark instead of close, so the error pipe still works until exec. */
        if (syscall(SYS_close_range, (unsigned) from, ~0U, CLOSE_RANGE_CLOEXEC) >= 0)
                return;
        d = opendir("/proc/self/fd");
        if (!d)
                return;
        while ((de = readdir(d))) {
                int fd = atoi(de->d_name);

                if (fd >= from && fd != dirfd(d))
                        (void) fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
        (void) closedir(d);
}

_noreturn_ static void child_exec(char *const *argv, char *const *envp, int errfd) {
        sigset_t none;
        int null, out, e;

        (void) sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) signal(sig, SIG_DFL);
        (void) setsid();

        null = open("/dev/null", O_RDWR | O_NOCTTY);
        out = open(output_path, O_WRONLY | O_NOCTTY);
        if (out < 0)
                out = null;
        if (null >= 0)
                (void) dup2(null, STDIN_FILENO);
        if (out >= 0) {
                (void) dup2(out, STDOUT_FILENO);
                (void) dup2(out, STDERR_FILENO);
        }
        close_all_from(3);

        execvpe(argv[0], argv, envp);
        e = errno;
        (void) !write(errfd, &e, sizeof(e));
        _exit(127);
}

int process_spawn(char *const *argv, char *const *envp, pid_t *ret_pid) {
        int p[2], e = 0;
        ssize_t n;
        pid_t pid;

        if (!argv || !argv[0])
                return -EINVAL;
        if (pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                e = -errno;
                safe_close(p[0]);
                safe_close(p[1]);
                return e;
        }
        if (pid == 0)
                child_exec(argv, envp, p[1]);

        safe_close(p[1]);
        /* EOF means the exec succeeded (the pipe is CLOEXEC); an int is the exec's errno. */
        do
                n = read(p[0], &e, sizeof(e));
        while (n < 0 && errno == EINTR);
        safe_close(p[0]);
        if (n == sizeof(e)) {
                (void) waitpid(pid, NULL, 0);
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

/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "fd-util.h"
#include "macro.h"
#include "path-util.h"
#include "spawn-util.h"

static int exit_status(int status) {
        if (WIFEXITED(status))
                return WEXITSTATUS(status);
        if (WIFSIGNALED(status))
                return 128 + WTERMSIG(status);
        return -EPROTO;
}

int wait_for_terminate(pid_t pid) {
        int status;

        for (;;) {
                if (waitpid(pid, &status, 0) >= 0)
                        return exit_status(status);
                if (errno != EINTR)
                        return -errno;
        }
}

int wait_for_terminate_timeout(pid_t pid, usec_t timeout) {
        usec_t deadline;
        int status;

        if (timeout == 0 || timeout == USEC_INFINITY)
                return wait_for_terminate(pid);
        deadline = now_usec(CLOCK_MONOTONIC) + timeout;
        for (;;) {
                pid_t k = waitpid(pid, &status, WNOHANG);

                if (k == pid)
                        return exit_status(status);
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (now_usec(CLOCK_MONOTONIC) >= deadline) {
                        sigkill_wait(pid);
                        return -ETIMEDOUT;
                }
                (void) usleep(10 * 1000);
        }
}

void sigkill_wait(pid_t pid) {
        (void) kill(pid, SIGKILL);
        (void) wait_for_terminate(pid);
}

static int int_cmp(const void *a, const void *b) {
        int x = *(const int *) a, y = *(const int *) b;
        return x < y ? -1 : x > y;
}

/* Closes every fd > 2 but those in keep[] (n entries, room for one more) and errfd. */
static int close_all_fds_except(int *keep, size_t n, int errfd) {
        unsigned from = 3;

        keep[n++] = errfd;
        qsort(keep, n, sizeof(int), int_cmp);
        for (size_t i = 0; i < n; i++) {
                if (keep[i] < (int) from) /* below 3, or a duplicate */
                        continue;
                if ((unsigned) keep[i] > from && close_range(from, keep[i] - 1, 0) < 0)
                        return -errno;
                from = (unsigned) keep[i] + 1;
        }
        return RET_NERRNO(close_range(from, UINT32_MAX, 0));
}

static int child_setup(
        ForkFlags flags, const char *name, int *keep, size_t n_keep, int errfd, pid_t parent) {
        if (name)
                (void) prctl(PR_SET_NAME, name);
        if (flags & FORK_RESET_SIGNALS) {
                struct sigaction sa = { .sa_handler = SIG_DFL };
                sigset_t ss;

                for (int sig = 1; sig < _NSIG; sig++)
                        if (sig != SIGKILL && sig != SIGSTOP)
                                (void) sigaction(sig, &sa, NULL);
                sigemptyset(&ss);
                if (sigprocmask(SIG_SETMASK, &ss, NULL) < 0)
                        return -errno;
        }
        if (flags & FORK_DEATHSIG) {
                if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
                        return -errno;
                if (getppid() != parent) /* the parent died before we got here */
                        return -ESRCH;
        }
        if ((flags & FORK_NEW_SESSION) && setsid() < 0)
                return -errno;
        if (flags & (FORK_NULL_STDIO | FORK_NULL_STDIN)) {
                int fd = open("/dev/null", O_RDWR | O_CLOEXEC | O_NOCTTY);

                if (fd < 0)
                        return -errno;
                if (dup2(fd, STDIN_FILENO) < 0)
                        return -errno;
                if ((flags & FORK_NULL_STDIO) &&
                    (dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0))
                        return -errno;
                if (fd > 2)
                        (void) close(fd);
        }
        if (flags & FORK_CLOSE_ALL_FDS)
                return close_all_fds_except(keep, n_keep, errfd);
        return 0;
}

int safe_fork_full(
        const char *name, ForkFlags flags, const int except_fds[], size_t n_except_fds, pid_t *ret_pid) {
        int errpipe[2], keep[65], child_err = 0;
        pid_t parent = getpid(), pid;
        ssize_t n;

        if (n_except_fds >= ELEMENTSOF(keep))
                return -E2BIG;
        if (!ret_pid && !(flags & FORK_WAIT))
                return -EINVAL;
        if (n_except_fds)
                memcpy(keep, except_fds, n_except_fds * sizeof(int));
        if (pipe2(errpipe, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                int r = -errno;
                safe_close(errpipe[0]);
                safe_close(errpipe[1]);
                return r;
        }
        if (pid == 0) {
                int r;

                (void) close(errpipe[0]);
                r = child_setup(flags, name, keep, n_except_fds, errpipe[1], parent);
                if (r < 0) {
                        (void) !write(errpipe[1], &r, sizeof(r));
                        _exit(127);
                }
                (void) close(errpipe[1]);
                return 0;
        }
        safe_close(errpipe[1]);
        do
                n = read(errpipe[0], &child_err, sizeof(child_err));
        while (n < 0 && errno == EINTR);
        safe_close(errpipe[0]);
        if (n == sizeof(child_err) && child_err < 0) {
                (void) wait_for_terminate(pid);
                return child_err;
        }
        if (flags & FORK_WAIT) {
                int r = wait_for_terminate(pid);
                if (ret_pid)
                        *ret_pid = pid;
                return r < 0 ? r : r == 0 ? 1 : -EPROTO;
        }
        *ret_pid = pid;
        return 1;
}

/* on_line mode: passes the complete lines in buf[0..*len) to on_line (and, when flush is set or buf is
 * full, the incomplete rest) and keeps what is left at the start of buf. */
static void emit_lines(const SpawnOptions *opts, char *buf, size_t *len, size_t max, bool flush) {
        char *s = buf, *nl;

        buf[*len] = 0;
        while ((nl = memchr(s, '\n', *len - (size_t) (s - buf)))) {
                *nl = 0;
                opts->on_line(s, opts->userdata);
                s = nl + 1;
        }
        *len -= (size_t) (s - buf);
        memmove(buf, s, *len + 1);
        if (*len > 0 && (flush || *len == max)) {
                opts->on_line(buf, opts->userdata);
                *len = 0;
                buf[0] = 0;
        }
}

int spawn_capture(char *const argv[], const SpawnOptions *opts, char **ret_output) {
        static const SpawnOptions defaults = { .stdin_fd = -1, .stdout_fd = -1 };
        _cleanup_sigkill_wait_ pid_t pid = 0;
        _cleanup_free_ char *buf = NULL, *exe = NULL;
        _cleanup_close_ int rfd = -EBADF;
        size_t max, len = 0;
        bool capture;
        usec_t deadline = USEC_INFINITY;
        int pipefd[2] = { -EBADF, -EBADF };
        int r, status;

        if (!opts)
                opts = &defaults;
        max = opts->max_output ?: 64 * 1024;
        capture = opts->stdout_fd < 0 || opts->merge_stderr;
        r = find_executable(argv[0], &exe);
        if (r < 0)
                return r == -ENOENT ? 127 : r;
        buf = malloc(max + 1);
        if (!buf)
                return -ENOMEM;
        if (capture && pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        if (opts->timeout && opts->timeout != USEC_INFINITY)
                deadline = now_usec(CLOCK_MONOTONIC) + opts->timeout;

        r = safe_fork_full(
                argv[0],
                FORK_RESET_SIGNALS | FORK_DEATHSIG | FORK_NULL_STDIN |
                        (opts->close_all_fds ? FORK_CLOSE_ALL_FDS : 0),
                (const int[]){ opts->stdin_fd, opts->stdout_fd, pipefd[1] }, 3, &pid);
        if (r < 0) {
                safe_close(pipefd[0]);
                safe_close(pipefd[1]);
                return r;
        }
        if (r == 0) {
                int out = opts->stdout_fd >= 0 ? opts->stdout_fd : pipefd[1];

                if (opts->stdin_fd >= 0 && dup2(opts->stdin_fd, STDIN_FILENO) < 0)
                        _exit(127);
                if (out >= 0 && dup2(out, STDOUT_FILENO) < 0)
                        _exit(127);
                if (opts->merge_stderr && dup2(pipefd[1], STDERR_FILENO) < 0)
                        _exit(127);
                if (opts->envp)
                        execve(exe, argv, opts->envp);
                else
                        execv(exe, argv);
                _exit(127);
        }
        safe_close(pipefd[1]);
        rfd = pipefd[0];
        while (rfd >= 0) {
                struct pollfd p = { .fd = rfd, .events = POLLIN };
                char scratch[4096];
                ssize_t k;
                int t = deadline_poll_timeout_ms(deadline);

                if (t == 0) {
                        r = -ETIMEDOUT; /* the cleanup kills and reaps */
                        break;
                }
                r = poll(&p, 1, t);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        r = -errno;
                        break;
                }
                if (r == 0)
                        continue;
                if (len < max)
                        k = read(rfd, buf + len, max - len);
                else
                        k = read(rfd, scratch, sizeof(scratch));
                if (k < 0 && (errno == EINTR || errno == EAGAIN))
                        continue;
                if (k < 0) {
                        r = -errno;
                        break;
                }
                if (k == 0)
                        rfd = safe_close(rfd);
                else if (len < max)
                        len += (size_t) k;
                if (opts->on_line)
                        emit_lines(opts, buf, &len, max, rfd < 0);
                r = 0;
        }
        if (r < 0) {
                if (opts->on_line)
                        emit_lines(opts, buf, &len, max, true);
                return r;
        }
        if (deadline == USEC_INFINITY)
                status = wait_for_terminate(pid);
        else {
                usec_t n = now_usec(CLOCK_MONOTONIC);
                status = wait_for_terminate_timeout(pid, deadline > n ? deadline - n : 1);
        }
        pid = 0; /* reaped (or killed and reaped on timeout) */
        buf[len] = 0;
        if (ret_output)
                *ret_output = TAKE_PTR(buf);
        return status;
}

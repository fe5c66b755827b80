/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fd-util.h"
#include "job.h"
#include "log.h"

enum {
        REPORT_PROGRESS = 1,
        REPORT_MESSAGE = 2,
        REPORT_RESULT = 3
};

/* Smaller than PIPE_BUF: each write is atomic. */
typedef struct JobReport {
        uint32_t kind;
        int32_t error;
        uint64_t done, total;
        char text[240];
} JobReport;

struct Job {
        char what[64];
        pid_t pid;
        int fd; /* parent: read end; child: write end */
        sd_event_source *child_source, *io_source;
        JobFn fn;
        JobProgressFn on_progress;
        JobDoneFn on_done;
        void *userdata;
        char message[240];
        int result;
        bool have_result, done;
};

pid_t job_pid(const Job *j) {
        return j ? j->pid : 0;
}

static void job_write(Job *j, const JobReport *r) {
        (void) loop_write(j->fd, r, sizeof(*r));
}

void job_progress(Job *j, uint64_t done, uint64_t total, const char *stage) {
        JobReport r = { .kind = REPORT_PROGRESS, .done = done, .total = total };

        (void) snprintf(r.text, sizeof(r.text), "%s", stage ?: "");
        job_write(j, &r);
}

void job_set_message(Job *j, const char *format, ...) {
        JobReport r = { .kind = REPORT_MESSAGE };
        va_list ap;

        va_start(ap, format);
        (void) vsnprintf(r.text, sizeof(r.text), format, ap);
        va_end(ap);
        job_write(j, &r);
}

static void job_drain(Job *j) {
        JobReport r;

        for (;;) {
                ssize_t n = read(j->fd, &r, sizeof(r));

                if (n != (ssize_t) sizeof(r))
                        return;
                r.text[sizeof(r.text) - 1] = 0;
                switch (r.kind) {
                case REPORT_PROGRESS:
                        if (j->on_progress)
                                j->on_progress(j, r.done, r.total, r.text, j->userdata);
                        break;
                case REPORT_MESSAGE:
                        memcpy(j->message, r.text, sizeof(j->message));
                        break;
                case REPORT_RESULT:
                        j->result = r.error > 0 ? -r.error : r.error;
                        j->have_result = true;
                        break;
                default:
                        break;
                }
        }
}

static void job_finish(Job *j, int error) {
        if (j->done)
                return;
        j->done = true;
        if (j->on_done)
                j->on_done(j, error, j->message, j->userdata);
        job_free(j);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Job *j = userdata;
        int error;

        job_drain(j);
        j->pid = 0;
        if (si->si_code == CLD_EXITED && j->have_result)
                error = j->result;
        else if (si->si_code == CLD_EXITED) {
                error = -EIO;
                if (!j->message[0])
                        (void) snprintf(
                                j->message, sizeof(j->message), "%s: helper exited with status %d", j->what,
                                si->si_status);
        } else {
                error = si->si_status == SIGKILL ? -ECANCELED : -EIO;
                if (!j->message[0])
                        (void) snprintf(
                                j->message, sizeof(j->message), "%s: helper killed by signal %d", j->what,
                                si->si_status);
        }
        job_finish(j, error);
        return 0;
}

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Job *j = userdata;

        job_drain(j);
        if (revents & (EPOLLHUP | EPOLLERR))
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

int job_start(
        sd_event *e,
        const char *what,
        JobFn fn,
        JobProgressFn on_progress,
        JobDoneFn on_done,
        void *userdata,
        Job **ret) {
        _cleanup_free_ Job *j = NULL;
        int pfd[2], r;
        pid_t pid;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        (void) snprintf(j->what, sizeof(j->what), "%s", what);
        j->fn = fn;
        j->on_progress = on_progress;
        j->on_done = on_done;
        j->userdata = userdata;
        if (pipe2(pfd, O_CLOEXEC) < 0)
                return -errno;
        pid = fork();
        if (pid < 0) {
                r = -errno;
                safe_close(pfd[0]);
                safe_close(pfd[1]);
                return r;
        }
        if (pid == 0) {
                sigset_t all;
                JobReport rep = { .kind = REPORT_RESULT };

                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (getppid() == 1)
                        _exit(EXIT_FAILURE);
                sigfillset(&all);
                (void) sigprocmask(SIG_UNBLOCK, &all, NULL);
                safe_close(pfd[0]);
                j->fd = pfd[1];
                rep.error = fn(j, userdata);
                job_write(j, &rep);
                _exit(EXIT_SUCCESS);
        }
        safe_close(pfd[1]);
        j->fd = pfd[0];
        j->pid = pid;
        (void) fd_nonblock(j->fd, true);
        r = sd_event_add_child(e, &j->child_source, pid, WEXITED, on_child, j);
        if (r < 0) {
                (void) kill(pid, SIGKILL);
                (void) waitpid(pid, NULL, 0);
                safe_close(j->fd);
                return r;
        }
        (void) sd_event_source_set_description(j->child_source, what);
        /* The pipe also gets a source so progress flows while the child runs. */
        r = sd_event_add_io(e, &j->io_source, j->fd, EPOLLIN, on_pipe, j);
        if (r < 0)
                log_debug_errno(r, "No progress source for %s: %m", what);
        *ret = TAKE_PTR(j);
        return 0;
}

Job *job_cancel(Job *j) {
        if (!j)
                return NULL;
        if (j->pid > 0) {
                (void) kill(j->pid, SIGKILL);
                (void) waitpid(j->pid, NULL, 0);
                j->pid = 0;
        }
        if (!j->message[0])
                (void) snprintf(j->message, sizeof(j->message), "%s: cancelled", j->what);
        job_finish(j, -ECANCELED);
        return NULL;
}

void job_kill(Job *j) {
        if (j && j->pid > 0)
                (void) kill(j->pid, SIGKILL);
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;
        if (j->pid > 0) {
                (void) kill(j->pid, SIGKILL);
                (void) waitpid(j->pid, NULL, 0);
        }
        j->child_source = sd_event_source_disable_unref(j->child_source);
        j->io_source = sd_event_source_disable_unref(j->io_source);
        safe_close(j->fd);
        free(j);
        return NULL;
}

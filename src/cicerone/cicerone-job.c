/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* cicerone's child processes (xdg-open, update-desktop-database): few at once, each reaped by the
 * loop and killed when it hangs, so that a container cannot pile them up. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "alloc-util.h"
#include "app-entries.h"
#include "cicerone.h"
#include "log.h"
#include "path-lookup.h"
#include "path-util.h"
#include "spawn-util.h"
#include "string-util.h"
#include "strv.h"

#define JOB_TIMEOUT_USEC (60 * USEC_PER_SEC)
#define DB_DELAY_USEC (2 * USEC_PER_SEC)

struct Job {
        Cicerone *c;
        struct Job *next;
        pid_t pid;
        char what[32];
        sd_event_source *child, *timer;
};

void job_free(Job *j) {
        Cicerone *c = j->c;

        for (Job **p = &c->jobs; *p; p = &(*p)->next)
                if (*p == j) {
                        *p = j->next;
                        break;
                }
        c->n_jobs--;
        sd_event_source_disable_unref(j->child);
        sd_event_source_disable_unref(j->timer);
        if (streq(j->what, "update-desktop-database"))
                c->db_job = false;
        free(j);
}

static int on_job_exit(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Job *j = userdata;

        if (si->si_code != CLD_EXITED || si->si_status != 0)
                log_info(
                        "%s (pid %d) %s %d.", j->what, (int) j->pid,
                        si->si_code == CLD_EXITED ? "exited with status" : "killed by signal",
                        si->si_status);
        job_free(j);
        return 0;
}

static int on_job_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Job *j = userdata;

        log_warning(
                "%s (pid %d) still runs after %llu s: killing it.", j->what, (int) j->pid,
                (unsigned long long) (JOB_TIMEOUT_USEC / USEC_PER_SEC));
        (void) kill(j->pid, SIGKILL);
        return 0;
}

int job_spawn(Cicerone *c, const char *what, char *const argv[]) {
        Job *j;
        pid_t pid;
        int r;

        if (c->n_jobs >= JOBS_MAX)
                return -EBUSY;
        j = new0(Job, 1);
        if (!j)
                return -ENOMEM;
        r = safe_fork_full(
                what, FORK_RESET_SIGNALS | FORK_CLOSE_ALL_FDS | FORK_NEW_SESSION | FORK_NULL_STDIN, NULL, 0,
                &pid);
        if (r < 0) {
                free(j);
                return r;
        }
        if (r == 0) {
                int fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

                if (fd >= 0)
                        (void) dup2(fd, STDOUT_FILENO);
                execv(argv[0], argv);
                _exit(127);
        }
        j->c = c;
        j->pid = pid;
        strscpy(j->what, what, sizeof(j->what));
        j->next = c->jobs;
        c->jobs = j;
        c->n_jobs++;
        r = sd_event_add_child(c->event, &j->child, pid, WEXITED, on_job_exit, j);
        if (r >= 0)
                r = sd_event_add_time_relative(
                        c->event, &j->timer, CLOCK_MONOTONIC, JOB_TIMEOUT_USEC, 0, on_job_timeout, j);
        if (r < 0) {
                sigkill_wait(pid);
                job_free(j);
                return r;
        }
        return 0;
}

static int on_db_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Cicerone *c = userdata;
        _cleanup_free_ char *tool = NULL, *home = NULL, *apps = NULL;
        int r;

        if (c->db_job) { /* the last run is still going: once more after it */
                (void) sd_event_source_set_time_relative(s, DB_DELAY_USEC);
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
                return 0;
        }
        if (find_executable("update-desktop-database", &tool) < 0)
                return 0;
        if (xdg_data_home(&home) < 0 || asprintf(&apps, "%s/applications", home) < 0)
                return 0;
        r = job_spawn(c, "update-desktop-database", STRV_MAKE(tool, "-q", apps));
        if (r < 0)
                log_warning_errno(r, "Cannot run update-desktop-database: %m");
        else
                c->db_job = true;
        return 0;
}

int db_timer_new(Cicerone *c) {
        int r;

        r = sd_event_add_time_relative(
                c->event, &c->db_timer, CLOCK_MONOTONIC, DB_DELAY_USEC, 0, on_db_timer, c);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(c->db_timer, SD_EVENT_OFF);
}

void db_schedule(Cicerone *c) {
        int enabled = SD_EVENT_OFF;

        (void) sd_event_source_get_enabled(c->db_timer, &enabled);
        if (enabled != SD_EVENT_OFF)
                return;
        (void) sd_event_source_set_time_relative(c->db_timer, DB_DELAY_USEC);
        (void) sd_event_source_set_enabled(c->db_timer, SD_EVENT_ONESHOT);
}

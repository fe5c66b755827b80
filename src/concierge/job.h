/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Jobs: blocking work (guest RPCs, qemu-img, zstd) run in a forked child so that concierge's event
 * loop never waits on a guest or a disk. The child reports progress and one result through a pipe;
 * the parent learns the end from sd-event's child source. The child dies with concierge
 * (PR_SET_PDEATHSIG). */

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"

typedef struct Job Job;

/* Runs in the child; returns 0 or a negative errno (job_set_message() explains it). */
typedef int (*JobFn)(Job *j, void *userdata);
typedef void (*JobProgressFn)(Job *j, uint64_t done, uint64_t total, const char *stage, void *userdata);
/* Called once in the parent; message may be "" (never NULL). The job is freed after it returns. */
typedef void (*JobDoneFn)(Job *j, int error, const char *message, void *userdata);

int job_start(
        sd_event *e,
        const char *what,
        JobFn fn,
        JobProgressFn on_progress,
        JobDoneFn on_done,
        void *userdata,
        Job **ret);
/* SIGKILLs the child; on_done follows with -ECANCELED (unless it already ran). */
void job_kill(Job *j);
/* Kills the child and calls on_done with -ECANCELED at once, then frees. Returns NULL. */
Job *job_cancel(Job *j);
/* Frees without calling on_done (kills the child). */
Job *job_free(Job *j);
pid_t job_pid(const Job *j);

/* Child side. */
void job_progress(Job *j, uint64_t done, uint64_t total, const char *stage);
void job_set_message(Job *j, const char *format, ...) _printf_(2, 3);

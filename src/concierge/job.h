/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Jobs: blocking work (guest RPCs, qemu-img, zstd, hashing an image) run in a forked worker so
 * that concierge's event loop never waits on a guest or a disk. The worker talks to the loop in
 * frames (src/shared/frame.h) over a pipe: PROGRESS events while it runs, then exactly one result
 * frame, an ErrorReply (the errno and the whole message, up to PROTO_ERROR_MESSAGE_MAX bytes) or a
 * response message (job_set_result(); EMPTY when it set none). Everything the worker sends is
 * unpacked and validated like a peer's frame. The worker dies with concierge (FORK_DEATHSIG) and
 * holds no fd of concierge's but its end of the pipe (FORK_CLOSE_ALL_FDS). */

#include <stdint.h>
#include <sys/types.h>
#include <protobuf-c/protobuf-c.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "message-type.h"

typedef struct Job Job;

/* Runs in the worker; returns 0 or a negative errno (job_fail() explains it). */
typedef int (*JobFn)(Job *j, void *userdata);
/* A PROGRESS event from the worker (validated, borrowed). */
typedef void (*JobProgressFn)(Job *j, const Bistro__Concierge__Progress *p, void *userdata);
/* Called once in the parent. error < 0: message says why (never NULL, may be ""), result is NULL.
 * error == 0: result is the worker's result message of type result_type (EMPTY when it set none).
 * Both are borrowed; the job is freed after the callback returns. */
typedef void (*JobDoneFn)(
        Job *j,
        int error,
        const char *message,
        uint32_t result_type,
        const ProtobufCMessage *result,
        void *userdata);

/* operation: the Progress.operation of the job's progress events (BISTRO__CONCIERGE__OPERATION__*;
 * 0 for a job that reports none). */
int job_start(
        sd_event *e,
        const char *what,
        int operation,
        JobFn fn,
        JobProgressFn on_progress,
        JobDoneFn on_done,
        void *userdata,
        Job **ret);
/* SIGKILLs the worker; on_done follows with -ECANCELED (unless it already ran). */
void job_kill(Job *j);
/* Kills the worker and calls on_done with -ECANCELED at once, then frees. Returns NULL. */
Job *job_cancel(Job *j);
/* Frees without calling on_done (kills the worker). */
Job *job_free(Job *j);
pid_t job_pid(const Job *j);

/* Worker side. */
void job_progress(Job *j, uint64_t done, uint64_t total, const char *stage);
/* Records why the job failed (replacing an earlier message) and returns error (< 0), so that
 * "return job_fail(j, r, ...)" reads naturally. The message is kept whole up to
 * PROTO_ERROR_MESSAGE_MAX bytes; bytes that are not printable UTF-8 text become '?'. */
int job_fail(Job *j, int error, const char *format, ...) _printf_(3, 4);
/* The job's result on success: packed at once (msg may be freed afterwards), sent when fn returns
 * 0. type must allow a RESPONSE frame. Returns -EINVAL when msg does not validate. */
int job_set_result(Job *j, uint32_t type, const ProtobufCMessage *msg);

/* Makes s (NUL-terminated, in place) valid error-message text: at most max bytes, cut at a UTF-8
 * character boundary; C0 controls but \n and \t, DEL, C1 controls and invalid UTF-8 become '?'. */
void job_text_sanitize(char *s, size_t max);

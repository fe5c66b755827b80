/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include "concierge-util.h"
#include "fd-util.h"
#include "frame.h"
#include "job.h"
#include "log.h"
#include "spawn-util.h"
#include "string-util.h"
#include "wire-client.h"

#define JOB_READ_CHUNK (64u * 1024u)

struct Job {
        char what[64];
        int operation;
        pid_t pid;
        int fd; /* parent: read end; worker: write end */
        sd_event_source *child_source, *io_source;
        JobFn fn;
        JobProgressFn on_progress;
        JobDoneFn on_done;
        void *userdata;
        FrameDecoder decoder;

        /* Parent: what the worker reported. */
        int error;                /* from its ErrorReply, or a protocol error of ours */
        char *message;            /* its ErrorReply's message */
        ProtobufCMessage *result; /* its result message */
        uint32_t result_type;
        bool have_result, done;

        /* Worker: the packed result, sent when fn returns 0. */
        uint8_t *packed_result;
        size_t packed_result_size;
};

pid_t job_pid(const Job *j) {
        return j ? j->pid : 0;
}

void job_text_sanitize(char *s, size_t max) {
        size_t n = strlen(s);

        if (n > max) {
                n = max;
                /* Do not cut a UTF-8 sequence in two. */
                while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
                        n--;
                s[n] = 0;
        }
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];

                if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F)
                        s[i] = '?';
                else if (
                        c == 0xC2 && i + 1 < n && (unsigned char) s[i + 1] >= 0x80 &&
                        (unsigned char) s[i + 1] <= 0x9F) /* U+0080..U+009F: C1 controls */
                        s[i] = s[i + 1] = '?';
        }
        if (!utf8_is_valid(s))
                for (size_t i = 0; i < n; i++)
                        if ((unsigned char) s[i] >= 0x80)
                                s[i] = '?';
}

/* Worker: one frame; a worker whose parent stopped reading is killed with it anyway. */
static void job_send(Job *j, uint32_t type, uint32_t flags, const ProtobufCMessage *msg) {
        _cleanup_free_ uint8_t *buf = NULL;
        size_t n;

        if (frame_encode(type, flags, 0, msg, &buf, &n) < 0)
                return;
        (void) loop_write(j->fd, buf, n);
}

void job_progress(Job *j, uint64_t done, uint64_t total, const char *stage) {
        Bistro__Concierge__Progress p = BISTRO__CONCIERGE__PROGRESS__INIT;
        char text[129];

        if (j->operation == 0)
                return;
        p.operation = j->operation;
        p.done = total ? MIN(done, total) : done;
        p.total = total;
        (void) snprintf(text, sizeof(text), "%s", stage ?: "");
        job_text_sanitize(text, 128);
        text[strcspn(text, "\n\t")] = 0;
        p.stage = text;
        job_send(j, BISTRO__MESSAGE_TYPE__PROGRESS, FRAME_EVENT, &p.base);
}

int job_fail(Job *j, int error, const char *format, ...) {
        char *m = NULL;
        va_list ap;

        va_start(ap, format);
        if (vasprintf(&m, format, ap) < 0)
                m = NULL;
        va_end(ap);
        free(j->message);
        j->message = m; /* NULL on OOM: the errno alone travels */
        if (m)
                job_text_sanitize(m, PROTO_ERROR_MESSAGE_MAX);
        return error < 0 ? error : -EIO;
}

int job_set_result(Job *j, uint32_t type, const ProtobufCMessage *msg) {
        uint8_t *buf;
        size_t n;
        int r;

        r = frame_encode(type, FRAME_RESPONSE, 0, msg, &buf, &n);
        if (r < 0)
                return r;
        free(j->packed_result);
        j->packed_result = buf;
        j->packed_result_size = n;
        return 0;
}

_noreturn_ static void job_worker(Job *j, void *userdata) {
        int r;

        r = j->fn(j, userdata);
        if (r < 0) {
                Bistro__ErrorReply e = BISTRO__ERROR_REPLY__INIT;

                e.error = r < -4095 ? -EIO : r;
                e.message = j->message ?: (char *) "";
                job_send(j, BISTRO__MESSAGE_TYPE__ERROR_REPLY, FRAME_RESPONSE, &e.base);
        } else if (j->packed_result)
                (void) loop_write(j->fd, j->packed_result, j->packed_result_size);
        else
                job_send(
                        j, BISTRO__MESSAGE_TYPE__EMPTY, FRAME_RESPONSE,
                        &(Bistro__Empty) BISTRO__EMPTY__INIT.base);
        _exit(EXIT_SUCCESS);
}

/* Parent: one frame from the worker. Returns < 0 on a protocol error (the worker is then killed:
 * it is our own code, but its output is still checked like anyone's). */
static int job_handle_frame(Job *j, Frame *f) {
        _cleanup_message_ ProtobufCMessage *msg = NULL;
        int r;

        if (j->have_result)
                return -EBADMSG; /* nothing may follow the result */
        r = wire_unpack(f->header.type, f->payload, f->header.length, &msg);
        if (r < 0)
                return r;
        if (f->header.flags == FRAME_EVENT) {
                if (f->header.type != BISTRO__MESSAGE_TYPE__PROGRESS)
                        return -EBADMSG;
                if (j->on_progress)
                        j->on_progress(j, (const Bistro__Concierge__Progress *) msg, j->userdata);
                return 0;
        }
        if (f->header.flags != FRAME_RESPONSE)
                return -EBADMSG;
        j->have_result = true;
        if (f->header.type == BISTRO__MESSAGE_TYPE__ERROR_REPLY) {
                const Bistro__ErrorReply *e = (const void *) msg;

                j->error = wire_error_reply_to_errno(e, NULL);
                /* A copy of its message, or NULL on OOM: the errno alone travels. */
                (void) wire_error_reply_to_errno(e, &j->message);
                return 0;
        }
        j->result_type = f->header.type;
        j->result = TAKE_PTR(msg);
        return 0;
}

static void job_drain(Job *j) {
        _cleanup_free_ uint8_t *buf = NULL;

        if (j->fd < 0)
                return;
        buf = malloc(JOB_READ_CHUNK);
        if (!buf)
                return;
        for (;;) {
                ssize_t n = read(j->fd, buf, JOB_READ_CHUNK);
                size_t off = 0;

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0)
                        return;
                while (off < (size_t) n) {
                        Frame f = {};
                        size_t used = 0;
                        int r;

                        r = frame_decoder_feed(&j->decoder, buf + off, (size_t) n - off, &used, &f);
                        off += used;
                        if (r == 0)
                                break;
                        if (r > 0) {
                                r = job_handle_frame(j, &f);
                                frame_done(&f);
                        }
                        if (r < 0) {
                                log_error_errno(
                                        r, "The %s worker sent an invalid frame, killing it: %m", j->what);
                                if (!j->have_result || j->error >= 0) {
                                        j->have_result = true;
                                        j->error = -EPROTO;
                                        j->result = message_free(j->result);
                                }
                                j->io_source = sd_event_source_disable_unref(j->io_source);
                                j->fd = safe_close(j->fd);
                                if (j->pid > 0)
                                        (void) kill(j->pid, SIGKILL);
                                return;
                        }
                }
        }
}

static void job_finish(Job *j, int error, const char *message) {
        if (j->done)
                return;
        j->done = true;
        if (j->on_done)
                j->on_done(
                        j, error, error < 0 ? message ?: "" : NULL, error < 0 ? 0 : j->result_type,
                        error < 0 ? NULL : j->result, j->userdata);
        job_free(j);
}

static int on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        Job *j = userdata;
        _cleanup_free_ char *msg = NULL;
        int error;

        job_drain(j);
        j->pid = 0;
        if (si->si_code == CLD_EXITED && j->have_result) {
                if (j->error < 0 && j->error == -EPROTO && !j->message)
                        (void) set_error_message(&msg, 0, "%s: the worker sent an invalid result", j->what);
                error = j->error;
        } else if (si->si_code == CLD_EXITED) {
                error = -EIO;
                (void) set_error_message(
                        &msg, 0, "%s: the worker exited with status %d without a result", j->what,
                        si->si_status);
        } else {
                error = si->si_status == SIGKILL ? -ECANCELED : -EIO;
                (void) set_error_message(
                        &msg, 0, "%s: the worker was killed by signal %d", j->what, si->si_status);
        }
        job_finish(j, error, j->message && error == j->error ? j->message : msg);
        return 0;
}

static int on_pipe(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Job *j = userdata;

        job_drain(j);
        if (j->io_source && (revents & (EPOLLHUP | EPOLLERR)))
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

int job_start(
        sd_event *e,
        const char *what,
        int operation,
        JobFn fn,
        JobProgressFn on_progress,
        JobDoneFn on_done,
        void *userdata,
        Job **ret) {
        Job *j;
        int pfd[2], r;
        pid_t pid;

        j = calloc(1, sizeof(*j));
        if (!j)
                return -ENOMEM;
        (void) snprintf(j->what, sizeof(j->what), "%s", what);
        j->operation = operation;
        j->fn = fn;
        j->on_progress = on_progress;
        j->on_done = on_done;
        j->userdata = userdata;
        j->fd = -EBADF;
        if (pipe2(pfd, O_CLOEXEC) < 0) {
                r = -errno;
                free(j);
                return r;
        }
        r = safe_fork_full(
                what, FORK_RESET_SIGNALS | FORK_DEATHSIG | FORK_CLOSE_ALL_FDS | FORK_NULL_STDIN, &pfd[1], 1,
                &pid);
        if (r < 0) {
                safe_close(pfd[0]);
                safe_close(pfd[1]);
                free(j);
                return r;
        }
        if (r == 0) {
                j->fd = pfd[1];
                job_worker(j, userdata);
        }
        safe_close(pfd[1]);
        j->fd = pfd[0];
        j->pid = pid;
        (void) fd_nonblock(j->fd, true);
        r = sd_event_add_child(e, &j->child_source, pid, WEXITED, on_child, j);
        if (r < 0) {
                job_free(j);
                return r;
        }
        (void) sd_event_source_set_description(j->child_source, what);
        /* The pipe also gets a source so progress flows while the worker runs. */
        r = sd_event_add_io(e, &j->io_source, j->fd, EPOLLIN, on_pipe, j);
        if (r < 0) {
                job_free(j);
                return r;
        }
        *ret = j;
        return 0;
}

Job *job_cancel(Job *j) {
        _cleanup_free_ char *msg = NULL;

        if (!j)
                return NULL;
        if (j->pid > 0) {
                sigkill_wait(j->pid);
                j->pid = 0;
        }
        (void) set_error_message(&msg, 0, "%s: cancelled", j->what);
        job_finish(j, -ECANCELED, msg);
        return NULL;
}

void job_kill(Job *j) {
        if (j && j->pid > 0)
                (void) kill(j->pid, SIGKILL);
}

Job *job_free(Job *j) {
        if (!j)
                return NULL;
        if (j->pid > 0)
                sigkill_wait(j->pid);
        j->child_source = sd_event_source_disable_unref(j->child_source);
        j->io_source = sd_event_source_disable_unref(j->io_source);
        safe_close(j->fd);
        frame_decoder_done(&j->decoder);
        free(j->message);
        message_free(j->result);
        free(j->packed_result);
        free(j);
        return NULL;
}

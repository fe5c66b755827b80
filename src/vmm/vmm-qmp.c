/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "vmm-qmp.h"

#define QMP_LINE_MAX (64 * 1024)
#define QMP_PENDING_MAX 8

struct Qmp {
        int fd;
        sd_event_source *io;
        char buf[QMP_LINE_MAX];
        size_t len;
        bool skipping; /* inside an over-long line: drop up to its end */
        bool greeted, ready;
        char *pending[QMP_PENDING_MAX];
        size_t n_pending;
        qmp_event_handler_t on_event;
        void *userdata;
};

int qmp_line_get_string(const char *line, const char *key, char *buf, size_t size) {
        char quoted[64];
        const char *p, *end;
        size_t l;

        if (snprintf(quoted, sizeof(quoted), "\"%s\"", key) >= (int) sizeof(quoted))
                return -EINVAL;
        p = strstr(line, quoted);
        if (!p)
                return -ENOENT;
        p += strlen(quoted);
        while (*p == ' ' || *p == ':')
                p++;
        if (*p != '"')
                return -EBADMSG;
        p++;
        end = strchr(p, '"');
        if (!end)
                return -EBADMSG;
        l = (size_t) (end - p);
        if (l == 0 || l >= size)
                return -EBADMSG;
        /* Event names and reasons are identifiers; anything else is refused, never copied. */
        for (size_t i = 0; i < l; i++)
                if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') ||
                      (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-'))
                        return -EBADMSG;
        memcpy(buf, p, l);
        buf[l] = 0;
        return 0;
}

int qmp_line_event(const char *line, char *buf, size_t size) {
        return qmp_line_get_string(line, "event", buf, size);
}

static int qmp_send_raw(Qmp *q, const char *cmd) {
        char line[256];
        int n;

        n = snprintf(line, sizeof(line), "{\"execute\": \"%s\"}\n", cmd);
        if (n < 0 || (size_t) n >= sizeof(line))
                return -EINVAL;
        /* Tiny writes on an otherwise idle socketpair; a full buffer means QEMU is wedged. */
        return loop_write(q->fd, line, (size_t) n);
}

static void qmp_flush_pending(Qmp *q) {
        for (size_t i = 0; i < q->n_pending; i++) {
                int r = qmp_send_raw(q, q->pending[i]);
                if (r < 0)
                        log_warning_errno(r, "QMP: cannot send '%s', ignoring: %m", q->pending[i]);
                free(q->pending[i]);
        }
        q->n_pending = 0;
}

static void qmp_handle_line(Qmp *q, const char *line) {
        char event[64];

        if (!q->greeted) {
                if (!strstr(line, "\"QMP\""))
                        return;
                q->greeted = true;
                (void) qmp_send_raw(q, "qmp_capabilities");
                return;
        }
        if (!q->ready) {
                if (strstr(line, "\"return\"")) {
                        q->ready = true;
                        qmp_flush_pending(q);
                }
                return;
        }
        if (qmp_line_event(line, event, sizeof(event)) >= 0 && q->on_event)
                q->on_event(q, event, line, q->userdata);
}

static int qmp_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Qmp *q = userdata;

        for (;;) {
                ssize_t k = recv(q->fd, q->buf + q->len, sizeof(q->buf) - 1 - q->len, MSG_DONTWAIT);
                char *nl, *start;

                if (k < 0) {
                        if (errno == EAGAIN || errno == EINTR)
                                return 0;
                        k = 0;
                }
                if (k == 0) {
                        /* QEMU went away; its exit is reported through its pidfd. */
                        q->io = sd_event_source_disable_unref(q->io);
                        return 0;
                }
                q->len += (size_t) k;
                q->buf[q->len] = 0;
                start = q->buf;
                while ((nl = memchr(start, '\n', q->len - (size_t) (start - q->buf)))) {
                        *nl = 0;
                        if (!q->skipping)
                                qmp_handle_line(q, start);
                        q->skipping = false;
                        start = nl + 1;
                }
                q->len -= (size_t) (start - q->buf);
                memmove(q->buf, start, q->len);
                if (q->len == sizeof(q->buf) - 1) {
                        q->len = 0;
                        q->skipping = true;
                }
        }
}

int qmp_new(sd_event *e, int fd, qmp_event_handler_t on_event, void *userdata, Qmp **ret) {
        Qmp *q;
        int r;

        q = calloc(1, sizeof(Qmp));
        if (!q)
                return -ENOMEM;
        q->fd = fd;
        q->on_event = on_event;
        q->userdata = userdata;
        r = fd_nonblock(fd, true);
        if (r >= 0)
                r = sd_event_add_io(e, &q->io, fd, EPOLLIN, qmp_on_io, q);
        /* Before the child sources: QEMU's last events must be read before its exit is handled. */
        if (r >= 0)
                r = sd_event_source_set_priority(q->io, SD_EVENT_PRIORITY_IMPORTANT);
        if (r < 0) {
                q->fd = -EBADF;
                qmp_free(q);
                return r;
        }
        *ret = q;
        return 0;
}

Qmp *qmp_free(Qmp *q) {
        if (!q)
                return NULL;
        sd_event_source_disable_unref(q->io);
        safe_close(q->fd);
        for (size_t i = 0; i < q->n_pending; i++)
                free(q->pending[i]);
        free(q);
        return NULL;
}

bool qmp_is_ready(const Qmp *q) {
        return q && q->ready;
}

int qmp_execute(Qmp *q, const char *cmd) {
        if (!q || !q->io)
                return -ENOTCONN;
        if (q->ready)
                return qmp_send_raw(q, cmd);
        if (q->n_pending >= QMP_PENDING_MAX)
                return -EBUSY;
        q->pending[q->n_pending] = strdup(cmd);
        if (!q->pending[q->n_pending])
                return -ENOMEM;
        q->n_pending++;
        return 0;
}

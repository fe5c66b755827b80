/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "qmp-client.h"
#include "vmm-qmp.h"

#define QMP_PENDING_MAX 8
#define QMP_COMMAND_MAX 64u

struct Qmp {
        int fd;
        sd_event_source *io;
        QmpReader reader;
        bool greeted, ready;
        char *pending[QMP_PENDING_MAX];
        size_t n_pending;
        qmp_event_handler_t on_event;
        void *userdata;
};

static int copy_identifier(json_object *v, char *buf, size_t size) {
        const char *s;
        size_t l;

        if (!json_object_is_type(v, json_type_string))
                return -EBADMSG;
        s = json_object_get_string(v);
        l = (size_t) json_object_get_string_len(v);
        if (l == 0 || l >= size || strlen(s) != l)
                return -EBADMSG;
        /* Event names and reasons are identifiers; anything else is refused, never copied. */
        for (size_t i = 0; i < l; i++)
                if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
                        return -EBADMSG;
        memcpy(buf, s, l);
        buf[l] = 0;
        return 0;
}

int qmp_line_get_string(const char *line, const char *key, char *buf, size_t size) {
        json_object *root = NULL, *v, *data;
        int r;

        if (!line || !key || !buf || size == 0)
                return -EINVAL;
        r = qmp_json_parse(line, strlen(line), &root);
        if (r < 0)
                return r;
        if (json_object_object_get_ex(root, key, &v))
                r = copy_identifier(v, buf, size);
        else if (
                json_object_object_get_ex(root, "data", &data) &&
                json_object_is_type(data, json_type_object) && json_object_object_get_ex(data, key, &v))
                r = copy_identifier(v, buf, size);
        else
                r = -ENOENT;
        json_object_put(root);
        return r;
}

int qmp_line_event(const char *line, char *buf, size_t size) {
        return qmp_line_get_string(line, "event", buf, size);
}

static int qmp_send_raw(Qmp *q, const char *cmd) {
        json_object *o;
        const char *text;
        size_t len;
        int r;

        o = json_object_new_object();
        if (!o)
                return -ENOMEM;
        if (json_object_object_add(o, "execute", json_object_new_string(cmd)) < 0) {
                json_object_put(o);
                return -ENOMEM;
        }
        text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
        /* Tiny writes on an otherwise idle socketpair; a full buffer means QEMU is wedged. */
        r = text ? loop_write(q->fd, text, len) : -ENOMEM;
        if (r >= 0)
                r = loop_write(q->fd, "\n", 1);
        json_object_put(o);
        return r;
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

static void qmp_handle_line(Qmp *q, const char *line, size_t len) {
        QmpMessage m;
        int r;

        r = qmp_message_parse(line, len, &m);
        if (r < 0) {
                log_debug_errno(r, "QMP: dropping an invalid line from QEMU.");
                return;
        }
        if (!q->greeted) {
                if (m.kind == QMP_KIND_GREETING) {
                        q->greeted = true;
                        (void) qmp_send_raw(q, "qmp_capabilities");
                }
        } else if (!q->ready) {
                if (m.kind == QMP_KIND_RETURN) {
                        q->ready = true;
                        qmp_flush_pending(q);
                } else if (m.kind == QMP_KIND_ERROR)
                        log_warning("QMP: qmp_capabilities failed (%s), ignoring.", m.name);
        } else if (m.kind == QMP_KIND_EVENT) {
                if (q->on_event)
                        q->on_event(q, m.name, line, q->userdata);
        } else if (m.kind == QMP_KIND_ERROR)
                log_debug("QMP: a command failed: %s", m.name);
        qmp_message_done(&m);
}

static int qmp_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Qmp *q = userdata;

        for (;;) {
                char *line, *p;
                size_t len, size;
                ssize_t k;
                int r;

                while ((r = qmp_reader_next(&q->reader, &line, &len)) != 0) {
                        if (r < 0)
                                log_warning(
                                        "QMP: dropping a line longer than %u bytes from QEMU.",
                                        QMP_LINE_MAX);
                        else
                                qmp_handle_line(q, line, len);
                }
                r = qmp_reader_space(&q->reader, &p, &size);
                if (r < 0) {
                        log_warning_errno(r, "QMP: cannot read from QEMU, ignoring its monitor: %m");
                        q->io = sd_event_source_disable_unref(q->io);
                        return 0;
                }
                k = recv(q->fd, p, size, MSG_DONTWAIT);
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
                qmp_reader_advance(&q->reader, (size_t) k);
        }
}

int qmp_new(sd_event *e, int fd, qmp_event_handler_t on_event, void *userdata, Qmp **ret) {
        Qmp *q;
        int r;

        q = calloc(1, sizeof(Qmp));
        if (!q)
                return -ENOMEM;
        q->fd = fd;
        q->reader = QMP_READER_INIT;
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
        qmp_reader_done(&q->reader);
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
        if (!cmd || strlen(cmd) > QMP_COMMAND_MAX)
                return -EINVAL;
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

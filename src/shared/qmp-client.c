/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "fd-util.h"
#include "log.h"
#include "macro.h"
#include "time-util.h"
#include "message-type.h"
#include "proto-validate.h"
#include "qmp-client.h"
#include "socket-util.h"
#include "string-util.h"

#define QMP_READER_SIZE (QMP_LINE_MAX + 1u) /* a longest line and its '\n' */

void qmp_reader_done(QmpReader *r) {
        free(r->buf);
        *r = QMP_READER_INIT;
}

static void reader_compact(QmpReader *r) {
        if (r->start == 0)
                return;
        memmove(r->buf, r->buf + r->start, r->len - r->start);
        r->len -= r->start;
        r->start = 0;
}

int qmp_reader_space(QmpReader *r, char **ret_ptr, size_t *ret_size) {
        if (!r->buf) {
                r->buf = malloc(QMP_READER_SIZE);
                if (!r->buf)
                        return -ENOMEM;
        }
        reader_compact(r);
        /* qmp_reader_next() empties a full buffer that holds no newline. */
        if (r->len >= QMP_READER_SIZE)
                return -ENOBUFS;
        *ret_ptr = r->buf + r->len;
        *ret_size = QMP_READER_SIZE - r->len;
        return 0;
}

void qmp_reader_advance(QmpReader *r, size_t n) {
        r->len += MIN(n, QMP_READER_SIZE - r->len);
}

int qmp_reader_next(QmpReader *r, char **ret_line, size_t *ret_len) {
        for (;;) {
                char *p, *nl;
                size_t l;

                if (!r->buf || r->start >= r->len)
                        return 0;
                p = r->buf + r->start;
                nl = memchr(p, '\n', r->len - r->start);
                if (!nl) {
                        reader_compact(r);
                        if (r->len < QMP_READER_SIZE)
                                return 0;
                        /* QMP_LINE_MAX + 1 bytes and no end of line: drop them, and the rest of
                         * the line when it comes. Reported once per line. */
                        r->len = 0;
                        if (r->skipping)
                                return 0;
                        r->skipping = true;
                        return -EMSGSIZE;
                }
                l = (size_t) (nl - p);
                r->start += l + 1;
                if (r->skipping) {
                        r->skipping = false;
                        continue;
                }
                if (l > 0 && p[l - 1] == '\r')
                        l--;
                p[l] = '\0';
                *ret_line = p;
                *ret_len = l;
                return 1;
        }
}

int qmp_json_parse(const char *line, size_t len, json_object **ret) {
        return json_parse_object(line, len, QMP_LINE_MAX, ret);
}

static bool qmp_name_ok(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, QMP_NAME_MAX + 1);
        if (n == 0 || n > QMP_NAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
                      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

static int classify(json_object *root, QmpMessage *m) {
        json_object *v;

        *m = (QmpMessage){ .root = root };
        if (json_object_object_get_ex(root, "QMP", &v)) {
                if (!json_object_is_type(v, json_type_object))
                        return -EBADMSG;
                m->kind = QMP_KIND_GREETING;
                m->value = v;
                return 0;
        }
        if (json_object_object_get_ex(root, "event", &v)) {
                m->kind = QMP_KIND_EVENT;
                m->name = json_string_no_nul(v);
                if (!qmp_name_ok(m->name))
                        return -EBADMSG;
                if (json_object_object_get_ex(root, "data", &v)) {
                        if (!json_object_is_type(v, json_type_object))
                                return -EBADMSG;
                        m->value = v;
                }
                return 0;
        }
        (void) json_object_object_get_ex(root, "id", &m->id);
        if (json_object_object_get_ex(root, "return", &v)) {
                m->kind = QMP_KIND_RETURN;
                m->value = v; /* any JSON value; NULL for a JSON null */
                return 0;
        }
        if (json_object_object_get_ex(root, "error", &v)) {
                json_object *k, *d;

                if (!json_object_is_type(v, json_type_object) ||
                    !json_object_object_get_ex(v, "class", &k) || !json_object_object_get_ex(v, "desc", &d))
                        return -EBADMSG;
                m->kind = QMP_KIND_ERROR;
                m->name = json_string_no_nul(k);
                m->desc = json_string_no_nul(d);
                if (!qmp_name_ok(m->name) || !m->desc)
                        return -EBADMSG;
                return 0;
        }
        return -EBADMSG;
}

int qmp_message_parse(const char *line, size_t len, QmpMessage *ret) {
        json_object *root = NULL;
        int r;

        r = qmp_json_parse(line, len, &root);
        if (r < 0)
                return r;
        r = classify(root, ret);
        if (r < 0) {
                json_object_put(root);
                *ret = (QmpMessage){};
                return r;
        }
        return 0;
}

void qmp_message_done(QmpMessage *m) {
        json_object_put(m->root);
        *m = (QmpMessage){};
}

int qmp_error_class_to_errno(const char *error_class) {
        static const struct {
                const char *name;
                int error;
        } map[] = {
                { "CommandNotFound", -EOPNOTSUPP }, { "DeviceNotActive", -ENODEV },
                { "DeviceNotFound", -ENODEV },      { "KVMMissingCap", -EOPNOTSUPP },
                { "GenericError", -EIO },
        };

        for (size_t i = 0; error_class && i < ELEMENTSOF(map); i++)
                if (streq(error_class, map[i].name))
                        return map[i].error;
        return -EIO;
}

/* The blocking client */

struct QmpClient {
        int fd;
        QmpReader reader;
        uint64_t next_id;
};

static int send_line(QmpClient *c, json_object *o, int64_t deadline) {
        const char *text;
        size_t len;

        text = json_object_to_json_string_length(o, JSON_C_TO_STRING_PLAIN, &len);
        if (!text)
                return -ENOMEM;
        for (size_t done = 0; done <= len;) {
                /* The line, then its '\n'. */
                const char *p = done < len ? text + done : "\n";
                size_t n = done < len ? len - done : 1;
                ssize_t k = send(c->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);

                if (k < 0) {
                        int r;

                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        r = fd_wait_until(c->fd, POLLOUT, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                done += (size_t) k;
        }
        return 0;
}

static int read_message(QmpClient *c, int64_t deadline, QmpMessage *ret) {
        for (;;) {
                char *line, *p;
                size_t len, size;
                ssize_t k;
                int r;

                r = qmp_reader_next(&c->reader, &line, &len);
                if (r < 0)
                        return log_debug_errno(r, "QMP: a line longer than %u bytes.", QMP_LINE_MAX);
                if (r > 0) {
                        r = qmp_message_parse(line, len, ret);
                        if (r < 0)
                                return log_debug_errno(r, "QMP: invalid line from the peer.");
                        return 0;
                }
                r = qmp_reader_space(&c->reader, &p, &size);
                if (r < 0)
                        return r;
                k = recv(c->fd, p, size, MSG_DONTWAIT);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN)
                                return -errno;
                        r = fd_wait_until(c->fd, POLLIN, deadline);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (k == 0)
                        return -ECONNRESET;
                qmp_reader_advance(&c->reader, (size_t) k);
        }
}

static int64_t deadline_from(int timeout_ms) {
        return timeout_ms < 0 ? -1 : (int64_t) now_msec(CLOCK_MONOTONIC) + timeout_ms;
}

int qmp_client_execute(
        QmpClient *c,
        const char *command,
        json_object *arguments,
        int timeout_ms,
        json_object **ret_return,
        char **reterr_message) {
        int64_t deadline = deadline_from(timeout_ms);
        json_object *req;
        uint64_t id;
        int r;

        if (!c || !command || (arguments && !json_object_is_type(arguments, json_type_object)))
                return -EINVAL;
        id = ++c->next_id;
        req = json_object_new_object();
        if (!req)
                return -ENOMEM;
        r = json_object_object_add(req, "execute", json_object_new_string(command));
        if (r >= 0 && arguments)
                r = json_object_object_add(req, "arguments", json_object_get(arguments));
        if (r >= 0)
                r = json_object_object_add(req, "id", json_object_new_uint64(id));
        if (r < 0) {
                json_object_put(req);
                return -ENOMEM;
        }
        r = send_line(c, req, deadline);
        json_object_put(req);
        if (r < 0)
                return r;

        for (;;) {
                QmpMessage m;

                /* Events (asynchronous, any number) are skipped, and never move the deadline. */
                r = read_message(c, deadline, &m);
                if (r < 0)
                        return r;
                if (m.kind == QMP_KIND_EVENT) {
                        log_debug("QMP: skipping event %s.", m.name);
                        qmp_message_done(&m);
                        continue;
                }
                if (m.kind == QMP_KIND_GREETING) {
                        qmp_message_done(&m);
                        return log_debug_errno(SYNTHETIC_ERRNO(EBADMSG), "QMP: a greeting in mid-session.");
                }
                /* QEMU echoes our id; it leaves it out only when it could not read the command. */
                if (m.id &&
                    (!json_object_is_type(m.id, json_type_int) || json_object_get_uint64(m.id) != id)) {
                        qmp_message_done(&m);
                        return log_debug_errno(
                                SYNTHETIC_ERRNO(EBADMSG),
                                "QMP: an answer to another command than %" PRIu64 ".", id);
                }
                if (m.kind == QMP_KIND_ERROR) {
                        r = set_error_message(
                                reterr_message, qmp_error_class_to_errno(m.name), "%s: %s", m.name, m.desc);
                        if (reterr_message)
                                proto_text_sanitize(*reterr_message, PROTO_ERROR_MESSAGE_MAX, true);
                        qmp_message_done(&m);
                        return r;
                }
                if (ret_return)
                        *ret_return = json_object_get(m.value);
                qmp_message_done(&m);
                return 0;
        }
}

int qmp_client_new(int fd, int timeout_ms, QmpClient **ret) {
        int64_t deadline = deadline_from(timeout_ms);
        QmpClient *c;
        QmpMessage m;
        int r;

        if (fd < 0 || !ret) {
                safe_close(fd);
                return -EINVAL;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                safe_close(fd);
                return -ENOMEM;
        }
        c->fd = fd;
        c->reader = QMP_READER_INIT;

        /* The greeting comes first; events may already follow it, never precede it. */
        r = read_message(c, deadline, &m);
        if (r >= 0 && m.kind != QMP_KIND_GREETING) {
                qmp_message_done(&m);
                r = log_debug_errno(SYNTHETIC_ERRNO(EBADMSG), "QMP: the peer did not greet.");
        } else if (r >= 0)
                qmp_message_done(&m);
        if (r >= 0) {
                int left = -1;

                if (deadline >= 0)
                        left = (int) MAX(deadline - (int64_t) now_msec(CLOCK_MONOTONIC), (int64_t) 0);
                r = qmp_client_execute(c, "qmp_capabilities", NULL, left, NULL, NULL);
        }
        if (r < 0) {
                qmp_client_free(c);
                return r;
        }
        *ret = c;
        return 0;
}

int qmp_client_connect(const char *path, int timeout_ms, QmpClient **ret) {
        int fd = unix_connect(path);

        if (fd < 0)
                return fd;
        return qmp_client_new(fd, timeout_ms, ret);
}

QmpClient *qmp_client_free(QmpClient *c) {
        if (!c)
                return NULL;
        safe_close(c->fd);
        qmp_reader_done(&c->reader);
        free(c);
        return NULL;
}
